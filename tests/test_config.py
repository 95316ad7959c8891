import pytest
import torch

from smolwhisper.config import ConfigError, ModelConfig, from_dict, model_preset
from smolwhisper.model import Whisper


def test_tiny_en_preset_is_whisper_tiny_en():
    cfg = model_preset("tiny.en")
    assert (cfg.n_audio_state, cfg.n_audio_head, cfg.n_audio_layer) == (384, 6, 4)
    assert (cfg.n_text_state, cfg.n_text_head, cfg.n_text_layer) == (384, 6, 4)
    assert (cfg.n_audio_ctx, cfg.n_text_ctx, cfg.n_vocab) == (1500, 448, 51864)
    assert cfg.mlp_ratio * cfg.n_text_state == 1536
    assert Whisper(cfg).param_counts() == {"total": 37_184_256, "active": 37_184_256}


def test_tiny_moe_counts_active_parameters():
    counts = Whisper(model_preset("tiny-moe")).param_counts()
    expert = 2 * 384 * 1536 + 1536 + 384
    assert counts["total"] - counts["active"] == 4 * (8 - 2) * expert


@pytest.mark.parametrize("overrides, field, allowed", [
    ({"decoder_ffn": "moe", "n_experts": 4, "top_k": 5}, "model.top_k", "between 1 and n_experts=4"),
    ({"n_text_head": 5}, "model.n_text_head", "must divide n_text_state=384"),
    ({"n_audio_layer": 0}, "model.n_audio_layer", "positive integer"),
    ({"decoder_ffn": "sparse"}, "model.decoder_ffn", "allowed: dense, moe"),
    ({"moe_layers": "odd"}, "model.moe_layers", "allowed: all, every_other"),
    ({"flash": "yes"}, "model.flash", "true or false"),
    ({"n_vocab": 3.5}, "model.n_vocab", "integer"),
    ({"load_balance_coef": -1}, "model.load_balance_coef", ">= 0"),
    ({"audio_stride": 3}, "model.audio_stride", "2 (Whisper, 50 Hz encoder frames) or 4"),
])
def test_bad_values_name_the_field_and_what_is_allowed(overrides, field, allowed):
    with pytest.raises(ConfigError) as error:
        model_preset("tiny.en", **overrides)
    assert field in str(error.value) and allowed in str(error.value)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"model.preset: 'tiny' is unknown; allowed: tiny.en, tiny-moe"):
        model_preset("tiny")


def test_unknown_field_suggests_the_closest_name():
    with pytest.raises(ConfigError, match=r"model.n_expert: unknown field; did you mean 'n_experts'"):
        from_dict(ModelConfig, {"n_expert": 4}, "model")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where CUDA is missing")
def test_liger_on_cpu_fails_clearly():
    cfg = model_preset("test", liger=True)
    with pytest.raises(ConfigError, match=r"model.liger: True needs a CUDA GPU.*set model.liger=false"):
        cfg.check_device("cpu")
    with pytest.raises(ConfigError, match=r"model.liger: True needs a CUDA GPU"):
        Whisper(cfg)


def test_text_fields_take_numbers_as_text_and_reject_the_rest():
    from smolwhisper.config import load_run_config

    cfg = load_run_config(None, ["tracking.run_name=2024", "data.train_split=1"])
    assert cfg.tracking.run_name == "2024" and cfg.data.train_split == "1"
    with pytest.raises(ConfigError, match=r"data.cache_dir: \['a'\] is not allowed; expected text"):
        load_run_config(None, ["data.cache_dir=[a]"])
    with pytest.raises(ConfigError, match=r"train.out_dir: True is not allowed; expected text"):
        load_run_config(None, ["train.out_dir=true"])
