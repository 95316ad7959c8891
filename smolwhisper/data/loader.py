"""Batches for training: a length-bucketed sampler with an audio budget, collation, features.

The sampler sorts utterances by (slightly jittered) duration and fills each batch up to a budget of
padded audio seconds, so a batch holds utterances of similar length and little padding; the batch
order is shuffled. Under DDP every rank builds the same batch list for the epoch and takes every
R-th batch, so the ranks see disjoint data. Its position (epoch, batches done) goes into checkpoints
so a resumed run sees exactly the remaining batches.
Features are not computed here: `features()` runs in the training step, on the training device,
unless the utterances carry log-mels from the feature cache (smolwhisper.data.features).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from ..audio import DYNAMIC_RANGE, N_FRAMES, N_SAMPLES, frame_lengths, log_mel_spectrogram
from .base import Skipped, Utterance

TOO_MANY_TOKENS = "too_many_tokens"
# Where a zero-padded batch row holds no signal, its log-mel sits at the row's floor: DYNAMIC_RANGE
# decades below the peak, which Whisper's (x + 4) / 4 scaling turns into 2 below the row's maximum.
FLOOR_BELOW_MAX = DYNAMIC_RANGE / 4


class BucketBatchSampler(Sampler[list[int]]):
    def __init__(self, durations_s: list[float], max_batch_s: float, *, shuffle: bool = True,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0, max_batch_size: int | None = None,
                 jitter: float = 0.05, grad_accum: int = 1, largest_first: bool = False):
        if max_batch_s <= 0:
            raise ValueError(f"data.max_batch_s: {max_batch_s} must be > 0 (seconds of padded audio per batch)")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.durations_s = list(durations_s)
        self.max_batch_s, self.max_batch_size = max_batch_s, max_batch_size
        self.shuffle, self.seed, self.jitter = shuffle, seed, jitter
        self.num_replicas, self.rank = num_replicas, rank
        # Whole optimizer steps per epoch: the same batches make one process with grad_accum=R
        # and R ranks without accumulation, and no step straddles two epochs.
        self.batches_multiple_of = num_replicas * grad_accum
        self.epoch, self.start_batch = 0, 0
        # The optimizer step of the most padded audio first in each epoch: a rehearsal meets its peak
        # memory at once, not hours into the run.
        self.largest_first = largest_first

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Call before each epoch (as with DistributedSampler); start_batch skips batches already done."""
        self.epoch, self.start_batch = epoch, start_batch

    def state_dict(self, batches_done: int) -> dict:
        """Position after `batches_done` batches of this rank in the current epoch (counted from its start)."""
        return {"epoch": self.epoch, "batches_done": batches_done, "seed": self.seed,
                "num_replicas": self.num_replicas, "n_utterances": len(self.durations_s)}

    def load_state_dict(self, state: dict) -> None:
        for key, mine in (("num_replicas", self.num_replicas), ("n_utterances", len(self.durations_s)),
                          ("seed", self.seed)):
            if state[key] != mine:
                raise ValueError(f"cannot resume the data position: the checkpoint had {key}={state[key]}, "
                                 f"this run has {mine}")
        self.set_epoch(state["epoch"], state["batches_done"])

    def epoch_batches(self) -> list[list[int]]:
        """All ranks' batches for this epoch, in order; rank r takes every num_replicas-th."""
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.durations_s)))
        if self.shuffle:  # jittered sort: similar lengths together, different neighbours each epoch
            keys = [d * (1 + rng.uniform(-self.jitter, self.jitter)) for d in self.durations_s]
        else:
            keys = self.durations_s
        order.sort(key=lambda i: keys[i])
        batches = self._fill(order)
        _make_divisible(batches, self.batches_multiple_of)
        if self.shuffle:
            rng.shuffle(batches)
        if self.largest_first:
            padded = [len(batch) * max(self.durations_s[i] for i in batch) for batch in batches]
            first = set(sorted(range(len(batches)), key=lambda k: -padded[k])[:self.batches_multiple_of])
            batches = [batches[k] for k in sorted(first)] + [b for k, b in enumerate(batches) if k not in first]
        return batches

    def _fill(self, order: list[int]) -> list[list[int]]:
        batches, batch, longest = [], [], 0.0
        for index in order:
            duration = self.durations_s[index]
            longest_if_added = max(longest, duration)
            full = self.max_batch_size is not None and len(batch) >= self.max_batch_size
            if batch and (full or longest_if_added * (len(batch) + 1) > self.max_batch_s):
                batches.append(batch)
                batch, longest_if_added = [], duration
            batch.append(index)
            longest = longest_if_added
        if batch:
            batches.append(batch)
        return batches

    def __iter__(self):
        mine = self.epoch_batches()[self.rank::self.num_replicas]
        start, self.start_batch = self.start_batch, 0  # a resumed offset applies to one epoch only
        yield from mine[start:]

    def __len__(self) -> int:
        return len(self.epoch_batches()[self.rank::self.num_replicas]) - self.start_batch


