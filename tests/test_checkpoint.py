import json
import os
import shutil

import pytest
import torch
from safetensors import safe_open

from smolwhisper import checkpoint
from smolwhisper.checkpoint import CheckpointError
from smolwhisper.config import InferenceConfig
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


@pytest.fixture(scope="module")
def saved(tmp_path_factory, small_tokenizer):
    """A checkpoint of the test preset, and one of cpu-small (another preset) to take files from."""
    root = tmp_path_factory.mktemp("saved")
    checkpoint.save(randomize(Whisper(model_preset("test"))).eval(), small_tokenizer, root / "test")
    checkpoint.save(Whisper(model_preset("cpu-small", n_vocab=300)), small_tokenizer, root / "other")
    return root


def edit_config(directory, change):
    config = json.loads((directory / "config.json").read_text())
    change(config)
    (directory / "config.json").write_text(json.dumps(config))


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("damage, message", [
    (lambda d, o: (d / "model.safetensors").unlink(), r"no model.safetensors"),
    (lambda d, o: (d / "tokenizer.json").unlink(), r"tokenizer.json: no tokenizer file"),
    (lambda d, o: truncate(d / "tokenizer.json"), r"tokenizer.json: its sha256 differs"),
    (lambda d, o: truncate(d / "model.safetensors"), r"model.safetensors: not a readable safetensors file "
                                                     r"\(.*incomplete metadata"),
    (lambda d, o: truncate(d / "model.safetensors", 0.0), r"model.safetensors: not a readable safetensors file"),
    (lambda d, o: truncate(d / "config.json"), r"config.json: not a readable JSON file"),
    (lambda d, o: (d / "config.json").write_bytes(b"\xff\xfe{}"), r"config.json: not a readable JSON file"),
    (lambda d, o: (d / "config.json").write_text("[1, 2]"), r"config.json: 'format' is \[1, 2\], expected 'smolwhisper'"),
    (lambda d, o: shutil.copy(o / "config.json", d / "config.json"),
     r"model.safetensors: tensors do not match the model config in config.json: .*wrong shape "
     r"\['encoder.positional_embedding \(1500, 64\) \(config.json gives \(1500, 192\)\)'"),
    (lambda d, o: shutil.copy(o / "model.safetensors", d / "model.safetensors"),
     r"model.safetensors: tensors do not match the model config"),
    (lambda d, o: edit_config(d, lambda c: c["model"].update(colour="red")),
     r"config.json: model.colour: unknown field"),
    (lambda d, o: edit_config(d, lambda c: c.update(extra=1)), r"config.json: unknown keys \['extra'\]"),
    (lambda d, o: edit_config(d, lambda c: c["inference"].update(pad_to_30s="yes")),
     r"config.json: inference.pad_to_30s: 'yes' is not allowed; expected true or false"),
    (lambda d, o: edit_config(d, lambda c: c["model"].update(n_audio_head=4)),
     r"model.safetensors: config.json says model.n_audio_head=4 \(saved with 2\); edit only model.flash, model.liger"),
    (lambda d, o: edit_config(d, lambda c: c["inference"].update(pad_to_30s=True)),
     r"model.safetensors: config.json says inference.pad_to_30s=True \(saved with False\)$"),
    (lambda d, o: (d / "tokenizer.json").write_text((o / "tokenizer.json").read_text().replace("the", "teh")),
     r"tokenizer.json: its sha256 differs from the one config.json records"),
    (lambda d, o: edit_config(d, lambda c: c["model"].update(n_audio_state=10**9)), r"config.json: its model config cannot be built"),
    (lambda d, o: edit_config(d, lambda c: c["model"].update(n_audio_state=10**5)), r"wrong shape"),
    (lambda d, o: edit_config(d, lambda c: c.update(weights_sha256="0" * 64)),
     r"model.safetensors: its sha256 differs from the one config.json records"),
])
def test_a_damaged_checkpoint_is_refused_naming_the_file(saved, tmp_path, damage, message):
    directory = tmp_path / "ckpt"
    shutil.copytree(saved / "test", directory)
    damage(directory, saved / "other")
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(directory)


