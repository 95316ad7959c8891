"""What the training loop asks of its device: which one a rank takes, what it can do at its peak,
and which attention kernels actually ran on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from ..config import ConfigError
from ..model.flops import PEAK_BF16_FLOPS, peak_flops  # noqa: F401 - the trainer's MFU reads them here

T = TypeVar("T")


def resolve_device(device: str, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """train.device for this rank: `auto` and `cuda` take cuda:LOCAL_RANK (torch.cuda.set_device
    needs an index); `cuda:N` names one GPU, which only a single process may claim."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type != "cuda":
        return resolved
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device: {device!r} but no CUDA GPU is available; use cpu or auto")
    if resolved.index is None:
        resolved = torch.device("cuda", local_rank)
    elif world_size > 1:
        raise ConfigError(f"train.device: {device!r} names one GPU, but {world_size} ranks share this run; "
                          f"use cuda or auto (each rank takes cuda:LOCAL_RANK)")
    count = torch.cuda.device_count()
    if resolved.index >= count:
        raise ConfigError(f"train.device: {str(resolved)!r} does not exist; this machine shows {count} "
                          f"GPU(s) (CUDA_VISIBLE_DEVICES={_visible_devices()!r})")
    return resolved


def _visible_devices() -> str:
    import os

    return os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")


# Substrings of CUDA kernel names, as the profiler shows them, per attention implementation.
ATTENTION_KERNELS = {
    "flash": ("flash_fwd", "flash::", "flashattn"),
    "memory_efficient": ("fmha_cutlass", "efficient_attention", "mem_efficient"),
    "cudnn": ("cudnn_generated", "sdpa", "cudnn::fmha", "fmha_fwd", "fort_native"),
}


def attention_kernels(kernel_names: list[str]) -> str:
    """Which attention implementations the named kernels belong to ("flash", "cudnn", ...), or
    "math" when none of them is a fused attention kernel (SDPA's math backend: matmul and softmax)."""
    found = []
    lowered = [name.lower() for name in kernel_names]
    for implementation, patterns in ATTENTION_KERNELS.items():
        if any(pattern in name for name in lowered for pattern in patterns):
            found.append(implementation)
    return "+".join(found) or "math"


def profile_cuda_kernels(run: Callable[[], T]) -> tuple[T, list[str]]:
    """`run()`'s result and the names of the CUDA kernels it launched (under the profiler, which
    costs time: once per run)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        result = run()
        torch.cuda.synchronize()
    return result, sorted({event.name for event in profiler.events() if event.device_type.name == "CUDA"})
