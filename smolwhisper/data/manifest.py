"""Speech corpora on local disk: manifests, Hugging Face audiofolders, and a resolver for both.

A manifest lists one utterance per row, in one of two formats:

- JSON lines (`.jsonl`, or `.json` as NeMo names them), one object per line, as NeMo writes
  them: `{"audio_filepath": "a/b.wav", "text": "...", "duration": 3.2, "speaker": "..."}`.
- CSV (`.csv`) or TSV (`.tsv`) with a header row naming the same columns.

Column names, with the aliases accepted (the first one present in a row is used):

    audio     audio_filepath | path | file | file_name | audio
    text      text | transcript | transcription | sentence
    duration  duration | duration_s            (optional: read from the file header if absent)
    speaker   speaker | voice | speaker_id      (optional)
    id        id | utt_id | segment_id          (optional: the audio path as written if absent)

Other columns are ignored. Relative audio paths are resolved against the manifest's directory.
Files are UTF-8 (a byte-order mark is allowed). A row without a text or audio value, a value that
is a list or mapping, bad JSON or text that is not UTF-8, or a bad duration is a configuration
error and raises ManifestError naming the file and line; a missing or unreadable audio file is bad
data and is skipped and counted (in `dataset.skipped` up front, or as `Skipped` when the item is loaded).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

import numpy as np
import soundfile

from ..audio import load_audio
from .base import MISSING_FILE, UNREADABLE_AUDIO, Entry, SpeechDataset
from .sources import (GIGASPEECH_PREFIX, JSONL_SUFFIXES, LHOTSE_PREFIX, MANIFEST_SUFFIXES, TABLE_DELIMITERS,
                      audiofolder_splits, canonical_split, is_test_split, lhotse_splits, parse_gigaspeech,
                      source_files)

AUDIO_COLUMNS = ("audio_filepath", "path", "file", "file_name", "audio")
TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence")
DURATION_COLUMNS = ("duration", "duration_s")
SPEAKER_COLUMNS = ("speaker", "voice", "speaker_id")
ID_COLUMNS = ("id", "utt_id", "segment_id")


class ManifestError(ValueError):
    """A manifest that cannot be read as configured: names the file, the line and what is allowed."""


class AudioFileDataset(SpeechDataset):
    """Utterances stored as one audio file each (any format and sample rate libsndfile reads)."""

    def __init__(self, entries: list[Entry], audio_paths: dict[str, Path], name: str,
                 min_duration_s: float = 0.0, max_duration_s: float | None = None, skipped: Counter | None = None):
        super().__init__(entries, name, min_duration_s, max_duration_s, skipped)
        self.audio_paths = audio_paths  # by entry id: entries are filtered, so indices would shift

    def load_audio(self, index: int) -> np.ndarray:
        return load_audio(self.audio_paths[self.entries[index].id], max_duration_s=self.max_duration_s)


def load_manifest(path: str | PathLike, min_duration_s: float = 0.0,
                  max_duration_s: float | None = None) -> AudioFileDataset:
    """Read a JSONL/CSV/TSV manifest (format from the suffix) into a dataset."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {str(path)!r} does not exist")
    entries, audio_paths, skipped = [], {}, Counter()
    first_line_of: dict[str, int] = {}
    for line, record in _read_records(path):
        _reject_containers(record, path, line)
        audio = _require(record, AUDIO_COLUMNS, path, line, allow_empty=False)
        text = _require(record, TEXT_COLUMNS, path, line)
        given_id = _first(record, ID_COLUMNS)
        utterance_id = str(audio if given_id is None else given_id)
        if utterance_id in first_line_of:
            raise ManifestError(f"{path}:{line}: id {utterance_id!r} already used on line "
                                f"{first_line_of[utterance_id]}; ids must be unique (add an 'id' column)")
        first_line_of[utterance_id] = line
        audio_path = _resolve(audio, path.parent)
        duration_s = _duration(record, path, line)
        measured = duration_s is None
        if measured:
            duration_s, problem = _header_duration(audio_path)
            if problem:
                skipped[problem] += 1
                continue
        speaker = _first(record, SPEAKER_COLUMNS)
        entries.append(Entry(utterance_id, str(text), duration_s, None if speaker is None else str(speaker), measured))
        audio_paths[utterance_id] = audio_path
    return AudioFileDataset(entries, audio_paths, str(path), min_duration_s, max_duration_s, skipped)


