"""The trainer's own state in a checkpoint (optimizer, data position, random states: trainer_state.pt)
and the writing of step checkpoints into the run directory (see run_files for its layout)."""

from __future__ import annotations

import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from .. import checkpoint
from ..run_files import STATE_FILE, CheckpointError, WriteError, _write_synced, complete_checkpoints, step_dir


def rng_state() -> dict:
    numpy_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    random.setstate(_tuples(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_checkpoint(run_dir: Path, step: int, model, tokenizer, trainer_state: dict, keep_last: int) -> Path:
    """Write step `step`'s checkpoint, then remove all but the newest `keep_last` complete ones. On a
    failed write, WriteError names the file and the last complete checkpoint, which is kept."""
    target = step_dir(run_dir, step)
    try:
        checkpoint.save(model, tokenizer, target)
        # last: trainer_state.pt marks the step directory complete
        _write_synced(target / STATE_FILE, lambda file: torch.save(trainer_state, file))
    except (OSError, RuntimeError) as error:  # torch.save reports a full disk as a RuntimeError
        if not (target / STATE_FILE).is_file():
            shutil.rmtree(target, ignore_errors=True)  # an incomplete step directory: free its space
        found = complete_checkpoints(run_dir)
        raise WriteError(f"cannot write the checkpoint of step {step} in {target} ({error}; "
                         f"{shutil.disk_usage(run_dir).free / 1e6:.1f} MB free there); the last good "
                         f"checkpoint is {found[-1] if found else 'none yet'}") from error
    for old in complete_checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_trainer_state(path: Path) -> dict:
    try:
        return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise CheckpointError(f"{path / STATE_FILE}: not a readable trainer state ({error}); the checkpoint "
                              f"is damaged: remove {path} to resume from an earlier one") from None
