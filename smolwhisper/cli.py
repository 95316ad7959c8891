"""The `smolwhisper` command line. Each subcommand maps straight onto a function."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

import torch

from .config import PRESETS, ConfigError, model_preset
from .model import Whisper


def smoke(presets: list[str], device: str, seconds: float, batch_size: int, n_tokens: int) -> None:
    """Build each preset, print its parameter counts, and run one training step on random input."""
    torch.manual_seed(0)
    n_frames = int(seconds * 100)
    for name in presets:
        cfg = model_preset(name)
        for note in cfg.check_device(device):
            print(f"{name:>14}: note: {note}")
        model = Whisper(cfg).to(device).train()
        counts = model.param_counts()
        mel = torch.randn(batch_size, cfg.n_mels, n_frames, device=device)
        tokens = torch.randint(0, cfg.n_vocab, (batch_size, n_tokens + 1), device=device)
        start = time.perf_counter()
        out = model(mel, tokens[:, :-1], targets=tokens[:, 1:])
        loss = out.loss + cfg.load_balance_coef * out.load_balance_loss + cfg.router_z_coef * out.router_z_loss
        loss.backward()
        elapsed = time.perf_counter() - start
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
        print(f"{name:>14}: {counts['total'] / 1e6:6.2f}M parameters, {counts['active'] / 1e6:6.2f}M active | "
              f"forward+backward on {batch_size}x{seconds:g}s, {n_tokens} tokens: loss {out.loss.item():.3f} "
              f"(ln n_vocab = {torch.tensor(float(cfg.n_vocab)).log().item():.3f}), "
              f"grad norm {grad_norm.item():.3f}, {elapsed:.2f}s on {device}")
        if out.expert_counts is not None:
            print(f"{'':>14}  tokens per expert, per MoE layer: {out.expert_counts.tolist()}")


# Modules that add subcommands: each has `add_subcommand(subparsers)`, which registers a parser
# with `set_defaults(func=...)`; func(args) returns the exit status.
SUBCOMMAND_MODULES: list[str] = [
    "smolwhisper.data.synth",
    "smolwhisper.data.prepare",
    "smolwhisper.interop.convert",
    "smolwhisper.inference.transcribe",
]


def _smoke_command(args: argparse.Namespace) -> int:
    smoke(args.presets or ["tiny.en", "tiny-moe"], args.device, args.seconds, args.batch_size, args.n_tokens)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smolwhisper", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("smoke", help="parameter counts and one forward/backward pass per model preset")
    p.add_argument("--preset", dest="presets", action="append", choices=sorted(PRESETS),
                   help="model preset (repeatable; default: tiny.en and tiny-moe)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seconds", type=float, default=5.0, help="audio length of the random input")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--tokens", dest="n_tokens", type=int, default=32)
    p.set_defaults(func=_smoke_command)
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).add_subcommand(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as error:
        print(f"smolwhisper: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
