"""Per-utterance frames stored once and memory-mapped back: what the log-mel cache (features.py) and
the encoder-state cache (encoder_states.py) share.

    <directory>/<frames file>  [total_frames, width] of one dtype, the utterances' frames one after the
                               other (one utterance = one contiguous slice)
    <directory>/index.npz      per entry: offset, n_frames, n_samples, skip reason; and `width`

A store is written into a staging directory beside its name and published by one rename, so a
reader never sees half a store; what a killed build left behind goes at a later build, a day on.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..audio import SAMPLE_RATE
from .base import Skipped, SpeechDataset, Utterance

INDEX_FILE = "index.npz"
# A staging directory untouched this long belongs to a build that was killed (SIGKILL, power loss)
# rather than one still writing: no split takes a day to compute.
STALE_STAGING_S = 24 * 3600


def publish(directory: Path, write: Callable[[Path], dict], log=print, label: str = "cache") -> dict:
    """Call `write(staging)` to fill a staging directory, then rename it to `directory`; returns what
    `write` returned. A process that loses the race to another building the same store keeps the
    winner's, which is the same."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(directory.parent, log, label)
    staging = Path(tempfile.mkdtemp(prefix=f"{directory.name}.building-", dir=directory.parent))
    try:
        result = write(staging)
        staging.chmod(0o755)  # mkdtemp's 0700 would keep a shared cache from other users
        try:
            staging.rename(directory)
        except OSError:
            if not (directory / INDEX_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


@contextlib.contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """Held while one process builds `directory`: trials of a sweep that need the same store wait for
    the first to build it instead of each computing it (an advisory lock, released if the holder dies)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remove_stale_staging(cache_dir: Path, log=print, label: str = "cache") -> None:
    """Delete what killed builds left in `cache_dir`: their staging directories are never published."""
    for staging in cache_dir.glob("*.building-*"):
        try:
            touched = max(path.stat().st_mtime for path in (staging, *staging.iterdir()))
        except OSError:  # another process is removing it
            continue
        if time.time() - touched > STALE_STAGING_S:
            shutil.rmtree(staging, ignore_errors=True)
            log(f"{label}: removed {staging}, left by a build that did not finish")


def write_frames(items: Iterable[Skipped | tuple[np.ndarray, int]], n: int, path: Path) -> dict[str, np.ndarray]:
    """Write each item's frames ([frames, width], already in the store's dtype) to `path`, in order;
    returns the index (offset, n_frames, n_samples, reason per item). A Skipped item records its reason."""
    offset, n_frames, n_samples, reason = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), [""] * n
    position = 0
    with open(path, "wb") as file:
        for index, item in enumerate(items):
            if isinstance(item, Skipped):
                reason[index] = item.reason
                continue
            frames, n_samples[index] = item
            file.write(np.ascontiguousarray(frames).tobytes())
            offset[index], n_frames[index] = position, len(frames)
            position += len(frames)
    return {"offset": offset, "n_frames": n_frames, "n_samples": n_samples, "reason": np.array(reason, dtype=str)}


class FrameStore:
    """A published store read back: the index in memory, the frames memory-mapped on first use (in the
    process, e.g. a DataLoader worker, that reads)."""

    def __init__(self, directory: Path, frames_file: str, dtype: type, width_key: str, n_entries: int, name: str,
                 label: str = "cache"):
        self.directory, self.frames_file, self.dtype, self.label = directory, frames_file, np.dtype(dtype), label
        try:
            with np.load(directory / INDEX_FILE) as index:
                self.width = int(index[width_key])
                self.offset, self.n_frames, self.n_samples = index["offset"], index["n_frames"], index["n_samples"]
                self.reason = index["reason"]
            size = (directory / frames_file).stat().st_size
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:  # a missing or cut file
            raise ValueError(f"{label} {directory} is damaged ({error}); remove it to have it built again") from None
        if len(self.offset) != n_entries:
            raise ValueError(f"{label} {directory} holds {len(self.offset)} utterances; {name} has {n_entries}")
        if size != int(self.n_frames.sum()) * self.width * self.dtype.itemsize:
            raise ValueError(f"{label} {directory}: {frames_file} holds {size} bytes, its index lists "
                             f"{int(self.n_frames.sum())} frames of {self.width}; remove it to have it built again")
        self._frames = None

    @property
    def frames(self) -> np.memmap:
        if self._frames is None:
            total = int(self.n_frames.sum())
            self._frames = (np.memmap(self.directory / self.frames_file, self.dtype, "r", shape=(total, self.width))
                            if total else np.zeros((0, self.width), self.dtype))  # an empty file cannot be mapped
        return self._frames

    def __getitem__(self, index: int) -> np.ndarray:
        """The index-th utterance's frames [n_frames, width], copied out of the map."""
        start = self.offset[index]
        return np.array(self.frames[start: start + self.n_frames[index]])

    def __getstate__(self) -> dict:  # a memmap does not travel to DataLoader workers: reopen there
        return {**self.__dict__, "_frames": None}


class CachedSplit(Dataset):
    """A split whose items carry frames from a store in place of audio; entries, durations and skip
    counts are the split's, so the sampler plans the same batches. Subclasses say where the frames go."""

    def __init__(self, dataset: SpeechDataset, store: FrameStore):
        self.entries, self.name, self.skipped = dataset.entries, dataset.name, dataset.skipped
        self.store = store

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def durations_s(self) -> list[float]:
        return [entry.duration_s for entry in self.entries]

    def __getitem__(self, index: int) -> Utterance | Skipped:
        entry = self.entries[index]
        if self.store.reason[index]:
            return Skipped(entry.id, str(self.store.reason[index]), f"recorded in the {self.store.label}")
        audio_s = float(self.store.n_samples[index]) / SAMPLE_RATE
        return self.utterance(entry, audio_s, self.store[index])

    def utterance(self, entry, duration_s: float, frames: np.ndarray) -> Utterance:
        raise NotImplementedError
