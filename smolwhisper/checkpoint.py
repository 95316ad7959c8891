"""The checkpoint format: one directory holding everything needed to run a model.

    model.safetensors   the state dict (the tied output projection is the token embedding, stored once);
                        its metadata holds the model and inference configs it was saved with
    config.json         {"format": "smolwhisper", "model": ModelConfig fields, "inference": InferenceConfig
                        fields, "weights_sha256" and "tokenizer_sha256": the other two files' hashes}
    tokenizer.json      the Hugging Face `tokenizers` file

safetensors holds raw tensors only, so loading a checkpoint never unpickles anything.
`save` writes into a temporary directory beside the target, syncs it to disk and renames it into
place, so a crash never leaves a half-written checkpoint under the target name. `load` refuses,
with a CheckpointError naming the file, anything but what `save` wrote: a missing or truncated file,
weights or tokenizer changed since (the hashes), tensors whose names or shapes the config does not
give, a config.json edited to another architecture or inference, NaN or infinite weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from os import PathLike
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .config import ConfigError, InferenceConfig, ModelConfig, from_dict, to_dict
from .model import Whisper
from .run_files import CheckpointError, WriteError, sync_directory
from .tokenizer import TOKENIZER_FILE, Tokenizer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_NAME = "smolwhisper"
CONFIG_KEYS = ("format", "model", "inference", "weights_sha256", "tokenizer_sha256")
# How the model computes, not what: config.json may switch these without the weights changing.
RUNTIME_SWITCHES = ("flash", "liger", "activation_checkpointing", "moe_grouped_mm")


def save(model: Whisper, tokenizer: Tokenizer, directory: str | PathLike,
         inference: InferenceConfig | None = None) -> Path:
    """Write `directory` atomically (replacing any checkpoint already there); returns its path."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    model = unwrap(model)
    inference = inference or getattr(model, "inference_config", None) or InferenceConfig()
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    except OSError as error:
        raise WriteError(f"cannot write checkpoint {directory}: {error}") from error
    try:
        state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
        configs = {"model": to_dict(model.config), "inference": to_dict(inference)}
        save_file(state, str(temporary / WEIGHTS_FILE),
                  metadata={"format": FORMAT_NAME, **{key: json.dumps(value) for key, value in configs.items()}})
        tokenizer.save(temporary / TOKENIZER_FILE)
        config = {"format": FORMAT_NAME, **configs, "weights_sha256": sha256_of(temporary / WEIGHTS_FILE),
                  "tokenizer_sha256": sha256_of(temporary / TOKENIZER_FILE)}
        (temporary / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        _chmod_like_mkdir(temporary)
        sync_directory(temporary, files=True)
        _replace_directory(temporary, directory)
        sync_directory(directory.parent)
    except (OSError, RuntimeError, SafetensorError) as error:  # safetensors reports a full disk in its own type
        shutil.rmtree(temporary, ignore_errors=True)
        raise WriteError(f"cannot write checkpoint {directory}: {error}") from error
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return directory


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


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
    model_config, inference, _ = _read_config_file(Path(directory))
    return model_config, inference


def _read_config_file(directory: Path) -> tuple[ModelConfig, InferenceConfig, dict]:
    """config.json's model and inference configs, and the whole file as read."""
    file = directory / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_FILE}; a checkpoint directory holds "
                              f"{WEIGHTS_FILE}, {CONFIG_FILE} and {TOKENIZER_FILE}")
    try:
        config = json.loads(file.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{file}: not a readable JSON file ({error})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        found = config.get("format") if isinstance(config, dict) else config
        raise CheckpointError(f"{file}: 'format' is {found!r}, expected {FORMAT_NAME!r} "
                              "(to read a Hugging Face, openai-whisper or CTranslate2 model, run "
                              "`smolwhisper import` first)")
    unknown = [key for key in config if key not in CONFIG_KEYS]
    if unknown:
        raise CheckpointError(f"{file}: unknown keys {unknown}; allowed: {', '.join(CONFIG_KEYS)}")
    try:
        model_config = from_dict(ModelConfig, config.get("model", {}), "model")
        inference = from_dict(InferenceConfig, config.get("inference", {}), "inference")
    except ConfigError as error:
        raise CheckpointError(f"{file}: {error}") from None
    # Liger's kernels are a training-time acceleration of the same math (its LayerNorm holds the same
    # tensors): a checkpoint trained with them is loaded, decoded and exported anywhere without.
    return dataclasses.replace(model_config, liger=False), inference, config


def load(path: str | PathLike, device: str | torch.device = "cpu") -> tuple[Whisper, Tokenizer]:
    """Load a checkpoint directory; the model comes back in eval mode with `model.inference_config` set."""
    directory = Path(path)
    model_config, inference = read_config(directory)
    state = load_weights(directory, device)
    model = Whisper(model_config)
    model.load_state_dict(state)  # names and shapes checked by load_weights
    model.to(device).eval()
    model.inference_config = inference
    tokenizer_file = directory / TOKENIZER_FILE
    expected_sha256 = _read_config_file(directory)[2].get("tokenizer_sha256")
    if expected_sha256 is not None and tokenizer_file.is_file() and sha256_of(tokenizer_file) != expected_sha256:
        raise CheckpointError(f"{tokenizer_file}: its sha256 differs from the one {CONFIG_FILE} records: the file "
                              "was damaged or replaced after the checkpoint was saved")
    try:
        tokenizer = Tokenizer.from_file(tokenizer_file)
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"{directory / TOKENIZER_FILE}: {error}") from None
    if tokenizer.n_vocab > model_config.n_vocab:
        raise CheckpointError(f"{directory}: tokenizer has {tokenizer.n_vocab} tokens but "
                              f"model.n_vocab is {model_config.n_vocab}")
    return model, tokenizer


