"""Corpora prepared by Lhotse (`lhotse prepare gigaspeech|librispeech|...`, icefall's and k2's cuts):
its manifests read with Lhotse's own API, the audio read by us.

A cut is a stretch of a recording (an offset and a duration, often inside a long file: GigaSpeech's
official release has podcasts of an hour in Opus) with its supervisions (text, speaker). Each cut
becomes one utterance; a cut holding several supervisions, or a recording given whole (a recordings
and a supervisions manifest), is first cut to its supervisions, as icefall's recipes do. Audio is
read by seeking to the offset (libsndfile: WAV, FLAC, Ogg Vorbis/Opus), not by decoding the file
from its start; speed-perturbed cuts (Lhotse's `Speed` transform) are read at the original offset and
resampled, so that they play faster. Transcripts written with GigaSpeech's tags (its official release)
get what `gigaspeech.py` does to them: marks for punctuation tags, lower case, non-speech dropped.

`lhotse` is imported here only: users of other sources never import it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import AudioError, load_segment
from .base import GARBAGE_TAG, Entry, SpeechDataset
from .gigaspeech_tags import has_garbage_tag, has_gigaspeech_tags, normalize_transcript
from .sources import LhotsePart

# Transforms Lhotse records on a recording that reading by offset can honour.
SPEED, RESAMPLE, VOLUME = "Speed", "Resample", "Volume"


@dataclass(frozen=True)
class Segment:
    path: str
    start_s: float  # in the file, before the recording's transforms
    duration_s: float
    channel: int | None
    speed: float = 1.0
    volume: float = 1.0


class LhotseDataset(SpeechDataset):
    """One part of a Lhotse corpus; `segments[id]` is where an utterance's audio is, or why it cannot be read."""

    def __init__(self, entries: list[Entry], segments: dict[str, Segment | str], name: str, identity: list,
                 min_duration_s: float = 0.0, max_duration_s: float | None = None, skipped: Counter | None = None):
        super().__init__(entries, name, min_duration_s, max_duration_s, skipped)
        self.segments = segments
        self.identity = identity  # what the feature cache's fingerprint adds: the manifests' path, size, mtime

    def load_audio(self, index: int) -> np.ndarray:
        entry = self.entries[index]
        segment = self.segments[entry.id]
        if isinstance(segment, str):
            raise AudioError(entry.id, segment)
        audio = load_segment(segment.path, segment.start_s, segment.duration_s, speed=segment.speed,
                             channel=segment.channel)
        return audio * np.float32(segment.volume) if segment.volume != 1.0 else audio


def load_lhotse(part: LhotsePart, name: str, min_duration_s: float = 0.0,
                max_duration_s: float | None = None) -> LhotseDataset:
    entries, segments, skipped = [], {}, Counter()
    for cut in _cuts(part):
        for piece in _one_per_supervision(cut):
            supervision = piece.supervisions[0]
            text = supervision.text or ""
            if has_gigaspeech_tags(text):  # GigaSpeech's official release
                if has_garbage_tag(text):
                    skipped[GARBAGE_TAG] += 1
                    continue
                text = normalize_transcript(text)
            entries.append(Entry(piece.id, text, piece.duration, supervision.speaker))
            segments[piece.id] = _segment(piece)
    files = [path for path in (part.cuts, part.recordings, part.supervisions) if path]
    identity = [[str(Path(f).resolve()), Path(f).stat().st_size, Path(f).stat().st_mtime_ns] for f in files]
    return LhotseDataset(entries, segments, name, identity, min_duration_s, max_duration_s, skipped)


def _cuts(part: LhotsePart):
    lhotse = _lhotse()
    if part.cuts:
        cuts = lhotse.load_manifest_lazy(part.cuts) or lhotse.load_manifest(part.cuts)
        if not isinstance(cuts, lhotse.CutSet):
            raise ValueError(f"{part.cuts}: a Lhotse {type(cuts).__name__}, not a CutSet")
        return cuts
    return lhotse.CutSet.from_manifests(recordings=lhotse.load_manifest(part.recordings),
                                        supervisions=lhotse.load_manifest(part.supervisions))


def _one_per_supervision(cut) -> list:
    """The cut itself where it is one supervision's span; else a cut per supervision (none: none)."""
    supervisions = cut.supervisions
    if len(supervisions) == 1 and abs(supervisions[0].start) < 1e-3 and \
            abs(supervisions[0].duration - cut.duration) < 1e-3:
        return [cut]
    return list(cut.trim_to_supervisions(keep_overlapping=False)) if supervisions else []


def _segment(cut) -> Segment | str:
    """Where the cut's audio is, or why it cannot be read by offset."""
    recording = cut.recording
    if recording is None:
        return "the cut has no recording"
    channel = cut.channel if isinstance(cut.channel, int) else None
    sources = [s for s in recording.sources if channel is None or channel in s.channels] or recording.sources
    source = sources[0]
    if source.type != "file":
        return f"audio source of type {source.type!r}: only files are read"
    from lhotse.augmentation import AudioTransform

    transforms = [t if isinstance(t, AudioTransform) else AudioTransform.from_dict(t)
                  for t in recording.transforms or ()]
    speed = volume = 1.0
    for transform in transforms:
        kind = type(transform).__name__
        if kind == SPEED:
            speed *= float(transform.factor)
        elif kind == VOLUME:
            volume *= float(transform.factor)
        elif kind != RESAMPLE:  # resampling happens anyway: audio is always read at 16 kHz
            return f"the recording's transform {kind!r} is not supported (Speed, Volume and Resample are)"
    # where the cut is in the file, before the transforms: Lhotse's own arithmetic, to the sample
    start_s, duration_s = cut.start, cut.duration
    for transform in reversed(transforms):
        start_s, duration_s = transform.reverse_timestamps(start_s, duration_s, recording.sampling_rate)
    file_channel = source.channels.index(channel) if channel is not None and len(source.channels) > 1 else None
    return Segment(str(source.source), start_s, duration_s, file_channel, speed, volume)


def _lhotse():
    try:
        import lhotse
    except ImportError:
        raise ImportError("a lhotse: data source needs the lhotse package: pip install 'lhotse>=1.33,<2'") from None
    return lhotse
