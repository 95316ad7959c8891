"""What a sweep's trials need on disk, checked by run.py before anything starts (with --dry-run too).

Each trial's data source exists (a manifest, a corpus directory, Lhotse manifests, GigaSpeech as the
trainer will open it), or is the synthetic corpus the sweep makes before its trials start; a tokenizer
file a trial names exists. Relative paths resolve against the working directory, as in the trials.
Only what can be seen without reading the data: a split a manifest lacks still fails in its trial.
"""

from __future__ import annotations

from pathlib import Path

from smolwhisper.data.sources import GIGASPEECH_PREFIX, LHOTSE_PREFIX, lhotse_splits, parse_gigaspeech, source_files
from smolwhisper.tokenizer import TOKENIZER_FILE

from .expand import Trial, spec_path
from .spec import Spec, SpecError


def check_data(spec: Spec, trials: list[Trial]) -> list[str]:
    """Notes on the corpora the sweep will make; SpecError, naming the spec path, for a source or
    tokenizer that is not there."""
    notes, checked = [], set()
    for trial in trials:
        data = trial.config.data
        if data.source == "synthetic":
            note = (f"data: synthetic corpus of {data.synth_hours:g} h (seed {data.synth_seed}) in {data.synth_dir}: "
                    "made before the trials start, or reused if it is there")
            if note not in notes:
                notes.append(note)
        elif data.source not in checked:
            try:
                found = check_source(data.source)
            except SourceError as error:
                named = (str(error) if data.source in str(error) and not data.source.startswith(GIGASPEECH_PREFIX)
                         else f"{data.source!r}: {error}")
                raise SpecError(f"{spec_path(spec, trial, 'data.source')}: {named}") from None
            checked.add(data.source)
            if found:
                notes.append(f"data: {data.source}: {found}")
        if data.tokenizer != "bpe" and not _tokenizer_exists(Path(data.tokenizer)):
            raise SpecError(f"{spec_path(spec, trial, 'data.tokenizer')}: {data.tokenizer!r} does not exist "
                            f"(resolved to {Path(data.tokenizer).absolute()}); expected a {TOKENIZER_FILE} (or a "
                            "directory holding one), or 'bpe' to train one on the training transcripts")
    return notes


class SourceError(Exception):
    """A data source that a trial could not open; the message says why."""


def check_source(source: str) -> str:
    """SourceError where opening `source` would fail before reading a row: a path that does not exist, a
    file that is not a manifest, a directory that is not a corpus; for GigaSpeech, what the Hub (or the
    local copy, or the cache offline) says of the token, terms, revision, subset, splits and columns.
    Imports torch only for a GigaSpeech source (a sweep's check takes a moment otherwise). Returns what
    was found where there is more to say than that it exists (GigaSpeech's commit)."""
    if not source.startswith(GIGASPEECH_PREFIX):
        try:
            if source.startswith(LHOTSE_PREFIX):
                parts = lhotse_splits(source)
                return "Lhotse parts " + ", ".join(f"{split}={part.name}" for split, part in parts.items())
            source_files(Path(source))
        except (OSError, ValueError) as error:
            raise SourceError(str(error)) from None
        return ""
    from smolwhisper.data.gigaspeech_hub import GigaSpeechUnavailable, check_gigaspeech

    gigaspeech = parse_gigaspeech(source)
    try:
        return check_gigaspeech(gigaspeech.subset, gigaspeech.path, gigaspeech.revision)
    except (OSError, ValueError, GigaSpeechUnavailable) as error:
        raise SourceError(str(error)) from None


def _tokenizer_exists(path: Path) -> bool:
    try:
        return path.is_file() or (path / TOKENIZER_FILE).is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False
