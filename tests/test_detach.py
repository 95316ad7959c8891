"""run.py --detach: a sweep that outlives the terminal that started it, followed in its console log and
stopped with --stop."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.detach import alive
from smolwhisper import run_files

from helpers import write_tone_corpus

ROOT = Path(__file__).resolve().parents[1]
RUN = [sys.executable, str(ROOT / "run.py"), "spec.yaml"]

pytestmark = pytest.mark.slow


def write_spec(root: Path, max_steps: int) -> None:
    config = {"model": {"preset": "test", "n_text_ctx": 32},
              "data": {"source": str(root / "corpus"), "vocab_size": 300, "max_batch_s": 30, "max_duration_s": 2,
                       "num_workers": 0},
              "optim": {"warmup_steps": 2},
              "train": {"max_steps": max_steps, "checkpoint_every": 10, "log_every": 5},
              "eval": {"every_steps": max_steps, "max_tokens": 8}}
    (root / "spec.yaml").write_text(yaml.safe_dump({"name": "bg", "base": {"config": config},
                                                    "resources": {"cpus": 1}}))


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def recorded_hash(trial_dir: Path) -> str | None:
    try:
        return json.loads((trial_dir / "trial.json").read_text())["config_hash"]
    except (OSError, ValueError):  # not there yet, or being written
        return None


def test_a_detached_sweep_outlives_its_terminal_and_a_rerun_trains_nothing(tmp_path):
    write_tone_corpus(tmp_path / "corpus")
    write_spec(tmp_path, max_steps=30)
    sweep_dir = tmp_path / "runs" / "bg"
    # The terminal: a shell in a session of its own that starts the sweep and stays open; closing it ends
    # every process of its session.
    terminal = subprocess.Popen(["bash", "-c", " ".join(RUN) + " --detach && sleep 600"], cwd=tmp_path,
                                start_new_session=True, stdout=subprocess.PIPE, text=True)
    told = "".join(terminal.stdout.readline() for _ in range(3))
    assert "sweep running in the background" in told and "tail -f runs/bg/console.log" in told, told
    assert "spec.yaml --stop" in told
    pid = int((sweep_dir / "sweep.pid").read_text())
    os.killpg(terminal.pid, signal.SIGHUP)
    os.killpg(terminal.pid, signal.SIGKILL)
    terminal.wait()

    wait_until(lambda: not alive(pid), 400, "the detached sweep did not end")
    console = (sweep_dir / "console.log").read_text()
    assert re.search(r"its runs: +http://127\.0\.0\.1:5000/#/experiments/\d+/runs", console), console
    assert "Ray dashboard: http://" in console and "From another machine: ssh -N -L 5000:127.0.0.1:5000" in console
    trial_dir = sweep_dir / "trials" / "base,seed=0"
    assert run_files.read_summary(trial_dir / "run")["status"] == "FINISHED", console
    assert not (sweep_dir / "sweep.pid").exists()

    again = subprocess.run(RUN, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "skip base,seed=0: finished earlier" in again.stdout
    assert (trial_dir / "train.log").read_text().count("=== attempt started") == 1

    # --stop ends a detached sweep as Ctrl-C would: its trial's run is KILLED, and it can resume
    finished_hash = recorded_hash(trial_dir)
    write_spec(tmp_path, max_steps=100_000)  # another experiment: the finished trial's directory is kept aside
    assert subprocess.run([*RUN, "--detach"], cwd=tmp_path, capture_output=True, timeout=120).returncode == 0
    wait_until(lambda: (trial_dir / "run" / "metrics.jsonl").exists() and recorded_hash(trial_dir) != finished_hash,
               300, "the trial did not start")
    stopped = subprocess.run([*RUN, "--stop"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    assert run_files.read_summary(trial_dir / "run")["status"] == "KILLED"
    assert "stopped: run the same command again" in (sweep_dir / "console.log").read_text()
    assert not (sweep_dir / "sweep.pid").exists()
