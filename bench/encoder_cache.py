"""What a training step costs from cached encoder states (data.encoder_cache) against computing them.

tiny.en with a frozen encoder (train.freeze: [encoder]) on Whisper's 30 s input, as a decoder ablation
from a pretrained model trains it: a step that runs the frozen encoder forward and then the decoder
forward and backward (the peer), against a step that reads the encoder's states and runs the decoder
only. Both are measured in this one run; the printed ratio is peer time / cached time (higher is
better). A step of the whole model, encoder trained too, is printed for scale; so is the one-off
cost of computing one utterance's states, which the cache pays once per utterance.

    python bench/encoder_cache.py [--batch 8] [--seconds 30] [--tokens 32] [--repeats 3] [--moe]

`--seconds` below 30: utterances of that length, unpadded (data.pad_to_30s: false, as experiments/upcycle.yaml).
"""

from __future__ import annotations

import argparse
import time

import torch

from smolwhisper.config import model_preset
from smolwhisper.model import Whisper
from smolwhisper.train.freeze import freeze


def seconds_per_step(step, repeats: int) -> float:
    step()  # warm-up: allocator, kernels, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="audio per utterance (30: Whisper's padded input)")
    parser.add_argument("--tokens", type=int, default=32, help="decoder tokens per utterance")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--moe", action="store_true", help="an upcycled-shape MoE decoder (4 experts, top-2)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    overrides = {"decoder_ffn": "moe", "n_experts": 4, "top_k": 2} if args.moe else {}
    model = Whisper(model_preset("tiny.en", **overrides)).to(args.device).train()
    mel = torch.randn(args.batch, 80, round(args.seconds * 100), device=args.device)
    tokens = torch.randint(0, 50256, (args.batch, args.tokens + 1), device=args.device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def whole_step():
        model.zero_grad(set_to_none=True)
        model(mel, inputs, targets=targets).loss.backward()

    whole = seconds_per_step(whole_step, args.repeats)
    freeze(model, ["encoder"])
    with torch.no_grad():
        states, _ = model.encoder(mel)

    def frozen_step():  # the peer: the frozen encoder runs forward every step
        model.zero_grad(set_to_none=True)
        model(mel, inputs, targets=targets).loss.backward()

    def cached_step():
        model.zero_grad(set_to_none=True)
        model.decode(states, None, inputs, targets=targets).loss.backward()

    def encode_once():
        with torch.no_grad():
            model.encoder(mel[:1])

    frozen = seconds_per_step(frozen_step, args.repeats)
    cached = seconds_per_step(cached_step, args.repeats)
    encode = seconds_per_step(encode_once, args.repeats)
    decoder = "MoE 4x2" if args.moe else "dense"
    print(f"tiny.en ({decoder} decoder), {args.device}, {torch.get_num_threads()} threads, batch {args.batch} x {args.seconds:g} s, "
          f"{args.tokens} tokens")
    print(f"  whole model trained:                  {whole:.3f} s/step")
    print(f"  frozen encoder, states computed:      {frozen:.3f} s/step")
    print(f"  frozen encoder, states from the cache: {cached:.3f} s/step")
    print(f"  computing one utterance's states (once per utterance): {encode:.3f} s")
    print(f"cached states vs computing them: {frozen / cached:.1f}x faster per step "
          f"(vs training the whole model: {whole / cached:.1f}x)")


if __name__ == "__main__":
    main()
