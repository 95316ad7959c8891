"""bench/gpu_check.py and bench/gpu_check.sh on a CPU: each check passes as built and fails with its
fault planted (--inject), and the node script installs a folder of wheels without network and refuses
to go on without CUDA. The checks' CUDA-only parts run as the named CPU stand-ins."""

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import write_tone_corpus

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("corpus"), n_train=24, n_validation=4)


def run_check(gpu_check, name: str, corpus: Path, work: Path, inject: str = ""):
    return gpu_check.CHECKS[name](gpu_check.Context(cpu=True, inject=inject, corpus=corpus, work=work))


@pytest.mark.parametrize("name", ["packed_attention", "attention_kernels", "moe_grouped"])
def test_a_check_passes_and_fails_with_its_fault_planted(gpu_check, corpus, tmp_path, name):
    assert run_check(gpu_check, name, corpus, tmp_path / "clean").passed
    planted = run_check(gpu_check, name, corpus, tmp_path / "planted", inject=name)
    assert not planted.passed, planted.detail


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sync_free", "learnable", "ddp", "compile", "torchrun", "speed"])
def test_a_training_check_fails_with_its_fault_planted(gpu_check, corpus, tmp_path, name):
    planted = run_check(gpu_check, name, corpus, tmp_path, inject=name)
    assert not planted.passed, planted.detail


@pytest.mark.slow
def test_every_check_passes_on_a_cpu_and_writes_its_table(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--cpu", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["passed"] and [r["name"] for r in report["results"] if r["passed"]] == [
        "packed_attention", "attention_kernels", "sync_free", "learnable", "moe_grouped", "ddp", "compile",
        "torchrun", "speed"]
    table = (tmp_path / "gpu_check.md").read_text()
    assert table in done.stdout and table.count("| pass |") == 9


def write_wheel(folder: Path, name: str) -> Path:
    """A minimal pure-Python wheel holding one module that records its import."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}.py", "IMPORTED = True\n")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")
    return path


def run_node_script(tmp_path: Path, bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(tmp_path / "out")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GPU_BUNDLE": str(bundle), "PYTHON": sys.executable,
                               "PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/unreachable"})


def test_the_node_script_installs_the_bundled_wheels_offline_then_refuses_without_cuda(tmp_path):
    write_wheel(tmp_path / "bundle" / "wheels", "bundled_one")
    write_wheel(tmp_path / "bundle" / "wheels", "bundled_two")
    done = run_node_script(tmp_path, tmp_path / "bundle")
    assert done.returncode == 2, done.stderr
    assert "2 wheels from" in done.stdout
    installed = (tmp_path / "out" / "installed.txt").read_text().split()
    assert installed == ["bundled_one-1.0.dist-info", "bundled_two-1.0.dist-info"]
    assert "sees no CUDA GPU" in done.stderr and not (tmp_path / "out" / "gpu_check.json").exists()


def test_the_node_script_says_how_to_make_the_bundle_when_there_is_none(tmp_path):
    done = run_node_script(tmp_path, tmp_path / "no_bundle")
    assert done.returncode == 2 and "make gpu-wheels" in done.stderr
