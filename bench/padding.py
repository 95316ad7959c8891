"""Padded share of each batch: length-bucketed batches vs random batches of the same number,
on a corpus's training manifest (default: the synthetic corpus in data/synth). Target <= 10%.

    python bench/padding.py [--corpus data/synth] [--max-batch-s 120]
"""

from __future__ import annotations

import argparse
import random

from smolwhisper.data.loader import BucketBatchSampler, padding_fraction
from smolwhisper.data.manifest import open_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="data/synth")
    parser.add_argument("--max-batch-s", type=float, default=120.0)
    args = parser.parse_args()
    durations = open_source(args.corpus)["train"].durations_s
    bucketed = BucketBatchSampler(durations, args.max_batch_s, seed=0).epoch_batches()
    order = list(range(len(durations)))
    random.Random(0).shuffle(order)
    size = -(-len(order) // len(bucketed))
    shuffled = [order[i: i + size] for i in range(0, len(order), size)]
    print(f"{len(durations)} utterances ({sum(durations) / 3600:.2f} h), {len(bucketed)} batches of "
          f"<= {args.max_batch_s:g} s padded audio")
    print(f"padded share: bucketed {padding_fraction(durations, bucketed):.1%}, "
          f"random batches of the same count {padding_fraction(durations, shuffled):.1%} (target: bucketed <= 10%)")


if __name__ == "__main__":
    main()
