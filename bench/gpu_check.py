"""The GPU check: the product's CUDA path run for real on one GPU, each check one that can fail.

    bash bench/gpu_check.sh OUT_DIR              # on a GPU node, offline (make gpu-check)
    python bench/gpu_check.py --cpu              # the same checks shrunk, on a CPU (make test-slow runs it)
    python bench/gpu_check.py --cpu --inject packed_attention   # plant that check's fault: it must fail

Checks (`--only` picks some; each has a fault that `--inject NAME` plants, to show it can fail):
  packed_attention  variable-length utterances through FlashAttention's varlen kernel over packed rows:
                    outputs and gradients equal to SDPA with the mask (bf16 tolerance)
  attention_kernels the profiler's kernels in encoder self-, decoder self- and cross-attention: flash on
                    runs FlashAttention in all three, flash off in none, cuDNN attention never
  sync_free         one whole log window (dense and MoE, CTC, SpecAugment, grad_accum 2) under
                    torch.cuda.set_sync_debug_mode("error"), the window's one read-back excepted
  learnable         bf16 against fp32 on the bundled real utterances: the loss falls, and the two agree
  moe_grouped       grouped matmul against the loop over experts, values and gradients, one expert idle
  ddp               two gloo ranks on the one GPU: DDP equal to grad_accum 2; a rank with an empty
                    micro-batch; a MoE window where one rank saw no tokens; under timeouts
  compile           at most 3 graphs over variable-length batches; Liger with compile, qk_norm and
                    label smoothing, without graph breaks
  torchrun          the trainer under torchrun with CUDA_VISIBLE_DEVICES set runs to FINISHED
  speed             audio-s/s, MFU, peak memory, attention kernel of tiny.en (flash on, off) and tiny-moe
                    at 30 s; targets: MFU >= 40%, MoE step <= 1.3x dense, flash on >= 1.5x off

With --cpu, a CUDA-only part runs a named CPU stand-in (the result says which): the profiler's CUDA
kernels become the aten ops dispatched, the varlen kernel a per-sequence reference, the sync debug mode
a count of read-backs (which cannot see a blocking host-to-device copy), Liger's kernels a reference
of its forward; speed targets are not judged on a CPU. Exit status: 0 all passed, 1 a check failed,
2 no CUDA GPU (without --cpu).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smolwhisper.config import load_run_config, model_preset  # noqa: E402
from smolwhisper.model import CTCTargets, Whisper  # noqa: E402
from smolwhisper.model import fused_loss as fused_loss_module  # noqa: E402
from smolwhisper.model import moe as moe_module  # noqa: E402
from smolwhisper.model import whisper as whisper_module  # noqa: E402
from smolwhisper.model.flops import training_flops  # noqa: E402
from smolwhisper.model.moe import MoEFeedForward  # noqa: E402
from smolwhisper.model.whisper import MATH_BACKEND, MultiHeadAttention, encoder_frames  # noqa: E402

# Stated tolerances. bf16: relative to the largest reference value (outputs) or the reference's norm
# (gradients); kernels that round differently agree to about 1%.
BF16_OUTPUT_TOLERANCE, BF16_GRAD_TOLERANCE = 0.03, 0.05
FP32_TOLERANCE = 1e-4
LEARN_FALL = 0.8  # the last window's loss at most this share of the first
LEARN_AGREEMENT = 0.1  # bf16 and fp32 final losses within this share of the fp32 run's fall
TARGETS = {"mfu": 0.40, "moe_vs_dense": 1.3, "flash_speedup": 1.5}
RANK_TIMEOUT_S = 60  # a collective that waits longer has hung


@dataclasses.dataclass
class Result:
    name: str
    passed: bool
    detail: str
    seconds: float = 0.0
    stand_in: str = ""  # what replaced the CUDA-only part on a CPU
    figures: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Context:
    cpu: bool
    inject: str
    corpus: Path
    work: Path

    @property
    def device(self) -> torch.device:
        return torch.device("cpu") if self.cpu else torch.device("cuda", 0)

    @property
    def dtype(self) -> torch.dtype:
        """What autocast computes in: bf16 on the GPU; fp32 on a CPU, where checks test the logic."""
        return torch.float32 if self.cpu else torch.bfloat16

    def planted(self, check: str) -> bool:
        return self.inject == check

    def autocast(self, enabled: bool = True):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled and not self.cpu)

    def preset(self, name: str = "tiny.en") -> str:
        return "test" if self.cpu else name

    def overrides(self, out_dir: Path, **extra) -> list[str]:
        values = {"model.preset": self.preset(), "model.n_text_ctx": 64, "data.source": str(self.corpus),
                  "data.vocab_size": 300, "data.max_batch_s": 12 if self.cpu else 40,
                  "data.num_workers": 0,
                  "train.max_steps": 1000, "train.out_dir": str(out_dir), "train.progress": False,
                  "train.log_every": 1, "train.device": "cpu" if self.cpu else "cuda",
                  "train.precision": "fp32" if self.cpu else "bf16",
                  "eval.every_steps": 100_000, "optim.warmup_steps": 3, "optim.lr": 2e-3}
        values.update(extra)
        if "data.max_duration_s" not in extra:  # a batch must hold the longest utterance
            values["data.max_duration_s"] = min(30, values["data.max_batch_s"])
        return [f"{k}={v}" for k, v in values.items()]

    def trainer(self, out_dir: Path, **extra):
        from smolwhisper.train import Distributed, Trainer

        return Trainer(load_run_config(None, self.overrides(out_dir, **extra)), Distributed(device=self.device))


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return ((value.float() - reference.float()).abs().max() / reference.float().abs().max().clamp(min=1e-12)).item()


def relative_norm_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return ((value.float() - reference.float()).norm() / reference.float().norm().clamp(min=1e-12)).item()


@contextlib.contextmanager
def patched(owner, name: str, value):
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield original
    finally:
        setattr(owner, name, original)


def per_sequence_attention(q, k, v, cu_q, cu_k, max_q, max_k, **_):
    """CPU stand-in for FlashAttention's varlen kernel: each packed sequence's attention alone."""
    rows = []
    for i in range(len(cu_q) - 1):
        qs, ks, vs = (t[a:b].transpose(0, 1) for t, a, b in
                      ((q, cu_q[i], cu_q[i + 1]), (k, cu_k[i], cu_k[i + 1]), (v, cu_k[i], cu_k[i + 1])))
        rows.append(F.scaled_dot_product_attention(qs, ks, vs).transpose(0, 1))
    return torch.cat(rows)


# --- packed attention ---------------------------------------------------------------------------

def packed_attention(ctx: Context) -> Result:
    """Fault: the packed rows are laid out with the utterances' lengths in reverse order."""
    torch.manual_seed(0)
    cfg = model_preset(ctx.preset(), n_vocab=512, ctc_weight=0.3)
    model = Whisper(cfg).to(ctx.device)
    lengths = [320, 211, 97] if ctx.cpu else [3000, 2210, 1337, 400]
    n_frames = max(lengths)
    mel = torch.randn(len(lengths), cfg.n_mels, n_frames, device=ctx.device)
    mask = torch.arange(n_frames, device=ctx.device)[None, :] < torch.tensor(lengths, device=ctx.device)[:, None]
    tokens = torch.randint(0, 500, (len(lengths), 24), device=ctx.device)
    frames = encoder_frames(lengths, cfg.audio_stride)
    ctc = CTCTargets.from_targets(tokens.cpu(), frames).to(ctx.device)

    def run(packed):
        model.zero_grad(set_to_none=True)
        with ctx.autocast():
            out = model(mel, tokens, mel_mask=mask, targets=tokens, ctc_targets=ctc, packed=packed)
        (out.loss + out.ctc_loss).backward()
        grads = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
        return out, grads

    masked, masked_grads = run(None)
    calls = []
    kernel = per_sequence_attention if ctx.cpu else whisper_module.varlen_attn
    counting = lambda *a, **k: (calls.append(1), kernel(*a, **k))[1]  # noqa: E731
    packed_lengths = lengths[::-1] if ctx.planted("packed_attention") else lengths
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(whisper_module, "varlen_attn", counting))
        if ctx.cpu:
            stack.enter_context(patched(whisper_module, "varlen_kernel_runs", lambda q: True))
        packed_out, packed_grads = run(model.packed_frames(packed_lengths, n_frames, ctx.device))
    real = mask[:, ::cfg.audio_stride]
    errors = {"logits": relative_error(packed_out.logits, masked.logits),
              "ctc_log_probs": relative_error(packed_out.ctc_log_probs[real], masked.ctc_log_probs[real]),
              "gradients": relative_norm_error(packed_grads, masked_grads)}
    output_tol, grad_tol = (FP32_TOLERANCE, FP32_TOLERANCE) if ctx.cpu else (BF16_OUTPUT_TOLERANCE, BF16_GRAD_TOLERANCE)
    passed = bool(calls) and max(errors["logits"], errors["ctc_log_probs"]) <= output_tol and errors["gradients"] <= grad_tol
    detail = (f"utterances of {lengths} mel frames; varlen kernel called {len(calls)} times; relative error "
              + ", ".join(f"{k} {v:.2e}" for k, v in errors.items())
              + f" (tolerance {output_tol:g} outputs, {grad_tol:g} gradients)")
    return Result("packed_attention", passed, detail, figures=errors,
                  stand_in="per-sequence SDPA in place of the varlen kernel, fp32" if ctx.cpu else "")


