"""data.encoder_cache: a frozen encoder's output computed once, read back by training and evaluation."""

import pytest
import torch

from smolwhisper.config import ConfigError, load_run_config
from smolwhisper.data.encoder_states import CachedEncoderStates, cache_path, ensure_encoder_cache
from smolwhisper.data.manifest import load_manifest
from smolwhisper.train import Distributed, Trainer

from helpers import randomize, write_tone_corpus
from test_pretrained import dense_checkpoint  # noqa: F401 (a fixture)
from test_train import losses, overrides


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tone_corpus(tmp_path_factory.mktemp("corpus"), n_train=10)


def trainer(corpus, dense_checkpoint, out_dir, **extra):
    values = {"model.init_from": str(dense_checkpoint), "train.freeze": "[encoder]", "train.max_steps": 4,
              "model.ctc_weight": 0.3, "eval.max_utterances": 3, **extra}
    return Trainer(load_run_config(None, overrides(corpus, out_dir, **values)), Distributed())


# Whisper's 30 s input (what pretrained weights need) costs ~40 s here: 3,000 mel frames per utterance.
@pytest.mark.parametrize("pad_to_30s", [pytest.param(True, marks=pytest.mark.slow), False])
def test_training_from_cached_states_gives_the_losses_of_computing_them(corpus, dense_checkpoint, tmp_path,
                                                                         pad_to_30s):
    computed = trainer(corpus, dense_checkpoint, tmp_path / "computed", **{"data.pad_to_30s": pad_to_30s})
    cached = trainer(corpus, dense_checkpoint, tmp_path / "cached", **{
        "data.pad_to_30s": pad_to_30s, "data.encoder_cache": True, "data.cache_dir": str(tmp_path / "cache")})
    assert isinstance(cached.datasets["train"], CachedEncoderStates)
    batch = cached.next_batch()
    cached.batches_done = 0
    cached.batches = cached.epoch_batches()  # back to the first batch
    assert batch.audio_features is not None and batch.audio.numel() == 0  # the encoder does not run
    expected, got = losses(computed, 4), losses(cached, 4)
    # Whisper's 30 s input: the same computation; variable length: an utterance encoded alone vs in a
    # padded batch, equal to float rounding on its real frames (sums in another order: a few parts in a
    # million of the value, seen up to 2.4e-6 on a loaded machine).
    rounding = {"abs": 1e-6} if pad_to_30s else {"abs": 1e-5, "rel": 5e-6}
    assert got == pytest.approx(expected, **rounding)
    assert len(set(expected)) == 4
    val_computed, val_cached = computed.evaluate(), cached.evaluate()
    for key in ("val/loss", "train/ctc_loss", "val/wer", "val/wer_ctc"):
        assert val_cached[key] == pytest.approx(val_computed[key], abs=1e-5, rel=5e-6), key


def test_a_cache_of_other_encoder_weights_is_not_reused(corpus, dense_checkpoint, tmp_path):
    first = trainer(corpus, dense_checkpoint, tmp_path / "a", **{"data.encoder_cache": True,
                                                                  "data.cache_dir": str(tmp_path / "cache")})
    dataset = load_manifest(corpus / "validation.jsonl")
    model_config, encoder = first.cfg.model, first.model.encoder
    built = cache_path(dataset, model_config, False, encoder, str(tmp_path / "cache"))
    assert (built / "index.npz").is_file()
    messages = []
    assert ensure_encoder_cache(dataset, model_config, False, encoder, str(tmp_path / "cache"),
                                log=messages.append) == built
    assert messages == []  # found, not built again
    randomize(encoder, seed=7)
    other = ensure_encoder_cache(dataset, model_config, False, encoder, str(tmp_path / "cache"), log=messages.append)
    assert other != built and len(messages) == 1
    states = [CachedEncoderStates(dataset, path)[0].encoder_states for path in (built, other)]
    assert not torch.allclose(torch.from_numpy(states[0]), torch.from_numpy(states[1]))
    assert cache_path(dataset, model_config, True, encoder, str(tmp_path / "cache")) != other  # front-end counts


def test_the_cache_needs_a_frozen_encoder_and_no_spec_augment():
    with pytest.raises(ConfigError, match="data.encoder_cache.*add encoder to train.freeze"):
        load_run_config(None, ["data.encoder_cache=true"])
    with pytest.raises(ConfigError, match="data.encoder_cache.*data.spec_augment=false"):
        load_run_config(None, ["data.encoder_cache=true", "train.freeze=[encoder]", "data.spec_augment=true"])


def test_real_speech_is_scored_from_the_cache_too(corpus, tmp_path):
    pytest.importorskip("soundfile")
    values = {"train.freeze": "[encoder]", "model.ctc_weight": 0.3, "model.n_text_ctx": 128, "eval.max_utterances": 3,
              "data.encoder_cache": True, "data.cache_dir": str(tmp_path / "cache"), "eval.real_speech": True}
    run = Trainer(load_run_config(None, overrides(corpus, tmp_path / "run", **values)), Distributed())
    real = run.datasets["real_speech"]
    assert isinstance(real, CachedEncoderStates) and len(real) == 2
    frames, width = real[0].encoder_states.shape
    assert width == 64 and abs(frames - real.entries[0].duration_s * 50) <= 2  # ~10 s at 50 Hz
    metrics = run.evaluate()
    assert metrics["real/utterances"] == 2 and {"real/loss", "real/wer", "real/wer_ctc"} <= set(metrics)
