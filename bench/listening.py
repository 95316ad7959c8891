"""Does a trained run's attention decoder listen? Two side-by-side figures on its validation subset:

- its cross-entropy per token with each utterance's own audio, and with another utterance's audio
  (the batch rolled by one row): the gap is what the decoder takes from the audio. A decoder that
  is only a language model scores the same on both.
- each decoder layer's cross-attention: mean entropy over heads and tokens against the entropy of
  uniform attention over the same real frames, the mean top weight, and the share of tokens whose
  most-attended frame lies after the previous token's (a decoder reading the audio in order moves
  forward; a head fixed on one frame whatever the token never does).

    python bench/listening.py --checkpoint RUN/checkpoints/X [--max-utterances N]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from smolwhisper import checkpoint
from smolwhisper.config import load_run_config
from smolwhisper.data.loader import Collator, features
from smolwhisper.inference.evaluation import evaluation_loader, loss_with_other_audio, open_run_split


class CrossAttentionProbe:
    """Records the attention weights each decoder layer's cross-attention computes."""

    def __init__(self, model):
        self.weights: dict[int, list[tuple[torch.Tensor, int | torch.Tensor]]] = {}
        for layer, block in enumerate(model.decoder.blocks):
            self._wrap(layer, block.cross_attn)

    def _wrap(self, layer: int, attention) -> None:
        forward = attention.forward

        def probed(x, kv, mask=None, **kwargs):
            q = attention.split_heads(attention.query(x), attention.q_norm)
            logits = q @ kv[0].transpose(-1, -2) / math.sqrt(q.shape[-1])
            if mask is not None:
                logits = logits.masked_fill(~mask, float("-inf"))
            frames = logits.shape[-1] if mask is None else mask.sum(-1)  # [B, 1, 1]: real frames per row
            self.weights.setdefault(layer, []).append((torch.softmax(logits.float(), dim=-1), frames))
            return forward(x, kv, mask=mask, **kwargs)

        attention.forward = probed


def attention_figures(weights: torch.Tensor, frames, token_mask: torch.Tensor) -> tuple[float, float, float, float]:
    """(entropy, uniform entropy, top weight, forward moves) summed over the real tokens of one
    layer's weights [B, H, L, T] over `frames` real frames per row."""
    uniform = torch.log(torch.as_tensor(frames, dtype=torch.float32)).expand(weights.shape[:-1])
    entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1)
    tokens = token_mask[:, None, :].expand_as(entropy)
    top = weights.argmax(-1)
    moved = (top[..., 1:] > top[..., :-1]) & tokens[..., 1:] & tokens[..., :-1]
    return (entropy[tokens].sum().item(), uniform[tokens].sum().item(),
            weights.max(-1).values[tokens].sum().item(), moved.sum().item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="RUN/checkpoints/X of a training run")
    parser.add_argument("--max-utterances", type=int, default=None, help="default: the run's eval.max_utterances")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run_dir = Path(args.checkpoint).resolve().parent.parent
    cfg = load_run_config(str(run_dir / "config.yaml"))
    model, tokenizer = checkpoint.load(args.checkpoint, device="cpu")
    model.eval()
    _, split, dataset = open_run_split(cfg)
    max_utterances = cfg.eval.max_utterances if args.max_utterances is None else args.max_utterances
    loader = evaluation_loader(dataset, max_utterances, cfg.eval.max_batch_s, Collator(tokenizer, cfg.model.n_text_ctx))

    own = other = 0.0
    n_tokens = n_pairs = 0
    sums: dict[int, list[float]] = {}
    probe = CrossAttentionProbe(model)
    with torch.no_grad():
        for batch in loader:
            if len(batch.ids) < 2:  # no other utterance to roll in
                continue
            mel, mel_mask = features(batch, cfg.model.n_mels, cfg.data.pad_to_30s)
            targets = batch.targets
            token_mask = targets != -100
            count = token_mask.sum().item()
            probe.weights.clear()
            own += model(mel, batch.tokens, mel_mask=mel_mask, targets=targets).loss.item() * count
            for layer, [(weights, frames)] in probe.weights.items():
                figures = attention_figures(weights, frames, token_mask)
                sums[layer] = [a + b for a, b in zip(sums.get(layer, [0.0] * 4), figures)]
            other += loss_with_other_audio(model, mel, mel_mask, batch.tokens, targets).item() * count
            n_tokens += count
            n_pairs += (token_mask[:, 1:] & token_mask[:, :-1]).sum().item()
    if not n_tokens:
        raise SystemExit(f"{split}: no batch of two or more utterances; raise --max-utterances")
    n_heads = model.config.n_text_head
    print(f"{split}, {n_tokens} target tokens: cross-entropy {own / n_tokens:.3f} nats per token with each "
          f"utterance's own audio, {other / n_tokens:.3f} with another utterance's "
          f"(the decoder takes {(other - own) / n_tokens:.3f} from the audio)")
    for layer, (entropy, uniform, top, moved) in sorted(sums.items()):
        count = n_tokens * n_heads
        print(f"decoder layer {layer} cross-attention: entropy {entropy / count:.2f} nats (uniform over the same "
              f"frames {uniform / count:.2f}), top weight {top / count:.2f}, most-attended frame moves forward "
              f"at {100 * moved / (n_pairs * n_heads):.0f}% of tokens")


if __name__ == "__main__":
    main()
