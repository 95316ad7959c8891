"""Host synchronisations in training steps of tiny-moe: every call that reads a tensor's value back to
the host (on a GPU, a stall until the device has caught up), counted over one log window.

    python bench/host_syncs.py [--steps 10] [--preset tiny-moe]

Counted: Tensor.item/tolist/cpu/numpy/nonzero, torch.nonzero, and a tensor used as a bool, int, float
or index. Target: at most 1 per log window (train.log_every steps), outside evaluation. Runs on the
CPU on a tone corpus; the count is the same on a GPU, where each one costs a stall.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import write_tone_corpus  # noqa: E402

from smolwhisper.config import load_run_config  # noqa: E402
from smolwhisper.train import Distributed, Trainer  # noqa: E402

READ_BACKS = [(torch.Tensor, name) for name in ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__",
                                                  "__float__", "__index__")] + [(torch, "nonzero")]


def count_read_backs(run) -> Counter:
    calls: Counter = Counter()
    originals = [(owner, name, getattr(owner, name)) for owner, name in READ_BACKS]
    for owner, name, original in originals:
        setattr(owner, name, lambda *a, _o=original, _n=name, **k: (calls.update([_n]), _o(*a, **k))[1])
    try:
        run()
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="one log window of this many steps")
    parser.add_argument("--preset", default="tiny-moe")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        corpus = write_tone_corpus(Path(directory) / "corpus")
        values = {"model.preset": args.preset, "model.n_text_ctx": 32, "model.ctc_weight": 0.3,
                  "model.noisy_topk": True, "data.source": str(corpus), "data.vocab_size": 300,
                  "data.max_batch_s": 4, "data.max_duration_s": 2, "data.num_workers": 0, "data.spec_augment": True,
                  "train.max_steps": 1000, "train.log_every": args.steps, "train.out_dir": f"{directory}/run",
                  "train.progress": False, "eval.every_steps": 1000}
        trainer = Trainer(load_run_config(None, [f"{k}={v}" for k, v in values.items()]), Distributed())
        trainer.train_step()  # step 1 closes a window of its own
        calls = count_read_backs(lambda: [trainer.train_step() for _ in range(args.steps)])
    total = sum(calls.values())
    print(f"{args.preset} training, {args.steps} steps after the first (one log window of train.log_every="
          f"{args.steps}): {total} read-backs, {total / args.steps:.2f} per step ({dict(calls)}) "
          f"-> {total} per log window (target <= 1)")


if __name__ == "__main__":
    main()
