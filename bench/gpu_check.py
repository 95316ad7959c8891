"""The GPU check: the product's CUDA path run for real, in one go, within 8 minutes on one GPU.

    python bench/gpu_check.py            # make gpu-check; exits non-zero on any failure
    python bench/gpu_check.py --cpu      # the same script on the CPU, shrunk: checks the script itself

1. Training steps of tiny.en and tiny-moe in bf16 on 30 s utterances: a baseline (flash on, liger,
   compile and activation checkpointing off) and each acceleration switched alone. Per configuration:
   audio-seconds/s, MFU, peak memory, the attention kernels the profiler saw, and the loss after the
   last step, which must equal the baseline's within LOSS_TOLERANCE (the switches change no math).
2. The MoE FFN: grouped matmul against the loop over experts.
3. A 2-trial `run.py` sweep on the GPU (devices assigned by Ray), both trials FINISHED in MLflow.
4. With 2 or more GPUs: 2-rank NCCL DDP equal to one rank with optim.grad_accum=2.
Targets (printed, not failed): MFU >= 40% for tiny.en in bf16 on H100/A100; MoE step <= 1.3x dense;
flash on >= 1.5x flash off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import soundfile
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from smolwhisper.config import load_run_config  # noqa: E402
from smolwhisper.model.moe import MoEFeedForward  # noqa: E402
from smolwhisper.train import Distributed, Trainer, setup_distributed  # noqa: E402

LOSS_TOLERANCE = 0.03  # relative: bf16 kernels differ in rounding, not in the function
WORDS = "the quick brown fox jumps over a lazy dog while seven bright birds sing in green trees".split()
SWITCHES = [("baseline", {}), ("flash off", {"model.flash": False}), ("liger on", {"model.liger": True}),
            ("compile on", {"train.compile": True}), ("checkpointing on", {"model.activation_checkpointing": True})]


def write_corpus(root: Path, seconds: float, n_train: int, n_validation: int = 4) -> Path:
    """Noise-and-tone utterances of `seconds` each with random word transcripts (speed, not learning)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("validation", n_validation)):
        lines = []
        for i in range(n):
            t = np.arange(int(seconds * 16000)) / 16000
            audio = 0.1 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) + 0.02 * rng.standard_normal(t.size)
            path = root / split / f"{i:04d}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, audio.astype(np.float32), 16000)
            text = " ".join(rng.choice(WORDS, size=int(seconds * 2.5)))
            lines.append(json.dumps({"audio_filepath": str(path), "text": text, "duration": seconds}))
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def overrides(corpus: Path, out_dir: Path, preset: str, steps: int, batch_s: float, cpu: bool, **extra) -> list[str]:
    values = {"model.preset": preset, "data.source": str(corpus), "data.vocab_size": 1024,
              "data.max_batch_s": batch_s, "data.max_duration_s": 30, "data.num_workers": min(4, os.cpu_count()),
              "data.feature_cache": True, "data.cache_dir": str(corpus / "cache"),
              "train.max_steps": steps, "train.log_every": max(steps // 3, 1), "train.out_dir": str(out_dir),
              "train.progress": False, "train.precision": "fp32" if cpu else "bf16",
              "train.device": "cpu" if cpu else "cuda", "eval.every_steps": 100_000,
              "optim.warmup_steps": 5, "optim.lr": 1e-3}
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


def train_steps(args: list[str]) -> dict:
    """Train to max_steps without evaluation or checkpoints; the last log window's metrics."""
    cfg = load_run_config(None, args)
    trainer = Trainer(cfg, setup_distributed(cfg.train.device))
    metrics = {}
    while not trainer.finished():
        metrics = trainer.train_step() or metrics
    return {"audio_s_per_s": metrics["train/audio_s_per_s"], "mfu": metrics.get("gpu/mfu", float("nan")),
            "peak_gb": metrics.get("gpu/peak_memory_gb", float("nan")), "loss": metrics["train/loss"],
            "kernel": trainer.attention_kernel or "-"}


def switch_table(corpus: Path, work: Path, opts) -> list[str]:
    failures = []
    print(f"\n{'model':<9} {'configuration':<17} {'audio s/s':>10} {'MFU':>7} {'peak GB':>8} {'loss':>8}  attention kernel")
    results = {}
    for preset in ("tiny.en", "tiny-moe"):
        for name, extra in SWITCHES:
            if opts.cpu and name in ("liger on", "compile on"):
                continue  # Liger needs CUDA; inductor on a CPU takes minutes
            started = time.perf_counter()
            try:
                r = train_steps(overrides(corpus, work / f"{preset}-{name}", preset, opts.steps, opts.batch_s,
                                          opts.cpu, **extra))
            except Exception as error:  # noqa: BLE001 - a check reports every failure, then exits non-zero
                traceback.print_exc()
                failures.append(f"{preset} {name}: {type(error).__name__}: {error}")
                continue
            results[(preset, name)] = r
            base = results.get((preset, "baseline"))
            agrees = abs(r["loss"] - base["loss"]) <= LOSS_TOLERANCE * abs(base["loss"]) if base else False
            if base and not agrees:
                failures.append(f"{preset} {name}: loss {r['loss']:.4f} vs baseline {base['loss']:.4f} "
                                f"(tolerance {LOSS_TOLERANCE:.0%})")
            print(f"{preset:<9} {name:<17} {r['audio_s_per_s']:>10.0f} {r['mfu']:>7.1%} {r['peak_gb']:>8.2f} "
                  f"{r['loss']:>8.4f}  {r['kernel']}  ({time.perf_counter() - started:.0f} s"
                  f"{'' if agrees or name == 'baseline' else ', LOSS DIFFERS'})", flush=True)
    for preset in ("tiny.en", "tiny-moe"):
        on, off = results.get((preset, "baseline")), results.get((preset, "flash off"))
        if on and off:
            print(f"{preset}: flash on {on['audio_s_per_s'] / off['audio_s_per_s']:.2f}x flash off (target >= 1.5x)")
    dense, moe = results.get(("tiny.en", "baseline")), results.get(("tiny-moe", "baseline"))
    if dense and moe:
        print(f"tiny-moe step {dense['audio_s_per_s'] / moe['audio_s_per_s']:.2f}x the tiny.en step time "
              f"(target <= 1.3x); tiny.en MFU {dense['mfu']:.1%} (target >= 40% on H100/A100)")
    return failures


def moe_ffn(device: str) -> list[str]:
    """Grouped matmul vs the loop over experts: forward and backward, tiny-moe's FFN, 16k tokens."""
    x = torch.randn(32, 512, 384, device=device, requires_grad=True)
    timings = {}
    for grouped in (True, False):
        torch.manual_seed(0)
        moe = MoEFeedForward(384, 1536, 8, 2, grouped_mm=grouped).to(device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            step = lambda: moe(x)[0].float().square().mean().backward()  # noqa: E731
            step()
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(10):
                step()
            if device == "cuda":
                torch.cuda.synchronize()
        timings[grouped] = (time.perf_counter() - start) / 10
    print(f"\nMoE FFN 8x top-2, 16k tokens, forward+backward: grouped matmul {timings[True] * 1e3:.2f} ms, "
          f"loop over experts {timings[False] * 1e3:.2f} ms -> grouped {timings[False] / timings[True]:.2f}x faster")
    return []


def sweep(corpus: Path, work: Path, cpu: bool, steps: int) -> list[str]:
    """Two trials through run.py (Ray assigns the GPU), then their MLflow status."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{work / 'mlflow.db'}"
    spec = {"name": "gpu-check", "base": {"config": {
        "model": {"preset": "test" if cpu else "tiny.en"},
        "data": {"source": str(corpus), "vocab_size": 1024, "max_batch_s": 60, "num_workers": 2},
        "train": {"max_steps": steps, "log_every": 10, "checkpoint_every": steps, "progress": False,
                  "device": "cpu" if cpu else "cuda"},
        "eval": {"every_steps": steps, "max_utterances": 4, "max_tokens": 16}}},
        "sweep": {"variants": {"dense": {"model.decoder_ffn": "dense"}, "moe": {"model.decoder_ffn": "moe"}}},
        "resources": {"gpus": 0 if cpu else 1, "cpus": 1 if cpu else 4}, "max_concurrent": 2, "retries": 0,
        "tracking": {"mlflow_uri": uri, "experiment": "gpu-check"}}
    path = work / "gpu_check.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), str(path)], cwd=work, text=True,
                          capture_output=True, timeout=360)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("gpu-check")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    statuses = sorted(r.info.status for r in children)
    on_gpu = all("gpu/peak_memory_gb" in r.data.metrics for r in children) or cpu
    print(f"\nrun.py sweep: exit {done.returncode}, trials {statuses}, GPU metrics logged: {on_gpu}")
    if done.returncode != 0 or statuses != ["FINISHED", "FINISHED"] or not on_gpu:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
        return [f"run.py sweep: exit {done.returncode}, trials {statuses}, GPU metrics {on_gpu}"]
    return []


def ddp(corpus: Path, work: Path) -> list[str]:
    """2 NCCL ranks against one rank with grad_accum=2: the same global batch, so the same losses (fp32)."""
    args = overrides(corpus, work / "one", "tiny.en", 6, 30, False, **{"train.precision": "fp32", "optim.grad_accum": 2,
                                                                      "train.log_every": 1})
    one = Trainer(load_run_config(None, args), Distributed(device=torch.device("cuda", 0)))
    expected = [one.train_step()["train/loss"] for _ in range(4)]
    script = work / "ddp.py"
    script.write_text(
        "import json, sys\nimport torch.distributed as dist\n"
        "from smolwhisper.config import load_run_config\nfrom smolwhisper.train import Trainer, setup_distributed\n"
        "cfg = load_run_config(None, sys.argv[2:])\nenv = setup_distributed(cfg.train.device)\nt = Trainer(cfg, env)\n"
        "losses = [t.train_step()['train/loss'] for _ in range(4)]\n"
        "if env.rank == 0: open(sys.argv[1], 'w').write(json.dumps(losses))\n"
        "dist.barrier()\ndist.destroy_process_group()\n")
    out = work / "ddp.json"
    two = overrides(corpus, work / "two", "tiny.en", 6, 30, False, **{"train.precision": "fp32", "train.log_every": 1})
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           str(script), str(out), *two], cwd=ROOT, capture_output=True, text=True, timeout=240)
    if done.returncode != 0:
        print(done.stderr[-3000:])
        return [f"DDP: torchrun exited {done.returncode}"]
    losses = json.loads(out.read_text())
    agree = np.allclose(losses, expected, rtol=1e-3)
    print(f"\nDDP, 2 NCCL ranks vs 1 rank x grad_accum 2: {losses} vs {expected} -> {'equal' if agree else 'DIFFERENT'}")
    return [] if agree else ["DDP: 2-rank losses differ from 1 rank with grad_accum 2"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run shrunk on the CPU (checks the script, not a GPU)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-s", type=float, default=240.0, help="padded audio seconds per batch")
    opts = parser.parse_args()
    if opts.cpu:
        opts.steps, opts.batch_s = 3, 30.0
    elif not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU; run with --cpu to check the script on a CPU")
        return 2
    started = time.perf_counter()
    device = "cpu" if opts.cpu else "cuda"
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0) if not opts.cpu else 'CPU'}, "
          f"{torch.cuda.device_count() if not opts.cpu else 0} GPU(s)")
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        corpus = write_corpus(work / "corpus", seconds=10.0 if opts.cpu else 30.0, n_train=8 if opts.cpu else 96)
        failures = []
        for check in (lambda: switch_table(corpus, work, opts), lambda: moe_ffn(device),
                      lambda: sweep(corpus, work, opts.cpu, opts.steps)):
            try:
                failures += check()
            except Exception as error:  # noqa: BLE001
                traceback.print_exc()
                failures.append(f"{type(error).__name__}: {error}")
        if not opts.cpu and torch.cuda.device_count() >= 2:
            failures += ddp(corpus, work)
    print(f"\n{time.perf_counter() - started:.0f} s; " + ("all checks passed" if not failures
                                                           else "FAILED:\n  " + "\n  ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
