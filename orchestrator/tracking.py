"""MLflow glue for a sweep: one parent run, one nested child run per trial, created here before any
trial starts (four processes creating a new SQLite store at once fail in its schema migration).

The trainer joins its child run through MLFLOW_RUN_ID and logs into it; the orchestrator only
tags runs and marks those the trainer could not close (crashed, killed hard).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .expand import Trial


def default_uri(directory: Path) -> str:
    return f"sqlite:///{(directory / 'mlflow.db').resolve()}"


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts. A tracking server (http://, https://) chooses: with
    `--serve-artifacts` every node uploads and reads them through it. A database store (sqlite://,
    postgresql://, ...) has no artifact service, so they go to a folder beside the sweep, which the
    trainers of other nodes see only on shared storage."""
    if uri.startswith(("http://", "https://")):
        return None
    return (Path.cwd() / "mlartifacts" / experiment).resolve().as_uri()


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class SweepTracking:
    def __init__(self, uri: str, experiment: str, spec_name: str, sweep_dir: Path, restart: bool = False):
        from mlflow.tracking import MlflowClient

        self.uri, self.sweep_dir = uri, sweep_dir
        self.client = MlflowClient(uri)
        _use_sqlite_wal(uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment, artifact_location=artifact_location(uri, experiment))
        self.tags = {"smolwhisper.spec": spec_name, "smolwhisper.git_commit": git_commit(),
                     "smolwhisper.host": socket.gethostname()}
        self.parent_id = self._reuse(sweep_dir / "mlflow_parent_run_id", restart) or self._create_parent(spec_name)

    def _reuse(self, id_file: Path, restart: bool) -> str | None:
        """The run a previous invocation made, so a resumed sweep keeps one history."""
        if restart or not id_file.is_file():
            return None
        run_id = id_file.read_text().strip()
        try:
            self.client.get_run(run_id)
        except Exception:  # deleted or another store: make a new one
            return None
        self.client.update_run(run_id, status="RUNNING")
        return run_id

    def _create_parent(self, spec_name: str) -> str:
        run = self.client.create_run(self.experiment_id, run_name=spec_name, tags=self.tags)
        _write(self.sweep_dir / "mlflow_parent_run_id", run.info.run_id)
        return run.info.run_id

    def child_run(self, trial: Trial, trial_dir: Path, restart: bool = False) -> str:
        run_id = self._reuse(trial_dir / "mlflow_run_id", restart)
        if run_id:
            return run_id
        tags = {**self.tags, "mlflow.parentRunId": self.parent_id, "smolwhisper.trial_id": trial.trial_id,
                "smolwhisper.variant": trial.variant, "smolwhisper.config_hash": trial.config_hash,
                "smolwhisper.seed": str(trial.seed)}
        run = self.client.create_run(self.experiment_id, run_name=trial.trial_id, tags=tags)
        _write(trial_dir / "mlflow_run_id", run.info.run_id)
        return run.info.run_id

    def close_trial(self, run_id: str, status: str, log_tail: str = "") -> None:
        """Mark a run the trainer left open (or one that failed) with its final status and log tail."""
        if log_tail:
            self.client.set_tag(run_id, "smolwhisper.log_tail", log_tail[-5000:])
        if self.client.get_run(run_id).info.status != status:
            self.client.set_terminated(run_id, status)

    def log_artifact(self, run_id: str, path: Path) -> None:
        if path.exists():
            self.client.log_artifact(run_id, str(path))

    def finish(self, status: str) -> None:
        """Close the parent, and any child run still open that no trial directory names: one whose
        creation a Ctrl-C interrupted before its id was written down."""
        query = f"tags.mlflow.parentRunId = '{self.parent_id}' and attributes.status = 'RUNNING'"
        for run in self.client.search_runs([self.experiment_id], query):
            self.client.set_terminated(run.info.run_id, "KILLED" if status == "KILLED" else "FAILED")
        self.client.set_terminated(self.parent_id, status)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _use_sqlite_wal(uri: str) -> None:
    """WAL lets concurrent trials log without the 25 ms-per-call lock waits (shared/FIELD_NOTES.md)."""
    if uri.startswith("sqlite:///"):
        connection = sqlite3.connect(uri[len("sqlite:///"):])
        connection.execute("PRAGMA journal_mode=WAL")
        connection.close()


class SharedWriter:
    """The sweep's MLflow writer process (`python -m smolwhisper.tracking --serve`), which the trainers
    on this node log through. Started before Ray, so that its mlflow import overlaps Ray's start-up."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="smolwhisper-mlflow-")  # short: socket paths have ~100 bytes
        self.address = os.path.join(self.directory, "writer.sock")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smolwhisper.tracking", "--serve", self.address, "--parent", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 30  # it listens within a fraction of a second, before importing mlflow
        while not os.path.exists(self.address) and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self, timeout_s: float = 120.0) -> None:
        """Once the trainers have stopped: wait until it has written what they sent, then clean up."""
        if self.process.poll() is None:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as control:
                    control.connect(self.address)
                    control.sendall((json.dumps({"op": "shutdown"}) + "\n").encode())
            except OSError:
                pass
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                print(f"warning: the MLflow writer did not finish within {timeout_s:.0f} s; stopping it")
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
