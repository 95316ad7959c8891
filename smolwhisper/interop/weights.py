"""State-dict and config maps between this model and Hugging Face / openai-whisper, both ways.

Our module names are openai/whisper's, so its state dicts map one to one; Hugging Face's
`WhisperForConditionalGeneration` renames every module. MoE decoder tensors have no counterpart
in either and are rejected by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from torch import Tensor

from ..config import ModelConfig

# (our pattern, Hugging Face pattern); {i} is a layer index.
_HF_BLOCK = [
    ("attn.query", "self_attn.q_proj"),
    ("attn.key", "self_attn.k_proj"),
    ("attn.value", "self_attn.v_proj"),
    ("attn.out", "self_attn.out_proj"),
    ("attn_ln", "self_attn_layer_norm"),
    ("cross_attn.query", "encoder_attn.q_proj"),
    ("cross_attn.key", "encoder_attn.k_proj"),
    ("cross_attn.value", "encoder_attn.v_proj"),
    ("cross_attn.out", "encoder_attn.out_proj"),
    ("cross_attn_ln", "encoder_attn_layer_norm"),
    ("mlp.0", "fc1"),
    ("mlp.2", "fc2"),
    ("mlp_ln", "final_layer_norm"),
]
_HF_TOP = [
    ("encoder.conv1", "model.encoder.conv1"),
    ("encoder.conv2", "model.encoder.conv2"),
    ("encoder.positional_embedding", "model.encoder.embed_positions.weight"),
    ("encoder.ln_post", "model.encoder.layer_norm"),
    ("decoder.token_embedding", "model.decoder.embed_tokens"),
    ("decoder.positional_embedding", "model.decoder.embed_positions.weight"),
    ("decoder.ln", "model.decoder.layer_norm"),
]
_OURS_BLOCK = re.compile(r"^(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$")
_HF_LAYER = re.compile(r"^model\.(encoder|decoder)\.layers\.(\d+)\.(.+)\.(weight|bias)$")


class InteropError(ValueError):
    """A tensor or dimension that the other format cannot hold."""


def _rename(name: str, pairs: list[tuple[str, str]], source: int) -> str | None:
    target = 1 - source
    for pair in pairs:
        if name == pair[source]:
            return pair[target]
        if name.startswith(pair[source] + "."):
            return pair[target] + name[len(pair[source]):]
    return None


def without_ctc_head(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Whisper has no CTC head: it is a training aid (model.ctc_weight) and decoding uses the decoder."""
    return {name: tensor for name, tensor in state_dict.items() if not name.startswith("ctc.")}


def to_hf(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for name, tensor in without_ctc_head(state_dict).items():
        match = _OURS_BLOCK.match(name)
        new = None
        if match:
            side, index, module, kind = match.groups()
            hf_module = _rename(module, _HF_BLOCK, 0)
            new = hf_module and f"model.{side}.layers.{index}.{hf_module}.{kind}"
        else:
            new = _rename(name, _HF_TOP, 0)
        if new is None:
            raise InteropError(f"tensor {name!r} has no Hugging Face Whisper counterpart"
                               + (" (MoE decoders cannot be exported)" if ".mlp." in name else ""))
        out[new] = tensor
    out["proj_out.weight"] = out["model.decoder.embed_tokens.weight"]  # tied, as in Whisper
    return out


def from_hf(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for name, tensor in state_dict.items():
        if name == "proj_out.weight":
            continue  # tied to the token embedding
        match = _HF_LAYER.match(name)
        if match:
            side, index, module, kind = match.groups()
            ours = _rename(module, _HF_BLOCK, 1)
            new = ours and f"{side}.blocks.{index}.{ours}.{kind}"
        else:
            new = _rename(name, _HF_TOP, 1)
        if new is None:
            raise InteropError(f"Hugging Face tensor {name!r} has no counterpart in this model")
        out[new] = tensor
    return out


def to_openai(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    for name in state_dict:
        if re.search(r"\.mlp\.(router|noise|w1|w2|b1|b2)", name):
            raise InteropError(f"tensor {name!r} belongs to a MoE decoder, which openai-whisper cannot hold")
    return without_ctc_head(state_dict)


def from_openai(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {name: tensor for name, tensor in state_dict.items() if name != "alignment_heads"}


def _check_whisper_layout(cfg: ModelConfig, target: str) -> None:
    """Fail on the options of ours that a stock Whisper network cannot hold."""
    if cfg.audio_stride != 2:
        raise InteropError(f"model.audio_stride: {target} strides its encoder by 2, got {cfg.audio_stride}")
    if cfg.is_moe:
        raise InteropError(f"model.decoder_ffn: 'moe' has no {target} equivalent")
    if cfg.conv_kernel:
        raise InteropError(f"model.conv_kernel: {target} has no convolution modules in its encoder, "
                           f"got {cfg.conv_kernel}")
    if cfg.qk_norm:
        raise InteropError(f"model.qk_norm: {target} has no query/key normalisation in its attention")


def hf_config(cfg: ModelConfig) -> dict:
    """Keyword arguments for `transformers.WhisperConfig` describing the same network."""
    _check_whisper_layout(cfg, "Hugging Face Whisper")
    if cfg.n_audio_state != cfg.n_text_state:
        raise InteropError(f"Hugging Face Whisper needs one width; n_audio_state={cfg.n_audio_state} "
                           f"differs from n_text_state={cfg.n_text_state}")
    return dict(
        vocab_size=cfg.n_vocab, num_mel_bins=cfg.n_mels, d_model=cfg.n_audio_state,
        encoder_layers=cfg.n_audio_layer, encoder_attention_heads=cfg.n_audio_head,
        decoder_layers=cfg.n_text_layer, decoder_attention_heads=cfg.n_text_head,
        encoder_ffn_dim=cfg.mlp_ratio * cfg.n_audio_state, decoder_ffn_dim=cfg.mlp_ratio * cfg.n_text_state,
        max_source_positions=cfg.n_audio_ctx, max_target_positions=cfg.n_text_ctx,
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True,
        pad_token_id=50256, bos_token_id=50257, eos_token_id=50256, decoder_start_token_id=50257,
    )


def config_from_hf(hf: Mapping) -> ModelConfig:
    return ModelConfig(
        n_mels=hf["num_mel_bins"], n_audio_ctx=hf["max_source_positions"], n_audio_state=hf["d_model"],
        n_audio_head=hf["encoder_attention_heads"], n_audio_layer=hf["encoder_layers"],
        n_vocab=hf["vocab_size"], n_text_ctx=hf["max_target_positions"], n_text_state=hf["d_model"],
        n_text_head=hf["decoder_attention_heads"], n_text_layer=hf["decoder_layers"],
        mlp_ratio=hf["encoder_ffn_dim"] // hf["d_model"],
    )


_OPENAI_DIMS = ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                "n_vocab", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer")


def openai_dims(cfg: ModelConfig) -> dict:
    """Keyword arguments for `whisper.model.ModelDimensions`."""
    _check_whisper_layout(cfg, "openai-whisper")
    if cfg.mlp_ratio != 4:
        raise InteropError(f"model.mlp_ratio: openai-whisper fixes it at 4, got {cfg.mlp_ratio}")
    return {name: getattr(cfg, name) for name in _OPENAI_DIMS}


def config_from_openai(dims: Mapping) -> ModelConfig:
    return ModelConfig(**{name: dims[name] for name in _OPENAI_DIMS})
