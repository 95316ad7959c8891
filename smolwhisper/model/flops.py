"""Floating-point operations of the model, counted layer by layer from its config: what MFU divides by
and what a sweep's cost is estimated from before it runs.

Counted: every matmul (projections, FFNs and MoE experts at top_k, the router, the convolutions, the
CTC head, the tied output projection) and the attention scores and weighted sums, which grow with
the square of the length (at 1,500 encoder frames they add about two thirds to the encoder's
linear FLOPs). A multiply-add is 2 FLOPs; norms, activations and softmax are left out, as in
PaLM's MFU (Chowdhery et al. 2022, appendix B). Lengths are the real ones: work done on padding
is not useful work. Causal self-attention counts the half its mask keeps.
"""

from __future__ import annotations

import re

from ..config import ModelConfig, RunConfig

MEL_FRAMES_PER_SECOND = 100  # Whisper's hop of 10 ms

# Dense bf16 tensor-core peaks (no sparsity), from NVIDIA's data sheets. Names are matched as
# whole words of torch.cuda.get_device_name(), so that "L4" does not match "L40S".
PEAK_BF16_FLOPS = {
    "H200": 989e12, "H100": 989e12, "H800": 989e12, "GH200": 989e12,
    "B200": 2250e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12, "L40": 181e12,
    "L4": 121e12, "A10": 125e12, "A10G": 70e12, "A6000": 155e12,
}


# The cards of a family whose name adds a word to the family's (whose entry above is its SXM card).
PEAK_BF16_FLOPS_VARIANTS = {("H100", "PCIE"): 756e12, ("H100", "NVL"): 835e12, ("H200", "NVL"): 835e12,
                            ("H800", "PCIE"): 756e12}


def peak_flops(device_name: str) -> float | None:
    """The bf16 peak of the exact card named like `NVIDIA H100 80GB HBM3` (SXM) or `NVIDIA H100 PCIe`,
    or None when unknown."""
    words = set(re.split(r"[\s\-_/]+", device_name.upper()))
    variant = [peak for (family, word), peak in PEAK_BF16_FLOPS_VARIANTS.items() if {family, word} <= words]
    known = [name for name in PEAK_BF16_FLOPS if name in words]
    return variant[0] if variant else PEAK_BF16_FLOPS[max(known, key=len)] if known else None


def encoder_forward_flops(cfg: ModelConfig, n_mel_frames: float) -> float:
    """One utterance of n_mel_frames log-mel frames through the encoder (and the CTC head, if any)."""
    n, frames = cfg.n_audio_state, n_mel_frames / cfg.audio_stride
    conv_stem = n_mel_frames / (cfg.audio_stride // 2) * cfg.n_mels * n * 3 + frames * n * n * 3
    per_frame = 4 * n * n + 2 * frames * n + 2 * cfg.mlp_ratio * n * n
    if cfg.conv_kernel:
        per_frame += 3 * n * n + cfg.conv_kernel * n  # pointwise in (to 2n, GLU) and out, depthwise
    ctc_head = frames * n * (cfg.n_vocab + 1) if cfg.ctc_weight > 0 else 0.0
    return 2 * (conv_stem + cfg.n_audio_layer * frames * per_frame + ctc_head)


def decoder_forward_flops(cfg: ModelConfig, n_mel_frames: float, n_tokens: float) -> float:
    """One utterance's n_tokens decoder positions, attending to its encoder frames; MoE layers count
    their top_k experts and the router."""
    m, frames = cfg.n_text_state, n_mel_frames / cfg.audio_stride
    ffn = 2 * cfg.mlp_ratio * m * m
    total = 0.0
    for layer in range(cfg.n_text_layer):
        per_token = 4 * m * m + m * (n_tokens + 1)  # self-attention: projections, causal scores
        per_token += 2 * m * m + 2 * frames * m  # cross-attention: query and output, scores
        if cfg.is_moe_layer(layer):
            per_token += cfg.top_k * ffn + m * cfg.n_experts * (2 if cfg.noisy_topk else 1)
        else:
            per_token += ffn
        total += n_tokens * per_token + frames * 2 * m * m  # cross-attention keys and values, per frame
    return 2 * (total + n_tokens * m * cfg.n_vocab)


def training_flops(cfg: ModelConfig, n_mel_frames: float, n_tokens: float, encoder: str = "trained") -> float:
    """One utterance's forward and backward (backward = 2 x forward). `encoder`: "trained", "frozen"
    (forward only: no gradient reaches it) or "cached" (its states are read, not computed)."""
    encoder_factor = {"trained": 3, "frozen": 1, "cached": 0}[encoder]
    return (encoder_factor * encoder_forward_flops(cfg, n_mel_frames)
            + 3 * decoder_forward_flops(cfg, n_mel_frames, n_tokens))


def training_flops_per_audio_second(cfg: ModelConfig, utterance_s: float, tokens_per_second: float,
                                    encoder: str = "trained") -> float:
    """FLOPs to train on one second of audio cut into utterances of utterance_s seconds."""
    frames = utterance_s * MEL_FRAMES_PER_SECOND
    return training_flops(cfg, frames, tokens_per_second * utterance_s, encoder) / utterance_s


def encoder_mode(cfg: RunConfig) -> str:
    """How a run's steps pay for the encoder, for training_flops: "cached" (data.encoder_cache: its
    states are computed once per utterance before training), "frozen" (train.freeze holds it) or "trained"."""
    if cfg.data.encoder_cache:
        return "cached"
    return "frozen" if "encoder" in cfg.train.freeze else "trained"


def batch_training_flops(cfg: ModelConfig, n_mel_frames: list[int], n_tokens: list[int],
                         encoder: str = "trained") -> float:
    """A batch's forward and backward: its utterances' real lengths, padding excluded."""
    return sum(training_flops(cfg, frames, tokens, encoder) for frames, tokens in zip(n_mel_frames, n_tokens))