# --- attention kernels --------------------------------------------------------------------------

class RecordOps(torch.utils._python_dispatch.TorchDispatchMode):
    """The aten ops dispatched inside the block: the CPU stand-in for the profiler's CUDA kernels."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def cpu_attention_implementation(ops: list[str]) -> str:
    found = [name for name, pattern in (("flash", "flash_attention"), ("memory_efficient", "efficient_attention"),
                                        ("cudnn", "cudnn_attention")) if any(pattern in op for op in ops)]
    return "+".join(found) or "math"


def attention_implementation(ctx: Context, run: Callable[[], object]) -> str:
    """Which attention implementations ran in `run` (forward and backward)."""
    if ctx.cpu:
        with RecordOps() as recorded:
            run()
        return cpu_attention_implementation(recorded.ops)
    from smolwhisper.train.accelerator import attention_kernels, profile_cuda_kernels

    _, names = profile_cuda_kernels(run)
    return attention_kernels(names)


def attention_sites(ctx: Context, model: Whisper) -> dict[str, Callable[[], None]]:
    """Encoder self-attention over packed rows, causal decoder self-attention, cross-attention over
    packed keys: one forward and backward each, as a training step runs them."""
    cfg = model.config
    lengths = [160, 97] if ctx.cpu else [1500, 1100, 700]
    n = max(lengths)
    packed = whisper_module.PackedRows.from_lengths(lengths, n, ctx.device)
    audio_mask = torch.arange(n, device=ctx.device)[None, :] < torch.tensor(lengths, device=ctx.device)[:, None]
    key_mask = audio_mask[:, None, None, :]
    audio = torch.randn(len(lengths), n, cfg.n_audio_state, device=ctx.device)
    text = torch.randn(len(lengths), 32, cfg.n_text_state, device=ctx.device)
    encoder, decoder = model.encoder.blocks[0], model.decoder.blocks[0]

    def step(attention: MultiHeadAttention, x, source, **kwargs):
        def run():
            with ctx.autocast():
                y = attention(x, attention.project_kv(source), **kwargs)
            y.float().square().mean().backward()
        return run

    return {"encoder self": step(encoder.attn, audio, audio, mask=key_mask, packed_q=packed, packed_kv=packed),
            "decoder self": step(decoder.attn, text, text, is_causal=True),
            "cross": step(decoder.cross_attn, text, audio, mask=key_mask, packed_kv=packed)}


def attention_kernels_check(ctx: Context) -> Result:
    """Fault: the flash switch is lost (flash on builds attention on the math backend)."""
    found = {}
    for flash in (True, False):
        torch.manual_seed(0)
        model = Whisper(model_preset(ctx.preset(), flash=flash)).to(ctx.device)
        if flash and ctx.planted("attention_kernels"):
            for module in model.modules():
                if isinstance(module, MultiHeadAttention):
                    module.flash, module.backends = False, MATH_BACKEND
        for site, run in attention_sites(ctx, model).items():
            found[f"flash {'on' if flash else 'off'}: {site}"] = attention_implementation(ctx, run)
    wrong = [f"{where}: {kernel}" for where, kernel in found.items()
             if "cudnn" in kernel or (("flash" in kernel) != where.startswith("flash on"))]
    detail = "; ".join(f"{where} {kernel}" for where, kernel in found.items())
    return Result("attention_kernels", not wrong, ("WRONG: " + "; ".join(wrong) + " | " if wrong else "") + detail,
                  figures=found, stand_in="aten ops dispatched on the CPU in place of CUDA kernels" if ctx.cpu else "")


# --- sync-free log window -----------------------------------------------------------------------

READ_BACKS = [(torch.Tensor, name) for name in ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__",
                                                  "__float__", "__index__")] + [(torch, "nonzero")]


class SyncWatch:
    """Syncs with the host outside the excepted places: on CUDA torch's sync debug mode raises at the
    first one; on a CPU the read-back methods are counted (a blocking host-to-device copy is invisible there)."""

    def __init__(self, cuda: bool):
        self.cuda, self.excepted, self.depth, self.read_backs = cuda, [], 0, []

    @contextlib.contextmanager
    def watching(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                yield
            finally:
                torch.cuda.set_sync_debug_mode("default")
            return
        with contextlib.ExitStack() as stack:
            for owner, name in READ_BACKS:
                stack.enter_context(patched(owner, name, self.counted(getattr(owner, name), name)))
            yield

    def counted(self, original: Callable, name: str) -> Callable:
        def read_back(*args, **kwargs):
            stack = traceback.extract_stack()[:-1]
            # The DataLoader's seed draws read its own host generator: nothing a GPU would wait for.
            if not self.depth and not any("torch/utils/data" in f.filename for f in stack):
                frames = [f for f in stack if "smolwhisper" in f.filename]
                self.read_backs.append(f"{name} at " + (f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
                                                         if frames else "?"))
            return original(*args, **kwargs)
        return read_back

    def excepting(self, why: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self.excepted.append(why)
            self.depth += 1
            mode = torch.cuda.get_sync_debug_mode() if self.cuda else 0
            if self.cuda:
                torch.cuda.set_sync_debug_mode("default")
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.cuda:
                    torch.cuda.set_sync_debug_mode(mode)
        return wrapper


def sync_free(ctx: Context) -> Result:
    """Fault: the window reads the gradient norm back at every step."""
    from smolwhisper.train import recipe

    details, passed, figures = [], True, {}
    for preset, extra in (("dense", {}), ("moe", {"model.decoder_ffn": "moe", "model.n_experts": 4,
                                                   "model.top_k": 2, "model.noisy_topk": True})):
        trainer = ctx.trainer(ctx.work / f"sync-{preset}", **{
            "model.ctc_weight": 0.3, "data.spec_augment": True, "optim.grad_accum": 2, "train.log_every": 3, **extra})
        for _ in range(3):  # step 1 (and the kernel profile) closes a window of its own; then one whole window
            trainer.train_step()
        watch = SyncWatch(cuda=not ctx.cpu)
        trainer.read_window = watch.excepting("the window's read-back", trainer.read_window)
        error = None
        with contextlib.ExitStack() as stack:
            # Inside torch: CUDA's CTC copies its host-built length vectors to the GPU (blocking copies).
            stack.enter_context(patched(whisper_module, "ctc_loss_per_token", watch.excepting(
                "CTC's length copies inside torch", whisper_module.ctc_loss_per_token)))
            if ctx.planted("sync_free"):
                add_step = recipe.LogWindow.add_step
                stack.enter_context(patched(recipe.LogWindow, "add_step", lambda self, norm, *a: (
                    norm.item(), add_step(self, norm, *a))[1]))
            try:
                with watch.watching():
                    results = [trainer.train_step() for _ in range(3)]
            except RuntimeError as caught:
                error = f"{caught} at {where_in_smolwhisper(caught)}"
        closed = error is None and [r is not None for r in results] == [False, False, True]
        ok = closed and not watch.read_backs and "the window's read-back" in watch.excepted
        passed &= ok
        kinds = sorted(set(watch.excepted))
        figures[preset] = {"read_backs": watch.read_backs, "excepted": kinds, "error": error}
        details.append(f"{preset}: " + (error or f"{len(watch.read_backs)} syncs outside {kinds}"
                                        + (f" ({watch.read_backs[:5]})" if watch.read_backs else "")))
    return Result("sync_free", passed, "3-step window, grad_accum 2, CTC, SpecAugment; " + "; ".join(details),
                  figures=figures, stand_in="read-back methods counted in place of the sync debug mode "
                                            "(blocking host-to-device copies are invisible on a CPU)" if ctx.cpu else "")


def where_in_smolwhisper(error: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "smolwhisper" in f.filename or "bench" in f.filename]
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames[-3:])) or "?"


# --- learnable ------------------------------------------------------------------------------------

def train_losses(ctx: Context, name: str, precision: str, steps: int, frozen: bool = False) -> list[float]:
    """The log windows' losses of a run of `steps`; frozen: its optimizer makes no update."""
    trainer = ctx.trainer(ctx.work / name, **{"train.precision": precision, "train.log_every": max(steps // 4, 1),
                                              "train.max_steps": steps, "train.seed": 0, "model.qk_norm": True,
                                              "model.ctc_weight": 0.3})
    if frozen:
        trainer.optimizer.step = lambda *args, **kwargs: None
    losses = []
    while not trainer.finished():
        metrics = trainer.train_step()
        if metrics is not None:
            losses.append(metrics["train/loss"])
    return losses


def learnable(ctx: Context) -> Result:
    """Fault: the bf16 run's optimizer makes no update."""
    steps = 12 if ctx.cpu else 60
    fp32 = train_losses(ctx, "learn-fp32", "fp32", steps)
    bf16 = train_losses(ctx, "learn-bf16", "bf16", steps, frozen=ctx.planted("learnable"))
    fall = fp32[0] - fp32[-1]
    falls = fp32[-1] <= LEARN_FALL * fp32[0] and bf16[-1] <= LEARN_FALL * bf16[0]
    agree = abs(bf16[-1] - fp32[-1]) <= LEARN_AGREEMENT * max(fall, 1e-9)
    detail = (f"{steps} steps on {ctx.corpus.name}: fp32 loss {fp32[0]:.3f} -> {fp32[-1]:.3f}, bf16 {bf16[0]:.3f} -> "
              f"{bf16[-1]:.3f}; falls to <= {LEARN_FALL:g}x: {falls}; |bf16 - fp32| = {abs(bf16[-1] - fp32[-1]):.3f} "
              f"vs tolerance {LEARN_AGREEMENT:g} x the fall ({LEARN_AGREEMENT * fall:.3f}): {agree}")
    return Result("learnable", falls and agree, detail, figures={"fp32": fp32, "bf16": bf16},
                  stand_in="bf16 autocast on the CPU" if ctx.cpu else "")


# --- MoE -----------------------------------------------------------------------------------------

def moe_grouped(ctx: Context) -> Result:
    """Fault: the grouped matmul sends each group to the wrong expert's weights."""
    torch.manual_seed(0)
    n_state, n_experts = (64, 8) if ctx.cpu else (384, 8)
    tokens = 300 if ctx.cpu else 8192
    grouped = MoEFeedForward(n_state, 4 * n_state, n_experts, 2, grouped_mm=True).to(ctx.device)
    loop = MoEFeedForward(n_state, 4 * n_state, n_experts, 2, grouped_mm=False).to(ctx.device)
    with torch.no_grad():
        grouped.router.weight[-1] = -1.0  # with inputs >= 0 the last expert is never chosen
    loop.load_state_dict(grouped.state_dict())
    x = torch.randn(2, tokens // 2, n_state, device=ctx.device).abs()
    path = moe_module.grouped_mm_path(ctx.device, ctx.dtype)

    def run(moe):
        inputs = x.clone().requires_grad_()
        with ctx.autocast():
            out, stats = moe(inputs)
        out.float().square().mean().backward()
        return out, stats["expert_counts"], [inputs.grad, *(p.grad for p in moe.parameters())]

    with contextlib.ExitStack() as stack:
        if ctx.planted("moe_grouped"):
            grouped_matmul = moe_module.grouped_matmul
            stack.enter_context(patched(moe_module, "grouped_matmul", lambda a, w, offsets: grouped_matmul(
                a, w.roll(1, dims=0), offsets)))
        out, counts, grads = run(grouped)
    loop_out, _, loop_grads = run(loop)
    idle = counts[-1].item() == 0
    output_error = relative_error(out, loop_out)
    grad_error = max(relative_norm_error(g, r) for g, r in zip(grads, loop_grads) if r.norm() > 0)
    output_tol, grad_tol = (1e-5, 1e-5) if ctx.cpu else (BF16_OUTPUT_TOLERANCE, BF16_GRAD_TOLERANCE)
    passed = idle and output_error <= output_tol and grad_error <= grad_tol
    detail = (f"{tokens} tokens, {n_experts} experts top-2, tokens per expert {counts.tolist()} (last idle: {idle}); "
              f"grouped path: {path}; relative error output {output_error:.2e}, gradients {grad_error:.2e} "
              f"(tolerance {output_tol:g}, {grad_tol:g})")
    return Result("moe_grouped", passed, detail, figures={"path": path, "output_error": output_error,
                                                          "grad_error": grad_error})


# --- two ranks ------------------------------------------------------------------------------------

def rank_worker(out: Path, settings: dict) -> None:
    """Run by torchrun as two ranks (gloo) on one device: three phases, rank 0 writes what it saw."""
    import torch.distributed as dist

    from smolwhisper.train import Distributed, Trainer
    from smolwhisper.train.recipe import LogWindow

    dist.init_process_group("gloo", timeout=timedelta(seconds=RANK_TIMEOUT_S))
    rank = dist.get_rank()
    device = torch.device(settings["device"])
    env = Distributed(rank, 2, device)
    result = {}
    # Phase 1: DDP over the two ranks, the same global batch as one rank with grad_accum 2.
    trainer = Trainer(load_run_config(None, settings["ddp"]), env)
    result["ddp_losses"] = [trainer.train_step()["train/loss"] for _ in range(3)]
    # Phase 2: rank 1's first micro-batch lost every utterance; the ranks must stay equal.
    trainer = Trainer(load_run_config(None, settings["empty"]), env)
    next_batch, calls = trainer.next_batch, []

    def empty_first():
        calls.append(1)
        batch = next_batch()
        return trainer.collate([]) if rank == 1 and len(calls) == 1 else batch

    trainer.next_batch = empty_first
    for _ in range(2):
        trainer.train_step()
    flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    both = [torch.empty_like(flat) for _ in range(2)]
    dist.all_gather(both, flat)
    result["empty_difference"] = (both[0] - both[1]).abs().max().item()
    # Phase 3: a MoE log window in which rank 1 saw no token.
    shape = None if rank == 1 and settings["planted"] else (2, 4)
    window = LogWindow(device, expert_shape=shape)
    batch = type("Batch", (), {"n_target_tokens": 4, "duration_s": 1.0, "ids": ["a"]})()
    output = type("Output", (), {"loss": torch.tensor(1.0, device=device), "ctc_loss": None,
                           "load_balance_loss": torch.tensor(1.0, device=device),
                           "router_z_loss": torch.tensor(0.0, device=device),
                           "expert_counts": torch.tensor([[1.0, 1, 2, 0], [0, 2, 1, 1]], device=device)})()
    window.add_micro_batch(batch, output if rank == 0 else None)
    window.add_step(torch.tensor(1.0, device=device), torch.tensor(True, device=device), 1e-3, 0.1)
    result["moe_window"] = window.read(2).expert_fractions
    if rank == 0:
        out.write_text(json.dumps(result))
    dist.barrier()
    del trainer
    dist.destroy_process_group()


def ddp(ctx: Context) -> Result:
    """Fault: the MoE window of the rank that saw no token sends no expert counts (a shorter vector)."""
    base = {"train.precision": "fp32", "data.max_batch_s": 8 if ctx.cpu else 30}
    one = ctx.trainer(ctx.work / "ddp-one", **base, **{"optim.grad_accum": 2})
    expected = [one.train_step()["train/loss"] for _ in range(3)]
    settings = {"device": str(ctx.device), "planted": ctx.planted("ddp"),
                "ddp": ctx.overrides(ctx.work / "ddp-two", **base),
                "empty": ctx.overrides(ctx.work / "ddp-empty", **base, **{"optim.grad_accum": 2})}
    out = ctx.work / "ranks.json"
    (ctx.work / "ranks_settings.json").write_text(json.dumps(settings))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
               str(Path(__file__).resolve()), "--rank-worker", str(out), str(ctx.work / "ranks_settings.json")]
    try:
        done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                              timeout=4 * RANK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Result("ddp", False, f"two ranks hung for {4 * RANK_TIMEOUT_S} s")
    if done.returncode != 0 or not out.exists():
        errors = [line for line in done.stderr.splitlines() if "Error" in line and "error_file" not in line
                  and "Connection closed by peer" not in line][:3]
        return Result("ddp", False, f"two ranks exited {done.returncode}: {' | '.join(errors)[-600:]}")
    result = json.loads(out.read_text())
    tolerance = 1e-5 if ctx.cpu else 1e-3
    equal = all(abs(a - b) <= tolerance * abs(b) for a, b in zip(result["ddp_losses"], expected))
    fractions = result["moe_window"]
    window_ok = fractions == [[0.25, 0.25, 0.5, 0.0], [0.0, 0.5, 0.25, 0.25]]
    passed = equal and result["empty_difference"] <= (0.0 if ctx.cpu else 1e-6) and window_ok
    detail = (f"DDP losses {[round(v, 5) for v in result['ddp_losses']]} vs grad_accum 2 {[round(v, 5) for v in expected]}"
              f" (rtol {tolerance:g}): {equal}; empty micro-batch on rank 1: ranks differ by "
              f"{result['empty_difference']:.1e}; MoE window with an idle rank: {fractions}")
    return Result("ddp", passed, detail, figures=result)


# --- compile --------------------------------------------------------------------------------------

def compile_check(ctx: Context) -> Result:
    """Fault: compiled with static shapes only (every new batch length a new graph)."""
    from torch._dynamo.utils import counters

    from smolwhisper.train import recipe

    backend = "aot_eager" if ctx.cpu else "inductor"
    compile_ = torch.compile
    planted = ctx.planted("compile")
    torch._dynamo.reset()
    counters.clear()
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(recipe.torch, "compile", lambda model, **kw: compile_(
            model, backend=backend, **{**kw, "dynamic": not planted})))
        if planted:  # static shapes only: every new batch length a new graph
            stack.enter_context(torch._dynamo.config.patch(automatic_dynamic_shapes=False))
        corpus = varied_tone_corpus(ctx.work / "varied_corpus") if ctx.cpu else ctx.corpus
        trainer = ctx.trainer(ctx.work / "compile", **{"train.compile": True, "model.decoder_ffn": "moe",
                                                        "model.n_experts": 4, "model.top_k": 2, "model.ctc_weight": 0.3,
                                                        "model.preset": "test", "data.max_batch_s": 10,
                                                        "data.source": str(corpus)})
        shapes = set()
        for _ in range(10):
            batch = trainer.next_batch()
            # the shapes the compiled model sees: lengths rounded up to COMPILE_FRAMES and COMPILE_TOKENS
            shapes.add((-(-max(batch.n_frames) // recipe.COMPILE_FRAMES), batch.tokens.shape[1]))
            trainer.batches = iter([batch])
            trainer.train_step()
    graphs, breaks = counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())
    ok_graphs = graphs <= 3 and len(shapes) >= 4
    liger_ok, liger_detail = liger_compiled(ctx)
    detail = (f"{len(shapes)} batch shapes (rounded) -> {graphs} graphs (<= 3), {breaks} graph breaks ({backend}); " + liger_detail)
    return Result("compile", ok_graphs and breaks == 0 and liger_ok, detail,
                  figures={"shapes": len(shapes), "graphs": graphs, "graph_breaks": breaks},
                  stand_in="aot_eager; Liger's forward by a torch reference" if ctx.cpu else "")


def varied_tone_corpus(root: Path, n: int = 16) -> Path:
    """Tones of 0.5 to 4.5 s with word transcripts: batches of several rounded lengths, on a CPU."""
    import numpy as np
    import soundfile

    rng = np.random.default_rng(0)
    words = "the quick brown fox jumps over a lazy dog while seven bright birds sing".split()
    lines = []
    for i, seconds in enumerate(np.linspace(0.5, 4.5, n)):
        t = np.arange(int(seconds * 16000)) / 16000
        path = root / "train" / f"{i:03d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, (0.1 * np.sin(2 * np.pi * rng.uniform(200, 800) * t)).astype(np.float32), 16000)
        text = " ".join(rng.choice(words, size=int(2 + seconds * 2)))
        lines.append(json.dumps({"audio_filepath": f"train/{i:03d}.wav", "text": text, "duration": seconds}))
    for split in ("train", "validation"):
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def liger_compiled(ctx: Context) -> tuple[bool, str]:
    """Liger (or on a CPU its fused op around a reference forward) with qk_norm and label smoothing,
    compiled whole: its loss and gradients equal the unfused model's."""
    torch.manual_seed(0)
    cfg = model_preset("test", n_vocab=512, qk_norm=True, label_smoothing=0.1, liger=not ctx.cpu)
    fused = Whisper(cfg).to(ctx.device)
    reference = Whisper(dataclasses.replace(cfg, liger=False)).to(ctx.device)
    reference.load_state_dict(fused.state_dict())
    if ctx.cpu:
        fused.fused_loss = functools.partial(fused_loss_module.linear_cross_entropy, label_smoothing=0.1)
    mel = torch.randn(2, cfg.n_mels, 320, device=ctx.device)
    tokens = torch.randint(0, 500, (2, 16), device=ctx.device)

    def loss_and_grads(model, compiled: bool):
        forward = torch.compile(model, fullgraph=True, backend="aot_eager" if ctx.cpu else "inductor") if compiled else model
        with ctx.autocast():
            loss = forward(mel, tokens, targets=tokens).loss
        loss.backward()
        grads = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
        model.zero_grad(set_to_none=True)
        return loss.detach(), grads

    torch._dynamo.reset()
    with contextlib.ExitStack() as stack:
        if ctx.cpu:
            stack.enter_context(patched(fused_loss_module, "liger_forward", reference_liger_forward))
        try:
            loss, grads = loss_and_grads(fused, compiled=True)
        except Exception as error:  # noqa: BLE001 - fullgraph: a graph break is an error, reported
            return False, f"Liger compiled with fullgraph failed: {type(error).__name__}: {str(error)[:300]}"
    ref_loss, ref_grads = loss_and_grads(reference, compiled=False)
    loss_error, grad_error = relative_error(loss, ref_loss), relative_norm_error(grads, ref_grads)
    tol = FP32_TOLERANCE if ctx.cpu else BF16_GRAD_TOLERANCE
    ok = loss_error <= tol and grad_error <= tol
    return ok, (f"Liger + qk_norm + label smoothing 0.1 compiled whole: loss {loss.item():.4f} vs unfused "
                f"{ref_loss.item():.4f}, relative error loss {loss_error:.1e}, gradients {grad_error:.1e} (tolerance {tol:g})")


def reference_liger_forward(hidden, weight, targets, label_smoothing):
    """Liger's forward written out in torch (the mean loss and its gradients), for a CPU."""
    hidden, weight = hidden.float(), weight.float()
    logits = hidden @ weight.T
    loss = F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=label_smoothing)
    kept = targets != -100
    smoothed = F.one_hot(targets.clamp(min=0), logits.shape[1]) * (1 - label_smoothing) + label_smoothing / logits.shape[1]
    grad_logits = (logits.softmax(-1) - smoothed) * kept[:, None] / kept.sum()
    return loss, grad_logits @ weight, grad_logits.T @ hidden


# --- torchrun -------------------------------------------------------------------------------------

def torchrun(ctx: Context) -> Result:
    """Fault: CUDA_VISIBLE_DEVICES names no GPU (on a CPU: the data source does not exist)."""
    out_dir = ctx.work / "torchrun"
    corpus = ctx.work / "missing" if ctx.cpu and ctx.planted("torchrun") else ctx.corpus
    args = ctx.overrides(out_dir, **{"data.source": str(corpus), "train.max_steps": 3, "eval.every_steps": 3,
                                     "train.checkpoint_every": 3, "eval.max_utterances": 4, "eval.max_tokens": 16,
                                     "model.preset": "test", "train.device": "auto"})
    visible = "" if ctx.planted("torchrun") else "0"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--standalone",
               "-m", "smolwhisper.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    if not ctx.cpu:
        env["CUDA_VISIBLE_DEVICES"] = visible
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    summary_path = out_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    status = summary.get("status", "no summary.json")
    device = summary.get("config", {}).get("train", {}).get("device", "?")
    passed = done.returncode == 0 and status == "FINISHED"
    detail = (f"torchrun --nproc_per_node=1 -m smolwhisper.train, CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}:"
              f" exit {done.returncode}, status {status}, train.device {device}")
    if not passed:
        detail += " | " + done.stderr.strip().splitlines()[-1][-300:] if done.stderr.strip() else ""
    return Result("torchrun", passed, detail)


# --- speed ----------------------------------------------------------------------------------------

def step_figures(ctx: Context, cfg, batch: int, seconds: float, steps: int) -> dict:
    """Training steps of random batches without padding: audio-s/s, MFU, peak memory, kernel."""
    from smolwhisper.config import OptimConfig
    from smolwhisper.train.accelerator import peak_flops
    from smolwhisper.train.optim import build_optimizer, fused_adamw_available

    torch.manual_seed(0)
    flash = cfg.flash
    model = Whisper(cfg).to(ctx.device)
    if flash and ctx.planted("speed"):
        for module in model.modules():
            if isinstance(module, MultiHeadAttention):
                module.flash, module.backends = False, MATH_BACKEND
    optimizer = build_optimizer(model, OptimConfig(), fused=fused_adamw_available(ctx.device.type))
    frames, n_tokens = int(seconds * 100), 100 if not ctx.cpu else 24
    mel = torch.randn(batch, cfg.n_mels, frames, device=ctx.device)
    tokens = torch.randint(0, cfg.n_vocab - 1, (batch, n_tokens), device=ctx.device)

    def step():
        with ctx.autocast():
            out = model(mel, tokens, targets=tokens)
        (out.loss + 0.01 * out.load_balance_loss).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    kernel = attention_implementation(ctx, step)
    for _ in range(2):
        step()
    if not ctx.cpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if not ctx.cpu:
        torch.cuda.synchronize()
    step_s = (time.perf_counter() - start) / steps
    peak = None if ctx.cpu else peak_flops(torch.cuda.get_device_name(ctx.device))
    flops = batch * training_flops(cfg, frames, n_tokens)
    return {"step_s": step_s, "audio_s_per_s": batch * seconds / step_s,
            "mfu": flops / step_s / peak if peak else None, "kernel": kernel,
            "peak_memory_gb": None if ctx.cpu else torch.cuda.max_memory_allocated() / 1e9}


def speed(ctx: Context) -> Result:
    """Fault: the flash switch is lost in the flash-on run (math attention, no speed-up)."""
    batch, seconds, steps = (2, 4.0, 2) if ctx.cpu else (16, 30.0, 8)
    dense_cfg = model_preset(ctx.preset())
    moe_cfg = model_preset("tiny-moe") if not ctx.cpu else model_preset("test", decoder_ffn="moe")
    runs = {"tiny.en flash on": dense_cfg, "tiny.en flash off": dataclasses.replace(dense_cfg, flash=False),
            "tiny-moe flash on": moe_cfg}
    figures = {name: step_figures(ctx, cfg, batch, seconds, steps) for name, cfg in runs.items()}
    dense, off, moe = figures["tiny.en flash on"], figures["tiny.en flash off"], figures["tiny-moe flash on"]
    ratios = {"flash_speedup": off["step_s"] / dense["step_s"], "moe_vs_dense": moe["step_s"] / dense["step_s"],
              "mfu": dense["mfu"]}
    kernels_ok = "flash" in dense["kernel"] and "flash" in moe["kernel"] and off["kernel"] == "math"
    targets = {} if ctx.cpu else {
        "mfu": ratios["mfu"] is not None and ratios["mfu"] >= TARGETS["mfu"],
        "moe_vs_dense": ratios["moe_vs_dense"] <= TARGETS["moe_vs_dense"],
        "flash_speedup": ratios["flash_speedup"] >= TARGETS["flash_speedup"]}
    rows = "; ".join(f"{name}: {f['audio_s_per_s']:.0f} audio-s/s, MFU {_percent(f['mfu'])}, peak "
                     f"{_gb(f['peak_memory_gb'])}, kernel {f['kernel']}" for name, f in figures.items())
    verdicts = ", ".join(f"{k} {_ratio(k, ratios[k])} ({'met' if ok else 'MISSED'})" for k, ok in targets.items())
    detail = (f"batch {batch} x {seconds:g} s; {rows}; flash on {ratios['flash_speedup']:.2f}x off, MoE step "
              f"{ratios['moe_vs_dense']:.2f}x dense; " + (f"targets: {verdicts}" if targets else
                                                            "targets not judged on a CPU") + f"; kernels as switched: {kernels_ok}")
    return Result("speed", kernels_ok and all(targets.values()), detail,
                  figures={"runs": figures, "ratios": ratios, "targets": TARGETS, "met": targets},
                  stand_in="test preset, 4 s batches; targets are the GPU's" if ctx.cpu else "")


def _percent(value):
    return "n/a" if value is None else f"{value:.1%}"


def _gb(value):
    return "n/a" if value is None else f"{value:.2f} GB"


def _ratio(name, value):
    return _percent(value) if name == "mfu" else f"{value:.2f}x"


CHECKS: dict[str, Callable[[Context], Result]] = {
    "packed_attention": packed_attention, "attention_kernels": attention_kernels_check, "sync_free": sync_free,
    "learnable": learnable, "moe_grouped": moe_grouped, "ddp": ddp, "compile": compile_check,
    "torchrun": torchrun, "speed": speed,
}


# --- report ---------------------------------------------------------------------------------------

def environment(ctx: Context) -> dict:
    info = {"torch": torch.__version__, "python": sys.version.split()[0], "cpu": ctx.cpu, "injected": ctx.inject or None,
            "corpus": str(ctx.corpus)}
    if not ctx.cpu:
        info.update(device=torch.cuda.get_device_name(0), capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                    cuda=torch.version.cuda, varlen_attn=whisper_module.varlen_attn is not None,
                    grouped_mm=moe_module.grouped_mm_path(torch.device("cuda", 0), torch.bfloat16))
    return info


def markdown_table(results: list[Result], env: dict) -> str:
    lines = [f"GPU check: {env.get('device', 'CPU (--cpu: checks shrunk, stand-ins named)')}, torch {env['torch']}"
             + (f", fault planted: {env['injected']}" if env["injected"] else ""), "",
             "| check | verdict | seconds | what was measured |", "| --- | --- | --- | --- |"]
    for r in results:
        what = r.detail + (f" [CPU stand-in: {r.stand_in}]" if r.stand_in else "")
        lines.append(f"| {r.name} | {'pass' if r.passed else 'FAIL'} | {r.seconds:.0f} | {what.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def run_checks(ctx: Context, names: list[str]) -> list[Result]:
    results = []
    for name in names:
        started = time.perf_counter()
        print(f"gpu_check: {name} ...", flush=True)
        try:
            result = CHECKS[name](ctx)
        except Exception as error:  # noqa: BLE001 - a check reports every failure, then the run exits non-zero
            traceback.print_exc()
            result = Result(name, False, f"{type(error).__name__}: {str(error)[:500]} at {where_in_smolwhisper(error)}")
        result.seconds = time.perf_counter() - started
        print(f"gpu_check: {name}: {'pass' if result.passed else 'FAIL'} ({result.seconds:.0f} s): {result.detail}",
              flush=True)
        results.append(result)
    return results


def default_corpus(work: Path) -> Path:
    bundled = ROOT / "gpu_bundle" / "corpus"
    if (bundled / "train.jsonl").exists():
        return bundled
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import write_tone_corpus

    return write_tone_corpus(work / "tone_corpus", n_train=24, n_validation=4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run the checks shrunk on the CPU, with named stand-ins")
    parser.add_argument("--only", default="", help=f"comma-separated checks of {', '.join(CHECKS)}")
    parser.add_argument("--inject", default="", choices=["", *CHECKS], help="plant this check's fault: it must fail")
    parser.add_argument("--corpus", type=Path, help="real utterances (gpu_bundle/corpus; else a tone corpus is written)")
    parser.add_argument("--out", type=Path, help="write gpu_check.json and gpu_check.md here")
    parser.add_argument("--rank-worker", nargs=2, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.rank_worker:
        rank_worker(Path(opts.rank_worker[0]), json.loads(Path(opts.rank_worker[1]).read_text()))
        return 0
    if not opts.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU; run with --cpu to check the checks on a CPU", file=sys.stderr)
        return 2
    names = [n for n in opts.only.split(",") if n] or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        parser.error(f"--only: unknown checks {unknown}; known: {list(CHECKS)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        corpus = opts.corpus if opts.corpus and (opts.corpus / "train.jsonl").exists() else default_corpus(work)
        ctx = Context(cpu=opts.cpu, inject=opts.inject, corpus=corpus, work=work)
        env = environment(ctx)
        print(f"gpu_check: {json.dumps(env)}", flush=True)
        results = run_checks(ctx, names)
    table = markdown_table(results, env)
    print("\n" + table)
    failed = [r.name for r in results if not r.passed]
    print(f"gpu_check: {time.perf_counter() - started:.0f} s; " + (f"FAILED: {', '.join(failed)}" if failed
                                                                   else "all checks passed"))
    if opts.out:
        opts.out.mkdir(parents=True, exist_ok=True)
        (opts.out / "gpu_check.md").write_text(table)
        (opts.out / "gpu_check.json").write_text(json.dumps(
            {"environment": env, "seconds": time.perf_counter() - started, "passed": not failed,
             "results": [dataclasses.asdict(r) for r in results]}, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
