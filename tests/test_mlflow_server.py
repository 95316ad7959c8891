"""The MLflow pages a user opens: the runs page a sweep links to, seen in a headless Chromium, and a
tracking server behind MLflow's basic-auth app that a sweep logs into with a user's credentials.
Slow (a server start each, and a browser): `make test-slow`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from orchestrator.expand import expand
from orchestrator.monitor import runs_url
from orchestrator.spec import load_spec
from orchestrator.tracking import SweepTracking

from helpers import write_tone_corpus

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(directory: Path, backend_uri: str, *options: str, env: dict | None = None):
    """`mlflow server` on this machine's loopback: yields its http:// address once it answers."""
    port = free_port()
    with open(directory / "server.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
                                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *options],
                                  cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, **(env or {})})
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (directory / "server.log").read_text()[-3000:]
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{address}/health", timeout=2).status == 200:
                    break
            assert time.monotonic() < deadline, "the MLflow server did not answer"
            time.sleep(0.5)
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def spec_file(root: Path, tracking_uri: str = "") -> Path:
    config = {"model": {"preset": "test", "n_text_ctx": 32},
              "data": {"source": str(root / "corpus"), "vocab_size": 300, "max_batch_s": 30, "max_duration_s": 2,
                       "num_workers": 0},
              "optim": {"warmup_steps": 2}, "train": {"max_steps": 4, "log_every": 2},
              "eval": {"every_steps": 4, "max_tokens": 8}}
    spec = {"name": "watched", "base": {"config": config}, "resources": {"cpus": 1},
            "sweep": {"variants": {"dense": {}, "moe": {"model.decoder_ffn": "moe", "model.n_experts": 2}}},
            **({"tracking": {"mlflow_uri": tracking_uri}} if tracking_uri else {})}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root / "spec.yaml"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (scripts/setup.sh)")
def test_the_runs_link_a_sweep_prints_opens_on_its_runs(tmp_path):
    """MLflow 3.18 opens an experiment on its GenAI overview; the address the sweep prints
    (monitor.runs_url) must land on the runs table, where the sweep's parent run is listed."""
    spec = load_spec(spec_file(tmp_path))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = SweepTracking(uri, spec.name, spec.name, tmp_path / "runs" / spec.name)
    for trial in expand(spec).trials:
        (tmp_path / trial.trial_id).mkdir()
        tracking.child_run(trial, tmp_path / trial.trial_id)
    with mlflow_server(tmp_path, uri) as address:
        page = runs_url(address, tracking.experiment_id)
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--disable-extensions", "--disable-background-networking", "--disable-sync",
                               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no network
                               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1366,900",
                               "--virtual-time-budget=30000", "--dump-dom", page],
                              capture_output=True, text=True, timeout=180)
    dom = done.stdout
    assert "watched" in dom, f"{page}: the sweep's parent run is not on the page; chromium: {done.stderr[-2000:]}"
    assert "Send your first trace" not in dom


def test_a_sweep_logs_into_a_basic_auth_server_with_a_users_credentials(tmp_path, monkeypatch):
    """MLflow's basic-auth app refuses a request without a password; the sweep, given the credentials in
    MLFLOW_TRACKING_USERNAME/PASSWORD (which its trials receive by name, never printed), logs its runs."""
    from mlflow.tracking import MlflowClient

    write_tone_corpus(tmp_path / "corpus", n_train=16, n_validation=4)
    auth = tmp_path / "basic_auth.ini"
    auth.write_text("[mlflow]\ndefault_permission = READ\n"
                    f"database_uri = sqlite:///{tmp_path / 'users.db'}\nadmin_username = admin\n"
                    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    password = "a-long-test-password-42"
    server_env = {"MLFLOW_AUTH_CONFIG_PATH": str(auth), "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                  "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key-for-csrf-0123456789"}
    with mlflow_server(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", "--app-name", "basic-auth",
                       "--serve-artifacts", "--artifacts-destination", str(tmp_path / "artifacts"),
                       env=server_env) as address:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{address}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
        assert refused.value.code == 401

        spec = spec_file(tmp_path, address)
        credentials = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password}
        sweep = subprocess.run([sys.executable, str(ROOT / "run.py"), str(spec)], cwd=tmp_path, capture_output=True,
                               text=True, timeout=600, env={**os.environ, **credentials})
        assert sweep.returncode == 0, sweep.stdout[-4000:] + sweep.stderr[-2000:]
        assert f"MLflow runs: {address}/#/experiments/" in sweep.stdout and password not in sweep.stdout

        for key, value in credentials.items():
            monkeypatch.setenv(key, value)
        client = MlflowClient(address)
        runs = client.search_runs([client.get_experiment_by_name("watched").experiment_id])
        assert sorted(run.info.run_name for run in runs) == ["dense,seed=0", "moe,seed=0", "watched"]
        assert {run.info.status for run in runs} == {"FINISHED"}
        assert all(client.get_metric_history(run.info.run_id, "train/loss") for run in runs
                   if run.info.run_name != "watched")
    log = (tmp_path / "runs" / "watched" / "trials" / "dense,seed=0" / "train.log").read_text()
    assert "MLFLOW_TRACKING_PASSWORD" in log and password not in log
    assert json.loads((tmp_path / "runs" / "watched" / "trials" / "dense,seed=0" / "run" / "summary.json")
                      .read_text())["status"] == "FINISHED"
