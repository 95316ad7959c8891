"""How much everyday English the synthetic corpus says: wordfreq's top-20k frequency mass covered by
the training transcripts, and the thousand most frequent words said anywhere, for corpora of a few
sizes. Sentence planning only (no audio), a few seconds.

    python bench/vocabulary.py [--hours 1 8] [--seed 0]
"""

from __future__ import annotations

import argparse

from smolwhisper.data.synth import SynthConfig, plan_corpus
from smolwhisper.data.synth.vocabulary import english_coverage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 8.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'hours':>6} {'train sentences':>16} {'distinct words':>15} {'top-20k mass':>13}  top-1000 missing")
    for hours in args.hours:
        plan = plan_corpus(SynthConfig(hours=hours, seed=args.seed))
        train = [u.text for u in plan if u.split == "train"]
        coverage = english_coverage(train)
        anywhere = english_coverage(u.text for u in plan)
        print(f"{hours:>6g} {len(train):>16} {coverage['distinct_words']:>15} {100 * coverage['mass']:>12.2f}%  "
              f"{anywhere['missing_top_1000'] or 'none'}")


if __name__ == "__main__":
    main()
