"""Experiment tracking behind one small interface: MLflow when a tracking URI is configured or
inherited, nothing otherwise. Only rank 0 ever gets a real tracker.

MLflow is driven from a writer process of its own (`python -m smolwhisper.tracking`), as wandb
does with its service process: importing mlflow and opening its store take 2-5 s of CPU on a small
machine, which would otherwise stall the start of every trial; the writer does it on another core
while the trainer builds its data and model. The trainer sends it JSON lines and waits only where
it must: at `flush` (before each checkpoint, so that a crash loses no step it will not redo), for
the run id, and at `finish`. If the trainer dies, the writer sees end-of-input, writes what it was
sent and exits.

Under the orchestrator, one writer process serves every trainer of the sweep on its node instead
(`python -m smolwhisper.tracking --serve SOCKET`, one thread per trainer), reached through the Unix
socket named in SMOLWHISPER_MLFLOW_WRITER: mlflow is imported once per sweep, not once per trial
(2 s of CPU each, which two trials sharing 2 cores felt in full). A trainer that cannot reach it
(another node of a Ray cluster) starts a writer of its own.

A run id handed down by the orchestrator (MLFLOW_RUN_ID) is joined rather than duplicated.
Metrics are written with one `log_batch` call per 10 s: SQLite stores pay about 25 ms per call
(see shared/FIELD_NOTES.md).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, TextIO

FLUSH_EVERY_S = 10.0
WRITER_SOCKET_ENV = "SMOLWHISPER_MLFLOW_WRITER"  # the Unix socket of the sweep's shared writer


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
        self.uri, self.process, self.connection = uri, None, None
        self._run_id = os.environ.get("MLFLOW_RUN_ID") or None  # the orchestrator's child run: joined
        self.finished = False
        self.address = os.environ.get(WRITER_SOCKET_ENV, "")
        if self.address and self._connect():
            self._send({"op": "hello", "uri": uri, "experiment": experiment, "run_name": run_name,
                        "run_id": self._run_id})
            return
        self.process = subprocess.Popen(
            [sys.executable, "-m", "smolwhisper.tracking", "--uri", uri, "--experiment", experiment,
             "--run-name", run_name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"})
        self.writes, self.reads = self.process.stdin, self.process.stdout

    def _connect(self) -> bool:
        """The sweep's shared writer, where this node has it."""
        if not os.path.exists(self.address):
            return False
        self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.connection.connect(self.address)
        except OSError:
            self.connection.close()
            return False
        self.writes, self.reads = self.connection.makefile("w"), self.connection.makefile("r")
        return True

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
        self.writes.close()
        if self.process:
            self.process.wait(60)  # the writer exits once it has answered
        else:
            self.reads.close()
            self.connection.close()

    def _send(self, message: dict) -> None:
        try:
            self.writes.write(json.dumps(message) + "\n")
            self.writes.flush()
        except OSError:  # BrokenPipeError, ConnectionResetError: the writer is gone
            raise self._failed() from None

    def _request(self, message: dict) -> dict:
        """Send, then wait for the writer's answer (it answers once everything before is written)."""
        self._send(message)
        try:
            line = self.reads.readline()
        except OSError:
            line = ""
        if not line:
            raise self._failed()
        answer = json.loads(line)
        if "error" in answer:
            raise TrackingError(f"MLflow ({self.uri}): {answer['error']}")
        return answer

    def _failed(self) -> TrackingError:
        if not self.process:
            return TrackingError(f"the sweep's MLflow writer for {self.uri} at {self.address} closed the "
                                 f"connection (its error is printed in the orchestrator's output)")
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

    def __init__(self, uri: str, experiment: str, run_name: str, run_id: str | None = None):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(uri)
        # A handed-down run's status is its owner's until `finish`: this process may still be
        # starting when the orchestrator has already closed the run of a trainer killed early.
        self.run_id = run_id or os.environ.get("MLFLOW_RUN_ID")
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


def serve(make_writer: Callable[[], Writer], reads: TextIO, writes: TextIO) -> int:
    """One trainer's messages, until `finish` or the end of its input: 0, or 1 where MLflow failed
    (then the trainer is told, and stops with the error)."""
    try:
        writer = make_writer()
        for line in reads:
            message = json.loads(line)
            answer = writer.handle(message)
            if answer is not None:
                writes.write(json.dumps(answer) + "\n")
                writes.flush()
            if message["op"] == "finish":
                # Done now, not at end of input: DataLoader workers forked after the trainer
                # connected hold its end open, so end of input may be long in coming.
                return 0
        writer.flush()  # end of input without finish: the trainer died; keep what it sent
    except Exception as error:  # reported to the trainer, which stops with it
        print(f"smolwhisper.tracking: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        try:
            writes.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
            writes.flush()
        except OSError:
            pass
        return 1
    return 0


def serve_trainers(address: str, parent_pid: int) -> None:
    """The sweep's shared writer: one thread per trainer connection, each with a Writer of its own.
    Ends when the orchestrator says so (a "shutdown" connection) or has gone, once every trainer
    it serves has finished: a trainer stopping with the sweep still gets its last metrics written."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)  # first: a trainer that finds no socket starts a writer of its own
    listener.listen(64)
    listener.settimeout(0.5)
    from mlflow.tracking import MlflowClient  # noqa: F401 - imported once, here, for every trainer

    shutdown, threads = threading.Event(), []
    while True:
        try:
            connection, _ = listener.accept()
        except socket.timeout:
            threads = [thread for thread in threads if thread.is_alive()]
            if (shutdown.is_set() or os.getppid() != parent_pid) and not threads:
                return
            continue
        connection.settimeout(None)
        thread = threading.Thread(target=_serve_connection, args=(connection, shutdown), daemon=True)
        thread.start()
        threads.append(thread)


def _serve_connection(connection: socket.socket, shutdown: threading.Event) -> None:
    with connection, connection.makefile("r") as reads, connection.makefile("w") as writes:
        hello = json.loads(reads.readline() or "{}")
        if hello.get("op") == "shutdown":
            shutdown.set()
            return
        serve(lambda: Writer(hello["uri"], hello["experiment"], hello["run_name"], hello["run_id"]), reads, writes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MLflow writer process of smolwhisper trainers (internal)")
    parser.add_argument("--uri", help="one trainer's writer, on stdin and stdout")
    parser.add_argument("--experiment", default="")
    parser.add_argument("--run-name", default="")
    parser.add_argument("--serve", metavar="SOCKET", help="the sweep's shared writer, at this Unix socket")
    parser.add_argument("--parent", type=int, default=0, help="with --serve: end once this process has gone")
    args = parser.parse_args(argv)
    if not (args.uri or args.serve):
        parser.error("give --uri (one trainer's writer) or --serve SOCKET (the sweep's)")
    # Ctrl-C and SIGTERM reach the whole process group; the trainer turns them into finish("KILLED"),
    # which this process must still be alive to write. It ends at end of input instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.serve:
        serve_trainers(args.serve, args.parent or os.getppid())
        status = 0
    else:
        status = serve(lambda: Writer(args.uri, args.experiment, args.run_name), sys.stdin, sys.stdout)
    # Skip the interpreter's shutdown: with mlflow loaded it takes ~0.8 s, which the trainer would
    # spend waiting at finish, and everything is written by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
