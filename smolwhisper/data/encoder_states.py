"""An encoder-state cache per corpus split: a frozen encoder's output computed once per utterance.

A decoder ablation on a shared, frozen encoder (train.freeze: [encoder]) needs the encoder's output
once per utterance, not once per trial and epoch: with `data.encoder_cache`, the trainer computes it
before training and every step, and every evaluation, reads it back, so a step costs the decoder only.

    <cache_dir>/encoder_states/<fingerprint[:16]>/states.f32  float32 [total_frames, n_audio_state]
    <cache_dir>/encoder_states/<fingerprint[:16]>/index.npz   per entry: offset, n_frames, n_samples, skip reason

The fingerprint covers what the states are computed from: the split (features.fingerprint: entries,
audio files, n_mels), the front-end (Whisper's 30 s padding or not) and the encoder (its
configuration and a hash of its weights), so every trial of a sweep that starts from the same
encoder reads one cache, and an encoder with other weights gets its own. Each utterance is encoded
alone, in fp32 and eval mode, as a batch of one: with data.pad_to_30s (Whisper's input, the case
pretrained weights need) that is exactly what a training batch computes for it; with variable-length
input a padded batch computes its real frames to about 1e-5. No SpecAugment: it acts on the log-mel
before the encoder, so it cannot reach cached states (the config refuses both at once).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .base import Skipped, SpeechDataset, Utterance
from .features import fingerprint as split_fingerprint
from .frame_store import INDEX_FILE, CachedSplit, FrameStore, build_lock, publish, write_frames
from .loader import Batch, features, pad_log_mels

FORMAT_VERSION = 1  # bump when what is stored, or how it is computed, changes
STATES_FILE = "states.f32"
# The encoder's configuration that changes its output without changing its tensors' shapes.
ENCODER_FIELDS = ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer", "mlp_ratio",
                  "audio_stride", "conv_kernel", "qk_norm")


def encoder_digest(encoder: torch.nn.Module) -> str:
    """sha256 of the encoder's tensors (names, shapes and fp32 values), buffers included."""
    digest = hashlib.sha256()
    for name, tensor in encoder.state_dict().items():
        value = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(json.dumps([name, list(value.shape)]).encode())
        digest.update(value.numpy().tobytes())
    return digest.hexdigest()


def fingerprint(dataset: SpeechDataset, model_config, pad_to_30s: bool, encoder: torch.nn.Module) -> str:
    encoder_config = {name: getattr(model_config, name) for name in ENCODER_FIELDS}
    key = [FORMAT_VERSION, split_fingerprint(dataset, model_config.n_mels), pad_to_30s, encoder_config,
           encoder_digest(encoder)]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def cache_path(dataset: SpeechDataset, model_config, pad_to_30s: bool, encoder: torch.nn.Module,
               cache_dir: str = "") -> Path:
    from .features import default_cache_dir

    root = Path(cache_dir or default_cache_dir()).expanduser()
    return root / "encoder_states" / fingerprint(dataset, model_config, pad_to_30s, encoder)[:16]


def ensure_encoder_cache(dataset: SpeechDataset, model_config, pad_to_30s: bool, encoder: torch.nn.Module,
                         cache_dir: str = "", num_workers: int = 0, log=print) -> Path:
    """The split's cache directory, built first unless it exists. Concurrent callers (the trials of a
    sweep) wait for the one building it, then read what it built."""
    directory = cache_path(dataset, model_config, pad_to_30s, encoder, cache_dir)
    if (directory / INDEX_FILE).is_file():
        return directory
    with build_lock(directory):
        if not (directory / INDEX_FILE).is_file():
            # The trials that need this cache wait on its lock meanwhile, and their cores with them: the
            # build takes every core this process may run on (a trial's reservation is often one).
            threads = torch.get_num_threads()
            torch.set_num_threads(max(threads, len(os.sched_getaffinity(0))))
            try:
                build_encoder_cache(dataset, model_config, pad_to_30s, encoder, directory, num_workers, log)
            finally:
                torch.set_num_threads(threads)
    return directory


@torch.no_grad()
def build_encoder_cache(dataset: SpeechDataset, model_config, pad_to_30s: bool, encoder: torch.nn.Module,
                        directory: Path, num_workers: int = 0, log=print) -> None:
    start = time.perf_counter()
    n_mels, width = model_config.n_mels, model_config.n_audio_state
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device

    def encoded(items):
        for item in items:
            if isinstance(item, Skipped):
                yield item
                continue
            mel, _ = features(single_batch(item).to(device), n_mels, pad_to_30s)
            states, _ = encoder(mel.float())  # one utterance: no padding, no mask
            yield states[0].float().cpu().numpy(), item.n_samples

    def write(staging: Path) -> dict:
        # One by one, in order, decoded in worker processes; a generator of its own leaves the global
        # RNG (the model's initialisation) as a run that found the cache built has it.
        loader = DataLoader(dataset, batch_size=None, num_workers=num_workers, generator=torch.Generator(),
                            collate_fn=_as_is)
        index = write_frames(encoded(loader), len(dataset), staging / STATES_FILE)
        np.savez(staging / INDEX_FILE, width=width, **index)
        return index

    try:
        index = publish(directory, write, log, "encoder cache")
    finally:
        encoder.train(was_training)
    n_skipped = int((index["reason"] != "").sum())
    n_frames = int(index["n_frames"].sum())
    log(f"encoder cache: {dataset.name}: {len(dataset)} utterances ({n_skipped} skipped), {n_frames} encoder "
        f"frames ({n_frames * width * 4 / 1e6:.0f} MB) in {directory}, {time.perf_counter() - start:.1f} s")


def _as_is(item):
    return item


def single_batch(item: Utterance) -> Batch:
    """A batch of one utterance as the collator makes it, without its text (features() reads only audio)."""
    empty = torch.zeros(1, 0, dtype=torch.long)
    audio = torch.zeros(1, 0) if item.mel is not None else torch.from_numpy(np.asarray(item.audio, np.float32))[None]
    return Batch(audio, torch.tensor([item.n_samples]), empty, empty, [item.id], [item.text],
                 mel=None if item.mel is None else pad_log_mels([item.mel]), n_samples=[item.n_samples])


class CachedEncoderStates(CachedSplit):
    """A split whose items carry their cached encoder output ([frames, n_audio_state]) in place of audio."""

    def __init__(self, dataset: SpeechDataset, directory: Path):
        super().__init__(dataset, FrameStore(directory, STATES_FILE, np.float32, "width", len(dataset.entries),
                                             dataset.name, "encoder cache"))

    def utterance(self, entry, duration_s: float, frames: np.ndarray) -> Utterance:
        return Utterance(entry.id, np.zeros(0, np.float32), entry.text, duration_s, entry.speaker,
                         encoder_states=frames)
