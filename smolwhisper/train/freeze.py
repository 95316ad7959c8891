"""train.freeze: named parts of the model that keep their weights (no gradient, not in the optimizer)."""

from __future__ import annotations

import re

from torch import nn

from ..config import FREEZABLE_PARTS

# Each part's parameters by name (openai-whisper's module names). The token embedding is also the
# output projection (tied, as in Whisper): freezing decoder.embedding freezes both.
_PART_PATTERNS = {
    "encoder": r"encoder\.",
    "ctc": r"ctc\.",
    "decoder": r"decoder\.",
    "decoder.embedding": r"decoder\.(token|positional)_embedding",
    "decoder.self_attention": r"decoder\.blocks\.\d+\.attn(_ln)?\.",
    "decoder.cross_attention": r"decoder\.blocks\.\d+\.cross_attn(_ln)?\.",
    "decoder.ffn": r"decoder\.blocks\.\d+\.mlp(_ln)?\.",
    "decoder.router": r"decoder\.blocks\.\d+\.mlp\.(router|noise)\.",
}
assert set(_PART_PATTERNS) == set(FREEZABLE_PARTS)


def frozen_names(model: nn.Module, parts: list[str]) -> list[str]:
    """The parameter names the parts hold; a part that holds none here (ctc without a CTC head, a dense
    decoder's router) is an error naming it."""
    names = []
    for part in parts:
        pattern = re.compile(_PART_PATTERNS[part])
        held = [name for name, _ in model.named_parameters() if pattern.match(name)]
        if not held:
            raise ValueError(f"train.freeze: {part!r} holds no parameter of this model "
                             "(no CTC head, or a dense decoder without a router?)")
        names += held
    return names


def freeze(model: nn.Module, parts: list[str]) -> int:
    """Stop gradients to the parts' parameters; returns how many parameters that freezes."""
    names = set(frozen_names(model, parts))
    count = 0
    for name, parameter in model.named_parameters():
        if name in names:
            parameter.requires_grad_(False)
            count += parameter.numel()
    return count
