import json

import pytest
import torch
from safetensors import safe_open

from smolwhisper import checkpoint
from smolwhisper.checkpoint import CheckpointError, InferenceConfig
from smolwhisper.config import model_preset
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import train_bpe

from helpers import randomize

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "she sells sea shells by the sea shore"] * 20


@pytest.fixture(scope="module")
def small_tokenizer():
    return train_bpe(TEXTS, vocab_size=300)


def _logits(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mel = torch.randn(2, model.config.n_mels, 200, generator=generator)
    tokens = torch.randint(0, model.config.n_vocab, (2, 7), generator=generator)
    with torch.no_grad():
        return model(mel, tokens).logits


@pytest.mark.parametrize("preset", ["test", "cpu-small-moe"])
def test_save_then_load_gives_the_same_model_config_and_tokenizer(tmp_path, small_tokenizer, preset):
    overrides = {"n_vocab": 300} if preset != "test" else {}
    model = randomize(Whisper(model_preset(preset, **overrides))).eval()
    checkpoint.save(model, small_tokenizer, tmp_path / "ckpt", InferenceConfig(pad_to_30s=False, timestamps=False))

    loaded, tokenizer = checkpoint.load(tmp_path / "ckpt")
    assert loaded.config == model.config
    assert loaded.inference_config == InferenceConfig(pad_to_30s=False, timestamps=False)
    assert torch.equal(_logits(loaded), _logits(model))
    assert tokenizer.encode(" the cat sat") == small_tokenizer.encode(" the cat sat")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]


def test_tied_token_embedding_is_stored_once(tmp_path, small_tokenizer):
    model = Whisper(model_preset("test"))
    checkpoint.save(model, small_tokenizer, tmp_path / "ckpt")
    with safe_open(tmp_path / "ckpt" / "model.safetensors", "pt") as f:
        shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    embedding_shape = (model.config.n_vocab, model.config.n_text_state)
    assert [n for n, shape in shapes.items() if shape == embedding_shape] == ["decoder.token_embedding.weight"]


def test_config_json_holds_the_model_config_as_fields(tmp_path, small_tokenizer):
    model = Whisper(model_preset("test"))
    checkpoint.save(model, small_tokenizer, tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["format"] == "smolwhisper"
    assert config["model"]["n_text_state"] == 64 and config["model"]["n_vocab"] == 300
    assert set(config["inference"]) == {"pad_to_30s", "timestamps"}


def test_save_replaces_an_existing_checkpoint_and_leaves_no_temporary_files(tmp_path, small_tokenizer):
    first, second = Whisper(model_preset("test")), randomize(Whisper(model_preset("test")), seed=1)
    checkpoint.save(first, small_tokenizer, tmp_path / "ckpt")
    checkpoint.save(second, small_tokenizer, tmp_path / "ckpt")
    loaded, _ = checkpoint.load(tmp_path / "ckpt")
    assert torch.equal(_logits(loaded), _logits(second.eval()))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_a_failed_save_keeps_the_previous_checkpoint_intact(tmp_path, small_tokenizer, monkeypatch):
    model = Whisper(model_preset("test")).eval()
    checkpoint.save(model, small_tokenizer, tmp_path / "ckpt")
    before = {p.name: p.read_bytes() for p in (tmp_path / "ckpt").iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(small_tokenizer), "save", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(randomize(Whisper(model_preset("test")), seed=2), small_tokenizer, tmp_path / "ckpt")
    assert {p.name: p.read_bytes() for p in (tmp_path / "ckpt").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_load_explains_a_directory_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        checkpoint.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(CheckpointError, match="smolwhisper import"):
        checkpoint.load(tmp_path)


def test_save_unwraps_compiled_and_data_parallel_models(tmp_path, small_tokenizer):
    model = randomize(Whisper(model_preset("test"))).eval()

    class DataParallelLike(torch.nn.Module):  # DistributedDataParallel keeps the model in `.module`
        def __init__(self, module):
            super().__init__()
            self.module = module

    class CompiledLike(torch.nn.Module):  # torch.compile's OptimizedModule keeps it in `._orig_mod`
        def __init__(self, module):
            super().__init__()
            self._orig_mod = module

    checkpoint.save(DataParallelLike(CompiledLike(model)), small_tokenizer, tmp_path / "ckpt")
    loaded, _ = checkpoint.load(tmp_path / "ckpt")
    assert torch.equal(_logits(loaded), _logits(model))
    with pytest.raises(TypeError, match="expects a smolwhisper Whisper"):
        checkpoint.save(torch.nn.Linear(2, 2), small_tokenizer, tmp_path / "other")
