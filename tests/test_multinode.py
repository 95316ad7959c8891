"""Sweeps over a two-node Ray cluster, tracked by an MLflow server on PostgreSQL: what a user with more
than one machine runs (README, "Many nodes"), on this one machine.

Ray's own test cluster (`ray.cluster_utils.Cluster`) starts a head and a worker node, one CPU each, so
two trials at once must land on both. The tracking server is `mlflow server --serve-artifacts` over a
PostgreSQL started here in a temporary directory, as an unprivileged user (PostgreSQL refuses root);
trainers log into the server (http://) or into the database itself (postgresql://).
Slow (about 2 minutes on 2 cores): `make test-slow`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from smolwhisper.run_files import complete_checkpoints

from helpers import write_tone_corpus

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout_s: float, what: str, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


# ------------------------------------------------------------------------------------ PostgreSQL


def postgres_bin(name: str) -> str:
    """Debian keeps the server's programs out of PATH, in /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        pytest.skip(f"PostgreSQL's {name} is not installed (Debian: apt-get install postgresql; see scripts/setup.sh)")
    return found


def unprivileged_user() -> str | None:
    """The user to run PostgreSQL as: ourselves, unless we are root (which it refuses)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    pytest.skip("running as root with neither a 'postgres' nor a 'nobody' user to run PostgreSQL as")


@pytest.fixture(scope="module")
def postgres_uri():
    user = unprivileged_user()
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as `user`.
    data = Path(tempfile.mkdtemp(prefix="smolwhisper-pg-"))
    if user:
        shutil.chown(data, user)
    port = free_port()

    def as_server_user(*command: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(command, user=user, check=True, capture_output=True, text=True, **kwargs)

    as_server_user(postgres_bin("initdb"), "-D", str(data / "db"), "-U", "mlflow", "-A", "trust", "-E", "UTF8")
    as_server_user(postgres_bin("pg_ctl"), "-D", str(data / "db"), "-l", str(data / "server.log"), "-w",
                   "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        as_server_user(postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", "mlflow")
        yield f"postgresql://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run([postgres_bin("pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"], user=user,
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def tracking_server(postgres_uri, tmp_path_factory):
    """`mlflow server` on PostgreSQL, serving artifacts: its http:// URI."""
    directory = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    with open(directory / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres_uri,
             "--serve-artifacts", "--artifacts-destination", str(directory / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert server.poll() is None, f"mlflow server exited:\n{(directory / 'server.log').read_text()[-3000:]}"
        with contextlib.suppress(OSError):
            return urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200
        return False

    try:
        wait_until(healthy, 120, "the MLflow server to answer", poll_s=0.5)
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        server.wait(30)


# ------------------------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def cluster():
    """A head and a worker node on this machine, one CPU and a custom resource each."""
    from ray.cluster_utils import Cluster

    small = {"num_cpus": 1, "object_store_memory": 100 * 1024**2, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={**small, "resources": {"head": 1}})
    cluster.add_node(**small, resources={"worker": 1})
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()


# ----------------------------------------------------------------------------------------- sweeps


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("multinode")
    write_tone_corpus(root / "corpus", n_train=24, n_validation=4)
    return root


def run_config(workdir: Path, max_steps: int) -> dict:
    """The test model on the tone corpus: a step takes a fraction of a second."""
    return {"model": {"preset": "test", "n_text_ctx": 32},
            "data": {"source": str(workdir / "corpus"), "vocab_size": 300, "max_batch_s": 30,
                     "max_duration_s": 2, "num_workers": 0},
            "optim": {"warmup_steps": 2, "lr": 3.0e-3},
            "train": {"max_steps": max_steps, "checkpoint_every": 4, "log_every": 2},
            "eval": {"every_steps": max_steps, "max_tokens": 8}}


def write_spec(workdir: Path, name: str, tracking_uri: str, max_steps: int, variants: dict) -> Path:
    spec = {"name": name, "base": {"config": run_config(workdir, max_steps)},
            "sweep": {"variants": variants, "seeds": [0, 1]},
            "resources": {"cpus": 1, "nproc_per_node": 1}, "max_concurrent": 2, "retries": 1,
            "tracking": {"mlflow_uri": tracking_uri, "experiment": name}}
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def start_sweep(spec: Path, cluster, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), str(spec), "--address", cluster.address],
                            cwd=spec.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})


