"""MLflow glue for a sweep: one parent run, one nested child run per trial, created here before any
trial starts (four processes creating a new SQLite store at once fail in its schema migration).

Each trial's Ray actor mirrors the trainer's run directory into its child run
(smolwhisper.tracking.RunMirror); the orchestrator records the trial's axis values as tags when it
creates the run, and at the end logs what a killed mirror missed and gives every run its status.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import subprocess
from pathlib import Path

from smolwhisper import run_files
from smolwhisper.tracking import AXIS_TAG, EXPERIMENT_TAGS

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

        # A new store announces its schema migration at INFO while the corpus's progress bar is drawn.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        self.uri, self.sweep_dir = uri, sweep_dir
        self.client = MlflowClient(uri)
        _use_sqlite_wal(uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(
            experiment, artifact_location=artifact_location(uri, experiment))
        for key, value in EXPERIMENT_TAGS.items():  # MLflow's UI then opens the experiment on its runs
            self.client.set_experiment_tag(self.experiment_id, key, value)
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
        run_files.write_atomic(self.sweep_dir / "mlflow_parent_run_id", run.info.run_id)
        return run.info.run_id

    def child_run(self, trial: Trial, trial_dir: Path, restart: bool = False) -> str:
        run_id = self._reuse(trial_dir / "mlflow_run_id", restart)
        if run_id:
            return run_id
        tags = {**self.tags, "mlflow.parentRunId": self.parent_id, "smolwhisper.trial_id": trial.trial_id,
                "smolwhisper.variant": trial.variant, "smolwhisper.config_hash": trial.config_hash,
                "smolwhisper.seed": str(trial.seed), "smolwhisper.kind": trial.kind,
                **{f"{AXIS_TAG}{key}": str(value) for key, value in trial.overrides.items()}}
        run = self.client.create_run(self.experiment_id, run_name=trial.trial_id, tags=tags)
        run_files.write_atomic(trial_dir / "mlflow_run_id", run.info.run_id)
        return run.info.run_id

    def close_trial(self, run_id: str, status: str, log_tail: str = "", reason: str = "") -> None:
        """Mark a run the trainer left open (or one that failed) with its final status, log tail and the
        one-line reason it failed."""
        if reason:
            self.client.set_tag(run_id, "smolwhisper.failure_reason", reason[:5000])
        if log_tail:
            self.client.set_tag(run_id, "smolwhisper.log_tail", log_tail[-5000:])
        status = "KILLED" if status == run_files.STOPPED else status  # RunMirror.finish tagged why
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


def _use_sqlite_wal(uri: str) -> None:
    """WAL lets concurrent trials log without the 25 ms-per-call lock waits (shared/FIELD_NOTES.md)."""
    if uri.startswith("sqlite:///"):
        connection = sqlite3.connect(uri[len("sqlite:///"):])
        connection.execute("PRAGMA journal_mode=WAL")
        connection.close()
