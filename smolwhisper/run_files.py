"""The run directory: what a training run leaves there, the contract between the trainer, the
orchestrator, the CLI and the reports, who read and write it through this module only. Written so
that a kill at any moment loses nothing.

    run_dir/config.yaml                  the fully resolved config
    run_dir/params.json                  parameters beyond the config (parameter counts, attention kernel)
    run_dir/tokenizer.json               the tokenizer the run trains with
    run_dir/metrics.jsonl                one line per log window or evaluation: {"step", "time", metric: value}
    run_dir/hypotheses/step_00000500.jsonl   per-utterance records of an evaluation (inference/evaluation.py);
                                         val_unseen_step_*.jsonl for the unseen-voice split
    run_dir/checkpoints/step_00000500/   a model checkpoint (smolwhisper.checkpoint) + trainer_state.pt
    run_dir/checkpoints/best/            the checkpoint with the lowest eval.select_metric so far
    run_dir/summary.json                 final metrics, params, wall time, status
    run_dir/failure.json                 why the last attempt failed, and whether another could succeed
    run_dir/.trainer.lock                held by the trainer writing the directory

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
import re
import tempfile
import time
from pathlib import Path
from typing import Any


CONFIG_FILE = "config.yaml"
PARAMS_FILE = "params.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
HYPOTHESES_DIR = "hypotheses"
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
FAILURE_FILE = "failure.json"
LOCK_FILE = ".trainer.lock"
# The trainer's exit status for a run that cannot succeed as configured (a configuration or data
# error): running it again changes nothing, so an orchestrator does not retry it. torchrun does not
# pass a rank's status on, which is why the reason is also written to failure.json.
NOT_RETRYABLE_EXIT = 2
STATE_FILE = "trainer_state.pt"
STEP_DIR = re.compile(r"^step_(\d{8})$")
# hypotheses/step_00000500.jsonl (validation), hypotheses/val_unseen_step_00000500.jsonl, ...
HYPOTHESES_NAME = re.compile(r"^(?:(?P<prefix>[a-z_]+)_)?step_(?P<step>\d{8})\.jsonl$")
VALIDATION = "val"  # the metric prefix whose hypotheses files carry no prefix
# summary.json's status of a run that ended early by its stop rule (config.StopConfig) or a non-finite
# loss, with its `stop_reason`; the trainer then exits with STOPPED_EXIT: a result, not a crash to retry.
STOPPED = "STOPPED"
STOPPED_EXIT = 3


class CheckpointError(ValueError):
    """A checkpoint directory that is missing a file or holds something unexpected."""


class WriteError(OSError):
    """A checkpoint or run file that could not be written (disk full, quota, permissions): the message
    names it, and what was there before is left as it was."""


class RunDirBusy(RuntimeError):
    """Another trainer holds the run directory."""


def hypotheses_path(run_dir: Path, step: int, prefix: str = VALIDATION) -> Path:
    name = f"step_{step:08d}.jsonl" if prefix == VALIDATION else f"{prefix}_step_{step:08d}.jsonl"
    return Path(run_dir) / HYPOTHESES_DIR / name


def hypotheses_step(name: str, prefix: str = VALIDATION) -> int | None:
    """The step of a hypotheses file of `prefix` (its path or name), None for any other file."""
    match = HYPOTHESES_NAME.match(Path(name).name)
    if not match or (match["prefix"] or VALIDATION) != prefix:
        return None
    return int(match["step"])


def append_metrics(run_dir: Path, step: int, metrics: dict[str, float]) -> None:
    """One line of metrics.jsonl; a line is appended whole (one write) and read back only once complete."""
    line = json.dumps({"step": step, "time": time.time(), **metrics}) + "\n"
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(run_dir) / METRICS_FILE, "a", encoding="utf-8") as file:
            file.write(line)
    except OSError as error:
        raise WriteError(f"cannot append to {Path(run_dir) / METRICS_FILE}: {error.strerror or error}") from error


class MetricsReader:
    """The complete lines appended to a run's metrics.jsonl since the last call (from `offset` bytes)."""

    def __init__(self, run_dir: Path, offset: int = 0):
        self.path, self.offset = Path(run_dir) / METRICS_FILE, offset

    def new_rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        rows = []
        for line in complete.decode("utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                rows.append(row)
        return rows


def write_config(run_dir: Path, config: dict) -> None:
    import yaml

    write_atomic(Path(run_dir) / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))


def read_config(run_dir: Path) -> dict:
    import yaml

    path = Path(run_dir) / CONFIG_FILE
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def update_params(run_dir: Path, params: dict[str, Any]) -> None:
    """Add to params.json (a parameter, once written, keeps its value, as MLflow's do)."""
    write_json(Path(run_dir) / PARAMS_FILE, {**params, **read_json(Path(run_dir) / PARAMS_FILE)})


def read_json(path: Path) -> dict:
    """A JSON object written by write_json, or {} where there is none (or only a damaged one)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_failure(run_dir: Path, reason: str, retryable: bool) -> None:
    """Why the run stopped, on one line, for the orchestrator's console, summary and report."""
    write_json(Path(run_dir) / FAILURE_FILE, {"reason": " ".join(reason.split()), "retryable": retryable})


def read_failure(run_dir: Path) -> dict:
    """{"reason", "retryable"} of the last attempt that recorded a failure, or {}."""
    return read_json(Path(run_dir) / FAILURE_FILE)


def clear_failure(run_dir: Path) -> None:
    """Forget a failure before another attempt (its cause may have been fixed)."""
    with contextlib.suppress(FileNotFoundError):
        (Path(run_dir) / FAILURE_FILE).unlink()


def read_summary(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / SUMMARY_FILE)


def lock(run_dir: Path):
    """Hold the directory for this process (a second trainer would corrupt its checkpoints); the
    handle keeps the lock until it is closed or the process ends."""
    import fcntl

    handle = open(Path(run_dir) / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        raise RunDirBusy(f"another trainer (pid {handle.read().strip() or '?'}) is writing to {run_dir}; "
                         f"stop it or choose another train.out_dir") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def wait_unlocked(run_dir: Path, timeout_s: float) -> bool:
    """Wait until no trainer holds the directory (True), or `timeout_s` passes (False)."""
    import fcntl

    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return True
    deadline = time.monotonic() + timeout_s
    with open(path) as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)


def sync_directory(directory: Path, files: bool = False) -> None:
    """fsync `directory` (its entries: a rename into it is then on disk), and with `files` each file in it
    first, so that after a power cut a checkpoint is whole or absent, never a set of empty files."""
    for file in directory.iterdir() if files else ():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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
    sync_directory(path.parent)


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, default=str) + "\n")


def step_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"step_{step:08d}"


def best_dir(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / BEST_DIR


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Step directories holding a trainer state, oldest first."""
    directory = Path(run_dir) / CHECKPOINTS_DIR
    if not directory.is_dir():
        return []
    steps = [p for p in directory.iterdir() if STEP_DIR.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(steps, key=lambda p: p.name)
