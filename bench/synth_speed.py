"""Speed of the synthetic corpus: seconds of audio made per second of wall time, per engine alone
and for the default mix, with the corpus's whole pipeline (synthesis, resampling, augmentation,
FLAC writing) and its process pool.

    python bench/synth_speed.py [--minutes 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from smolwhisper.data.synth import SynthConfig, available_engines, synthesize_corpus


def realtime_factor(config: SynthConfig, workers: int) -> tuple[float, float, float]:
    """(audio seconds, wall seconds, audio / wall) for making `config` from scratch."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        info = synthesize_corpus(config, out, workers=workers, progress=False)
        wall_s = time.perf_counter() - start
    audio_s = 3600 * sum(info.hours.values())
    return audio_s, wall_s, audio_s / wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="audio per engine (the mix gets twice that)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    hours = args.minutes / 60
    print(f"{os.cpu_count()} cores, {args.workers} workers; audio seconds per wall second (x real time)\n")
    print(f"{'engine':<12} {'audio s':>8} {'wall s':>8} {'x real time':>12}")
    for name, ok in available_engines().items():
        if ok is not True:
            print(f"{name:<12} not installed: {ok}")
            continue
        config = SynthConfig(hours=hours, engine_shares={name: 1.0}, split_fractions={"train": 1.0})
        audio_s, wall_s, factor = realtime_factor(config, args.workers)
        print(f"{name:<12} {audio_s:>8.1f} {wall_s:>8.1f} {factor:>11.1f}x")
    audio_s, wall_s, factor = realtime_factor(SynthConfig(hours=2 * hours), args.workers)
    shares = ", ".join(f"{e} {s:g}" for e, s in SynthConfig().engine_shares.items())
    print(f"{'default mix':<12} {audio_s:>8.1f} {wall_s:>8.1f} {factor:>11.1f}x   ({shares})")


if __name__ == "__main__":
    main()
