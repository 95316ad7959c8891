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


@pytest.mark.parametrize("override, message", [
    ("data.max_batch_s=.nan", r"data.max_batch_s: nan is not allowed; expected a finite number"),
    ("data.max_batch_s=.inf", r"data.max_batch_s: inf is not allowed; expected a finite number"),
    ("optim.lr=1e999", r"optim.lr: '1e999' is not allowed; expected a finite number"),
    ("optim.lr=0", r"optim.lr: 0.0 is not allowed; must be > 0"),
    ("data.synth_hours=-1", r"data.synth_hours: -1.0 is not allowed; must be > 0"),
    ("data.synth_seed=-1", r"data.synth_seed: -1 is not allowed; must be an integer in \[0, 2\*\*32\)"),
    ("optim.warmup_steps=-1", r"optim.warmup_steps: -1 is not allowed; must be >= 0"),
    ("optim.beta2=1", r"optim.beta2: 1.0 is not allowed; must be in \[0, 1\)"),
    ("optim.eps=0", r"optim.eps: 0.0 is not allowed; must be > 0"),
    ("optim.grad_clip=-1", r"optim.grad_clip: -1.0 is not allowed; must be > 0"),
    ("train.seed=4294967296", r"train.seed: 4294967296 is not allowed; must be an integer in \[0, 2\*\*32\)"),
    ("train.device=gpu", r"train.device: 'gpu' is not allowed; allowed: auto, cpu, cuda or cuda:N"),
    ("train.out_dir=''", r"train.out_dir: '' is not allowed; must not be empty"),
    ("data.source=''", r"data.source: '' is not allowed; must not be empty"),
    ("data.num_workers=-2", r"data.num_workers: -2 is not allowed; must be >= 0"),
    ("data.min_duration_s=31", r"data.min_duration_s: 31.0 is not allowed; must be in \[0, data.max_duration_s=30\)"),
    ("eval.every_steps=0", r"eval.every_steps: 0 is not allowed; must be >= 1"),
    ("eval.max_batch_s=0", r"eval.max_batch_s: 0.0 is not allowed; must be > 0"),
    ("eval.beam_size=0", r"eval.beam_size: 0 is not allowed; must be >= 1"),
    ("eval.max_utterances=-1", r"eval.max_utterances: -1 is not allowed; must be >= 0"),
    ("tracking.experiment=''", r"tracking.experiment: '' is not allowed; must not be empty"),
    (f"model.n_audio_state={2**70}", r"model.n_audio_state: 1180591620717411303424 is not allowed; expected an integer "
                                     r"that fits in 64 bits"),
    ("model.preset={a: 1}", r"model.preset: \{'a': 1\} is not allowed; allowed: tiny.en"),
    ("model.preset=[test]", r"model.preset: \['test'\] is not allowed"),
    ("optim.lr=[", r"optim.lr: '\[' is not a YAML value"),
])
def test_each_bad_value_is_rejected_naming_its_field(override, message):
    from smolwhisper.config import load_run_config

    with pytest.raises(ConfigError, match=message):
        load_run_config(None, [override])


@pytest.mark.parametrize("text, message", [
    ("model: 3\n", r"^model: expected a mapping of fields, got int 3"),
    ("data: [a, b]\n", r"^data: expected a mapping of fields, got list"),
    ("- model\n", r"^config: expected a mapping of sections .*, got list"),
    ("optim: {lr: {a: 1}}\n", r"^optim.lr: \{'a': 1\} is not allowed; expected a number"),
])
def test_a_config_file_whose_sections_are_not_mappings_is_refused(tmp_path, text, message):
    from smolwhisper.config import load_run_config

    (tmp_path / "run.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_run_config(str(tmp_path / "run.yaml"))


def test_a_config_file_that_cannot_be_read_is_refused(tmp_path):
    from smolwhisper.config import load_run_config

    with pytest.raises(ConfigError, match=r"config file .* cannot be read"):
        load_run_config(str(tmp_path))
    (tmp_path / "latin1.yaml").write_bytes("tracking: {run_name: caf\xe9}".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"config file .*latin1.yaml' cannot be read"):
        load_run_config(str(tmp_path / "latin1.yaml"))


def test_every_config_field_is_either_experiment_or_operational():
    """A sweep hashes experiment fields only (config.experiment_values): a field in neither tuple would
    silently be left out of a trial's identity, one in both would be ambiguous."""
    from dataclasses import fields

    from smolwhisper.config import SECTIONS

    for section, field in SECTIONS.items():
        config_class = type(field.default_factory())
        names = [f.name for f in fields(config_class)]
        experiment, operational = config_class.EXPERIMENT, config_class.OPERATIONAL
        for name in names:
            assert (name in experiment) + (name in operational) == 1, f"{section}.{name}"
        assert sorted(experiment + operational) == sorted(names), section  # no stale or repeated names


def test_a_runs_identity_ignores_how_it_runs():
    from smolwhisper.config import experiment_values, is_operational, load_run_config, to_dict

    def identity(*overrides):
        return experiment_values(to_dict(load_run_config(None, list(overrides))))

    base = identity()
    for override in ("data.num_workers=5", "train.checkpoint_every=7", "train.log_every=3", "train.out_dir=x",
                     "tracking.experiment=other", "data.cache_dir=/tmp/c"):
        assert identity(override) == base, override
    assert identity("train.device=cuda:1") == identity("train.device=cuda")
    for override in ("optim.lr=0.01", "train.device=cpu", "model.flash=false", "data.feature_cache=true"):
        assert identity(override) != base, override
    assert is_operational("data.num_workers") and not is_operational("optim.lr")
    assert not is_operational("nonsense.num_workers")
