"""GigaSpeech (Chen et al. 2021, arXiv:2106.06909) through Hugging Face `datasets`.

The Hub copy, `speechcolab/gigaspeech`, is gated: accept its terms on the dataset page, then log in
(`hf auth login`, formerly `huggingface-cli login`) or set `HF_TOKEN`. Each training subset
(xs 10 h, s 250 h, m 1000 h, l 2500 h, xl 10000 h) comes with GigaSpeech's official evaluation sets
as its other splits: `validation` is DEV (12 h) and `test` is TEST (40 h). They are kept apart:
`load_gigaspeech(..., purpose="train")` refuses the test split, so no training job can read it.

Rows have GigaSpeech's columns (segment_id, speaker, text, audio, begin_time, end_time, audio_id,
title, url, source, category, original_full_path). Transcripts are upper case with punctuation
written as tags (`WHAT <COMMA> REALLY <QUESTIONMARK>`); segments without speech carry a garbage
tag (`<SIL>`, `<MUSIC>`, `<NOISE>`, `<OTHER>`) instead of words.

What we make of them (`normalize_transcript`):
- punctuation tags become `, . ? !` attached to the previous word (`keep_punctuation=False` drops them);
- the text is lower-cased (`lowercase=False` keeps GigaSpeech's upper case): the corpus has no case
  information, and a small vocabulary should not spend tokens on two spellings of every word;
- utterances with a garbage tag are dropped and counted as `garbage_tag` (the GigaSpeech README
  asks for this in training; they are dropped from evaluation splits too, since an empty
  reference cannot pass the dataset's empty-transcript filter).
Scoring with `smolwhisper.inference.metrics.normalize_gigaspeech` gives the same words from our text as from
the original, so references can be taken from here.

Audio is read with `decode=False` and decoded by libsndfile (soundfile), not FFmpeg/torchcodec.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from ..audio import SAMPLE_RATE, AudioError, load_audio
from ..audio import decode_audio as decode_file_like
from ..inference.metrics import GIGASPEECH_GARBAGE_TAGS, GIGASPEECH_PUNCTUATION
from .base import (GARBAGE_TAG, MISSING_FILE, UNREADABLE_AUDIO, Entry, Skipped, SpeechDataset, Utterance,
                   _metadata_problem)

HUB_ID = "speechcolab/gigaspeech"
SUBSETS = ("xs", "s", "m", "l", "xl")
SPLITS = ("train", "validation", "test")  # validation = GigaSpeech DEV, test = GigaSpeech TEST
PURPOSES = ("train", "evaluate")
COLUMNS = ("segment_id", "speaker", "text", "audio", "begin_time", "end_time", "audio_id", "title", "url",
           "source", "category", "original_full_path")
METADATA_COLUMNS = ("segment_id", "speaker", "text", "begin_time", "end_time")
NO_SPEAKER = "N/A"  # what GigaSpeech's speaker column holds when the speaker is unknown


class GigaSpeechUnavailable(RuntimeError):
    """GigaSpeech could not be opened; the message says how to get access or use a local copy."""


def _access_help(subset: str) -> str:
    return (f"GigaSpeech ({HUB_ID}) is gated on the Hugging Face Hub. To use it: (1) accept its terms at "
            f"https://huggingface.co/datasets/{HUB_ID} while logged in; (2) run `hf auth login` "
            f"(`huggingface-cli login` in older versions) or set HF_TOKEN to an access token; or point at a "
            f"local copy with load_gigaspeech({subset!r}, split, path=LOCAL_DIR), where LOCAL_DIR is a "
            f"clone of the dataset repository, a directory of <split>.parquet files, or a DatasetDict "
            f"written by save_to_disk.")


def normalize_transcript(text: str, *, keep_punctuation: bool = True, lowercase: bool = True) -> str:
    """'WELL <COMMA> HELLO THERE <PERIOD>' -> 'well, hello there.' (tags to marks on the previous word)."""
    words: list[str] = []
    for word in text.split():
        mark = GIGASPEECH_PUNCTUATION.get(word)
        if mark is None:
            words.append(word)
        elif keep_punctuation and words:  # a tag with no word before it has nothing to attach to
            words[-1] += mark
    text = " ".join(words)
    return text.lower() if lowercase else text


def has_garbage_tag(text: str) -> bool:
    return any(word in GIGASPEECH_GARBAGE_TAGS for word in text.split())


def decode_audio(audio: dict, name: str, max_duration_s: float | None = None) -> np.ndarray:
    """A `datasets.Audio(decode=False)` value ({"bytes", "path"}) as 16 kHz mono float32."""
    if audio.get("bytes"):
        return decode_file_like(io.BytesIO(audio["bytes"]), name, max_duration_s=max_duration_s)
    if audio.get("path"):
        return load_audio(audio["path"], max_duration_s=max_duration_s)
    raise AudioError(name, "the audio column holds neither bytes nor a path")


class GigaSpeechDataset(SpeechDataset):
    """One split of GigaSpeech as a map-style dataset (what the length-bucketed sampler needs)."""

    def __init__(self, hf_dataset, entries: list[Entry], rows: dict[str, int], name: str,
                 min_duration_s: float = 0.0, max_duration_s: float | None = None, skipped: Counter | None = None):
        super().__init__(entries, name, min_duration_s, max_duration_s, skipped)
        self.audio_column = hf_dataset.select_columns(["audio"])  # read only the audio when loading an item
        self.rows = rows  # row of each entry id in the Hugging Face dataset (entries are filtered)

    def load_audio(self, index: int) -> np.ndarray:
        entry = self.entries[index]
        return decode_audio(self.audio_column[self.rows[entry.id]]["audio"], entry.id, self.max_duration_s)


class GigaSpeechStream(torch.utils.data.IterableDataset):
    """A split streamed from the Hub, yielding `Utterance` (or `Skipped` for unreadable audio).

    For subsets too large to download first. The utterances are not known before they arrive, so
    the length-bucketed sampler cannot plan batches: it needs the map-style `GigaSpeechDataset`.
    Metadata filtering is counted in `skipped`, per process (each DataLoader worker has its own).
    Inside DataLoader workers, `datasets` gives each worker its own shards; across DDP ranks, use
    `for_rank`.
    """

    def __init__(self, hf_iterable, name: str, *, keep_punctuation: bool = True, lowercase: bool = True,
                 min_duration_s: float = 0.0, max_duration_s: float | None = None):
        self.hf_iterable, self.name = hf_iterable, name
        self.text_options = {"keep_punctuation": keep_punctuation, "lowercase": lowercase}
        self.min_duration_s, self.max_duration_s = min_duration_s, max_duration_s
        self.skipped: Counter = Counter()

    def for_rank(self, rank: int, world_size: int) -> GigaSpeechStream:
        """This rank's disjoint part of the stream (whole shards when they divide evenly, else every
        world_size-th row), via `datasets.distributed.split_dataset_by_node`."""
        from datasets.distributed import split_dataset_by_node

        part = split_dataset_by_node(self.hf_iterable, rank=rank, world_size=world_size)
        return GigaSpeechStream(part, f"{self.name}[rank {rank}/{world_size}]", **self.text_options,
                                min_duration_s=self.min_duration_s, max_duration_s=self.max_duration_s)

    def __iter__(self) -> Iterator[Utterance | Skipped]:
        for row in self.hf_iterable:
            entry, problem = _entry(row, self.text_options)
            problem = problem or _metadata_problem(entry, self.min_duration_s, self.max_duration_s)
            if problem:
                self.skipped[problem] += 1
                continue
            try:
                audio = decode_audio(row["audio"], entry.id)
            except FileNotFoundError as error:
                yield Skipped(entry.id, MISSING_FILE, str(error))
                continue
            except (OSError, ValueError, RuntimeError) as error:
                yield Skipped(entry.id, UNREADABLE_AUDIO, str(error))
                continue
            yield Utterance(entry.id, audio, entry.text, len(audio) / SAMPLE_RATE, entry.speaker)


def load_gigaspeech(subset: str = "xs", split: str = "train", *, purpose: str = "train",
                    path: str | PathLike | None = None, streaming: bool = False, keep_punctuation: bool = True,
                    lowercase: bool = True, min_duration_s: float = 0.0, max_duration_s: float | None = None,
                    token: str | None = None,
                    cache_dir: str | PathLike | None = None) -> GigaSpeechDataset | GigaSpeechStream:
    """One split of a GigaSpeech subset: a `GigaSpeechDataset`, or a `GigaSpeechStream` with `streaming`.

    `purpose="train"` (a training job: its train split and its validation split for monitoring)
    refuses `split="test"`; only `purpose="evaluate"` may open the test set. `path` reads a local
    copy instead of the Hub: a `save_to_disk` DatasetDict, a clone of the Hub repository (its
    README's configs name the subsets), or a directory of train/validation/test data files.
    """
    _check_choice("subset", subset, SUBSETS)
    _check_choice("split", split, SPLITS)
    _check_choice("purpose", purpose, PURPOSES)
    if purpose == "train" and split == "test":
        raise ValueError("GigaSpeech's test split is for final evaluation only: a training job (purpose='train') "
                         "may read 'train' and 'validation'; pass purpose='evaluate' to score on 'test'")
    hf_dataset = _open(subset, split, path, streaming, token, cache_dir)
    _check_columns(hf_dataset, path or HUB_ID)
    import datasets

    hf_dataset = hf_dataset.cast_column("audio", datasets.Audio(decode=False))
    name = f"gigaspeech-{subset}/{split}"
    text_options = {"keep_punctuation": keep_punctuation, "lowercase": lowercase}
    filters = {"min_duration_s": min_duration_s, "max_duration_s": max_duration_s}
    if streaming:
        return GigaSpeechStream(hf_dataset, name, **text_options, **filters)
    entries, rows, skipped = [], {}, Counter()
    for row_index, row in enumerate(_metadata_rows(hf_dataset)):
        entry, problem = _entry(row, text_options)
        if problem:
            skipped[problem] += 1
            continue
        entries.append(entry)
        rows[entry.id] = row_index
    return GigaSpeechDataset(hf_dataset, entries, rows, name, skipped=skipped, **filters)


def check_gigaspeech(subset: str, path: str | PathLike | None = None) -> None:
    """Raise where `load_gigaspeech(subset, ..., path=path)` would fail before reading a row: an unknown
    subset, a local copy that is not there, or the gated Hub copy with no token (offline mode trusts
    the local cache, which only `datasets` can look in)."""
    _check_choice("subset", subset, SUBSETS)
    if path is not None:
        if not Path(path).exists():
            raise FileNotFoundError(f"local GigaSpeech copy {str(path)!r} does not exist")
    elif _hub_token() is None and not _offline():
        raise GigaSpeechUnavailable(f"no Hugging Face token found (HF_TOKEN or a login). {_access_help(subset)}")


def _entry(row: dict, text_options: dict) -> tuple[Entry, str | None]:
    """The utterance's metadata, and GARBAGE_TAG if it is a non-speech segment."""
    speaker = row["speaker"] if row["speaker"] and row["speaker"] != NO_SPEAKER else None
    entry = Entry(row["segment_id"], normalize_transcript(row["text"], **text_options),
                  float(row["end_time"]) - float(row["begin_time"]), speaker)
    return entry, GARBAGE_TAG if has_garbage_tag(row["text"]) else None


def _metadata_rows(hf_dataset, batch_size: int = 10_000) -> Iterator[dict]:
    """Every row's metadata, without its audio, read in Arrow batches (xl has 8 million rows)."""
    for batch in hf_dataset.select_columns(list(METADATA_COLUMNS)).iter(batch_size=batch_size):
        for values in zip(*(batch[name] for name in METADATA_COLUMNS)):
            yield dict(zip(METADATA_COLUMNS, values))


def _open(subset: str, split: str, path, streaming: bool, token: str | None, cache_dir):
    import datasets

    if path is not None:
        return _open_local(Path(path), subset, split, streaming, cache_dir)
    token = token or _hub_token()
    if token is None and not _offline():
        raise GigaSpeechUnavailable(f"no Hugging Face token found (HF_TOKEN or a login). {_access_help(subset)}")
    try:
        return datasets.load_dataset(HUB_ID, subset, split=split, streaming=streaming, token=token,
                                     cache_dir=str(cache_dir) if cache_dir else None)
    except (OSError, ConnectionError, ValueError, datasets.exceptions.DatasetsError) as error:
        # OSError covers huggingface_hub's HTTP errors (gated, not found) and offline cache misses
        message = f"could not open {HUB_ID} ({subset}/{split}): {error}. {_access_help(subset)}"
        raise GigaSpeechUnavailable(message) from error


def _open_local(path: Path, subset: str, split: str, streaming: bool, cache_dir):
    import datasets

    if not path.exists():
        raise FileNotFoundError(f"local GigaSpeech copy {str(path)!r} does not exist")
    if (path / "state.json").is_file():
        raise ValueError(f"{str(path)!r} holds a single saved Dataset, so its split is unknown; save a DatasetDict "
                         f"with splits {SPLITS} (DatasetDict.save_to_disk) so that train and test stay apart")
    if (path / "dataset_dict.json").is_file():
        saved = datasets.load_from_disk(str(path))
        if split not in saved:
            raise ValueError(f"{str(path)!r} has splits {sorted(saved)}, not {split!r}")
        return saved[split].to_iterable_dataset() if streaming else saved[split]
    # a clone of the Hub repository names its subsets as configs in README.md; a bare directory of
    # train/validation/test files has a single unnamed config
    config = subset if (path / "README.md").is_file() else None
    try:
        return datasets.load_dataset(str(path), config, split=split, streaming=streaming,
                                     cache_dir=str(cache_dir) if cache_dir else None)
    except (ValueError, datasets.exceptions.DatasetsError) as error:
        message = f"cannot read split {split!r} of subset {subset!r} from local copy {str(path)!r}: {error}"
        raise ValueError(message) from error


def _check_columns(hf_dataset, source) -> None:
    columns = hf_dataset.column_names
    missing = [name for name in (*METADATA_COLUMNS, "audio") if columns is not None and name not in columns]
    if missing:
        raise ValueError(f"{source}: not in GigaSpeech's schema, missing columns {missing}; expected {list(COLUMNS)}")


def _check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"GigaSpeech {field} must be one of {allowed}, got {value!r}")


def _hub_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


def _offline() -> bool:
    # an offline user may still have the dataset in the local cache, so let `datasets` look there
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on") or \
        os.environ.get("HF_DATASETS_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
