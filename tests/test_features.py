"""The log-mel feature cache: equal to features computed from audio, reused, invalidated, exact on resume."""

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from smolwhisper.config import load_run_config, model_preset
from smolwhisper.data.base import MISSING_FILE, UNREADABLE_AUDIO
from smolwhisper.data.features import CachedFeatures, build_feature_cache, cache_path, utterance_log_mel
from smolwhisper.data.loader import Collator, features
from smolwhisper.data.manifest import load_manifest
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import train_bpe
from smolwhisper.train import Distributed, Trainer, recipe

from helpers import write_tone_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("corpus"), n_train=16, n_validation=4)


def cached(dataset, tmp_path: Path) -> CachedFeatures:
    path = cache_path(dataset, 80, str(tmp_path / "cache"))
    build_feature_cache(dataset, 80, path, log=lambda message: None)
    return CachedFeatures(dataset, path)


def make_trainer(corpus: Path, out_dir: Path, cache_dir: Path, **extra) -> Trainer:
    values = {"model.preset": "test", "model.n_text_ctx": 32, "data.source": str(corpus), "data.vocab_size": 300,
              "data.max_batch_s": 10, "data.max_duration_s": 2, "data.num_workers": 0,
              "data.feature_cache": True, "data.cache_dir": str(cache_dir), "train.max_steps": 6,
              "train.out_dir": str(out_dir), "train.progress": False, "optim.warmup_steps": 2, "optim.lr": 3e-3,
              "eval.max_tokens": 8}
    values.update(extra)
    return Trainer(load_run_config(None, [f"{k}={v}" for k, v in values.items()]), Distributed())


def test_cached_batch_equals_log_mel_from_audio_and_gives_the_same_loss(corpus, tmp_path):
    dataset = load_manifest(corpus / "train.jsonl")
    tokenizer = train_bpe([entry.text for entry in dataset.entries], vocab_size=300)
    collate = Collator(tokenizer, n_text_ctx=32)
    indices = range(8)
    from_audio = collate([dataset[i] for i in indices])
    from_cache = collate([cached(dataset, tmp_path)[i] for i in indices])
    assert from_cache.audio_lengths.tolist() == from_audio.audio_lengths.tolist()
    assert from_cache.duration_s == from_audio.duration_s

    reference, reference_mask = features(from_audio)
    mel, mask = features(from_cache)
    assert torch.equal(mask, reference_mask) and mel.shape == reference.shape
    # Storage is float16: rounding moves a value by at most half its spacing there, so one spacing at
    # the largest magnitude bounds the error (2^-10 for these tones, whose log-mels stay below 2).
    atol = float(np.spacing(np.float16(reference.abs().max())))
    longest = int(from_audio.audio_lengths.argmax())
    for row, n_frames in enumerate(mask.sum(1).tolist()):
        # the batch's longest row sees torch.stft's reflection past its end, the cache sees zeros there
        valid = n_frames - 1 if row == longest else n_frames
        assert torch.allclose(mel[row, :, :valid], reference[row, :, :valid], rtol=0, atol=atol)
        if row != longest:  # a zero-padded row is at its floor once STFT windows no longer reach its audio
            assert torch.allclose(mel[row, :, n_frames + 3:], reference[row, :, n_frames + 3:], rtol=0, atol=atol)
    padded, padded_mask = features(from_cache, pad_to_30s=True)
    assert padded.shape == (8, 80, 3000) and torch.equal(padded_mask.sum(1), mask.sum(1))

    torch.manual_seed(0)
    model = Whisper(model_preset("test", n_text_ctx=32)).eval()
    losses = [model(m, b.tokens, mel_mask=k, targets=b.targets).loss.item()
              for m, k, b in ((reference, reference_mask, from_audio), (mel, mask, from_cache))]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)


def test_trainer_on_the_cache_trains_and_resumes_exactly(corpus, tmp_path):
    # SpecAugment acts on cached features too. The first trainer builds the cache and the others find
    # it built: building must leave the global RNG (model initialisation) alone.
    extra = {"data.spec_augment": True, "train.checkpoint_every": 3, "train.log_every": 1}
    straight = make_trainer(corpus, tmp_path / "a", tmp_path / "cache", **extra)
    expected = [straight.train_step()["train/loss"] for _ in range(6)]
    first = make_trainer(corpus, tmp_path / "b", tmp_path / "cache", **extra)
    before = [first.train_step()["train/loss"] for _ in range(3)]
    first.save_checkpoint()
    del first
    resumed = make_trainer(corpus, tmp_path / "b", tmp_path / "cache", **extra)
    assert resumed.step == 3
    after = [resumed.train_step()["train/loss"] for _ in range(3)]
    assert before + after == pytest.approx(expected, abs=1e-6)
    assert len(set(expected)) == 6 and expected[-1] < expected[0]
    assert "val/wer" in resumed.evaluate()  # validation reads its cache too