def load_weights(directory: str | PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The state dict in model.safetensors, checked against config.json before any model is built: the
    hash config.json records, the tensor names and shapes its model config gives, the config the weights
    were saved with, and finite values."""
    directory = Path(directory)
    model_config, inference, config = _read_config_file(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{directory}: no {WEIGHTS_FILE}")
    try:
        with safe_open(str(weights), "pt") as file:
            shapes = {name: tuple(file.get_slice(name).get_shape()) for name in file.keys()}
            metadata = file.metadata() or {}
        _check_tensors(weights, model_config, shapes)
        _check_saved_config(weights, "model", to_dict(model_config), metadata.get("model"), RUNTIME_SWITCHES)
        _check_saved_config(weights, "inference", to_dict(inference), metadata.get("inference"))
        if "weights_sha256" in config and sha256_of(weights) != config["weights_sha256"]:
            raise CheckpointError(f"{weights}: its sha256 differs from the one {CONFIG_FILE} records: the file "
                                  "was damaged or replaced after the checkpoint was saved")
        state = load_file(str(weights), device=str(device))
    except SafetensorError as error:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({error})") from None
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{weights}: tensor {name} holds NaN or infinite values")
    return state


def _check_tensors(weights: Path, model_config: ModelConfig, shapes: dict[str, tuple[int, ...]]) -> None:
    """The names and shapes a model of this config has (built on the meta device: no memory, any size)."""
    try:
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in Whisper(model_config).state_dict().items()}
    except (RuntimeError, ValueError) as error:  # sizes past what torch can index
        raise CheckpointError(f"{weights.parent / CONFIG_FILE}: its model config cannot be built ({error})") from None
    missing = [name for name in expected if name not in shapes]
    unexpected = [name for name in shapes if name not in expected]
    wrong = [f"{name} {shapes[name]} (config.json gives {expected[name]})"
             for name in expected if name in shapes and shapes[name] != expected[name]]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{weights}: tensors do not match the model config in {CONFIG_FILE}: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")


def _check_saved_config(weights: Path, section: str, current: dict, saved_with: str | None,
                        editable: tuple[str, ...] = ()) -> None:
    """config.json edited to another architecture of the same tensor shapes (head counts, top_k, stride),
    or to another way of decoding, would give a silently wrong model."""
    if saved_with is None:  # written before the configs were stored with the weights
        return
    try:
        saved = json.loads(saved_with)
        changed = [f"{section}.{key}={current[key]!r} (saved with {saved[key]!r})" for key in current
                   if key in saved and key not in editable and saved[key] != current[key]]
    except (ValueError, TypeError):  # not JSON, or not a mapping
        raise CheckpointError(f"{weights}: its metadata holds a damaged {section} config") from None
    if changed:
        allowed = f"; edit only {', '.join(f'{section}.{key}' for key in editable)} there" if editable else ""
        raise CheckpointError(f"{weights}: {CONFIG_FILE} says {', '.join(changed)}{allowed}")
