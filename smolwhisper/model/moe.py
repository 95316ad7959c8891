"""Mixture-of-experts feed-forward for the decoder.

Routing: a linear router, optionally noisy top-k gating (Shazeer et al. 2017, "Outrageously Large
Neural Networks": learned softplus noise scale, noise only while training), the top-k weights
renormalised to sum to 1. Auxiliary losses: Switch Transformer's load-balancing loss (Fedus et al.
2021) and ST-MoE's router z-loss (Zoph et al. 2022), returned to the caller to weight.
Dispatch is dropless: every (token, expert) assignment is computed, grouped by expert after one
sort, through `torch.nn.functional.grouped_mm` where torch has it (a loop over experts otherwise).
"""

from __future__ import annotations

import functools
import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HAS_GROUPED_MM = hasattr(F, "grouped_mm")
log = logging.getLogger(__name__)


class MoEFeedForward(nn.Module):
    def __init__(self, n_state: int, n_hidden: int, n_experts: int, top_k: int,
                 noisy_topk: bool = False, grouped_mm: bool = True):
        super().__init__()
        self.n_experts, self.top_k = n_experts, top_k
        self.router = nn.Linear(n_state, n_experts, bias=False)
        self.noise = nn.Linear(n_state, n_experts, bias=False) if noisy_topk else None
        # Expert weights stacked as [experts, in, out] so one grouped matmul serves all experts.
        self.w1 = nn.Parameter(torch.empty(n_experts, n_state, n_hidden))
        self.b1 = nn.Parameter(torch.zeros(n_experts, n_hidden))
        self.w2 = nn.Parameter(torch.empty(n_experts, n_hidden, n_state))
        self.b2 = nn.Parameter(torch.zeros(n_experts, n_state))
        self.grouped_mm = grouped_mm and HAS_GROUPED_MM
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02, residual_std: float = 0.02) -> None:
        nn.init.normal_(self.router.weight, std=std)
        if self.noise is not None:
            nn.init.zeros_(self.noise.weight)  # start at softplus(0) ≈ 0.69 noise scale
        nn.init.normal_(self.w1, std=std)
        nn.init.normal_(self.w2, std=residual_std)
        nn.init.zeros_(self.b1)
        nn.init.zeros_(self.b2)

    def expert_parameters(self) -> list[Tensor]:
        return [self.w1, self.b1, self.w2, self.b2]

    def route(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x [N, C] -> (top-k weights [N, k], top-k experts [N, k], probabilities [N, E], logits [N, E]).

        In fp32 with autocast off: under bf16 autocast a Linear rounds its output to bf16, and
        `.float()` afterwards would only widen rounded logits."""
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            logits = F.linear(x, self.router.weight.float())
            if self.noise is not None and self.training:
                logits = logits + torch.randn_like(logits) * F.softplus(F.linear(x, self.noise.weight.float()))
        probs = logits.softmax(dim=-1)
        weights, experts = probs.topk(self.top_k, dim=-1)
        return weights / weights.sum(dim=-1, keepdim=True), experts, probs, logits

    def forward(self, x: Tensor, token_mask: Tensor | None = None) -> tuple[Tensor, dict]:
        """x [B, T, C]; token_mask [B, T] True for tokens that count in the statistics.

        Nothing here reads a value back to the host (no bincount, no boolean indexing): on a GPU the
        layer runs without a sync, and under torch.compile without a graph break."""
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        weights, experts, probs, logits = self.route(flat)

        # Group the N*k assignments by expert: one stable sort, no loop over tokens.
        expert_of = experts.flatten()
        order = expert_of.argsort(stable=True)
        token_of = order // self.top_k
        counts = count_per_expert(expert_of, self.n_experts)
        hidden = self.expert_ffn(flat[token_of], expert_of[order], counts)
        combined = hidden * weights.flatten()[order, None].to(hidden.dtype)
        out = torch.zeros_like(flat, dtype=hidden.dtype).index_add_(0, token_of, combined)

        mask = None if token_mask is None else token_mask.reshape(-1)
        stats = routing_stats(probs, logits, experts, self.n_experts, mask)
        return out.to(x.dtype).view(shape), stats

    def expert_ffn(self, x: Tensor, expert_ids: Tensor, counts: Tensor) -> Tensor:
        """x rows sorted by expert; expert_ids [rows]; counts [experts] rows per expert.
        Under autocast the experts compute in its dtype, as a dense Linear would."""
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
        x = x.to(dtype)
        w1, w2, b1, b2 = (p.to(dtype) for p in (self.w1, self.w2, self.b1, self.b2))
        if self.grouped_mm and (torch.compiler.is_compiling() or grouped_mm_path(x.device, dtype) == "grouped_mm"):
            offsets = counts.cumsum(0).to(torch.int32)
            h = F.gelu(grouped_matmul(x, w1, offsets) + b1[expert_ids])
            return grouped_matmul(h, w2, offsets) + b2[expert_ids]
        groups = x.split(counts.tolist())  # the loop needs the group sizes on the host
        return torch.cat([F.gelu(g @ w1[e] + b1[e]) @ w2[e] + b2[e] for e, g in enumerate(groups)])


@functools.cache
def grouped_mm_path(device: torch.device, dtype: torch.dtype) -> str:
    """"grouped_mm" where torch's grouped kernel runs as one kernel, else the named loop. On CUDA its
    fast kernel needs bf16 on compute capability 9.0+ (H100, H200, B200); elsewhere torch reads the
    offsets back and loops over experts inside, so the loop here is the same work, said out loud."""
    if not HAS_GROUPED_MM:
        return "expert loop (this torch has no grouped_mm)"
    if device.type != "cuda":
        return "grouped_mm"
    capability = torch.cuda.get_device_capability(device)
    if dtype == torch.bfloat16 and capability >= (9, 0):
        return "grouped_mm"
    path = (f"expert loop (grouped_mm's fast kernel needs bf16 on compute capability 9.0+; this is "
            f"{dtype} on {capability[0]}.{capability[1]}: one read-back of the group sizes per MoE layer)")
    log.warning("moe_grouped_mm: %s", path)
    return path


def count_per_expert(expert_ids: Tensor, n_experts: int, weights: Tensor | None = None) -> Tensor:
    """Assignments per expert. scatter_add instead of bincount, whose CUDA kernel reads the input's
    minimum and maximum back to the host."""
    values = torch.ones_like(expert_ids) if weights is None else weights.to(expert_ids.dtype)
    return torch.zeros(n_experts, dtype=expert_ids.dtype, device=expert_ids.device).scatter_add_(0, expert_ids, values)


def grouped_matmul(x: Tensor, w: Tensor, offsets: Tensor) -> Tensor:
    """x [rows, in] sorted by group @ w [groups, in, out] -> [rows, out]. torch.compile traces
    F.grouped_mm for bf16 only (its meta check), so other dtypes compile as an opaque custom op."""
    if x.dtype == torch.bfloat16 or not torch.compiler.is_compiling():
        return F.grouped_mm(x, w, offs=offsets)
    return torch.ops.smolwhisper.grouped_mm(x, w, offsets)


if HAS_GROUPED_MM:
    @torch.library.custom_op("smolwhisper::grouped_mm", mutates_args=())
    def _grouped_mm_any_dtype(a: Tensor, b: Tensor, offsets: Tensor) -> Tensor:
        """F.grouped_mm as one op of any dtype: [rows, k] @ [groups, k, n] -> [rows, n], or
        [k, rows] @ [rows, n] -> [groups, k, n] (the weight gradient)."""
        return F.grouped_mm(a, b, offs=offsets)

    @_grouped_mm_any_dtype.register_fake
    def _(a: Tensor, b: Tensor, offsets: Tensor) -> Tensor:
        if b.dim() == 3:
            return a.new_empty(a.shape[0], b.shape[2])
        return a.new_empty(offsets.shape[0], a.shape[0], b.shape[1])

    def _grouped_mm_backward(ctx, grad: Tensor):
        a, b, offsets = ctx.saved_tensors
        grad = grad.contiguous()
        grad_a = torch.ops.smolwhisper.grouped_mm(grad, b.transpose(1, 2), offsets)
        grad_b = torch.ops.smolwhisper.grouped_mm(a.t(), grad, offsets)
        return grad_a, grad_b, None

    def _grouped_mm_setup(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    _grouped_mm_any_dtype.register_autograd(_grouped_mm_backward, setup_context=_grouped_mm_setup)


def routing_stats(probs: Tensor, logits: Tensor, experts: Tensor, n_experts: int,
                  mask: Tensor | None = None) -> dict[str, Tensor]:
    """Switch load-balancing loss, router z-loss and tokens per expert, over the counted tokens.

    balance = n_experts * sum_i f_i * P_i, with f_i the fraction of the N*k assignments sent to
    expert i and P_i the mean router probability of expert i; it is 1 for a perfectly even router.
    Tokens that do not count are weighted by 0 rather than dropped, which would need their number
    on the host.
    """
    weight = probs.new_ones(probs.shape[0]) if mask is None else mask.to(probs.dtype)
    n_counted = weight.sum()
    top_k = experts.shape[-1]
    counts = count_per_expert(experts.flatten(), n_experts, weight.repeat_interleave(top_k))
    fraction = counts.float() / (n_counted * top_k).clamp(min=1)
    mean_prob = (probs * weight[:, None]).sum(dim=0) / n_counted.clamp(min=1)
    z = torch.logsumexp(logits, dim=-1)
    return {
        "load_balance_loss": n_experts * (fraction * mean_prob).sum(),
        "router_z_loss": (z ** 2 * weight).sum() / n_counted.clamp(min=1),
        "expert_counts": counts,
    }