def _make_divisible(batches: list[list[int]], multiple: int) -> None:
    """Split the largest batches until their number is a multiple: DDP needs equal step counts, and
    splitting (rather than dropping or repeating) keeps every utterance exactly once per epoch."""
    while len(batches) % multiple:
        largest = max(range(len(batches)), key=lambda i: len(batches[i]))
        if len(batches[largest]) < 2:
            raise ValueError(f"{len(batches)} utterances cannot fill a multiple of {multiple} batches "
                             f"(ranks x gradient accumulation)")
        batch = batches.pop(largest)
        batches[largest:largest] = [batch[: len(batch) // 2], batch[len(batch) // 2:]]


def padding_fraction(durations_s: list[float], batches: list[list[int]]) -> float:
    """Share of the padded audio in these batches that is padding."""
    padded = sum(max(durations_s[i] for i in b) * len(b) for b in batches)
    return 1 - sum(durations_s[i] for b in batches for i in b) / padded


@dataclass
class Batch:
    audio: Tensor  # [B, samples] zero-padded 16 kHz; [B, 0] when mel holds cached features
    audio_lengths: Tensor  # [B] samples
    tokens: Tensor  # [B, L] decoder input: start-of-transcript prompt + text, padded with end-of-text
    targets: Tensor  # [B, L] next tokens; -100 where nothing is to be learned (prompt, padding)
    ids: list[str]
    texts: list[str]
    skipped: Counter = field(default_factory=Counter)  # reasons for items dropped from this batch
    mel: Tensor | None = None  # [B, n_mels, frames] cached log-mel, each row padded with its floor
    # What the host needs to know of the batch, as plain numbers: reading them from tensors on a GPU
    # would stall it.
    n_samples: list[int] = field(default_factory=list)  # audio_lengths
    n_target_tokens: int = 0  # target positions that count (targets != -100)
    row_target_tokens: list[int] = field(default_factory=list)  # the same, per row
    # [B, frames, n_audio_state] cached encoder output, zero-padded (smolwhisper.data.encoder_states)
    audio_features: Tensor | None = None
    n_feature_frames: list[int] = field(default_factory=list)  # real frames of each audio_features row

    def to(self, device: torch.device | str) -> Batch:
        """Tensors to `device`; non-blocking where the DataLoader pinned them."""
        return self._map(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        """Called by a DataLoader with pin_memory=True (page-locked memory: asynchronous copies)."""
        return self._map(lambda t: t.pin_memory())

    def _map(self, move) -> Batch:
        moved = {name: getattr(self, name) for name in ("audio", "audio_lengths", "tokens", "targets", "mel",
                                                        "audio_features")}
        moved = {name: None if t is None else move(t) for name, t in moved.items()}
        return Batch(**moved, ids=self.ids, texts=self.texts, skipped=self.skipped, n_samples=self.n_samples,
                     n_target_tokens=self.n_target_tokens, row_target_tokens=self.row_target_tokens,
                     n_feature_frames=self.n_feature_frames)

    @property
    def duration_s(self) -> float:
        return sum(self.n_samples) / 16000

    @property
    def n_frames(self) -> list[int]:
        """Log-mel frames per row (`frame_lengths`), on the host."""
        return [frame_lengths(n) for n in self.n_samples]


class Collator:
    """Pads audio (or cached log-mels) and tokens; drops (and counts) skipped items and transcripts
    too long to decode."""

    def __init__(self, tokenizer, n_text_ctx: int, tokens_multiple: int = 1):
        """tokens_multiple: token rows padded to a multiple of this (at most n_text_ctx), so that a
        compiled model sees few distinct lengths."""
        self.tokenizer, self.n_text_ctx, self.tokens_multiple = tokenizer, n_text_ctx, tokens_multiple

    def __call__(self, items: list[Utterance | Skipped]) -> Batch:
        skipped: Counter = Counter(item.reason for item in items if isinstance(item, Skipped))
        kept, sequences = [], []
        n_prompt = len(self.tokenizer.encode_transcript("")) - 1  # sot sequence, without end-of-text
        for item in items:
            if isinstance(item, Skipped):
                continue
            sequence = self.tokenizer.encode_transcript(item.text)
            if len(sequence) - 1 > self.n_text_ctx:
                skipped[TOO_MANY_TOKENS] += 1
                continue
            kept.append(item)
            sequences.append(sequence)
        cached = bool(kept) and kept[0].mel is not None  # a split is cached whole or not at all
        encoded = bool(kept) and kept[0].encoder_states is not None
        n_audio = 0 if cached or encoded else max((len(u.audio) for u in kept), default=0)
        n_tokens = max((len(s) - 1 for s in sequences), default=0)
        n_tokens = min(-(-n_tokens // self.tokens_multiple) * self.tokens_multiple, max(n_tokens, self.n_text_ctx))
        audio = torch.zeros(len(kept), n_audio)
        tokens = torch.full((len(kept), n_tokens), self.tokenizer.eot, dtype=torch.long)
        targets = torch.full((len(kept), n_tokens), -100, dtype=torch.long)
        for row, (utterance, sequence) in enumerate(zip(kept, sequences)):
            audio[row, : len(utterance.audio)] = torch.from_numpy(np.asarray(utterance.audio, dtype=np.float32))
            tokens[row, : len(sequence) - 1] = torch.tensor(sequence[:-1])
            targets[row, n_prompt - 1: len(sequence) - 1] = torch.tensor(sequence[n_prompt:])
        n_samples = [u.n_samples for u in kept]
        states = [u.encoder_states for u in kept] if encoded else []
        return Batch(audio, torch.tensor(n_samples, dtype=torch.long), tokens, targets, [u.id for u in kept],
                     [u.text for u in kept], skipped, mel=pad_log_mels([u.mel for u in kept]) if cached else None,
                     n_samples=n_samples, n_target_tokens=sum(len(s) - n_prompt for s in sequences),
                     row_target_tokens=[len(s) - n_prompt for s in sequences],
                     audio_features=pad_encoder_states(states) if encoded else None,
                     n_feature_frames=[len(s) for s in states])


def pad_log_mels(mels: list[np.ndarray]) -> Tensor:
    """[B, n_mels, frames] from per-utterance log-mels, each row padded with its own floor (its
    maximum minus FLOOR_BELOW_MAX), the value a zero-padded batch row has there."""
    n_frames = max(mel.shape[1] for mel in mels)
    batch = torch.empty(len(mels), mels[0].shape[0], n_frames)
    for row, mel in enumerate(mels):
        values = torch.from_numpy(mel.astype(np.float32))
        # an utterance shorter than one hop has no frame: its row is all padding and masked out
        batch[row] = values.max() - FLOOR_BELOW_MAX if values.numel() else 0.0
        batch[row, :, : values.shape[1]] = values
    return batch


def pad_encoder_states(states: list[np.ndarray]) -> Tensor:
    """[B, frames, n_audio_state] from per-utterance encoder outputs, zeros after each row's end (masked)."""
    batch = torch.zeros(len(states), max(len(s) for s in states), states[0].shape[1])
    for row, rows in enumerate(states):
        batch[row, : len(rows)] = torch.from_numpy(rows)
    return batch


def encoder_states(batch: Batch) -> tuple[Tensor, Tensor | None]:
    """A batch's cached encoder output and its mask [B, frames] (None when no row is padded), as
    the encoder returns them."""
    n_total = batch.audio_features.shape[1]
    if all(n == n_total for n in batch.n_feature_frames):
        return batch.audio_features, None
    lengths = torch.tensor(batch.n_feature_frames).to(batch.audio_features.device, non_blocking=True)
    return batch.audio_features, torch.arange(n_total, device=lengths.device)[None, :] < lengths[:, None]


def features(batch: Batch, n_mels: int = 80, pad_to_30s: bool = False) -> tuple[Tensor, Tensor]:
    """Log-mel and its padding mask, on the batch's device. pad_to_30s gives Whisper's fixed input.
    A batch from the feature cache brings its log-mel; others are computed from the audio."""
    if batch.mel is not None:
        return cached_features(batch, n_mels, pad_to_30s)
    audio = batch.audio
    if pad_to_30s:
        if audio.shape[1] > N_SAMPLES:
            raise ValueError(f"a {audio.shape[1] / 16000:.1f} s utterance does not fit Whisper's 30 s window")
        audio = torch.nn.functional.pad(audio, (0, N_SAMPLES - audio.shape[1]))
    mel = log_mel_spectrogram(audio, n_mels=n_mels)
    n_frames = frame_lengths(batch.audio_lengths)
    mel_mask = torch.arange(mel.shape[-1], device=mel.device)[None, :] < n_frames[:, None]
    if pad_to_30s:
        return mel[..., :N_FRAMES], mel_mask[:, :N_FRAMES]
    return mel, mel_mask


def pad_frames(mel: Tensor, mel_mask: Tensor, multiple: int) -> tuple[Tensor, Tensor]:
    """Pad the frame axis up to a multiple of `multiple` (at most Whisper's 3000 frames), masked out."""
    n_frames = mel.shape[-1]
    target = min(-(-n_frames // multiple) * multiple, max(n_frames, N_FRAMES))
    if target == n_frames:
        return mel, mel_mask
    return (torch.nn.functional.pad(mel, (0, target - n_frames)),
            torch.nn.functional.pad(mel_mask, (0, target - n_frames), value=False))


def cached_features(batch: Batch, n_mels: int, pad_to_30s: bool) -> tuple[Tensor, Tensor]:
    """`features()` of a batch that carries its cached log-mel (padded with each row's floor)."""
    mel = batch.mel
    if mel.shape[1] != n_mels:
        raise ValueError(f"the batch's cached log-mel has {mel.shape[1]} mel bins; the model takes {n_mels}")
    if pad_to_30s:
        if mel.shape[-1] > N_FRAMES:
            raise ValueError(f"{mel.shape[-1]} log-mel frames do not fit Whisper's 30 s window ({N_FRAMES})")
        floor = mel.amax(dim=(1, 2), keepdim=True) - FLOOR_BELOW_MAX
        mel = torch.cat([mel, floor.expand(-1, n_mels, N_FRAMES - mel.shape[-1])], dim=-1)
    n_frames = frame_lengths(batch.audio_lengths)
    mel_mask = torch.arange(mel.shape[-1], device=mel.device)[None, :] < n_frames[:, None]
    return mel, mel_mask


def spec_augment(mel: Tensor, n_frames: list[int], n_freq_masks: int = 2, freq_width: int = 27,
                 n_time_masks: int = 2, time_width_fraction: float = 0.05,
                 generator: torch.Generator | None = None) -> Tensor:
    """SpecAugment (Park et al. 2019) frequency and time masks, training only; masked bins set to 0,
    the mean of Whisper's normalised log-mel scale. Time masks stay inside each utterance (n_frames
    real frames per row, on the host). All rows at once: the random draws come from `generator` on
    the host, the masks are built on mel's device, and nothing is read back from it."""
    batch, n_mels, n_total = mel.shape
    lengths = torch.tensor(n_frames, dtype=torch.float32)
    freq = _random_spans(batch, n_freq_masks, torch.full((batch,), float(freq_width)),
                         torch.full((batch,), float(n_mels)), generator)
    time = _random_spans(batch, n_time_masks, (lengths * time_width_fraction).floor(), lengths, generator)
    masked = (_span_mask(*freq, n_mels, mel.device)[:, :, None]
              | _span_mask(*time, n_total, mel.device)[:, None, :])
    return mel.masked_fill(masked, 0.0)


def _random_spans(batch: int, n_spans: int, max_width: Tensor, extent: Tensor,
                  generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Per row, n_spans (start, width): width uniform in 0..max_width, start uniform in
    0..extent - width - 1 (at least 0)."""
    width = (torch.rand(batch, n_spans, generator=generator) * (max_width[:, None] + 1)).floor()
    room = (extent[:, None] - width).clamp(min=1)
    start = (torch.rand(batch, n_spans, generator=generator) * room).floor()
    return start, width


def _span_mask(start: Tensor, width: Tensor, size: int, device: torch.device) -> Tensor:
    """[B, size] True inside any of each row's spans."""
    start, width = start.to(device, non_blocking=True), width.to(device, non_blocking=True)
    position = torch.arange(size, device=device, dtype=torch.float32)[None, None, :]
    inside = (position >= start[..., None]) & (position < (start + width)[..., None])
    return inside.any(dim=1)