def test_an_unchanged_corpus_reuses_its_cache_and_a_rewritten_file_gets_a_new_one(tmp_path, monkeypatch):
    corpus = write_tone_corpus(tmp_path / "corpus", n_train=6, n_validation=2)
    builds = []
    monkeypatch.setattr(recipe, "build_feature_cache",
                        lambda dataset, *args, **kwargs: builds.append(dataset.name) or build_feature_cache(
                            dataset, *args, **kwargs))
    first = make_trainer(corpus, tmp_path / "a", tmp_path / "cache")
    assert len(builds) == 2  # train and validation
    make_trainer(corpus, tmp_path / "b", tmp_path / "cache")
    assert len(builds) == 2  # a second trainer on the same corpus builds nothing
    monkeypatch.chdir(corpus)  # nor does one that names the manifest by a relative path
    assert cache_path(load_manifest("train.jsonl"), 80, str(tmp_path / "cache")) == first.datasets["train"].directory

    audio_file = corpus / "train" / "003.wav"
    audio, _ = soundfile.read(audio_file, dtype="float32")
    soundfile.write(audio_file, audio[::-1].copy(), 16000)  # same length, same size: new samples
    stat = audio_file.stat()  # a filesystem with coarse timestamps could keep the old mtime: move it on
    os.utime(audio_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rebuilt = make_trainer(corpus, tmp_path / "c", tmp_path / "cache")
    assert builds[2:] == [str(corpus / "train.jsonl")]
    train_set = rebuilt.datasets["train"]
    assert train_set.directory != first.datasets["train"].directory
    index = [entry.id for entry in train_set.entries].index("train/003.wav")
    fresh = utterance_log_mel(audio[::-1].copy(), 80).numpy()
    assert np.allclose(train_set[index].mel, fresh, atol=float(np.spacing(np.float16(np.abs(fresh).max()))))


def test_unreadable_and_missing_files_are_skipped_for_the_same_reasons(tmp_path):
    corpus = write_tone_corpus(tmp_path / "corpus", n_train=6, n_validation=2)
    (corpus / "train" / "001.wav").write_bytes(b"not a wav file")
    (corpus / "train" / "004.wav").unlink()
    dataset = load_manifest(corpus / "train.jsonl")  # durations come from the manifest: both stay listed
    collate = Collator(train_bpe([entry.text for entry in dataset.entries], vocab_size=300), n_text_ctx=32)
    from_audio = collate([dataset[i] for i in range(len(dataset))])
    from_cache = collate([cached(dataset, tmp_path)[i] for i in range(len(dataset))])
    assert from_audio.skipped == Counter({UNREADABLE_AUDIO: 1, MISSING_FILE: 1}) == from_cache.skipped
    assert from_cache.ids == from_audio.ids and len(from_cache.ids) == 4


def test_a_build_that_loses_the_race_to_publish_keeps_the_winners_cache(corpus, tmp_path):
    # Two trainers building one cache at once: the second rename finds the directory taken.
    dataset = load_manifest(corpus / "validation.jsonl")
    path = cache_path(dataset, 80, str(tmp_path))
    for _ in range(2):
        build_feature_cache(dataset, 80, path, log=lambda message: None)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the loser's copy is gone
    assert len([item for item in CachedFeatures(dataset, path)]) == 4


def test_a_build_clears_what_killed_builds_left_and_spares_one_still_writing(corpus, tmp_path):
    dataset = load_manifest(corpus / "validation.jsonl")
    path = cache_path(dataset, 80, str(tmp_path))
    killed, writing = tmp_path / "0123.building-dead", tmp_path / "4567.building-live"
    for staging in (killed, writing):
        staging.mkdir()
        (staging / "mel.f16").write_bytes(b"\0" * 64)
    two_days_ago = os.path.getmtime(killed) - 2 * 24 * 3600
    for item in (killed / "mel.f16", killed):
        os.utime(item, (two_days_ago, two_days_ago))
    messages = []
    build_feature_cache(dataset, 80, path, log=messages.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, writing.name])
    assert any(f"removed {killed}" in message for message in messages)
