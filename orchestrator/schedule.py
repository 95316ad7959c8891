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

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from smolwhisper import run_files

from .failures import ATTEMPT_MARK, NOT_RETRYABLE, failure


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
    max_steps: int = 0  # for the console's step of max
    trainer_args: list[str] = field(default_factory=list)  # more arguments for smolwhisper.train (--rehearse)
    forwarded_env: tuple[str, ...] = ()  # the variables the orchestrator sends every trial (forwarded_env)


# Variables a trial needs from the orchestrator's environment on whichever node it runs: a node's own
# environment is the one `ray start` had. Sent as the Ray job's runtime_env; names only in logs.
FORWARDED_PREFIXES = ("HF_", "MLFLOW_TRACKING_")  # HF_TOKEN, HF_HOME, ...; a tracking server's credentials
EXTRA_ENV_VARS = "SMOLWHISPER_ENV_VARS"  # more names, comma-separated


def forwarded_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The orchestrator's variables that every trial gets: Hugging Face's (HF_*), MLflow's tracking ones
    (MLFLOW_TRACKING_*), and those SMOLWHISPER_ENV_VARS names."""
    environ = os.environ if environ is None else environ
    extra = {name.strip() for name in environ.get(EXTRA_ENV_VARS, "").split(",") if name.strip()}
    return {key: value for key, value in environ.items() if key.startswith(FORWARDED_PREFIXES) or key in extra}


class TrialFailed(RuntimeError):
    pass


def run_trial(config: dict, launches: dict[str, Launch]) -> None:
    """The Tune trainable: one attempt at one trial."""
    from ray import tune

    launch = launches[config["trial_id"]]
    run_files.clear_failure(Path(launch.trial_dir) / "run")
    returncode = run_torchrun(launch)
    if returncode == 0:
        return
    # A trial its stop rule ended is done, not retried (torchrun reports any rank's non-zero exit as 1).
    if run_files.read_summary(Path(launch.trial_dir) / "run").get("status") == run_files.STOPPED:
        return
    if failure(Path(launch.trial_dir)).get("retryable") is False:
        tune.report({NOT_RETRYABLE: 1})
        return
    raise TrialFailed(f"{launch.trial_id}: the trainer exited with status {returncode}; "
                      f"log tail:\n{log_tail(Path(launch.trial_dir) / 'train.log')}")


def run_torchrun(launch: Launch) -> int:
    """torchrun the trainer; report its metrics to Tune and mirror its run directory into the trial's
    MLflow run as they come (the trainer itself imports no mlflow); its exit status."""
    import ray
    from ray import tune

    trial_dir = Path(launch.trial_dir)
    node_id = ray.get_runtime_context().get_node_id()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env.update(OMP_NUM_THREADS=str(max(1, launch.cpus // launch.nproc_per_node)), PYTHONUNBUFFERED="1")
    if launch.gpus == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU trial keeps whatever it inherited otherwise
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={launch.nproc_per_node}", "-m", "smolwhisper.train",
               "--config", str(trial_dir / "config.yaml"), *launch.trainer_args]
    if not (trial_dir / "config.yaml").is_file():
        raise TrialFailed(f"{launch.trial_id}: node {node_id} ({socket.gethostname()}) does not see "
                          f"{trial_dir / 'config.yaml'}: every node needs the sweep's working directory "
                          f"(code, data and runs/) at the same path, on storage they share")
    metrics = run_files.MetricsReader(trial_dir / "run")
    with open(trial_dir / "train.log", "a") as log:
        log.write(f"\n{ATTEMPT_MARK} {time.strftime('%Y-%m-%d %H:%M:%S')} on node {node_id} "
                  f"({socket.gethostname()}): {' '.join(command)}\n")
        if launch.forwarded_env:
            missing = [name for name in launch.forwarded_env if name not in os.environ]
            log.write(f"from the orchestrator's environment: {', '.join(launch.forwarded_env)}"
                      + (f" (missing here: {', '.join(missing)})" if missing else "") + "\n")
        log.flush()
        mirror = TrialMirror(launch, node_id, log)
        # Not a new session: Ray SIGTERMs the worker's process group when it stops a trial, and
        # torchrun then stops its ranks (they run in sessions of their own, out of killpg's reach).
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=launch.workdir)
        try:
            while not _exited(process, wait_s=0.1):
                report(tune, metrics.new_rows())
                mirror.sync(every_s=MIRROR_EVERY_S)
            report(tune, metrics.new_rows())
        finally:
            stop(process)
            mirror.close()
    return process.returncode


MIRROR_EVERY_S = 2.0  # how often a trial's new metrics and files go to MLflow while it runs


def report(tune, rows: list[dict]) -> None:
    """metrics.jsonl lines to Tune, numbers only (what Tune takes as metrics)."""
    for row in rows:
        tune.report({k: v for k, v in row.items() if isinstance(v, (int, float))})


class TrialMirror:
    """The trial's run directory mirrored into its MLflow run (smolwhisper.tracking.RunMirror), tagged
    with the node of this attempt. The mirror is opened in a thread, so that importing mlflow and
    opening the store overlap the trainer's start; a tracking failure is a line in train.log, never a
    failed trial: the orchestrator mirrors the directory again when the sweep ends."""

    def __init__(self, launch: Launch, node_id: str, log):
        self.launch, self.node_id, self.log = launch, node_id, log
        self.mirror, self.last_sync = None, 0.0
        self.opening = threading.Thread(target=self.open, daemon=True)
        self.opening.start()

    def open(self) -> None:
        from smolwhisper import tracking

        try:
            self.mirror = tracking.mirror(self.launch.mlflow_uri, Path(self.launch.trial_dir) / "run",
                                          run_id=self.launch.mlflow_run_id)
            self.mirror.client.set_tag(self.mirror.run_id, "smolwhisper.node_id", self.node_id)
        except Exception as error:  # noqa: BLE001 - any failure of the store: noted, the trial goes on
            self.warn(error)

    def sync(self, every_s: float = 0.0) -> None:
        if self.mirror is None or time.monotonic() - self.last_sync < every_s:
            return
        try:
            self.mirror.sync()
        except Exception as error:  # noqa: BLE001
            self.warn(error)
        self.last_sync = time.monotonic()

    def close(self) -> None:
        self.opening.join(60)
        self.sync()
        if self.mirror is not None:
            try:
                self.mirror.flush()
            except Exception as error:  # noqa: BLE001
                self.warn(error)

    def warn(self, error: Exception) -> None:
        self.log.write(f"warning: MLflow ({self.launch.mlflow_uri}): {type(error).__name__}: {error}\n")
        self.log.flush()
        self.mirror = None


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


def run_with_ray(prepare_launches: Callable[[str], list[Launch]], sweep_dir: Path, max_concurrent: int,
                 retries: int, address: str | None, metric: str = "val/wer") -> bool:
    """Runs the trials, one console line each (`metric` is the ranked one); True when Ctrl-C stopped them.
    `prepare_launches` is called with the Ray dashboard's address ("" if none) once Ray has started, so
    that what it prepares overlaps Ray's start."""
    import ray

    from .console import send_ray_logs_to, sweep_console

    send_ray_logs_to(sweep_dir / "ray.log")
    ctrl_c = ctrl_c_stopper()
    # Ours from before ray.init, so that a Ctrl-C while Ray starts takes the same path as one later.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # started as a background job: keep ignoring it, as Python does
        signal.signal(signal.SIGINT, ctrl_c.on_sigint)
    try:
        dashboard_url = ""
        if not ray.is_initialized():
            runtime_env = {"env_vars": forwarded_env()}
            if address:
                context = ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
            else:
                context = ray.init(include_dashboard=True, log_to_driver=False, runtime_env=runtime_env)
            dashboard_url = context.dashboard_url or ""
        if not ctrl_c.interrupted:
            launches = prepare_launches(dashboard_url)
            warn_of_sqlite_across_nodes(launches[0].mlflow_uri, sum(node["Alive"] for node in ray.nodes()))
            console = sweep_console({launch.trial_id: launch.max_steps for launch in launches}, metric,
                                    run_dirs={launch.trial_id: Path(launch.trial_dir) / "run" for launch in launches})
            # Tune prints its experiment banner whatever its verbosity: to the log, not between our lines.
            with open(sweep_dir / "ray.log", "a") as ray_log, contextlib.redirect_stdout(ray_log):
                tuner(launches, sweep_dir, max_concurrent, retries, ctrl_c, console).fit()
    finally:
        signal.signal(signal.SIGINT, previous)
    return ctrl_c.interrupted


