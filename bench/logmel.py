"""Log-Mel throughput: smolwhisper's batched front-end vs transformers' WhisperFeatureExtractor.

Both get the same batch of float32 16 kHz waveforms (noise: the cost does not depend on content)
and return the same features; throughput is hours of audio per second of compute, median of
interleaved repeats after a warm-up (the first large allocations are slow on CPU).

    python bench/logmel.py [--batch 16] [--seconds 10] [--device cpu]
"""

import argparse
import statistics
import time

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from smolwhisper.audio import SAMPLE_RATE, log_mel_spectrogram


def timed(fn, device: str) -> float:
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n_samples = int(args.seconds * SAMPLE_RATE)
    waveforms = [0.1 * rng.standard_normal(n_samples).astype(np.float32) for _ in range(args.batch)]
    extractor = WhisperFeatureExtractor(feature_size=80)  # built locally: no hub download
    candidates = {
        "smolwhisper (batched torch)": lambda: log_mel_spectrogram(np.stack(waveforms), device=args.device),
        # padding="longest" computes the same frames as ours; the default pads every clip to 30 s
        "transformers, same length": lambda: extractor(
            waveforms, sampling_rate=SAMPLE_RATE, padding="longest", return_tensors="np", device=args.device
        ),
        "transformers, default (pads to 30 s)": lambda: extractor(
            waveforms, sampling_rate=SAMPLE_RATE, return_tensors="np", device=args.device
        ),
    }

    ours = log_mel_spectrogram(np.stack(waveforms), device=args.device).cpu()
    theirs = candidates["transformers, same length"]()["input_features"]
    print(f"max |ours - transformers| = {np.abs(ours.numpy() - theirs).max():.2e}, shape {tuple(ours.shape)}")

    times = {name: [] for name in candidates}
    for repeat in range(args.warmup + args.repeats):
        for name, fn in candidates.items():
            elapsed = timed(fn, args.device)
            if repeat >= args.warmup:
                times[name].append(elapsed)

    audio_hours = args.batch * args.seconds / 3600
    threads = torch.get_num_threads()
    print(f"{args.batch} x {args.seconds:g} s on {args.device}, torch {torch.__version__}, {threads} threads")
    speed = {name: audio_hours / statistics.median(ts) for name, ts in times.items()}
    ours_name = next(iter(candidates))
    for name, hours_per_s in speed.items():
        ratio = speed[ours_name] / hours_per_s
        ms = statistics.median(times[name]) * 1e3
        print(f"{name:40s} {hours_per_s:8.1f} h audio/s {ms:8.2f} ms/batch   ours is x{ratio:.1f}")


if __name__ == "__main__":
    main()
