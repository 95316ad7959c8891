"""What a training run leaves in its directory, written so that a kill at any moment loses nothing.

    run_dir/config.yaml                  the fully resolved config
    run_dir/tokenizer.json               the tokenizer the run trains with
    run_dir/checkpoints/step_00000500/   a model checkpoint (smolwhisper.checkpoint) + trainer_state.pt
    run_dir/checkpoints/best/            the checkpoint with the lowest validation WER so far
    run_dir/hypotheses/step_00000500.jsonl   per-utterance references, hypotheses and errors
    run_dir/summary.json                 final metrics, params, wall time, status

A step directory is complete once it holds trainer_state.pt, which is moved in last: resuming
only ever picks complete ones, and the model files inside are written atomically by
`checkpoint.save`. Every file is synced to disk before it is renamed into place. A write that
fails (a full disk) raises checkpoint.WriteError naming the file and the last complete checkpoint,
and leaves the files written before it as they were. trainer_state.pt holds tensors, numbers and
lists only, loaded with weights_only=True.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint
from .checkpoint import CheckpointError, WriteError

STATE_FILE = "trainer_state.pt"
STEP_DIR = re.compile(r"^step_(\d{8})$")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` whole or not at all; WriteError (the old file intact) if it cannot."""
    try:
        _write_synced(path, lambda file: file.write(data.encode() if isinstance(data, str) else data))
    except OSError as error:
        raise WriteError(f"cannot write {path}: {error.strerror or error}") from error


def _write_synced(path: Path, write) -> None:
    """`write(file)` into a temporary file beside `path`, synced, then renamed onto it; the temporary file
    is removed if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make every run file private
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    checkpoint.sync_directory(path.parent)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, default=str) + "\n")


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


def step_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}"


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


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


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Step directories holding a trainer state, oldest first."""
    directory = run_dir / "checkpoints"
    if not directory.is_dir():
        return []
    steps = [p for p in directory.iterdir() if STEP_DIR.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(steps, key=lambda p: p.name)


def load_trainer_state(path: Path) -> dict:
    try:
        return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise CheckpointError(f"{path / STATE_FILE}: not a readable trainer state ({error}); the checkpoint "
                              f"is damaged: remove {path} to resume from an earlier one") from None
