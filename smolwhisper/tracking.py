"""Experiment tracking behind one small interface: MLflow when a tracking URI is configured or
inherited, nothing otherwise. Only rank 0 ever gets a real tracker.

MLflow is driven from a writer process of its own (`python -m smolwhisper.tracking`), as wandb
does with its service process: importing mlflow and opening its store take 2-5 s of CPU on a small
machine, which would otherwise stall the start of every trial; the writer does it on another core
while the trainer builds its data and model. The trainer sends it JSON lines and waits only where
it must: at `flush` (before each checkpoint, so that a crash loses no step it will not redo), for
the run id, and at `finish`. If the trainer dies, the writer sees end-of-input, writes what it was
sent and exits.

A run id handed down by the orchestrator (MLFLOW_RUN_ID) is joined rather than duplicated.
Metrics are written with one `log_batch` call per 10 s: SQLite stores pay about 25 ms per call
(see shared/FIELD_NOTES.md).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

FLUSH_EVERY_S = 10.0


class TrackingError(RuntimeError):
    pass


class Tracker:
    """The no-op tracker; MLflowTracker overrides what it records."""

    run_id: str | None = None

    def log_params(self, params: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_artifact(self, path: str) -> None: ...
    def flush(self) -> None: ...
    def finish(self, status: str = "FINISHED") -> None: ...


class MLflowTracker(Tracker):
    """The trainer's side: forwards each call to the writer process."""

    def __init__(self, uri: str, experiment: str, run_name: str):
        self.uri = uri
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smolwhisper.tracking", "--uri", uri, "--experiment", experiment,
             "--run-name", run_name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"})
        self._run_id = os.environ.get("MLFLOW_RUN_ID") or None  # the orchestrator's child run: joined
        self.finished = False

    @property
    def run_id(self) -> str | None:
        if self._run_id is None:
            self._run_id = self._request({"op": "run_id"})["run_id"]
        return self._run_id

    def log_params(self, params: dict[str, Any]) -> None:
        self._send({"op": "params", "params": {k: str(v) for k, v in params.items()}})

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._send({"op": "metrics", "metrics": {k: float(v) for k, v in metrics.items()}, "step": step,
                    "timestamp": int(time.time() * 1000)})

    def log_artifact(self, path: str) -> None:
        self._send({"op": "artifact", "path": os.path.abspath(path)})

    def flush(self) -> None:
        self._request({"op": "flush"})

    def finish(self, status: str = "FINISHED") -> None:
        if self.finished:
            return
        self.finished = True
        self._request({"op": "finish", "status": status})
        self.process.stdin.close()
        self.process.wait(60)  # the writer exits once it has answered

    def _send(self, message: dict) -> None:
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise self._failed() from None

    def _request(self, message: dict) -> dict:
        """Send, then wait for the writer's answer (it answers once everything before is written)."""
        self._send(message)
        line = self.process.stdout.readline()
        if not line:
            raise self._failed()
        answer = json.loads(line)
        if "error" in answer:
            raise TrackingError(f"MLflow ({self.uri}): {answer['error']}")
        return answer

    def _failed(self) -> TrackingError:
        self.process.wait()
        return TrackingError(f"the MLflow writer for {self.uri} exited with status {self.process.returncode} "
                             f"(its error is printed above)")


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


# ---------------------------------------------------------------------------------------------
# The writer process.


class Writer:
    """Holds the MlflowClient (the client API only: the fluent API keeps per-thread state we do not need)."""

    def __init__(self, uri: str, experiment: str, run_name: str):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(uri)
        # A handed-down run's status is its owner's until `finish`: this process may still be
        # starting when the orchestrator has already closed the run of a trainer killed early.
        self.run_id = os.environ.get("MLFLOW_RUN_ID")
        if not self.run_id:
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
            self.run_id = self.client.create_run(experiment_id, run_name=run_name or None).info.run_id
        self.pending: list = []
        self.last_flush = time.monotonic()

    def handle(self, message: dict) -> dict | None:
        """Do what one message asks; an answer for the requests the trainer waits on."""
        op = message["op"]
        if op == "params":
            self.log_params(message["params"])
        elif op == "metrics":
            from mlflow.entities import Metric

            self.pending += [Metric(k, v, message["timestamp"], message["step"]) for k, v in message["metrics"].items()]
            if len(self.pending) >= 500 or time.monotonic() - self.last_flush > FLUSH_EVERY_S:
                self.flush()
        elif op == "artifact":
            self.client.log_artifact(self.run_id, message["path"])
        elif op == "flush":
            self.flush()
            return {"ok": True}
        elif op == "run_id":
            return {"run_id": self.run_id}
        elif op == "finish":
            self.flush()
            self.client.set_terminated(self.run_id, message["status"])
            return {"ok": True}
        return None

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params  # a resumed run logs them again
        items = [Param(k, v[:6000]) for k, v in params.items() if k not in existing]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start: start + 100])

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        while self.pending:
            batch, self.pending = self.pending[:1000], self.pending[1000:]
            self.client.log_batch(self.run_id, metrics=batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MLflow writer process of a smolwhisper trainer (internal)")
    parser.add_argument("--uri", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--run-name", default="")
    args = parser.parse_args(argv)
    # Ctrl-C and SIGTERM reach the whole process group; the trainer turns them into finish("KILLED"),
    # which this process must still be alive to write. It ends at end of input instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        writer = Writer(args.uri, args.experiment, args.run_name)
        for line in sys.stdin:
            message = json.loads(line)
            answer = writer.handle(message)
            if answer is not None:
                print(json.dumps(answer), flush=True)
            if message["op"] == "finish":
                # Exit now, not at end of input: DataLoader workers forked after this process
                # started hold the write end of its stdin, so end of input may be long in coming.
                # And skip the interpreter's shutdown: with mlflow loaded it takes ~0.8 s, which
                # the trainer would spend waiting, and everything is written by now.
                sys.stderr.flush()
                os._exit(0)
        writer.flush()  # end of input without finish: the trainer died; keep what it sent
    except Exception as error:  # reported to the trainer, which stops with it
        print(f"smolwhisper.tracking: {type(error).__name__}: {error}", file=sys.stderr)
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
