"""The checkpoint format: one directory holding everything needed to run a model.

    model.safetensors   the state dict (the tied output projection is the token embedding, stored once)
    config.json         {"format": "smolwhisper", "model": ModelConfig fields, "inference": InferenceConfig fields}
    tokenizer.json      the Hugging Face `tokenizers` file

safetensors holds raw tensors only, so loading a checkpoint never unpickles anything.
`save` writes into a temporary directory beside the target and renames it into place, so a
crash never leaves a half-written checkpoint under the target name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import ModelConfig, from_dict, to_dict
from .model import Whisper
from .tokenizer import TOKENIZER_FILE, Tokenizer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_NAME = "smolwhisper"


@dataclass
class InferenceConfig:
    """How this checkpoint wants to be decoded; decided by how it was trained."""

    # Whisper's own weights saw 30 s of padded audio, never a mask: their input must be padded the
    # same way. Models trained here with mel masks decode variable-length input as it is.
    pad_to_30s: bool = False
    # Whether the model predicts Whisper's timestamp tokens (long-form seeking uses them).
    timestamps: bool = False


class CheckpointError(ValueError):
    """A checkpoint directory that is missing a file or holds something unexpected."""


def save(model: Whisper, tokenizer: Tokenizer, directory: str | PathLike,
         inference: InferenceConfig | None = None) -> Path:
    """Write `directory` atomically (replacing any checkpoint already there); returns its path."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    model = unwrap(model)
    inference = inference or getattr(model, "inference_config", None) or InferenceConfig()
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, str(temporary / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        config = {"format": FORMAT_NAME, "model": to_dict(model.config), "inference": to_dict(inference)}
        (temporary / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        tokenizer.save(temporary / TOKENIZER_FILE)
        _chmod_like_mkdir(temporary)
        _replace_directory(temporary, directory)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return directory


def unwrap(model: torch.nn.Module) -> Whisper:
    """The Whisper inside DistributedDataParallel (`.module`) or torch.compile (`._orig_mod`)."""
    while not isinstance(model, Whisper):
        inner = getattr(model, "_orig_mod", None)
        inner = getattr(model, "module", None) if inner is None else inner
        if not isinstance(inner, torch.nn.Module):
            raise TypeError(f"checkpoint.save expects a smolwhisper Whisper model, got {type(model).__name__}")
        model = inner
    return model


def _chmod_like_mkdir(path: Path) -> None:
    """mkdtemp makes a private (0700) directory; give it the permissions a plain mkdir would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)
    for file in path.iterdir():
        os.chmod(file, 0o666 & ~umask)


def _replace_directory(new: Path, target: Path) -> None:
    """Rename `new` onto `target`; an existing target is moved aside first and removed after."""
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old / target.name)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def read_config(directory: str | PathLike) -> tuple[ModelConfig, InferenceConfig]:
    file = Path(directory) / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_FILE}; a checkpoint directory holds "
                              f"{WEIGHTS_FILE}, {CONFIG_FILE} and {TOKENIZER_FILE}")
    config = json.loads(file.read_text())
    if config.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{file}: 'format' is {config.get('format')!r}, expected {FORMAT_NAME!r} "
                              "(to read a Hugging Face, openai-whisper or CTranslate2 model, run "
                              "`smolwhisper import` first)")
    model_config = from_dict(ModelConfig, config.get("model", {}), "model")
    inference = from_dict(InferenceConfig, config.get("inference", {}), "inference")
    return model_config, inference


def load(path: str | PathLike, device: str | torch.device = "cpu") -> tuple[Whisper, Tokenizer]:
    """Load a checkpoint directory; the model comes back in eval mode with `model.inference_config` set."""
    directory = Path(path)
    model_config, inference = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{directory}: no {WEIGHTS_FILE}")
    state = load_file(str(weights), device=str(device))
    model = Whisper(model_config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{weights}: tensors do not match model config: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}")
    model.to(device).eval()
    model.inference_config = inference
    tokenizer = Tokenizer.from_file(directory / TOKENIZER_FILE)
    if tokenizer.n_vocab > model_config.n_vocab:
        raise CheckpointError(f"{directory}: tokenizer has {tokenizer.n_vocab} tokens but "
                              f"model.n_vocab is {model_config.n_vocab}")
    return model, tokenizer