def parent_pids() -> dict[int, int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    return parents


def attempt_processes(trial_dir: Path) -> list[int]:
    """The Ray worker running a trial, and everything below it: torchrun, the trainer and what it started."""
    config = f"--config\0{trial_dir / 'config.yaml'}\0".encode()
    launched = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if config in cmdline.read_bytes():
                launched.add(int(cmdline.parent.name))
    parents = parent_pids()
    [torchrun] = [pid for pid in launched if parents.get(pid) not in launched]
    tree = [parents[torchrun]]
    for pid in tree:
        tree += [child for child, parent in parents.items() if parent == pid]
    return tree


def power_off(cluster, node, trial_dir: Path) -> None:
    """What a machine that dies does to its processes: they stop at once, without signal handlers or
    clean-up (SIGSTOP first, so none of them sees the others go), then Ray's own processes are killed."""
    processes = attempt_processes(trial_dir)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    cluster.remove_node(node, allow_graceful=False)
    for pid in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


ATTEMPT = re.compile(r"=== attempt started .* on node (\w+) ")


def attempt_nodes(trial_dir: Path) -> list[str]:
    """The Ray node of each attempt at a trial, in order, from its train.log."""
    log = trial_dir / "train.log"
    return ATTEMPT.findall(log.read_text(errors="replace")) if log.exists() else []


def runs_of(client, sweep: str) -> tuple:
    experiment = client.get_experiment_by_name(sweep)
    parent = client.search_runs([experiment.experiment_id], f"tags.mlflow.runName = '{sweep}'")
    assert len(parent) == 1, [r.info.run_name for r in parent]
    children = client.search_runs([experiment.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent[0].info.run_id}'")
    return experiment, parent[0], {run.info.run_name: run for run in children}


def test_a_sweep_spreads_over_two_nodes_into_the_tracking_server(cluster, tracking_server, workdir, tmp_path):
    """Four trials, two at a time on two one-CPU nodes: both nodes train, and the tracking server holds
    the parent run, its four children with their params, step metrics and artifacts (uploaded through
    the server, so a trainer on any node can write them and any machine read them). Variables set only
    in the orchestrator's environment (a Hugging Face one, one named in SMOLWHISPER_ENV_VARS) reach the
    trials on both nodes, whose own environment is the one their node started with."""
    from mlflow.tracking import MlflowClient

    variants = {"dense": {"model.decoder_ffn": "dense"}, "moe": {"model.decoder_ffn": "moe", "model.n_experts": 2}}
    probe = {"HF_HOME": str(tmp_path / "hf"), "SMOLWHISPER_PROBE": "1", "SMOLWHISPER_ENV_VARS": "SMOLWHISPER_PROBE"}
    assert not set(probe) & set(os.environ)  # so the nodes (started by this process) lack them
    sweep = start_sweep(write_spec(workdir, "two-nodes", tracking_server, 8, variants), cluster, probe)
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, output[-5000:]

    client = MlflowClient(tracking_server)
    experiment, parent, children = runs_of(client, "two-nodes")
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
    assert parent.info.status == "FINISHED"
    assert "two-nodes.yaml" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert sorted(children) == ["dense,seed=0", "dense,seed=1", "moe,seed=0", "moe,seed=1"]

    [worker] = cluster.worker_nodes
    nodes = {cluster.head_node.node_id: "head", worker.node_id: "worker"}
    trials = workdir / "runs" / "two-nodes" / "trials"
    for name, run in children.items():
        run_id = run.info.run_id
        assert run.info.status == "FINISHED", name
        assert run.data.params["train.seed"] == name[-1]
        assert run.data.params["model.decoder_ffn"] == name.split(",")[0]
        assert [m.step for m in client.get_metric_history(run_id, "val/wer")] == [8]
        assert {m.step for m in client.get_metric_history(run_id, "train/loss")} == {1, 2, 4, 6, 8}
        assert {"summary.json", "config.yaml", "train.log", "step_00000008.jsonl"} <= {
            a.path for a in client.list_artifacts(run_id)}
        summary = json.loads(Path(client.download_artifacts(run_id, "summary.json", str(tmp_path))).read_text())
        assert summary["status"] == "FINISHED" and summary["step"] == 8
        assert attempt_nodes(trials / name) == [run.data.tags["smolwhisper.node_id"]], name
        [received] = re.findall(r"^from the orchestrator's environment: (.*)$", (trials / name / "train.log").read_text(),
                                re.MULTILINE)
        assert {"HF_HOME", "SMOLWHISPER_PROBE"} <= set(received.split(", ")) and "missing" not in received, received
    landed = {nodes.get(run.data.tags["smolwhisper.node_id"]) for run in children.values()}
    assert landed == {"head", "worker"}, {name: run.data.tags["smolwhisper.node_id"] for name, run in children.items()}


def test_a_trial_on_a_lost_node_resumes_on_the_survivor(cluster, postgres_uri, workdir):
    """The worker node dies mid-trial (every process of it stopped at once, no clean-up): Tune retries
    that trial on the head, where the trainer resumes from the last checkpoint the lost node wrote to the
    (here, and on a cluster it must be, shared) runs/ directory, and finishes; MLflow lacks no step.
    This sweep's trainers log straight into PostgreSQL (tracking.mlflow_uri: postgresql://...)."""
    from mlflow.tracking import MlflowClient

    max_steps = 40
    spec = write_spec(workdir, "lost-node", postgres_uri, max_steps, {"dense": {"model.decoder_ffn": "dense"}})
    trials = workdir / "runs" / "lost-node" / "trials"
    [worker_node] = cluster.worker_nodes
    worker = worker_node.node_id
    sweep = start_sweep(spec, cluster)
    try:
        def on_worker_with_checkpoint() -> str | None:
            for trial_dir in trials.glob("*"):
                if attempt_nodes(trial_dir) == [worker] and complete_checkpoints(trial_dir / "run"):
                    return trial_dir.name
            return None

        lost = wait_until(on_worker_with_checkpoint, 300, "a checkpoint of a trial on the worker node")
        power_off(cluster, worker_node, trials / lost)
        output, _ = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, output[-5000:]

    log = (trials / lost / "train.log").read_text()
    assert attempt_nodes(trials / lost) == [worker, cluster.head_node.node_id], log[-3000:]
    resumed = re.search(r"resumed from \S+ at step (\d+)", log.split("=== attempt started")[-1])
    assert resumed and int(resumed.group(1)) > 0, log[-3000:]
    assert json.loads((trials / lost / "run" / "summary.json").read_text())["step"] == max_steps

    client = MlflowClient(postgres_uri)
    _, parent, children = runs_of(client, "lost-node")
    assert parent.info.status == "FINISHED"
    run = children[lost]
    assert run.info.status == "FINISHED"
    assert run.data.tags["smolwhisper.node_id"] == cluster.head_node.node_id
    # what the lost node's trainer had not logged, the resumed one logs
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert {1, *range(2, max_steps + 1, 2)} == set(steps), sorted(steps)
    print(f"lost at step {resumed.group(1)}; steps logged twice: {sorted(s for s in set(steps) if steps.count(s) > 1)}")


@pytest.mark.parametrize("store", ["server", "database"])
def test_a_trainer_alone_logs_into_the_server_or_the_database(store, request, workdir):
    """tracking.mlflow_uri of a run config, outside any sweep: python -m smolwhisper.train."""
    from mlflow.tracking import MlflowClient

    uri = request.getfixturevalue({"server": "tracking_server", "database": "postgres_uri"}[store])
    config = run_config(workdir, 4)
    config["train"]["out_dir"] = str(workdir / f"alone-{store}")
    config["tracking"] = {"mlflow_uri": uri, "experiment": f"alone-{store}"}
    (workdir / f"alone-{store}.yaml").write_text(yaml.safe_dump(config))
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    trainer = subprocess.run([sys.executable, "-m", "smolwhisper.train", "--config", f"alone-{store}.yaml"],
                             cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert trainer.returncode == 0, trainer.stderr[-3000:]
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name(f"alone-{store}").experiment_id])
    assert run.info.status == "FINISHED"
    assert {m.step for m in client.get_metric_history(run.info.run_id, "train/loss")} == {1, 2, 4}
    assert "summary.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
