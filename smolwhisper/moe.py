"""Mixture-of-experts feed-forward for the decoder.

Routing: a linear router, optionally noisy top-k gating (Shazeer et al. 2017, "Outrageously Large
Neural Networks": learned softplus noise scale, noise only while training), the top-k weights
renormalised to sum to 1. Auxiliary losses: Switch Transformer's load-balancing loss (Fedus et al.
2021) and ST-MoE's router z-loss (Zoph et al. 2022), returned to the caller to weight.
Dispatch is dropless: every (token, expert) assignment is computed, grouped by expert after one
sort, through `torch.nn.functional.grouped_mm` where torch has it (a loop over experts otherwise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HAS_GROUPED_MM = hasattr(F, "grouped_mm")


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
        """x [N, C] -> (top-k weights [N, k], top-k experts [N, k], probabilities [N, E], logits [N, E])."""
        logits = self.router(x).float()
        if self.noise is not None and self.training:
            logits = logits + torch.randn_like(logits) * F.softplus(self.noise(x).float())
        probs = logits.softmax(dim=-1)
        weights, experts = probs.topk(self.top_k, dim=-1)
        return weights / weights.sum(dim=-1, keepdim=True), experts, probs, logits

    def forward(self, x: Tensor, token_mask: Tensor | None = None) -> tuple[Tensor, dict]:
        """x [B, T, C]; token_mask [B, T] True for tokens that count in the statistics."""
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        weights, experts, probs, logits = self.route(flat)

        # Group the N*k assignments by expert: one stable sort, no loop over tokens.
        expert_of = experts.flatten()
        order = expert_of.argsort(stable=True)
        token_of = order // self.top_k
        counts = torch.bincount(expert_of, minlength=self.n_experts)
        hidden = self.expert_ffn(flat[token_of], expert_of[order], counts)
        combined = hidden * weights.flatten()[order, None].to(hidden.dtype)
        out = torch.zeros_like(flat).index_add_(0, token_of, combined)

        mask = None if token_mask is None else token_mask.reshape(-1)
        stats = routing_stats(probs, logits, experts, self.n_experts, mask)
        return out.view(shape), stats

    def expert_ffn(self, x: Tensor, expert_ids: Tensor, counts: Tensor) -> Tensor:
        """x rows sorted by expert; expert_ids [rows]; counts [experts] rows per expert."""
        w1, w2 = self.w1.to(x.dtype), self.w2.to(x.dtype)
        if self.grouped_mm:
            offsets = counts.cumsum(0).to(torch.int32)
            h = F.gelu(F.grouped_mm(x, w1, offs=offsets) + self.b1.to(x.dtype)[expert_ids])
            return F.grouped_mm(h, w2, offs=offsets) + self.b2.to(x.dtype)[expert_ids]
        groups = x.split(counts.tolist())
        return torch.cat([F.gelu(g @ w1[e] + self.b1[e].to(x.dtype)) @ w2[e] + self.b2[e].to(x.dtype)
                          for e, g in enumerate(groups)])


def routing_stats(probs: Tensor, logits: Tensor, experts: Tensor, n_experts: int,
                  mask: Tensor | None = None) -> dict[str, Tensor]:
    """Switch load-balancing loss, router z-loss and tokens per expert, over the counted tokens.

    balance = n_experts * sum_i f_i * P_i, with f_i the fraction of the N*k assignments sent to
    expert i and P_i the mean router probability of expert i; it is 1 for a perfectly even router.
    """
    if mask is not None:
        probs, logits, experts = probs[mask], logits[mask], experts[mask]
    counts = torch.bincount(experts.flatten(), minlength=n_experts)
    fraction = counts.float() / max(experts.numel(), 1)
    mean_prob = probs.mean(dim=0) if probs.shape[0] else torch.zeros_like(fraction)
    z = torch.logsumexp(logits, dim=-1)
    return {
        "load_balance_loss": n_experts * (fraction * mean_prob).sum(),
        "router_z_loss": (z ** 2).mean() if z.numel() else z.sum(),
        "expert_counts": counts,
    }
