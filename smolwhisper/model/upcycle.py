"""Sparse upcycling (Komatsuzaki et al., ICLR 2023): a MoE decoder initialised from a dense one.

Every expert of a MoE layer starts as a copy of the dense layer's FFN. The router keeps its random
initialisation: top-k weights are renormalised to sum to 1 (moe.py), so a token's output is
sum_i w_i * FFN(x) = FFN(x) whichever experts the router picks, and the upcycled model computes what
the dense one did at step 0 (to fp32 rounding), while a random router already spreads tokens over the
experts, which then grow apart through the different tokens they train on. `noise` > 0 adds Gaussian
noise of that fraction of each weight matrix's standard deviation to every expert, so that experts
differ from the start (the step-0 output then differs slightly).
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

# A dense decoder FFN's tensors in a state dict: blocks.<i>.mlp.0 (in) and .mlp.2 (out), as Whisper names them.
DENSE_FFN = re.compile(r"^decoder\.blocks\.(\d+)\.mlp\.([02])\.(weight|bias)$")


def upcycle_state_dict(dense: dict[str, Tensor], moe_state: dict[str, Tensor], noise: float = 0.0,
                       generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """`dense` (a dense model's state dict) with the FFN of every decoder layer that is a MoE layer in
    `moe_state` (the target model's state dict: its names and shapes) copied into each expert; the
    router (and noise projection) tensors are taken from `moe_state`. Layers that stay dense keep theirs."""
    out = {}
    for name, tensor in dense.items():
        match = DENSE_FFN.match(name)
        prefix = match and f"decoder.blocks.{match.group(1)}.mlp."
        if not match or f"{prefix}w1" not in moe_state:
            out[name] = tensor
            continue
        n_experts = moe_state[f"{prefix}w1"].shape[0]
        linear, kind = match.group(2), match.group(3)
        target = {("0", "weight"): "w1", ("0", "bias"): "b1", ("2", "weight"): "w2", ("2", "bias"): "b2"}[linear, kind]
        # nn.Linear keeps [out, in]; the experts are stacked [experts, in, out] for the grouped matmul.
        value = tensor.t() if kind == "weight" else tensor
        experts = value.unsqueeze(0).repeat(n_experts, *([1] * value.dim())).contiguous()
        if noise > 0 and kind == "weight":
            experts = experts + noise * value.std() * torch.randn(experts.shape, generator=generator,
                                                                   dtype=experts.dtype)
        out[prefix + target] = experts
    for name, tensor in moe_state.items():
        if name not in out and (".mlp.router." in name or ".mlp.noise." in name):
            out[name] = tensor
    return out