def stop_ray() -> None:
    """Ray stopped (a no-op where this process started no Ray, and only a disconnect from a cluster it
    joined), on the calling thread before anything else runs: a Ray call from this process during or after
    a shutdown (an ObjectRef the collector frees, say) ends it with status 1 ("The core worker has already
    been shutdown"), as a two-node sweep whose trials had all finished once did while Ray stopped in
    another thread."""
    import gc

    import ray

    gc.collect()  # Tune's ObjectRefs freed while Ray can still take them
    ray.shutdown()


def warn_of_sqlite_across_nodes(uri: str, n_nodes: int) -> None:
    if n_nodes > 1 and uri.startswith("sqlite:"):
        print(f"warning: trials on {n_nodes} Ray nodes log into the SQLite store {uri}, which the other nodes "
              f"reach only on shared storage, where SQLite's locking is unsafe (NFS): give tracking.mlflow_uri "
              f"an MLflow tracking server (http://HEAD:5000) or a database (postgresql://...)", flush=True)


def tuner(launches: list[Launch], sweep_dir: Path, max_concurrent: int, retries: int, stopper, console=None):
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
                                  failure_config=tune.FailureConfig(max_failures=retries),
                                  callbacks=[console] if console else [], verbose=0),
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_=," else "_" for c in name)[:120]
