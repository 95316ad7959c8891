"""AdamW with decoupled weight decay on matrices only, and a warmup-then-cosine learning rate."""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn

from ..config import OptimConfig


def fused_adamw_available(device_type: str) -> bool:
    """Whether this torch has a fused AdamW for the device: one kernel for all parameters, which also
    skips a step on the device when `found_inf` is set, as torch.amp.GradScaler has it do."""
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices
    except ImportError:
        return False
    return ("fused" in inspect.signature(torch.optim.AdamW).parameters
            and device_type in _get_fused_kernels_supported_devices())


def build_optimizer(model: nn.Module, cfg: OptimConfig, fused: bool = True) -> torch.optim.AdamW:
    """No weight decay on norms, biases and embeddings (token and positional), as in GPT-2/nanoGPT.
    fused: `fused_adamw_available` (else foreach, which takes no found_inf)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_embedding = "embedding" in name
        (no_decay if p.ndim < 2 or is_embedding else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps,
                             **({"fused": True} if fused else {"foreach": True}))


def lr_at(step: int, cfg: OptimConfig, max_steps: int, time_spent: float = 0.0) -> float:
    """Linear warmup over warmup_steps, then cosine from lr down to min_lr at max_steps, or sooner
    where a time budget is `time_spent` (a fraction) further along than the steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, max(time_spent, (step - cfg.warmup_steps) / max(1, max_steps - cfg.warmup_steps)))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)
