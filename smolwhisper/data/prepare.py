"""`smolwhisper data prepare SOURCE`: a corpus made ready for training once, before any run needs it.

Opens the source as a trainer does (downloading what the source downloads: GigaSpeech from the Hub
into HF_HOME; reading manifests; checking local copies) and builds the log-mel feature cache of its
train and validation splits with every core and a progress bar, then says where, how big and how
long. `prepare_features` is also what a sweep runs before its trials (orchestrator/sweep.py): trials
that share a source and front-end then only read the cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import DataConfig, ModelConfig
from .features import build_feature_cache, cache_path


@dataclass
class PreparedSplit:
    split: str
    directory: Path
    utterances: int
    hours: float
    bytes: int
    seconds: float  # to build it; 0 when it was there already
    built: bool


def prepare_features(source: str, n_mels: int = ModelConfig.n_mels, cache_dir: str = "",
                     splits: tuple[str, ...] = (DataConfig.train_split, DataConfig.validation_split),
                     min_duration_s: float = DataConfig.min_duration_s,
                     max_duration_s: float = DataConfig.max_duration_s, workers: int | None = None,
                     progress: bool = True, log=print) -> list[PreparedSplit]:
    """Build (or find) the feature cache of each of `splits`, as a trainer with these data settings would
    name it; `workers` processes decode and compute (default: every core)."""
    from .manifest import open_source

    datasets = open_source(source, purpose="train", min_duration_s=min_duration_s, max_duration_s=max_duration_s)
    missing = [split for split in splits if split not in datasets]
    if missing:
        raise ValueError(f"{source!r} has splits {sorted(datasets)}, not {missing}")
    prepared = []
    for split in dict.fromkeys(splits):
        dataset, directory = datasets[split], cache_path(datasets[split], n_mels, cache_dir)
        start, built = time.perf_counter(), not directory.exists()
        if built:
            build_feature_cache(dataset, n_mels, directory, workers if workers is not None else os.cpu_count() or 1,
                                log=log, progress=progress)
        size = sum(f.stat().st_size for f in directory.iterdir() if f.is_file())
        hours = sum(dataset.durations_s) / 3600
        prepared.append(PreparedSplit(split, directory, len(dataset), hours, size,
                                      time.perf_counter() - start if built else 0.0, built))
    return prepared


def describe(prepared: PreparedSplit) -> str:
    per_hour = prepared.bytes / 1e6 / prepared.hours if prepared.hours else 0.0
    how = f"built in {prepared.seconds:.1f} s" if prepared.built else "found, built before"
    return (f"{prepared.split}: {prepared.utterances} utterances, {prepared.hours:.2f} h, feature cache "
            f"{prepared.bytes / 1e6:.1f} MB ({per_hour:.0f} MB/h) in {prepared.directory}, {how}")


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    from .synth import data_subcommands

    p = data_subcommands(subparsers).add_parser(
        "prepare", help="download or check a data source and build its feature cache once",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a data.source: gigaspeech:s, lhotse:DIR:PART, a manifest, a corpus directory")
    p.add_argument("--n-mels", type=int, default=ModelConfig.n_mels, help="model.n_mels of the runs (default 80)")
    p.add_argument("--cache-dir", default="", help="data.cache_dir of the runs (default: the user's cache)")
    p.add_argument("--splits", default=f"{DataConfig.train_split},{DataConfig.validation_split}",
                   help="data.train_split and data.validation_split of the runs")
    p.add_argument("--min-duration-s", type=float, default=DataConfig.min_duration_s)
    p.add_argument("--max-duration-s", type=float, default=DataConfig.max_duration_s)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes (default: all cores)")
    p.set_defaults(func=_prepare_command)


def _prepare_command(args: argparse.Namespace) -> int:
    from .gigaspeech_hub import GigaSpeechUnavailable

    start = time.perf_counter()
    try:
        prepared = prepare_features(args.source, args.n_mels, args.cache_dir, tuple(args.splits.split(",")),
                                    args.min_duration_s, args.max_duration_s, args.workers)
    except (OSError, ValueError, GigaSpeechUnavailable) as error:
        print(f"smolwhisper data prepare: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    for split in prepared:
        print(describe(split))
    total = sum(split.bytes for split in prepared)
    print(f"{args.source}: ready in {time.perf_counter() - start:.1f} s; feature caches {total / 1e9:.2f} GB on disk")
    return 0