def load_audiofolder(directory: str | PathLike, split: str | None = None, min_duration_s: float = 0.0,
                     max_duration_s: float | None = None) -> AudioFileDataset:
    """A Hugging Face `audiofolder`: audio files beside a `metadata.jsonl` or `metadata.csv`.

    The metadata names each file in a `file_name` column (relative to the metadata file) and its
    transcript in `transcription` or `text` (any alias above works). Splits are subdirectories
    (`train/`, `validation/`, `test/`, or the aliases in SPLIT_ALIASES), each with its own
    metadata; `split` picks one, and must be given when there are several.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"audiofolder {str(directory)!r} does not exist or is not a directory")
    splits = audiofolder_splits(directory)
    if split is None:
        if "" not in splits:
            raise ValueError(f"audiofolder {str(directory)!r} has splits {sorted(splits)}; pass split=one of them")
        metadata = splits[""]
    else:
        canonical = canonical_split(split)
        if canonical not in splits:
            raise ValueError(f"audiofolder {str(directory)!r} has no split {split!r}; "
                             f"found {sorted(name for name in splits if name) or 'no split directories'}")
        metadata = splits[canonical]
    return load_manifest(metadata, min_duration_s, max_duration_s)


def open_source(spec: str | PathLike, *, purpose: str = "train", min_duration_s: float = 0.0,
                max_duration_s: float | None = None) -> dict[str, SpeechDataset]:
    """Open a corpus by path (or GigaSpeech by name) and return its datasets by split name.

    `spec` is one of:
      - a manifest file (`.jsonl`, `.json`, `.csv`, `.tsv`): one dataset, named after the file's
        stem (a split alias such as `dev.jsonl` becomes "validation");
      - an audiofolder directory: one dataset per split directory, or "train" for a single
        top-level metadata file (as Hugging Face names it);
      - a directory of `<split>.jsonl` (or .json/.csv/.tsv) manifests, as the synthetic corpus
        writes: one dataset per file whose stem is a split name or alias; other files are ignored;
      - `lhotse:CUTS.jsonl.gz` or `lhotse:DIR[:PART]`: a corpus Lhotse prepared (`lhotse_splits`);
      - `gigaspeech:SUBSET[@REVISION][:LOCAL_PATH]`: GigaSpeech via `load_gigaspeech` with its default
        text options: train and validation to train, validation and test to evaluate.
    With `purpose="train"` no test split (`test`, or a name that starts with `test_` such as the
    synthetic corpus's `test_unseen_voices`) is returned (a file or directory that holds only test
    splits is refused); `purpose="evaluate"` returns every split.
    """
    if purpose not in ("train", "evaluate"):
        raise ValueError(f"purpose must be 'train' or 'evaluate', got {purpose!r}")
    filters = {"min_duration_s": min_duration_s, "max_duration_s": max_duration_s}
    if str(spec).startswith(GIGASPEECH_PREFIX):
        return _open_gigaspeech(str(spec), purpose, filters)
    if str(spec).startswith(LHOTSE_PREFIX):
        return _open_lhotse(str(spec), purpose, filters)
    path = Path(spec)
    sources = source_files(path)
    if purpose == "train":
        sources = {name: source for name, source in sources.items() if not is_test_split(name)}
        if not sources:
            raise ValueError(f"{str(path)!r} holds only a test split, which a training job may not read")
    return {name: load_manifest(source, **filters) for name, source in sources.items()}


def _open_lhotse(spec: str, purpose: str, filters: dict) -> dict[str, SpeechDataset]:
    from .lhotse_manifests import load_lhotse  # imports lhotse: only for a Lhotse source

    splits = lhotse_splits(spec)
    if purpose == "train":
        splits = {name: part for name, part in splits.items() if not is_test_split(name)}
    return {name: load_lhotse(part, f"{spec}/{part.name}", **filters) for name, part in splits.items()}


def _open_gigaspeech(spec: str, purpose: str, filters: dict) -> dict[str, SpeechDataset]:
    from .gigaspeech import load_gigaspeech  # imports `datasets`, which is slow: only when asked for

    source = parse_gigaspeech(spec)
    # evaluation reads the two evaluation sets only: a train split can be thousands of hours
    splits = ("train", "validation") if purpose == "train" else ("validation", "test")
    return {split: load_gigaspeech(source.subset, split, purpose=purpose, path=source.path, revision=source.revision,
                                   **filters) for split in splits}


def _read_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every row; the format comes from the suffix."""
    if path.suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path)
    elif path.suffix in TABLE_DELIMITERS:
        yield from _read_table(path, TABLE_DELIMITERS[path.suffix])
    else:
        raise ManifestError(f"{path}: unknown manifest format; the suffix must be one of {MANIFEST_SUFFIXES}")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, "rb") as file:
        for line_number, raw in enumerate(file, start=1):
            line = _decode(raw, path, line_number)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ManifestError(f"{path}:{line_number}: not valid JSON ({error.msg})") from error
            except RecursionError:
                raise ManifestError(f"{path}:{line_number}: JSON nested too deeply") from None
            if not isinstance(record, dict):
                raise ManifestError(f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}")
            yield line_number, record


