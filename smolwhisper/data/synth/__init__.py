"""The embedded default dataset: many-voice synthetic English speech made offline.

    smolwhisper data synth --hours 1 --out data/synth

speaks everyday English sentences (covering the frequent English words) with every offline engine
installed (Piper, SVOX Pico, flite, festival, espeak-ng), makes the voices different (speed and
vocal tract length perturbation) and the rooms and channels too (reverberation, noise, babble,
telephone band, codecs), and writes 16 kHz FLACs with NeMo-style manifests for the splits train,
validation, test, validation_unseen_voices and test_unseen_voices (voices held out of training),
and test_unseen_engine with --held-out-engine (one engine held out of training). corpus.json lists
the splits.
"""

from __future__ import annotations

import argparse
import os
import sys

from ...config import ConfigError
from .corpus import (ALL_SPLITS, SPLITS, UNSEEN_ENGINE_SPLIT, UNSEEN_SPLIT, UNSEEN_VALIDATION_SPLIT, Augmentation,
                     CorpusInfo, PlannedUtterance, SynthConfig, plan_corpus, synthesize_corpus)
from .engines import ENGINES, available_engines
from .generator import SentenceGenerator
from .sentences import number_to_words

__all__ = ["SynthConfig", "CorpusInfo", "PlannedUtterance", "Augmentation", "plan_corpus", "synthesize_corpus",
           "available_engines", "ENGINES", "SPLITS", "ALL_SPLITS", "UNSEEN_SPLIT", "UNSEEN_VALIDATION_SPLIT",
           "UNSEEN_ENGINE_SPLIT", "SentenceGenerator", "number_to_words",
           "add_subcommand"]


def data_subcommands(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The sub-subcommands of `smolwhisper data`, created by whichever data module registers first.

    Another module adds `smolwhisper data NAME` with `data_subcommands(subparsers).add_parser(NAME)`."""
    data = subparsers.choices.get("data")
    if data is None:
        data = subparsers.add_parser("data", help="make or inspect datasets")
        data.subcommands = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    return data.subcommands


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    p = data_subcommands(subparsers).add_parser(
        "synth", help="speak a synthetic English corpus with the offline TTS engines installed",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, required=True, help="hours of audio over all splits")
    p.add_argument("--out", required=True, help="output directory (reused if complete, resumed if not)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated engines to use, with their default shares (default: {','.join(ENGINES)})")
    p.add_argument("--held-out-engine", default="", choices=["", *ENGINES],
                   help="leave this engine out of training; it speaks only in the test_unseen_engine split")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes (default: all cores)")
    p.set_defaults(func=_synth_command)


def _synth_command(args: argparse.Namespace) -> int:
    chosen = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ENGINES]
    if unknown:
        raise ConfigError(f"--engines: {unknown} unknown; allowed: {', '.join(ENGINES)}")
    defaults = SynthConfig().engine_shares
    config = SynthConfig(hours=args.hours, seed=args.seed, engine_shares={e: defaults[e] for e in chosen},
                         held_out_engine=args.held_out_engine)
    info = synthesize_corpus(config, args.out, workers=args.workers)
    state = "already complete, reused" if info.cached else "written"
    print(f"corpus {state}: {info.out_dir}")
    for split, hours in info.hours.items():
        counts = ", ".join(f"{e} {n}" for e, n in sorted(info.engine_counts.get(split, {}).items()))
        print(f"  {split:>20}: {hours:6.3f} h  ({counts})  -> {info.manifests[split]}")
    for engine, reason in info.missing_engines.items():
        print(f"  missing engine {engine}: {reason}", file=sys.stderr)
    if info.n_failed:
        print(f"  {info.n_failed} utterances failed and were left out (see corpus.json); rerun to retry them",
              file=sys.stderr)
    return 0
