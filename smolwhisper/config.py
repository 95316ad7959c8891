"""Configuration dataclasses: the single source of truth for every field, default and check.

YAML and command-line overrides are parsed at the edges with `from_dict`; everything inside
the package receives these plain objects. Errors name the field (`model.top_k`) and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args, get_type_hints


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range."""


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field}: {value!r} is not allowed; {allowed}")


@dataclass
class ModelConfig:
    # Whisper dimensions (names follow openai/whisper's ModelDimensions).
    n_mels: int = 80
    n_audio_ctx: int = 1500
    n_audio_state: int = 384
    n_audio_head: int = 6
    n_audio_layer: int = 4
    n_vocab: int = 51864
    n_text_ctx: int = 448
    n_text_state: int = 384
    n_text_head: int = 6
    n_text_layer: int = 4
    mlp_ratio: int = 4  # FFN width = mlp_ratio * state width (1536 for tiny.en)

    # Decoder feed-forward: dense (Whisper) or a mixture of experts.
    decoder_ffn: Literal["dense", "moe"] = "dense"
    n_experts: int = 8
    top_k: int = 2
    noisy_topk: bool = False  # Shazeer et al. 2017 noisy top-k gating
    moe_layers: Literal["all", "every_other"] = "all"
    load_balance_coef: float = 0.01  # Switch Transformer auxiliary loss
    router_z_coef: float = 0.001  # ST-MoE router z-loss
    moe_grouped_mm: bool = True  # one grouped matmul for all experts (a loop over experts if False)

    # Optional accelerations, one switch each.
    flash: bool = True  # fused SDPA kernels; False forces the math backend
    liger: bool = False  # Liger Triton kernels (CUDA only)
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, prefix: str = "model") -> None:
        _check_types(self, prefix)
        for name in ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                     "n_vocab", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer",
                     "mlp_ratio", "n_experts", "top_k"):
            if getattr(self, name) < 1:
                _fail(f"{prefix}.{name}", getattr(self, name), "must be a positive integer")
        for side in ("audio", "text"):
            state, head = getattr(self, f"n_{side}_state"), getattr(self, f"n_{side}_head")
            if state % head:
                _fail(f"{prefix}.n_{side}_head", head,
                      f"must divide n_{side}_state={state} (e.g. {_divisors(state)})")
        if self.top_k > self.n_experts:
            _fail(f"{prefix}.top_k", self.top_k,
                  f"must be between 1 and n_experts={self.n_experts}")
        for name in ("load_balance_coef", "router_z_coef"):
            if getattr(self, name) < 0:
                _fail(f"{prefix}.{name}", getattr(self, name), "must be >= 0")

    @property
    def is_moe(self) -> bool:
        return self.decoder_ffn == "moe"

    def is_moe_layer(self, index: int) -> bool:
        """Which decoder layers hold a MoE FFN; 'every_other' replaces the odd ones, as in GShard/Switch."""
        return self.is_moe and (self.moe_layers == "all" or index % 2 == 1)

    def check_device(self, device: str, prefix: str = "model") -> list[str]:
        """Fail before any work where the device cannot honour an acceleration switch.

        Returns notes on what the switches mean on this device, for the caller to show.
        """
        device_type = str(device).split(":")[0]
        notes = []
        if self.liger and device_type != "cuda":
            raise ConfigError(
                f"{prefix}.liger: True needs a CUDA GPU (Liger kernels are Triton kernels), "
                f"but the device is {device!r}; set {prefix}.liger=false to run here")
        if self.flash and device_type == "cuda":
            import torch

            if not (torch.backends.cuda.is_flash_attention_available()
                    or torch.backends.cuda.mem_efficient_sdp_enabled()):
                raise ConfigError(f"{prefix}.flash: True but this torch build has no fused CUDA "
                                  f"attention kernel; set {prefix}.flash=false")
        if self.flash and device_type == "cpu":
            notes.append(f"{prefix}.flash on CPU selects PyTorch's fused CPU attention kernel; the "
                         "FlashAttention CUDA kernels need a GPU")
        return notes


PRESETS: dict[str, dict[str, Any]] = {
    # Exactly OpenAI's Whisper tiny.en.
    "tiny.en": {},
    # tiny.en with an 8-expert top-2 MoE in every decoder layer.
    "tiny-moe": {"decoder_ffn": "moe", "n_experts": 8, "top_k": 2},
    # Small enough to train on a laptop CPU in minutes (the embedded default).
    "cpu-small": {"n_audio_state": 192, "n_audio_head": 4, "n_audio_layer": 3,
                  "n_text_state": 192, "n_text_head": 4, "n_text_layer": 3,
                  "n_vocab": 1024, "n_text_ctx": 128},
    "cpu-small-moe": {"n_audio_state": 192, "n_audio_head": 4, "n_audio_layer": 3,
                      "n_text_state": 192, "n_text_head": 4, "n_text_layer": 3,
                      "n_vocab": 1024, "n_text_ctx": 128,
                      "decoder_ffn": "moe", "n_experts": 4, "top_k": 2},
    # For unit tests: a few hundred thousand parameters.
    "test": {"n_audio_state": 64, "n_audio_head": 2, "n_audio_layer": 2,
             "n_text_state": 64, "n_text_head": 2, "n_text_layer": 2,
             "n_vocab": 300, "n_text_ctx": 64},
}


def model_preset(name: str, **overrides: Any) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"model.preset: {name!r} is unknown; allowed: {', '.join(PRESETS)}")
    return from_dict(ModelConfig, {**PRESETS[name], **overrides}, "model")


def from_dict(cls: type, values: dict[str, Any], prefix: str) -> Any:
    """Build dataclass `cls` from a plain mapping, rejecting unknown keys with a suggestion."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix}: expected a mapping of fields, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(sorted(known))}"
            raise ConfigError(f"{prefix}.{key}: unknown field{hint}")
    return cls(**values)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _check_types(config: Any, prefix: str) -> None:
    hints = get_type_hints(type(config))
    for f in fields(config):
        value, hint = getattr(config, f.name), hints[f.name]
        name = f"{prefix}.{f.name}"
        if getattr(hint, "__origin__", None) is Literal:
            if value not in get_args(hint):
                _fail(name, value, f"allowed: {', '.join(map(str, get_args(hint)))}")
        elif hint is bool:
            if not isinstance(value, bool):
                _fail(name, value, "expected true or false")
        elif hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                _fail(name, value, "expected an integer")
        elif hint is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                _fail(name, value, "expected a number")
            setattr(config, f.name, float(value))


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, min(n, 64) + 1) if n % d == 0)
