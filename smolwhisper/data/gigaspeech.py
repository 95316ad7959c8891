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
Opening (the token, the terms, the revision, the configs, splits and columns) is `gigaspeech_hub`'s.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from os import PathLike

import numpy as np
import torch

from ..audio import SAMPLE_RATE, AudioError, load_audio
from ..audio import decode_audio as decode_file_like
from .base import (GARBAGE_TAG, MISSING_FILE, UNREADABLE_AUDIO, Entry, Skipped, SpeechDataset, Utterance,
                   _metadata_problem)
# GigaSpeechUnavailable: what load_gigaspeech raises where the Hub copy (or a local one) cannot be opened
from .gigaspeech_hub import (METADATA_COLUMNS, SPLITS, GigaSpeechUnavailable, check_choice,  # noqa: F401
                             check_columns, open_gigaspeech)
from .gigaspeech_tags import has_garbage_tag, normalize_transcript

PURPOSES = ("train", "evaluate")
NO_SPEAKER = "N/A"  # what GigaSpeech's speaker column holds when the speaker is unknown


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
                    path: str | PathLike | None = None, revision: str | None = None, streaming: bool = False,
                    keep_punctuation: bool = True, lowercase: bool = True, min_duration_s: float = 0.0,
                    max_duration_s: float | None = None, token: str | None = None,
                    cache_dir: str | PathLike | None = None) -> GigaSpeechDataset | GigaSpeechStream:
    """One split of a GigaSpeech subset: a `GigaSpeechDataset`, or a `GigaSpeechStream` with `streaming`.

    `purpose="train"` (a training job: its train split and its validation split for monitoring)
    refuses `split="test"`; only `purpose="evaluate"` may open the test set. `path` reads a local
    copy instead of the Hub: a `save_to_disk` DatasetDict, a clone of the Hub repository (its
    README's configs name the subsets), or a directory of train/validation/test data files.
    `revision` picks a revision of the Hub copy. The dataset's `revision` is the commit it was read at
    (None for a local copy).
    """
    check_choice("split", split, SPLITS)
    check_choice("purpose", purpose, PURPOSES)
    if purpose == "train" and split == "test":
        raise ValueError("GigaSpeech's test split is for final evaluation only: a training job (purpose='train') "
                         "may read 'train' and 'validation'; pass purpose='evaluate' to score on 'test'")
    opened = open_gigaspeech(subset, path, revision, token, cache_dir)
    hf_dataset = opened.split(split, streaming)
    if hf_dataset.column_names is not None:
        check_columns(hf_dataset.column_names, f"{opened.where} (subset {subset}, split {split})")
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
    dataset = GigaSpeechDataset(hf_dataset, entries, rows, name, skipped=skipped, **filters)
    dataset.revision = opened.commit
    return dataset


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
