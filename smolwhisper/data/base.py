"""The one dataset interface every source implements.

A source (manifest, audiofolder, GigaSpeech, the synthetic corpus) gives a `SpeechDataset` per
split: a map-style torch dataset whose metadata (ids, transcripts, durations) is known up front, so
the length-bucketed sampler can plan batches, and whose audio is decoded lazily, item by item.
Bad items never raise out of `__getitem__`: they come back as `Skipped(reason)` for the collator
to drop and count, so one corrupt file cannot stop a long job. That holds for files that change
after the metadata was read too: one deleted is a missing file, one cut short is truncated audio,
one that grew past max_duration_s is too long.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

from ..audio import SAMPLE_RATE, AudioTooLongError

# Why an utterance was skipped; the counts are logged by the trainer under these names.
UNREADABLE_AUDIO = "unreadable_audio"
MISSING_FILE = "missing_file"
EMPTY_TRANSCRIPT = "empty_transcript"
TOO_LONG = "too_long"
TOO_SHORT = "too_short"
GARBAGE_TAG = "garbage_tag"
TRUNCATED = "truncated_audio"

# How much shorter than its entry's duration decoded audio may be before it counts as truncated (cut
# after the metadata was read). A duration measured from the file's header is exact but for a frame
# or two of resampling; one a manifest lists may be rounded or loose, so only a gross shortfall there.
MEASURED_SHORTFALL = 0.05  # of the duration, at least MIN_SHORTFALL_S
LISTED_SHORTFALL = 0.5
MIN_SHORTFALL_S = 0.1


@dataclass
class Utterance:
    id: str
    audio: np.ndarray  # 16 kHz mono float32; empty when mel is given
    text: str
    duration_s: float
    speaker: str | None = None
    mel: np.ndarray | None = None  # cached log-mel [n_mels, frames] (smolwhisper.data.features)
    # cached encoder output [encoder frames, n_audio_state] (smolwhisper.data.encoder_states)
    encoder_states: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        # a cached utterance carries no waveform, but its duration_s is still samples / 16 kHz
        cached = self.mel is not None or self.encoder_states is not None
        return round(self.duration_s * 16000) if cached else len(self.audio)


@dataclass(frozen=True)
class Skipped:
    id: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Entry:
    """What is known of an utterance before its audio is decoded."""

    id: str
    text: str
    duration_s: float
    speaker: str | None = None
    duration_measured: bool = False  # read from the audio file itself, not listed by a manifest

    def is_truncated(self, decoded_s: float) -> bool:
        shortfall = MEASURED_SHORTFALL if self.duration_measured else LISTED_SHORTFALL
        return decoded_s < self.duration_s - max(MIN_SHORTFALL_S, shortfall * self.duration_s)


class SpeechDataset(Dataset):
    """Subclasses fill `entries` and implement `load_audio(index)`; filtering lives here."""

    def __init__(self, entries: list[Entry], name: str, min_duration_s: float = 0.0,
                 max_duration_s: float | None = None, skipped: Counter | None = None):
        # Filtering on metadata happens once, up front; what is dropped is counted by reason.
        self.name, self.max_duration_s = name, max_duration_s
        self.skipped: Counter = Counter(skipped or {})
        self.entries = []
        for entry in entries:
            reason = _metadata_problem(entry, min_duration_s, max_duration_s)
            if reason:
                self.skipped[reason] += 1
            else:
                self.entries.append(entry)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def durations_s(self) -> list[float]:
        return [entry.duration_s for entry in self.entries]

    def load_audio(self, index: int) -> np.ndarray:
        """16 kHz mono float32; raise FileNotFoundError or smolwhisper.audio.AudioError (AudioTooLongError
        for audio over self.max_duration_s, which implementations should check before decoding)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> Utterance | Skipped:
        entry = self.entries[index]
        try:
            audio = self.load_audio(index)
        except FileNotFoundError as error:
            return Skipped(entry.id, MISSING_FILE, str(error))
        except AudioTooLongError as error:
            return Skipped(entry.id, TOO_LONG, str(error))
        except (OSError, ValueError, RuntimeError) as error:  # AudioError is a ValueError
            return Skipped(entry.id, UNREADABLE_AUDIO, str(error))
        if audio.size == 0:
            return Skipped(entry.id, UNREADABLE_AUDIO, "no samples")
        duration_s = len(audio) / SAMPLE_RATE
        if self.max_duration_s is not None and duration_s > self.max_duration_s:
            return Skipped(entry.id, TOO_LONG, f"{duration_s:.2f} s decoded, over {self.max_duration_s:g} s")
        if entry.is_truncated(duration_s):
            return Skipped(entry.id, TRUNCATED, f"{duration_s:.2f} s decoded, {entry.duration_s:.2f} s listed")
        return Utterance(entry.id, audio, entry.text, duration_s, entry.speaker)


def _metadata_problem(entry: Entry, min_duration_s: float, max_duration_s: float | None) -> str | None:
    if not entry.text.strip():
        return EMPTY_TRANSCRIPT
    if entry.duration_s < min_duration_s:
        return TOO_SHORT
    if max_duration_s is not None and entry.duration_s > max_duration_s:
        return TOO_LONG
    return None
