"""Throughput of the full trainer against the bare model step, on the same batches in one run.

Bare: the model's forward and backward and an AdamW step on batches whose log-mels were computed
beforehand, nothing else (the core benchmark's step plus the optimizer). Trainer: `Trainer.train_step`
on the same batches, with everything a run does per step: reading the utterances' log-mels from the
feature cache (`data.feature_cache`, built under data.cache_dir on first use, before any timing)
and collating them in the training process (`data.num_workers=0`: reading the cache takes ~7 ms a
batch, and on 2 cores a DataLoader worker would take that time from the model's two threads),
padding masks, learning-rate schedule, gradient clipping, metrics. With `data.feature_cache=false
data.num_workers=1` it decodes the audio in a worker and computes log-mels in every step instead.
Both in audio seconds per second; target: the trainer loses at most 10%.

    python bench/trainer_overhead.py [--steps 30] [--rounds 3] [--hours 2] [--threads 2] [key=value ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from smolwhisper.config import load_run_config
from smolwhisper.data.loader import features
from smolwhisper.data.synth import SynthConfig, synthesize_corpus
from smolwhisper.model import Whisper
from smolwhisper.train.optim import build_optimizer
from smolwhisper.train import Distributed, Trainer

ROOT = Path(__file__).resolve().parents[1]
WARMUP_STEPS = 3


def make_trainer(corpus: Path, out: Path, extra: list[str]) -> Trainer:
    values = {"model.preset": "cpu-small", "data.source": str(corpus), "data.vocab_size": 512,
              "data.max_batch_s": 120, "data.num_workers": 0, "data.feature_cache": True, "train.out_dir": str(out),
              "train.max_steps": 100_000, "train.progress": False, "optim.warmup_steps": 10}
    cfg = load_run_config(None, [f"{k}={v}" for k, v in values.items()] + list(extra))
    return Trainer(cfg, Distributed(), resume="never")


def bare_throughput(trainer: Trainer, steps: int) -> tuple[float, float]:
    """(audio seconds, wall seconds) of `steps` bare steps on the trainer's next batches."""
    cfg = trainer.cfg
    batches = []
    for _ in range(WARMUP_STEPS + steps):
        batch = trainer.next_batch()
        mel, mel_mask = features(batch, cfg.model.n_mels)
        batches.append((mel, mel_mask, batch.tokens, batch.targets, batch.duration_s))
    torch.manual_seed(0)
    model = Whisper(cfg.model).train()
    optimizer = build_optimizer(model, cfg.optim)
    audio_s, start = 0.0, 0.0
    for i, (mel, mel_mask, tokens, targets, duration_s) in enumerate(batches):
        if i == WARMUP_STEPS:
            start = time.perf_counter()
        model(mel, tokens, mel_mask=mel_mask, targets=targets).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        audio_s += duration_s if i >= WARMUP_STEPS else 0.0
    return audio_s, time.perf_counter() - start


def full_seconds(trainer: Trainer, steps: int) -> float:
    """Wall seconds of `steps` trainer steps (after the same warm-up as the bare loop)."""
    for _ in range(WARMUP_STEPS):
        trainer.train_step()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--corpus", default=str(ROOT / "data" / "synth-bench"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="section.key=value for the training config")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = Path(args.corpus)
    synthesize_corpus(SynthConfig(hours=args.hours, seed=0), corpus)
    with tempfile.TemporaryDirectory() as scratch:
        # Two trainers with the same seed draw the same batches: one feeds the bare loop, one runs,
        # so both process the same audio_s. Rounds alternate the two, since a shared machine's speed
        # drifts over a minute more than the overhead we measure; the median round is the result.
        feeder = make_trainer(corpus, Path(scratch) / "a", args.overrides)
        trainer = make_trainer(corpus, Path(scratch) / "b", args.overrides)
        ratios = []
        for round_ in range(1, args.rounds + 1):
            audio_s, bare_s = bare_throughput(feeder, args.steps)
            full_s = full_seconds(trainer, args.steps)
            bare, full = audio_s / bare_s, audio_s / full_s
            ratios.append(full / bare)
            print(f"round {round_}: bare model step {bare:.1f} audio s/s, full trainer {full:.1f} audio s/s "
                  f"({audio_s:.0f} s of audio): {full / bare:.3f}")
    ratio = statistics.median(ratios)
    print(f"trainer / bare = {ratio:.3f} (median of {len(ratios)} rounds; overhead {100 * (1 - ratio):.1f}%; "
          f"target <= 10%)")


if __name__ == "__main__":
    main()