def _decode(raw: bytes, path: Path, line: int) -> str:
    try:
        return raw.decode("utf-8-sig" if line == 1 else "utf-8")
    except UnicodeDecodeError as error:
        raise ManifestError(f"{path}:{line}: not UTF-8 text (byte {raw[error.start]:#04x} at column "
                            f"{error.start + 1}); save the manifest as UTF-8") from None


def _read_table(path: Path, delimiter: str) -> Iterator[tuple[int, dict]]:
    lines = (_decode(raw, path, number) for number, raw in enumerate(path.read_bytes().splitlines(True), start=1))
    reader = csv.DictReader(lines, delimiter=delimiter)
    try:
        header = reader.fieldnames or []
        for columns, role in ((AUDIO_COLUMNS, "audio"), (TEXT_COLUMNS, "text")):
            if not any(name in header for name in columns):
                raise ManifestError(f"{path}:1: header {header} has no {role} column; expected one of {columns}")
        for record in reader:
            if None in record:  # more fields than the header names, e.g. an unquoted delimiter in the text
                raise ManifestError(f"{path}:{reader.line_num}: {len(header) + len(record[None])} fields "
                                    f"but the header names {len(header)}")
            yield reader.line_num, record
    except csv.Error as error:
        raise ManifestError(f"{path}:{reader.line_num}: not valid {'CSV' if delimiter == ',' else 'TSV'} "
                            f"({error})") from None


def _reject_containers(record: dict, path: Path, line: int) -> None:
    """Columns we read hold one value each: a list or mapping there is a manifest written wrongly."""
    for name in (*AUDIO_COLUMNS, *TEXT_COLUMNS, *DURATION_COLUMNS, *SPEAKER_COLUMNS, *ID_COLUMNS):
        if isinstance(record.get(name), (list, dict, bool)):
            raise ManifestError(f"{path}:{line}: column {name!r} holds {type(record[name]).__name__} "
                                f"{record[name]!r}; expected text or a number")


def _first(record: dict, columns: tuple[str, ...]):
    return next((record[name] for name in columns if record.get(name) not in (None, "")), None)


def _require(record: dict, columns: tuple[str, ...], path: Path, line: int, allow_empty: bool = True):
    # present-but-empty text is data (counted as empty_transcript); absent text is a broken row. A table
    # has every column in every row, empty where a row uses another alias: a non-empty value wins.
    present = [record[name] for name in columns if record.get(name) is not None]
    value = next((value for value in present if value != ""), present[0] if present else None)
    if value is None or (value == "" and not allow_empty):
        raise ManifestError(f"{path}:{line}: no value for any of the columns {columns}")
    return value


def _resolve(audio: str, base: Path) -> Path:
    audio_path = Path(str(audio))
    try:
        audio_path = audio_path.expanduser()
    except RuntimeError:  # ~user of a user this machine does not know: a missing file, counted as such
        pass
    return audio_path if audio_path.is_absolute() else base / audio_path


def _duration(record: dict, path: Path, line: int) -> float | None:
    value = _first(record, DURATION_COLUMNS)
    if value is None:
        return None
    try:
        duration_s = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        duration_s = math.nan
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ManifestError(f"{path}:{line}: duration must be a non-negative number of seconds, got {value!r}")
    return duration_s


def _header_duration(audio_path: Path) -> tuple[float, str | None]:
    """Duration from the file header (no decoding), or the skip reason."""
    try:
        if not audio_path.is_file():
            return 0.0, MISSING_FILE
        return soundfile.info(str(audio_path)).duration, None
    except (RuntimeError, OSError, ValueError):  # libsndfile errors are RuntimeErrors; a name too long
        return 0.0, UNREADABLE_AUDIO
