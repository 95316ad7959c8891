"""A log-mel cache per corpus split: computed once, read back by every epoch and every run.

Decoding audio and running the STFT each epoch costs a CPU trainer a fifth of its time; like
ESPnet's dump stage and Lhotse's precomputed features, the cache does it once. A split's cache is
named by a fingerprint of what it was computed from, so a changed corpus gets a new one:

    <cache_dir>/<fingerprint[:16]>/mel.f16    float16 [total_frames, n_mels], the utterances' frames
                                              one after the other (one utterance = one contiguous slice)
    <cache_dir>/<fingerprint[:16]>/index.npz  per entry: offset, n_frames, n_samples, skip reason

SpecAugment is not cached: it acts in the training step, on whatever `features()` returns.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..audio import N_FFT, frame_lengths, log_mel_spectrogram
from .base import Entry, Skipped, SpeechDataset, Utterance
from .frame_store import INDEX_FILE, CachedSplit, FrameStore, publish, write_frames
from .manifest import AudioFileDataset

FORMAT_VERSION = 1  # bump when what is stored, or how it is computed, changes
MEL_FILE = "mel.f16"
# Zeros appended before the STFT: an utterance's last frames then see zeros on the right, as its
# row of a zero-padded batch does, not torch.stft's reflection; N_FFT keeps every frame whose
# window touches the signal, so the row's peak, and with it the log-mel floor, is the batch's too.
TAIL_PADDING = N_FFT


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/smolwhisper/features, or ~/.cache/smolwhisper/features (as Hugging Face does)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smolwhisper" / "features"


def cache_path(dataset: SpeechDataset, n_mels: int, cache_dir: str = "") -> Path:
    return Path(cache_dir or default_cache_dir()).expanduser() / fingerprint(dataset, n_mels)[:16]


def fingerprint(dataset: SpeechDataset, n_mels: int) -> str:
    """sha256 of what the cache is computed from. Audio files count by path, size and mtime; a source
    without files of its own (GigaSpeech from the Hugging Face hub) counts by its entries only, so
    new audio under the same ids and durations would go unnoticed there."""
    name = dataset.name
    if isinstance(dataset, AudioFileDataset):  # a manifest's path as written: relative or not, one cache
        name = str(Path(name).resolve())
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, n_mels, name]).encode())
    if getattr(dataset, "identity", None):  # a source's own files (Lhotse's manifests)
        digest.update(json.dumps(dataset.identity).encode())
    for entry in dataset.entries:
        digest.update(json.dumps([entry.id, entry.duration_s, *_file_identity(dataset, entry)]).encode())
    return digest.hexdigest()


def _file_identity(dataset: SpeechDataset, entry: Entry) -> list:
    if not isinstance(dataset, AudioFileDataset):
        return []
    path = Path(dataset.audio_paths[entry.id]).resolve()
    try:
        stat = path.stat()
    except OSError:  # missing: the cache records the skip, and a file that appears changes the fingerprint
        return [str(path)]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def utterance_log_mel(audio: np.ndarray, n_mels: int) -> torch.Tensor:
    """[n_mels, frame_lengths(samples)]: the utterance's valid frames as a zero-padded batch computes
    them wherever it is not the batch's longest (that row's last frame sees reflection instead)."""
    mel = log_mel_spectrogram(audio, n_mels, padding=TAIL_PADDING)
    return mel[:, : frame_lengths(len(audio))]


def build_feature_cache(dataset: SpeechDataset, n_mels: int, directory: Path, num_workers: int = 0,
                        log=print, progress: bool = False) -> None:
    """Compute and store the split's log-mels in `directory` (frame_store.publish: one rename), with a
    progress bar in audio hours where `progress`."""
    start = time.perf_counter()

    def write(staging: Path) -> dict:
        # batch_size=None hands over items one by one, in order; workers decode and compute in parallel.
        # A generator of its own: the loader's seed would otherwise come from the global RNG, and a run
        # that built the cache would initialise its model unlike one that found the cache built.
        loader = DataLoader(dataset, batch_size=None, num_workers=num_workers, generator=torch.Generator(),
                            collate_fn=functools.partial(_frames_of, n_mels=n_mels))
        index = write_frames(_with_progress(loader, dataset, progress), len(dataset), staging / MEL_FILE)
        np.savez(staging / INDEX_FILE, n_mels=n_mels, **index)
        return index

    index = publish(directory, write, log, "feature cache")
    n_skipped = int((index["reason"] != "").sum())
    log(f"feature cache: {dataset.name}: {len(dataset)} utterances ({n_skipped} skipped), "
        f"{index['n_frames'].sum()} frames of {n_mels} mels in {directory}, {time.perf_counter() - start:.1f} s")


def _with_progress(items, dataset: SpeechDataset, progress: bool):
    if not progress:
        return items
    from tqdm import tqdm

    hours = [duration / 3600 for duration in dataset.durations_s]
    bar = tqdm(total=sum(hours), unit="h", desc=f"log-mels of {dataset.name}",
               bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} h of audio [{elapsed}<{remaining}]")

    def counted():
        for index, item in enumerate(items):
            bar.update(hours[index])
            yield item
        bar.close()
    return counted()


def _frames_of(item: Utterance | Skipped, n_mels: int) -> Skipped | tuple[np.ndarray, int]:
    """In the loader's worker: frame-major float16 frames and the sample count, or the skip."""
    if isinstance(item, Skipped):
        return item
    mel = utterance_log_mel(item.audio, n_mels)
    return np.ascontiguousarray(mel.T.numpy(), dtype=np.float16), len(item.audio)


class CachedFeatures(CachedSplit):
    """A split whose items carry their cached log-mel [n_mels, frames] in place of audio."""

    def __init__(self, dataset: SpeechDataset, directory: Path):
        super().__init__(dataset, FrameStore(directory, MEL_FILE, np.float16, "n_mels", len(dataset.entries),
                                             dataset.name, "feature cache"))
        self.directory = directory
        self.n_mels = self.store.width

    def utterance(self, entry: Entry, duration_s: float, frames: np.ndarray) -> Utterance:
        return Utterance(entry.id, np.zeros(0, np.float32), entry.text, duration_s, entry.speaker, mel=frames.T)
