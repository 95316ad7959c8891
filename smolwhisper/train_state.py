"""What a training run leaves in its directory, written so that a kill at any moment loses nothing.

    run_dir/config.yaml                  the fully resolved config
    run_dir/tokenizer.json               the tokenizer the run trains with
    run_dir/checkpoints/step_00000500/   a model checkpoint (smolwhisper.checkpoint) + trainer_state.pt
    run_dir/checkpoints/best/            the checkpoint with the lowest validation WER so far
    run_dir/hypotheses/step_00000500.jsonl   per-utterance references, hypotheses and errors
    run_dir/summary.json                 final metrics, params, wall time, status

A step directory is complete once it holds trainer_state.pt, which is moved in last: resuming
only ever picks complete ones, and the model files inside are written atomically by
`checkpoint.save`. trainer_state.pt holds tensors, numbers and lists only, loaded with
weights_only=True.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint

STATE_FILE = "trainer_state.pt"
STEP_DIR = re.compile(r"^step_(\d{8})$")


def write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as file:
        file.write(data.encode() if isinstance(data, str) else data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


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


def save_checkpoint(run_dir: Path, step: int, model, tokenizer, trainer_state: dict, keep_last: int) -> Path:
    target = step_dir(run_dir, step)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, state_tmp = tempfile.mkstemp(prefix=f".{STATE_FILE}.", dir=target.parent)
    os.close(fd)
    torch.save(trainer_state, state_tmp)
    checkpoint.save(model, tokenizer, target)
    os.replace(state_tmp, target / STATE_FILE)  # last: marks the step directory complete
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
    return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