def test_flipped_bytes_in_the_weights_are_caught_by_the_hash(saved, tmp_path):
    directory = tmp_path / "ckpt"
    shutil.copytree(saved / "test", directory)
    data = bytearray((directory / "model.safetensors").read_bytes())
    data[-100] ^= 0x40  # inside the last tensor: the header still parses and the shapes still match
    (directory / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"its sha256 differs"):
        checkpoint.load(directory)


def test_runtime_switches_may_be_edited_and_nan_weights_are_refused(saved, tmp_path, small_tokenizer):
    directory = tmp_path / "ckpt"
    shutil.copytree(saved / "test", directory)
    edit_config(directory, lambda c: c["model"].update(flash=False, activation_checkpointing=True))
    model, _ = checkpoint.load(directory)
    assert model.config.flash is False
    broken = Whisper(model_preset("test"))
    with torch.no_grad():
        broken.decoder.ln.weight[3] = float("nan")
    checkpoint.save(broken, small_tokenizer, tmp_path / "nan")
    with pytest.raises(CheckpointError, match=r"tensor decoder.ln.weight holds NaN or infinite values"):
        checkpoint.load(tmp_path / "nan")


def test_a_full_disk_while_checkpointing_names_the_file_and_keeps_the_last_good_checkpoint(
        tmp_path, small_tokenizer, monkeypatch):
    from smolwhisper import run_files
    from smolwhisper.train import state as train_state

    model = Whisper(model_preset("test"))
    run_dir = tmp_path / "run"
    first = train_state.save_checkpoint(run_dir, 3, model, small_tokenizer, {"step": 3}, keep_last=1)
    before = {p.name: p.read_bytes() for p in first.iterdir()}

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(train_state.torch, "save", full_disk)
    with pytest.raises(checkpoint.WriteError, match=r"cannot write the checkpoint of step 6 in .*step_00000006 "
                                                    r"\(.*file write failed; .* MB free there\); the last good "
                                                    r"checkpoint is .*step_00000003"):
        train_state.save_checkpoint(run_dir, 6, model, small_tokenizer, {"step": 6}, keep_last=1)
    assert run_files.complete_checkpoints(run_dir) == [first]
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step_00000003"]  # nothing half-written
    assert train_state.load_trainer_state(first) == {"step": 3}


def test_a_full_disk_while_writing_the_weights_or_a_run_file(tmp_path, small_tokenizer, monkeypatch):
    import errno

    from smolwhisper import run_files
    from smolwhisper.train import state as train_state

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    model = Whisper(model_preset("test"))
    monkeypatch.setattr(checkpoint, "save_file", no_space)
    with pytest.raises(checkpoint.WriteError, match=r"step_00000002 .*No space left on device; [0-9.]+ MB free "
                                                    r"there\); the last good checkpoint is none yet"):
        train_state.save_checkpoint(tmp_path / "run", 2, model, small_tokenizer, {}, keep_last=1)
    assert list((tmp_path / "run" / "checkpoints").iterdir()) == []

    run_files.write_json(tmp_path / "summary.json", {"status": "RUNNING"})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it
    monkeypatch.setattr(run_files.os, "fsync", no_space)
    with pytest.raises(checkpoint.WriteError, match=r"cannot write .*summary.json: No space left on device"):
        run_files.write_json(tmp_path / "summary.json", {"status": "FAILED"})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"status": "RUNNING"}
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["summary.json"]


def test_a_damaged_trainer_state_names_the_file(tmp_path, small_tokenizer):
    from smolwhisper.train import state as train_state

    step = train_state.save_checkpoint(tmp_path, 1, Whisper(model_preset("test")), small_tokenizer, {"x": 1}, 1)
    truncate(step / "trainer_state.pt")
    with pytest.raises(CheckpointError, match=r"trainer_state.pt: not a readable trainer state .*remove .*step_00000001"):
        train_state.load_trainer_state(step)
