"""Running trials with Ray Tune: each trial reserves its resources and launches torchrun.

A trial is a Tune function trainable that starts
`torchrun --standalone --nproc_per_node=N -m smolwhisper.train --config <trial>/config.yaml`,
streams the trainer's metrics.jsonl back to Tune, and writes the trainer's output to
<trial>/train.log. Tune retries a failed trial up to `retries` times; the trainer then resumes
from its own last checkpoint in <trial>/run (Ray's checkpoints are not needed, and trial
directories of ours survive Tune's own, which move on restore). Each attempt names its Ray node in
train.log and in the MLflow tag `smolwhisper.node_id`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Launch:
    trial_id: str
    trial_dir: str  # absolute
    workdir: str  # where relative paths in the config resolve (where run.py was started)
    nproc_per_node: int
    cpus: int
    gpus: int
    mlflow_uri: str
    mlflow_run_id: str
    writer_address: str = ""  # the sweep's shared MLflow writer (smolwhisper.tracking --serve)


class TrialFailed(RuntimeError):
    pass


def run_trial(config: dict, launches: dict[str, Launch]) -> None:
    """The Tune trainable: one attempt at one trial."""
    launch = launches[config["trial_id"]]
    returncode = run_torchrun(launch)
    if returncode != 0:
        raise TrialFailed(f"{launch.trial_id}: the trainer exited with status {returncode}; "
                          f"log tail:\n{log_tail(Path(launch.trial_dir) / 'train.log')}")


def run_torchrun(launch: Launch) -> int:
    """torchrun the trainer, reporting its metrics to Tune as they come; its exit status."""
    import ray
    from ray import tune

    from smolwhisper.tracking import WRITER_SOCKET_ENV

    trial_dir = Path(launch.trial_dir)
    node_id = ray.get_runtime_context().get_node_id()
    env = {**os.environ, "MLFLOW_TRACKING_URI": launch.mlflow_uri, "MLFLOW_RUN_ID": launch.mlflow_run_id,
           WRITER_SOCKET_ENV: launch.writer_address,
           "OMP_NUM_THREADS": str(max(1, launch.cpus // launch.nproc_per_node)), "PYTHONUNBUFFERED": "1"}
    if launch.gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU trial keeps whatever it inherited otherwise
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={launch.nproc_per_node}", "-m", "smolwhisper.train",
               "--config", str(trial_dir / "config.yaml")]
    if not (trial_dir / "config.yaml").is_file():
        raise TrialFailed(f"{launch.trial_id}: node {node_id} ({socket.gethostname()}) does not see "
                          f"{trial_dir / 'config.yaml'}: every node needs the sweep's working directory "
                          f"(code, data and runs/) at the same path, on storage they share")
    metrics = MetricsTail(trial_dir / "run" / "metrics.jsonl")
    with open(trial_dir / "train.log", "a") as log:
        log.write(f"\n=== attempt started {time.strftime('%Y-%m-%d %H:%M:%S')} on node {node_id} "
                  f"({socket.gethostname()}): {' '.join(command)}\n")
        log.flush()
        tagging = tag_node(launch, node_id, log)
        # Not a new session: Ray SIGTERMs the worker's process group when it stops a trial, and
        # torchrun then stops its ranks (they run in sessions of their own, out of killpg's reach).
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=launch.workdir)
        try:
            while not _exited(process, wait_s=0.25):
                for row in metrics.new_rows():
                    tune.report(row)
            for row in metrics.new_rows():
                tune.report(row)
        finally:
            stop(process)
            tagging.join(30)  # the tag is worth a wait, not a hung trial
    return process.returncode


def tag_node(launch: Launch, node_id: str, log) -> threading.Thread:
    """Tag the trial's MLflow run with the node of this attempt, from a thread: importing mlflow takes
    seconds, which the trainer's start-up hides. A failure is a line in the log, not a failed trial."""
    def tag() -> None:
        try:
            from mlflow.tracking import MlflowClient

            MlflowClient(launch.mlflow_uri).set_tag(launch.mlflow_run_id, "smolwhisper.node_id", node_id)
        except Exception as error:  # noqa: BLE001 - the trainer reports a tracking store it cannot use
            log.write(f"warning: could not tag the MLflow run with node {node_id}: {type(error).__name__}: {error}\n")
            log.flush()

    thread = threading.Thread(target=tag, daemon=True)
    thread.start()
    return thread


