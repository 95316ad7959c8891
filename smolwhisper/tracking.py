"""Experiment tracking behind one small interface: MLflow when a tracking URI is configured or
inherited, nothing otherwise. Only rank 0 ever gets a real tracker.

A run id handed down by the orchestrator (MLFLOW_RUN_ID) is joined rather than duplicated.
Metrics are buffered and written with one `log_batch` call per flush: SQLite stores pay about
25 ms per call (see shared/FIELD_NOTES.md).
"""

from __future__ import annotations

import os
import time
from typing import Any

FLUSH_EVERY_S = 10.0


class Tracker:
    """The no-op tracker; MLflowTracker overrides what it records."""

    run_id: str | None = None

    def log_params(self, params: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_artifact(self, path: str) -> None: ...
    def flush(self) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...


class MLflowTracker(Tracker):
    def __init__(self, uri: str, experiment: str, run_name: str):
        # The client API only: MLflow's fluent start_run keeps per-thread state we do not need.
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(uri)
        self.run_id = os.environ.get("MLFLOW_RUN_ID")  # the orchestrator's child run: joined
        if self.run_id:
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
            self.run_id = self.client.create_run(experiment_id, run_name=run_name or None).info.run_id
        self.pending: list = []
        self.last_flush = time.monotonic()

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params  # a resumed run logs them again
        items = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in existing]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start: start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(k, float(v), now, step) for k, v in metrics.items()]
        if len(self.pending) >= 500 or time.monotonic() - self.last_flush > FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """The trainer also flushes before each checkpoint, so a crash loses no step it will not redo."""
        self.last_flush = time.monotonic()
        while self.pending:
            batch, self.pending = self.pending[:1000], self.pending[1000:]
            self.client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: str) -> None:
        self.client.log_artifact(self.run_id, path)

    def finish(self, status: str = "FINISHED") -> None:
        self.flush()
        self.client.set_terminated(self.run_id, status)


def make_tracker(mlflow_uri: str, experiment: str, run_name: str, rank: int) -> Tracker:
    uri = mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if rank != 0 or not uri:
        return Tracker()
    return MLflowTracker(uri, experiment, run_name)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"top_k": 2}} -> {"model.top_k": 2}, for logging a nested config as params."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
