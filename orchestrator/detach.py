"""A sweep in the background, so that it outlives the terminal (an SSH session) that started it:

    python run.py SPEC --detach   # returns at once; the console goes to runs/<sweep>/console.log
    python run.py SPEC --stop     # as Ctrl-C would: every trial stops (KILLED); SPEC again resumes

The sweep runs in a session of its own (setsid), so the hang-up that ends a closed terminal's
processes reaches neither it nor the Ray processes and trainers it starts. runs/<sweep>/sweep.pid
names it while it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CONSOLE_LOG = "console.log"
PID_FILE = "sweep.pid"
DETACHED_FLAG = "--detached"  # what the background process is started with; run.py's hidden option


def start(command: list[str], sweep_dir: Path, spec_path: str) -> int:
    """Start `command` ([python, run.py, its arguments]) in the background; prints how to follow and stop it."""
    stop_command = " ".join([*map(_short_path, command[:2]), spec_path, "--stop"])
    running = running_pid(sweep_dir)
    if running:
        print(f"run.py: the sweep is already running in the background (pid {running})\n"
              f"{how_to(sweep_dir, stop_command)}", file=sys.stderr)
        return 1
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log_path = sweep_dir / CONSOLE_LOG
    with open(log_path, "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen([*command, DETACHED_FLAG], stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    (sweep_dir / PID_FILE).write_text(f"{process.pid}\n")
    print(f"sweep running in the background (pid {process.pid}); it goes on when this terminal closes.\n"
          f"{how_to(sweep_dir, stop_command)}")
    return 0


def how_to(sweep_dir: Path, stop_command: str) -> str:
    return f"follow it: tail -f {_short_path(sweep_dir / CONSOLE_LOG)}\nstop it:   {stop_command}"


def _short_path(path: str | Path) -> str:
    """Relative to the working directory where that is shorter and inside it."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


@contextlib.contextmanager
def detached(sweep_dir: Path):
    """The background sweep's own set-up: Ctrl-C's signal (from --stop) stops it as Ctrl-C would, even
    where the shell that started it ignored SIGINT for background jobs; the pid file goes at the end."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        pid_file = sweep_dir / PID_FILE
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()


def stop(sweep_dir: Path, timeout_s: float = 600.0) -> int:
    """Send the background sweep Ctrl-C's signal and wait for it to close its runs and exit."""
    pid = running_pid(sweep_dir)
    if pid is None:
        print(f"run.py: no sweep of {sweep_dir.name!r} is running in the background")
        return 1
    os.kill(pid, signal.SIGINT)
    print(f"stopping the sweep (pid {pid}): its trials are stopped and marked KILLED; run the same spec "
          "again to resume them", flush=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            print("stopped")
            return 0
        time.sleep(0.5)
    print(f"run.py: pid {pid} is still running after {timeout_s:.0f} s; see {sweep_dir / CONSOLE_LOG}", file=sys.stderr)
    return 1


def running_pid(sweep_dir: Path) -> int | None:
    """The pid of this sweep's background process, if one runs (a stale pid file is removed)."""
    pid_file = sweep_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if alive(pid) and DETACHED_FLAG in _command_line(pid):
        return pid
    with contextlib.suppress(OSError):
        pid_file.unlink()
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    return "State:\tZ" not in _proc_text(pid, "status")


def _command_line(pid: int) -> str:
    """The process's command line, where /proc has it (Linux); elsewhere a pid that lives is trusted."""
    text = _proc_text(pid, "cmdline")
    return text.replace("\0", " ") if text else DETACHED_FLAG


def _proc_text(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return ""
