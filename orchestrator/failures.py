"""Why a trial failed, in one line: the reason its trainer recorded in the run directory (a
configuration or data error, which no retry can fix), else the first error line of its last attempt
in train.log (a crash, a kill)."""

from __future__ import annotations

import re
from pathlib import Path

from smolwhisper import run_files

ATTEMPT_MARK = "=== attempt started"  # train.log's first line of each attempt
# Reported to Tune by an attempt whose trainer failed in a way no retry can fix (a configuration or
# data error): the trial then ends without an error, so Tune does not start it again.
NOT_RETRYABLE = "trial/not_retryable"
ERROR_LINE = re.compile(r"^\s*(?:[\w.]*(?:Error|Exception)\b.*|.*: error: .*|.*exited with (?:status|code) .*)$")


def failure(trial_dir: Path) -> dict:
    """{"reason", "retryable"} the trainer wrote, or {} (it died before it could)."""
    return run_files.read_failure(Path(trial_dir) / "run")


def failure_reason(trial_dir: Path) -> str:
    recorded = failure(trial_dir).get("reason")
    if recorded:
        return recorded
    log = Path(trial_dir) / "train.log"
    try:
        attempt = log.read_text(errors="replace").rsplit(ATTEMPT_MARK, 1)[-1].splitlines()[1:]
    except OSError:
        return "no train.log"
    return next((line.strip() for line in attempt if ERROR_LINE.match(line)), "no error line; see train.log")
