"""Import Whisper weights from CTranslate2 (faster-whisper), Hugging Face or openai-whisper; export them back.

    smolwhisper import SRC --out DIR [--tokenizer tokenizer.json]
    smolwhisper export DIR --format hf|openai --out OUT

Imported Whisper weights are marked `pad_to_30s` and `timestamps` in the checkpoint, because
that is how Whisper was trained (see README, "Variable-length input").
Only English-only vocabularies are supported (tiny.en's 51,864 ids, or any tokenizer.json whose
size is the model's n_vocab); multilingual Whisper (51,865+ ids) needs language and task tokens
in the prompt, which this package's tokenizer does not build, and is rejected.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .. import checkpoint
from ..config import InferenceConfig
from ..config import ModelConfig
from ..model import Whisper
from ..tokenizer import TOKENIZER_FILE, Tokenizer
from .ctranslate2 import CT2Model, read_model_bin
from .weights import config_from_hf, config_from_openai, from_hf, from_openai, hf_config, openai_dims, to_hf, to_openai

WHISPER_INFERENCE = InferenceConfig(pad_to_30s=True, timestamps=True)
ENGLISH_ONLY_VOCAB = 51864


class ConvertError(ValueError):
    """A source that cannot be converted; names the file or tensor and what is supported."""


# ---------------------------------------------------------------------------------------------
# CTranslate2 WhisperSpec -> ours. Names follow ctranslate2/specs/{whisper,transformer,common}_spec.py.

# Scalars the spec stores alongside the weights, and the values our architecture implies.
_CT2_SCALARS = {
    "decoder/activation": 3,  # common_spec.Activation.GELU
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}
_CT2_IGNORED = {"encoder/num_heads", "decoder/num_heads", "decoder/alignment_heads", "decoder/alignment_layer",
                "decoder/projection/weight"}
_CT2_LAYER = re.compile(r"^(encoder|decoder)/layer_(\d+)/(.+)$")
# (CTranslate2 module inside a layer, our module inside a block), for the unfused ones.
_CT2_BLOCK = {
    "self_attention/layer_norm": "attn_ln",
    "self_attention/linear_1": "attn.out",
    "attention/layer_norm": "cross_attn_ln",
    "attention/linear_0": "cross_attn.query",
    "attention/linear_2": "cross_attn.out",
    "ffn/layer_norm": "mlp_ln",
    "ffn/linear_0": "mlp.0",
    "ffn/linear_1": "mlp.2",
}
_CT2_TOP = {
    "encoder/conv1": "encoder.conv1",
    "encoder/conv2": "encoder.conv2",
    "encoder/layer_norm": "encoder.ln_post",
    "encoder/position_encodings/encodings": "encoder.positional_embedding",
    "decoder/embeddings/weight": "decoder.token_embedding.weight",
    "decoder/position_encodings/encodings": "decoder.positional_embedding",
    "decoder/layer_norm": "decoder.ln",
}
_CT2_PARAM = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}


def _split_fused(name: str, array: np.ndarray, parts: list[str], prefix: str) -> dict[str, np.ndarray]:
    """Split a fused projection (rows stacked q,k,v or k,v) into ours; keys have no bias in Whisper."""
    chunks = np.split(array, len(parts), axis=0)
    out = {}
    for part, chunk in zip(parts, chunks):
        if name.endswith("/bias") and part.endswith("key"):
            if np.any(chunk != 0):
                raise ConvertError(f"CTranslate2 variable {name!r}: the key part of the fused bias is not "
                                   "zero, but Whisper's key projection has no bias")
            continue
        out[f"{prefix}.{part}.{'bias' if name.endswith('/bias') else 'weight'}"] = chunk
    return out


def state_dict_from_ct2(model: CT2Model) -> dict[str, torch.Tensor]:
    if model.spec_name != "WhisperSpec":
        raise ConvertError(f"model.bin holds a {model.spec_name!r}; only CTranslate2's 'WhisperSpec' is supported")
    state: dict[str, np.ndarray] = {}
    for name in model.names():
        value = model[name]
        if name in _CT2_SCALARS:
            if int(value) != _CT2_SCALARS[name]:
                raise ConvertError(f"CTranslate2 variable {name!r} is {int(value)}; this model needs "
                                   f"{_CT2_SCALARS[name]} (Whisper's architecture)")
            continue
        if name in _CT2_IGNORED:
            continue
        match = _CT2_LAYER.match(name)
        if match:
            side, index, rest = match.groups()
            prefix = f"{side}.blocks.{index}"
            module, _, param = rest.rpartition("/")
            if module == "self_attention/linear_0":
                state.update(_split_fused(name, value, ["attn.query", "attn.key", "attn.value"], prefix))
                continue
            if module == "attention/linear_1":
                state.update(_split_fused(name, value, ["cross_attn.key", "cross_attn.value"], prefix))
                continue
            ours = _CT2_BLOCK.get(module)
            new = ours and param in _CT2_PARAM and f"{prefix}.{ours}.{_CT2_PARAM[param]}"
        elif name in _CT2_TOP:
            new = _CT2_TOP[name]
        else:
            module, _, param = name.rpartition("/")
            new = module in _CT2_TOP and param in _CT2_PARAM and f"{_CT2_TOP[module]}.{_CT2_PARAM[param]}"
        if not new:
            raise ConvertError(f"CTranslate2 variable {name!r} has no counterpart in this model")
        state[new] = value
    if "decoder/projection/weight" in model and not np.array_equal(
            model["decoder/projection/weight"], model["decoder/embeddings/weight"]):
        raise ConvertError("CTranslate2 variable 'decoder/projection/weight' differs from the token "
                           "embedding; this model ties them, as Whisper does")
    return {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in state.items()}


def config_from_ct2(model: CT2Model) -> ModelConfig:
    """Dimensions from the tensor shapes; head counts from the spec's `num_heads` scalars."""
    layers = {side: {int(m.group(2)) for n in model.names() if (m := _CT2_LAYER.match(n)) and m.group(1) == side}
              for side in ("encoder", "decoder")}
    conv1 = model["encoder/conv1/weight"]
    n_state = conv1.shape[0]
    return ModelConfig(
        n_mels=conv1.shape[1], n_audio_ctx=model["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=n_state, n_audio_head=int(model["encoder/num_heads"]), n_audio_layer=len(layers["encoder"]),
        n_vocab=model["decoder/embeddings/weight"].shape[0],
        n_text_ctx=model["decoder/position_encodings/encodings"].shape[0],
        n_text_state=model["decoder/embeddings/weight"].shape[1], n_text_head=int(model["decoder/num_heads"]),
        n_text_layer=len(layers["decoder"]),
        mlp_ratio=model["encoder/layer_0/ffn/linear_0/weight"].shape[0] // n_state,
    )


# ---------------------------------------------------------------------------------------------
# Detecting and reading a source.

def _load_tokenizer(source: Path, tokenizer_path: str | PathLike | None) -> Tokenizer:
    path = Path(tokenizer_path) if tokenizer_path else source / TOKENIZER_FILE
    if not path.exists():
        hint = (" (vocabulary.txt alone lacks the BPE merges needed to encode text)"
                if (source / "vocabulary.txt").exists() else "")
        raise ConvertError(f"{source}: no {TOKENIZER_FILE}{hint}; pass --tokenizer PATH")
    return Tokenizer.from_file(path)


def read_source(source: str | PathLike, tokenizer_path: str | PathLike | None = None
                ) -> tuple[ModelConfig, dict[str, torch.Tensor], Tokenizer, str]:
    """Detect the format of `source`; returns (config, our state dict, tokenizer, format name)."""
    source = Path(source)
    if source.is_dir() and (source / "model.bin").is_file():
        ct2 = read_model_bin(source / "model.bin")
        missing = [n for n in ("encoder/conv1/weight", "encoder/num_heads", "decoder/num_heads",
                               "decoder/embeddings/weight", "encoder/layer_0/ffn/linear_0/weight") if n not in ct2]
        if missing:
            raise ConvertError(f"{source / 'model.bin'}: not a Whisper model, no variable {missing[0]!r}")
        return config_from_ct2(ct2), state_dict_from_ct2(ct2), _load_tokenizer(source, tokenizer_path), "ctranslate2"
    if source.is_dir() and (source / "config.json").is_file() and (source / "model.safetensors").is_file():
        hf = json.loads((source / "config.json").read_text())
        if hf.get("model_type") != "whisper":
            raise ConvertError(f"{source / 'config.json'}: model_type is {hf.get('model_type')!r}, "
                               "expected 'whisper' (WhisperForConditionalGeneration)")
        state = from_hf(load_file(str(source / "model.safetensors")))
        return config_from_hf(hf), state, _load_tokenizer(source, tokenizer_path), "hf"
    if source.is_file() and source.suffix == ".pt":
        # weights_only: a .pt is a pickle, and only tensors and plain containers may come out of it
        saved = torch.load(source, map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or "dims" not in saved or "model_state_dict" not in saved:
            raise ConvertError(f"{source}: not an openai-whisper checkpoint (needs 'dims' and 'model_state_dict')")
        if not tokenizer_path:
            raise ConvertError(f"{source}: an openai-whisper .pt holds no tokenizer; pass --tokenizer tokenizer.json")
        state = from_openai(saved["model_state_dict"])
        return config_from_openai(saved["dims"]), state, _load_tokenizer(source.parent, tokenizer_path), "openai"
    raise ConvertError(
        f"{source}: unknown layout; supported: a CTranslate2/faster-whisper directory (model.bin + "
        "tokenizer.json), a Hugging Face WhisperForConditionalGeneration directory (config.json + "
        "model.safetensors + tokenizer.json), or an openai-whisper .pt file (with --tokenizer)")


def build_model(config: ModelConfig, state: dict[str, torch.Tensor], tokenizer: Tokenizer, source: str) -> Whisper:
    if config.n_vocab > ENGLISH_ONLY_VOCAB:
        raise ConvertError(f"{source}: n_vocab={config.n_vocab} is a multilingual Whisper vocabulary; only "
                           f"English-only models (n_vocab {ENGLISH_ONLY_VOCAB}, e.g. tiny.en) or models with "
                           "their own tokenizer are supported")
    if tokenizer.n_vocab != config.n_vocab:
        raise ConvertError(f"{source}: the tokenizer has {tokenizer.n_vocab} tokens (timestamps included), "
                           f"the model's embedding has n_vocab={config.n_vocab}")
    model = Whisper(config)
    expected = model.state_dict()
    for name, tensor in state.items():
        if name not in expected:
            raise ConvertError(f"{source}: tensor {name!r} has no counterpart in this model")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ConvertError(f"{source}: tensor {name!r} has shape {tuple(tensor.shape)}, "
                               f"the model expects {tuple(expected[name].shape)}")
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ConvertError(f"{source}: no tensor for {missing[0]!r} ({len(missing)} missing)")
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    return model.eval()


def import_model(source: str | PathLike, out: str | PathLike,
                 tokenizer_path: str | PathLike | None = None) -> Path:
    config, state, tokenizer, _ = read_source(source, tokenizer_path)
    model = build_model(config, state, tokenizer, str(source))
    return checkpoint.save(model, tokenizer, out, WHISPER_INFERENCE)


# ---------------------------------------------------------------------------------------------
# Export.

def export_hf(model: Whisper, tokenizer: Tokenizer, out: str | PathLike) -> Path:
    """A directory `transformers.WhisperForConditionalGeneration.from_pretrained` loads."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = to_hf({name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()})
    del state["proj_out.weight"]  # tied to the token embedding (tie_word_embeddings); safetensors refuses shared tensors
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {"model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
              **hf_config(model.config), "torch_dtype": "float32"}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save(out / TOKENIZER_FILE)
    return out


def export_openai(model: Whisper, out: str | PathLike) -> Path:
    """A .pt file `whisper.load_model(path)` loads: {'dims': ModelDimensions fields, 'model_state_dict': ...}."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = to_openai({name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()})
    torch.save({"dims": openai_dims(model.config), "model_state_dict": state}, out)
    return out


def export_model(directory: str | PathLike, format: str, out: str | PathLike) -> Path:
    model, tokenizer = checkpoint.load(directory)
    if format == "hf":
        return export_hf(model, tokenizer, out)
    if format == "openai":
        return export_openai(model, out)
    raise ConvertError(f"--format: {format!r} is not supported; allowed: hf, openai")


# ---------------------------------------------------------------------------------------------
# Command line.

def _import_command(args: argparse.Namespace) -> int:
    try:
        out = import_model(args.source, args.out, args.tokenizer)
    except (ConvertError, ValueError, FileNotFoundError) as error:
        print(f"smolwhisper import: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def _export_command(args: argparse.Namespace) -> int:
    try:
        out = export_model(args.checkpoint, args.format, args.out)
    except (ConvertError, ValueError, FileNotFoundError) as error:
        print(f"smolwhisper export: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("import", help="convert CTranslate2/faster-whisper, Hugging Face or openai-whisper "
                                             "weights into a smolwhisper checkpoint directory")
    p.add_argument("source", help="a CTranslate2 or Hugging Face model directory, or an openai-whisper .pt file")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--tokenizer", help="tokenizer.json (required for an openai-whisper .pt)")
    p.set_defaults(func=_import_command)
    p = subparsers.add_parser("export", help="write a checkpoint as a Hugging Face directory or an openai-whisper .pt")
    p.add_argument("checkpoint", help="smolwhisper checkpoint directory")
    p.add_argument("--format", required=True, choices=["hf", "openai"])
    p.add_argument("--out", required=True, help="directory (hf) or .pt file (openai) to write")
    p.set_defaults(func=_export_command)
