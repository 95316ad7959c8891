"""Length-bucketed batches, collation and features."""

import random

import numpy as np
import pytest
import torch

from smolwhisper.audio import log_mel_spectrogram
from smolwhisper.data.base import MISSING_FILE, Skipped, Utterance
from smolwhisper.data.loader import (TOO_MANY_TOKENS, BucketBatchSampler, Collator, features,
                                     padding_fraction, spec_augment)
from smolwhisper.tokenizer import train_bpe


@pytest.fixture(scope="module")
def durations():
    rng = random.Random(0)
    return [rng.uniform(1.0, 15.0) for _ in range(503)]


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(["the quick brown fox jumps over the lazy dog"] * 20, vocab_size=300)


def test_every_utterance_once_per_epoch_across_two_ranks(durations):
    for epoch in range(3):
        seen = []
        steps = []
        for rank in range(2):
            sampler = BucketBatchSampler(durations, max_batch_s=60, seed=7, num_replicas=2, rank=rank)
            sampler.set_epoch(epoch)
            batches = list(sampler)
            assert len(batches) == len(sampler)
            steps.append(len(batches))
            seen += [i for batch in batches for i in batch]
        assert sorted(seen) == list(range(len(durations)))
        assert steps[0] == steps[1]  # DDP needs the same number of steps on every rank


def test_epochs_differ_and_the_budget_holds(durations):
    sampler = BucketBatchSampler(durations, max_batch_s=60, seed=7)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert all(max(durations[i] for i in b) * len(b) <= 60 for b in first if len(b) > 1)


def test_resume_yields_exactly_the_remaining_batches(durations):
    sampler = BucketBatchSampler(durations, max_batch_s=45, seed=3, num_replicas=2, rank=1)
    sampler.set_epoch(2)
    uninterrupted = list(sampler)
    sampler.set_epoch(2)
    done = []
    for batch in sampler:
        done.append(batch)
        if len(done) == 5:
            break
    state = sampler.state_dict(batches_done=5)

    resumed = BucketBatchSampler(durations, max_batch_s=45, seed=3, num_replicas=2, rank=1)
    resumed.load_state_dict(state)
    assert len(resumed) == len(uninterrupted) - 5
    assert done + list(resumed) == uninterrupted
    resumed.set_epoch(3)  # the offset applied to the resumed epoch only
    assert len(list(resumed)) == len(resumed)


def test_resume_refuses_a_different_data_layout(durations):
    state = BucketBatchSampler(durations, max_batch_s=45, num_replicas=2).state_dict(0)
    with pytest.raises(ValueError, match="num_replicas=2, this run has 1"):
        BucketBatchSampler(durations, max_batch_s=45).load_state_dict(state)


def test_bucketing_pads_far_less_than_random_batches(durations):
    sampler = BucketBatchSampler(durations, max_batch_s=120, seed=1)
    bucketed = sampler.epoch_batches()
    shuffled = list(range(len(durations)))
    random.Random(1).shuffle(shuffled)
    size = len(durations) // len(bucketed)
    random_batches = [shuffled[i: i + size] for i in range(0, len(shuffled), size)]
    assert padding_fraction(durations, bucketed) < 0.10  # the target of issue 9
    assert padding_fraction(durations, random_batches) > 0.25


def test_collation_pads_masks_and_counts_what_it_drops(tokenizer):
    rng = np.random.default_rng(0)
    items = [
        Utterance("a", rng.standard_normal(16000).astype(np.float32), "the fox", 1.0),
        Skipped("b", MISSING_FILE, "gone.flac"),
        Utterance("c", rng.standard_normal(8000).astype(np.float32), "the lazy dog jumps", 0.5),
        Utterance("d", rng.standard_normal(800).astype(np.float32), "the dog " * 40, 0.05),
    ]
    batch = Collator(tokenizer, n_text_ctx=16)(items)
    assert batch.ids == ["a", "c"]
    assert batch.skipped == {MISSING_FILE: 1, TOO_MANY_TOKENS: 1}
    assert batch.audio.shape == (2, 16000) and batch.audio_lengths.tolist() == [16000, 8000]
    assert torch.all(batch.audio[1, 8000:] == 0)
    for row, text in enumerate(["the fox", "the lazy dog jumps"]):
        sequence = tokenizer.encode_transcript(text)
        n = len(sequence) - 1
        assert batch.tokens[row, :n].tolist() == sequence[:-1]
        # the forced no-timestamps token is not learned; the text and end-of-text are
        assert batch.targets[row, 0] == -100
        assert batch.targets[row, 1:n].tolist() == sequence[2:]
        assert torch.all(batch.targets[row, n:] == -100)


def test_features_match_per_utterance_log_mel_on_real_frames(tokenizer):
    rng = np.random.default_rng(1)
    items = [Utterance(str(i), rng.standard_normal(n).astype(np.float32) * 0.1, "the fox", n / 16000)
             for i, n in enumerate([16000, 9600])]
    batch = Collator(tokenizer, n_text_ctx=16)(items)
    mel, mask = features(batch)
    assert mask.sum(1).tolist() == [100, 60]
    alone = log_mel_spectrogram(torch.from_numpy(items[1].audio))
    # all but the last frame, whose STFT window reaches into the padding
    assert torch.allclose(mel[1, :, :59], alone[:, :59], atol=1e-4)
    padded, padded_mask = features(batch, pad_to_30s=True)
    assert padded.shape == (2, 80, 3000) and padded_mask.sum(1).tolist() == [100, 60]


def test_spec_augment_masks_inside_each_utterance_only():
    mel = torch.randn(2, 80, 200) + 5
    out = spec_augment(mel, [200, 100], generator=torch.Generator().manual_seed(0), time_width_fraction=0.2)
    assert (out == 0).any()
    assert torch.equal(out[1, :, 100:][out[1, :, 100:] != 0], mel[1, :, 100:][out[1, :, 100:] != 0])
    time_masked = (out == 0).all(dim=1)
    assert not time_masked[1, 100:].any()


def test_spec_augment_draws_masks_of_bounded_width_per_row_and_repeats_with_its_seed():
    mel = torch.randn(64, 80, 300) + 5
    lengths = [300 - 3 * row for row in range(64)]
    out = spec_augment(mel, lengths, generator=torch.Generator().manual_seed(1))
    again = spec_augment(mel, lengths, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    freq_masked = (out == 0).all(dim=2).sum(dim=1)  # bins masked over every frame: two masks of <= 27
    assert (freq_masked <= 2 * 27).all() and freq_masked.float().mean() > 10
    time_masked = (out == 0).all(dim=1).sum(dim=1)
    assert all(n <= 2 * int(length * 0.05) for n, length in zip(time_masked.tolist(), lengths))
    assert len(set(map(tuple, (out == 0).all(dim=2).int().tolist()))) > 32  # rows draw their own masks
