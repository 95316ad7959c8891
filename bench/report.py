"""Report generation for a 48-trial sweep: time to build the HTML, and its size.

A synthetic MLflow store in the shape the orchestrator and trainer leave: dense + MoE with
n_experts {4, 8, 16, 32, 64} x top_k {1, 2, 4}, 3 seeds (48 trials, one of them failed),
2,000 steps of training metrics per trial (loss, lr, grad norm, throughput, balance and z losses
every step; per-expert loads every 20 steps), 20 evaluations, and 2,000 validation utterances of
hypotheses. Writing the store is not timed; `build_report` is.

    python bench/report.py [--steps 2000] [--utterances 2000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from helpers import write_synthetic_sweep  # noqa: E402
from reports import build_report  # noqa: E402

MOE_LAYERS = 4
LOAD_EVERY = 20
EVAL_EVERY = 100
WORDS = "the quick brown fox jumps over a lazy dog while seven bright birds sing in green trees".split()


def synthetic_trials(n_steps: int, n_utterances: int, rng: np.random.Generator) -> list[dict]:
    difficulty = rng.beta(2, 8, n_utterances)  # shared by every trial: what makes the bootstrap paired
    lengths = rng.integers(4, 30, n_utterances)
    references = [" ".join(rng.choice(WORDS, n)) for n in lengths]
    configs = [("dense", {}, "dense")] + [
        ("moe", {"model.n_experts": e, "model.top_k": k}, f"moe,n_experts={e},top_k={k}")
        for e in (4, 8, 16, 32, 64) for k in (1, 2, 4)]
    trials = []
    for variant, axes, label in configs:
        quality = 0.0 if variant == "dense" else 0.01 * math.log2(axes["model.n_experts"]) - 0.004 * axes["model.top_k"]
        for seed in (0, 1, 2):
            failed = label == "moe,n_experts=64,top_k=4" and seed == 2
            trials.append(one_trial(variant, axes, label, seed, quality, failed, n_steps, difficulty, lengths,
                                    references, rng))
    return trials


def one_trial(variant, axes, label, seed, quality, failed, n_steps, difficulty, lengths, references, rng) -> dict:
    steps = np.arange(1, (n_steps // 3 if failed else n_steps) + 1)
    loss = 1.2 + 4 * np.exp(-steps / (n_steps / 6)) - quality * 5 + 0.05 * rng.standard_normal(steps.size)
    metrics = {"train/loss": loss, "train/lr": 1e-3 * np.minimum(1, steps / 100),
               "train/grad_norm": 1 + 0.2 * rng.standard_normal(steps.size),
               "train/tokens_per_s": 9000 + 300 * rng.standard_normal(steps.size),
               "train/audio_s_per_s": (300 if variant == "dense" else 260 - 2 * axes["model.n_experts"])
               + 5 * rng.standard_normal(steps.size)}
    series = {k: list(zip(steps.tolist(), v.tolist())) for k, v in metrics.items()}
    params = {"model.decoder_ffn": variant, "model.n_experts": axes.get("model.n_experts", 8),
              "model.top_k": axes.get("model.top_k", 2), "model.noisy_topk": False, "model.flash": True,
              "train.seed": seed, "train.out_dir": f"/runs/{label},seed={seed}", "eval.normalizer": "english",
              "params.total": 39_000_000 + (0 if variant == "dense" else 1_200_000 * axes["model.n_experts"]),
              "params.active": 39_000_000 + (0 if variant == "dense" else 1_200_000 * axes["model.top_k"])}
    if variant == "moe":
        n_experts = axes["model.n_experts"]
        series["moe/load_balance_loss"] = list(zip(steps.tolist(), (1 + 0.5 * np.exp(-steps / 300)).tolist()))
        series["moe/router_z_loss"] = list(zip(steps.tolist(), (0.1 * np.exp(-steps / 500)).tolist()))
        for layer in range(MOE_LAYERS):
            share = rng.dirichlet(np.full(n_experts, 5.0))
            for expert in range(n_experts):
                series[f"moe/load_l{layer}_e{expert}"] = [(int(s), float(share[expert])) for s in steps[::LOAD_EVERY]]
    wer = max(0.02, 0.25 - quality + 0.005 * rng.standard_normal())
    errors = rng.binomial(lengths, np.clip(difficulty * wer / difficulty.mean(), 0, 1))
    eval_steps = steps[EVAL_EVERY - 1::EVAL_EVERY]
    for key, final in (("val/loss", 1.5 - quality * 4), ("val/wer", errors.sum() / lengths.sum()),
                       ("val/cer", errors.sum() / lengths.sum() / 2)):
        series[key] = [(int(s), final * (1 + 2 * math.exp(-s / (n_steps / 5)))) for s in eval_steps]
    utterances = [{"id": f"utt{i:05d}", "reference": references[i],
                   "hypothesis": " ".join(references[i].split()[errors[i]:]), "word_errors": int(errors[i]),
                   "reference_words": int(lengths[i]), "char_errors": int(errors[i]) * 4,
                   "reference_chars": int(lengths[i]) * 5} for i in range(len(lengths))]
    trial = {"trial_id": f"{label},seed={seed}", "variant": variant, "seed": seed,
             "status": "FAILED" if failed else "FINISHED", "params": params, "metrics": series,
             "wall_time_s": 3600.0 * len(steps) / n_steps}
    if failed:
        trial["log_tail"] = "Traceback (most recent call last):\n  ...\ntorch.OutOfMemoryError: CUDA out of memory"
    else:
        trial.update(utterances=utterances, eval_step=int(eval_steps[-1]))
    return trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--utterances", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="write the store and report here instead of a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{directory / 'mlflow.db'}"
        spec = {"name": "bench-48", "resources": {"gpus": 1, "cpus": 8},
                "sweep": {"variants": {"dense": {}, "moe": {}}}, "report": {"baseline": "dense"}}
        started = time.perf_counter()
        trials = synthetic_trials(args.steps, args.utterances, np.random.default_rng(0))
        write_synthetic_sweep(uri, directory / "artifacts", "bench-48", spec, trials)
        n_points = sum(len(series) for t in trials for series in t["metrics"].values())
        print(f"store: {len(trials)} trials, {n_points:,} metric points, written in "
              f"{time.perf_counter() - started:.0f} s (not timed)")
        started = time.perf_counter()
        out = build_report(uri, "bench-48", directory / "report.html")
        seconds = time.perf_counter() - started
        size_mb = out.stat().st_size / 1e6
        print(f"report generation: {seconds:.1f} s (target < 30 s); HTML {size_mb:.2f} MB (target < 10 MB)")


if __name__ == "__main__":
    main()
