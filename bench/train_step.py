"""Training-step speed of our Whisper against Hugging Face's, and of the MoE FFN against a dense one.

Each comparison is measured in this one run on this machine; the printed ratio is peer time / our
time (higher is better for us), except the MoE line, which is MoE time / dense time (lower is better).

    python bench/train_step.py [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch
import transformers

from smolwhisper.interop import weights as interop
from smolwhisper.config import model_preset
from smolwhisper.model import Whisper
from smolwhisper.model.moe import MoEFeedForward


def seconds_per_step(step, repeats: int) -> float:
    step()  # warm-up: allocator, kernels, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def ours_step(model: Whisper, mel, tokens, mel_mask=None):
    def step():
        model.zero_grad(set_to_none=True)
        model(mel, tokens[:, :-1], mel_mask=mel_mask, targets=tokens[:, 1:]).loss.backward()
    return step


def hf_step(model, mel, tokens):
    def step():
        model.zero_grad(set_to_none=True)
        model(input_features=mel, decoder_input_ids=tokens[:, :-1], labels=tokens[:, 1:]).loss.backward()
    return step


def whisper_vs_hf(args) -> None:
    torch.manual_seed(0)
    ours = Whisper(model_preset("tiny.en")).to(args.device).train()
    hf = transformers.WhisperForConditionalGeneration(
        transformers.WhisperConfig(**interop.hf_config(ours.config), attn_implementation="sdpa"))
    hf.load_state_dict(interop.to_hf(ours.state_dict()), strict=False)
    hf = hf.to(args.device).train()
    batch, n_tokens = 8, 64
    tokens = torch.randint(0, 50256, (batch, n_tokens + 1), device=args.device)
    mel_30s = torch.randn(batch, 80, 3000, device=args.device)

    ours_30 = seconds_per_step(ours_step(ours, mel_30s, tokens), args.repeats)
    hf_30 = seconds_per_step(hf_step(hf, mel_30s, tokens), args.repeats)
    print(f"30 s audio, batch {batch}, {n_tokens} tokens: ours {ours_30:.2f} s/step, "
          f"transformers {hf_30:.2f} s/step -> ours {hf_30 / ours_30:.2f}x HF's speed (target >= 1.0x)")

    # 5 s utterances: we run 500 frames (variable length); HF Whisper insists on 3000.
    mel_5s, mask = mel_30s[:, :, :500].contiguous(), torch.ones(batch, 500, dtype=torch.bool, device=args.device)
    ours_5 = seconds_per_step(ours_step(ours, mel_5s, tokens, mask), args.repeats)
    print(f"5 s audio: ours (variable length) {ours_5:.2f} s/step, transformers (padded to 30 s) {hf_30:.2f} s/step "
          f"-> ours {hf_30 / ours_5:.2f}x HF's speed (target >= 4x)")


def moe_vs_dense(args) -> None:
    torch.manual_seed(0)
    n_state, n_hidden, n_experts, top_k = 384, 1536, 8, 2
    x = torch.randn(8, 448, n_state, device=args.device)
    grad = torch.randn_like(x)
    moe = MoEFeedForward(n_state, n_hidden, n_experts, top_k).to(args.device)
    # Same active width: each token passes through top_k experts of n_hidden each.
    dense = torch.nn.Sequential(torch.nn.Linear(n_state, top_k * n_hidden), torch.nn.GELU(),
                                torch.nn.Linear(top_k * n_hidden, n_state)).to(args.device)

    def moe_step():
        moe.zero_grad(set_to_none=True)
        moe(x)[0].backward(grad)

    def dense_step():
        dense.zero_grad(set_to_none=True)
        dense(x).backward(grad)

    t_moe = seconds_per_step(moe_step, args.repeats * 3)
    t_dense = seconds_per_step(dense_step, args.repeats * 3)
    print(f"FFN forward+backward, {x.shape[0] * x.shape[1]} tokens: MoE {n_experts}x top-{top_k} "
          f"{t_moe * 1e3:.1f} ms, dense of the same active width ({top_k * n_hidden}) {t_dense * 1e3:.1f} ms "
          f"-> MoE {t_moe / t_dense:.2f}x the dense time (target <= 1.3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=["whisper", "moe"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, device {args.device}, "
          f"{torch.get_num_threads()} threads")
    if args.only != "moe":
        whisper_vs_hf(args)
    if args.only != "whisper":
        moe_vs_dense(args)


if __name__ == "__main__":
    main()
