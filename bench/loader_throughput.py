"""Training loader throughput per core: batches from the log-mel feature cache vs decoding audio.

What one process on one core turns into model input, in audio-seconds per second: the length-
bucketed sampler, the collator (tokens, padding) and the log-mel of each batch, (1) read from the
feature cache (a memory map), with and without SpecAugment; (2) decoded from FLAC, without and with
the log-mel; (3) decoded from Ogg Opus (GigaSpeech's format) with the log-mel. The corpus is made
here: utterances of 2-15 s of speech-band noise (decoding cost does not depend on content). Each
path runs `--rounds` times, interleaved; medians are reported, and the cores one GPU needs at
`--gpu-audio-s` audio-seconds per second (84,000: tiny.en at 40% MFU on an H100).

    python bench/loader_throughput.py [--minutes 10] [--rounds 3] [--max-batch-s 600]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from smolwhisper.audio import frame_lengths
from smolwhisper.data.features import CachedFeatures, build_feature_cache, cache_path
from smolwhisper.data.loader import BucketBatchSampler, Collator, features, spec_augment
from smolwhisper.data.manifest import load_manifest
from smolwhisper.tokenizer import train_bpe

WORDS = "the quick brown fox jumps over a lazy dog while seven bright birds sing in green trees".split()


def make_corpus(root: Path, minutes: float, seed: int = 0) -> dict[str, Path]:
    """The same utterances as FLAC and as Opus, each with a manifest; returns the manifests by format."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[str]] = {"flac": [], "opus": []}
    total, n = 0.0, 0
    while total < minutes * 60:
        seconds = float(rng.uniform(2, 15))
        audio = np.convolve(rng.standard_normal(int(seconds * 16000)), np.ones(4) / 4, "same").astype(np.float32) * 0.1
        text = " ".join(rng.choice(WORDS, size=int(seconds * 2.5)))
        for kind, options in (("flac", {}), ("opus", {"format": "OGG", "subtype": "OPUS"})):
            path = root / kind / f"{n:05d}.{'ogg' if kind == 'opus' else kind}"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, audio, 16000, **options)
            rows[kind].append(json.dumps({"audio_filepath": str(path), "text": text, "duration": seconds}))
        total, n = total + seconds, n + 1
    manifests = {}
    for kind, lines in rows.items():
        manifests[kind] = root / f"train_{kind}.jsonl"
        manifests[kind].write_text("\n".join(lines) + "\n")
    return manifests


def throughput(dataset, tokenizer, max_batch_s: float, log_mel: bool, augment: bool) -> float:
    """Audio-seconds per second of batches ready for the model, on this process's one thread."""
    sampler = BucketBatchSampler(dataset.durations_s, max_batch_s, seed=0)
    collate = Collator(tokenizer, n_text_ctx=448)
    generator = torch.Generator().manual_seed(0)
    audio_s, start = 0.0, time.perf_counter()
    for indices in sampler:
        batch = collate([dataset[i] for i in indices])
        if log_mel:
            mel, _ = features(batch, 80)
            if augment:
                mel = spec_augment(mel, [int(frame_lengths(n)) for n in batch.n_samples], generator=generator)
        audio_s += sum(batch.n_samples) / 16000
    return audio_s / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of audio in the corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-batch-s", type=float, default=600.0, help="data.max_batch_s (moe_sweep.yaml: 600)")
    parser.add_argument("--gpu-audio-s", type=float, default=84_000.0,
                        help="audio-seconds per second one GPU trains (tiny.en, 40%% MFU, H100)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        manifests = make_corpus(root, args.minutes)
        flac, opus = (load_manifest(manifests[kind]) for kind in ("flac", "opus"))
        tokenizer = train_bpe([entry.text for entry in flac.entries], vocab_size=300)
        start = time.perf_counter()
        build_feature_cache(flac, 80, cache_path(flac, 80, str(root / "cache")), num_workers=0, log=lambda _: None)
        build_s = time.perf_counter() - start
        cached = CachedFeatures(flac, cache_path(flac, 80, str(root / "cache")))
        paths = {"cache": (cached, True, False), "cache + SpecAugment": (cached, True, True),
                 "FLAC decode": (flac, False, False), "FLAC decode + log-mel": (flac, True, False),
                 "Opus decode + log-mel": (opus, True, False)}
        rates: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.rounds):
            for name, (dataset, log_mel, augment) in paths.items():
                rates[name].append(throughput(dataset, tokenizer, args.max_batch_s, log_mel, augment))

    hours = sum(flac.durations_s) / 3600
    print(f"corpus: {len(flac)} utterances, {hours * 60:.1f} min; batches of {args.max_batch_s:g} s; 1 thread; "
          f"{args.rounds} rounds, medians")
    print(f"building the cache (FLAC decode + log-mel, 1 process): {build_s:.1f} s, "
          f"{hours * 3600 / build_s:,.0f} audio-s/s per core")
    reference = statistics.median(rates["FLAC decode + log-mel"])
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:<24} {rate:>9,.0f} audio-s/s per core  ({rate / reference:5.2f}x FLAC decode + log-mel; "
              f"{args.gpu_audio_s / rate:5.1f} cores per GPU at {args.gpu_audio_s:,.0f} audio-s/s)  "
              f"rounds: {', '.join(f'{v:,.0f}' for v in values)}")


if __name__ == "__main__":
    main()