def _exited(process: subprocess.Popen, wait_s: float) -> bool:
    try:
        process.wait(wait_s)
        return True
    except subprocess.TimeoutExpired:
        return False


def stop(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class MetricsTail:
    """New rows of a growing JSONL file, numbers only (what Tune accepts as metrics)."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def new_rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path) as file:
            file.seek(self.offset)
            text = file.read()
        complete = text[: text.rfind("\n") + 1]
        self.offset += len(complete.encode())
        rows = []
        for line in complete.splitlines():
            try:
                rows.append({k: v for k, v in json.loads(line).items() if isinstance(v, (int, float))})
            except json.JSONDecodeError:
                continue
        return rows


def log_tail(path: Path, n_lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-n_lines:])


def ctrl_c_stopper():
    """A Tune Stopper that Ctrl-C trips: every trial stops through Tune's public hook, and we learn
    that it came. (Tune's own SIGINT handler swallows the signal, so a sweep stopped before its
    trainers had written a summary looked like one whose trials had all failed.)
    A second Ctrl-C stops waiting for the trials."""
    from ray import tune

    class StopOnCtrlC(tune.Stopper):
        interrupted = False

        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return self.interrupted

        def on_sigint(self, signum, frame) -> None:
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True
            print("\nstopping every trial (Ctrl-C again to stop waiting for them)", file=sys.stderr, flush=True)

    return StopOnCtrlC()


def run_with_ray(launches: list[Launch], sweep_dir: Path, max_concurrent: int, retries: int,
                 address: str | None) -> bool:
    """Runs the trials; True when Ctrl-C stopped them."""
    import ray

    ctrl_c = ctrl_c_stopper()
    # Ours from before ray.init, so that a Ctrl-C while Ray starts takes the same path as one later.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # started as a background job: keep ignoring it, as Python does
        signal.signal(signal.SIGINT, ctrl_c.on_sigint)
    try:
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False)
        if not ctrl_c.interrupted:
            warn_of_sqlite_across_nodes(launches[0].mlflow_uri, sum(node["Alive"] for node in ray.nodes()))
            tuner(launches, sweep_dir, max_concurrent, retries, ctrl_c).fit()
    finally:
        signal.signal(signal.SIGINT, previous)
    return ctrl_c.interrupted


def warn_of_sqlite_across_nodes(uri: str, n_nodes: int) -> None:
    if n_nodes > 1 and uri.startswith("sqlite:"):
        print(f"warning: trials on {n_nodes} Ray nodes log into the SQLite store {uri}, which the other nodes "
              f"reach only on shared storage, where SQLite's locking is unsafe (NFS): give tracking.mlflow_uri "
              f"an MLflow tracking server (http://HEAD:5000) or a database (postgresql://...)", flush=True)


def tuner(launches: list[Launch], sweep_dir: Path, max_concurrent: int, retries: int, stopper):
    from ray import tune

    first = launches[0]
    trainable = tune.with_resources(tune.with_parameters(run_trial, launches={l.trial_id: l for l in launches}),
                                    {"cpu": first.cpus, "gpu": first.gpus})
    return tune.Tuner(
        trainable,
        param_space={"trial_id": tune.grid_search([l.trial_id for l in launches])},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent, reuse_actors=True,
                                    trial_dirname_creator=lambda trial: _safe(trial.config["trial_id"])),
        run_config=tune.RunConfig(name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
                                  storage_path=str(sweep_dir / "ray"), stop=stopper,
                                  failure_config=tune.FailureConfig(max_failures=retries), verbose=1),
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_=," else "_" for c in name)[:120]
