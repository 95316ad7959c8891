"""What a person reads during a sweep: one line per trial (status, step of max, loss, the ranked metric,
elapsed, ETA), or a summary of them where they outnumber the terminal's lines, redrawn in place on a
terminal and printed when something changes otherwise; a trial that fails prints `<trial>: failed:
<first error line>` above them as it fails. Ray's and Tune's own messages go to <sweep>/ray.log
instead of the console."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .failures import NOT_RETRYABLE, failure_reason


@dataclass
class TrialLine:
    trial_id: str
    max_steps: int
    status: str = "PENDING"
    step: int = 0
    loss: float | None = None
    metric: float | None = None
    started: float | None = None
    ended: float | None = None
    attempts: int = 0
    reason: str = ""  # why a STOPPED trial stopped

    def render(self, width: int, metric_name: str, now: float) -> str:
        elapsed = ((self.ended or now) - self.started) if self.started is not None else 0.0
        eta = elapsed / self.step * (self.max_steps - self.step) if self.step and self.status == "RUNNING" else None
        retry = f" (attempt {self.attempts})" if self.attempts > 1 else ""
        return (f"{self.trial_id:<{width}}  {self.status + retry:<20} {self.step:>6}/{self.max_steps:<6} "
                f"{_number(self.loss, '.3f'):>8}  {_number(self.metric, '.1%'):>{max(8, len(metric_name))}}  "
                f"{_duration(elapsed):>7}  {_duration(eta):>7}" + (f"  {self.reason}" if self.reason else ""))


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{seconds:02d}s"


def header(width: int, metric: str) -> str:
    return (f"{'trial':<{width}}  {'status':<20} {'step':>13} {'loss':>8}  "
            f"{metric:>{max(8, len(metric))}}  {'elapsed':>7}  {'ETA':>7}")


def table(lines: list[TrialLine], rows: int, width: int, metric: str, now: float) -> list[str]:
    """A line per trial under a header; where that is taller than the terminal (`rows`, one kept for the
    cursor), a summary instead: counts per status, the best so far, the running trials, the last ended."""
    if len(lines) + 2 <= rows:
        return [header(width, metric)] + [line.render(width, metric, now) for line in lines]
    counts = Counter(line.status for line in lines)
    text = [f"{len(lines)} trials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))]
    scored = [line for line in lines if line.metric is not None]
    if scored:
        best = min(scored, key=lambda line: line.metric)
        text.append(f"best so far: {best.trial_id}  {metric} {best.metric:.1%} at step {best.step}")
    text.append(header(width, metric))
    budget = rows - 1 - len(text)
    running = [line for line in lines if line.status == "RUNNING"]
    ended = sorted((line for line in lines if line.ended is not None), key=lambda line: -line.ended)
    shown = running[:budget - 1] if len(running) > budget else running
    text += [line.render(width, metric, now) for line in shown]
    if len(shown) < len(running):
        text.append(f"... and {len(running) - len(shown)} more running")
    text += [line.render(width, metric, now) for line in ended[:max(0, rows - 1 - len(text))]]
    return text


def sweep_console(max_steps: dict[str, int], metric: str, stream=None, run_dirs: dict[str, Path] | None = None,
                  rows: int | None = None):
    """A Tune callback that keeps the lines up to date and draws them (folded into a summary where they
    outnumber the terminal's `rows`, by default its height); a trial whose run directory (`run_dirs`)
    says it STOPPED shows so, with its reason, and one that failed prints why."""
    from smolwhisper import run_files
    from ray import tune

    class SweepConsole(tune.Callback):
        def __init__(self):
            self.lines = {trial_id: TrialLine(trial_id, steps) for trial_id, steps in max_steps.items()}
            self.stream = stream or sys.stdout  # the console's, before Tune's prints are redirected
            self.live = self.stream.isatty()
            self.drawn, self.last_draw = 0, 0.0
            self.width = max(len("trial"), *(len(t) for t in max_steps))

        def __getstate__(self):
            # Tune pickles its callbacks with the experiment state, and a terminal does not pickle.
            return {**self.__dict__, "stream": None}

        def line(self, trial) -> TrialLine:
            return self.lines[trial.config["trial_id"]]

        def on_trial_start(self, iteration, trials, trial, **info):
            line = self.line(trial)
            line.status, line.attempts = "RUNNING", line.attempts + 1
            line.started = line.started or time.time()
            self.draw(force=True)

        on_trial_restore = on_trial_start

        def on_trial_result(self, iteration, trials, trial, result, **info):
            line = self.line(trial)
            line.step = int(result.get("step", line.step))
            line.loss = result.get("train/loss", line.loss)
            line.metric = result.get(metric, line.metric)
            self.draw()

        def on_trial_complete(self, iteration, trials, trial, **info):
            run_dir = (run_dirs or {}).get(trial.config["trial_id"])
            summary = run_files.read_summary(run_dir) if run_dir else {}
            if summary.get("status") == run_files.STOPPED:
                self.line(trial).reason = summary.get("stop_reason", "")
                self.end(trial, run_files.STOPPED)
            elif (getattr(trial, "last_result", None) or {}).get(NOT_RETRYABLE):
                self.end(trial, "FAILED")
            else:
                self.end(trial, "FINISHED")

        def on_trial_error(self, iteration, trials, trial, **info):
            self.end(trial, "ERROR")

        def end(self, trial, status: str) -> None:
            line = self.line(trial)
            line.status, line.ended = status, time.time()
            if status in ("FAILED", "ERROR") and line.trial_id in (run_dirs or {}):
                self.say(f"{line.trial_id}: failed: {failure_reason(run_dirs[line.trial_id].parent)}")
            self.draw(force=True)

        def say(self, message: str) -> None:
            """A line kept above the table: the table is cleared, the line written, the table drawn below."""
            if self.live and self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.stream.write(message + "\n")
            self.drawn = 0

        def draw(self, force: bool = False) -> None:
            now = time.time()
            if not force and now - self.last_draw < (1.0 if self.live else 60.0):
                return
            height = rows or shutil.get_terminal_size().lines
            text = table(list(self.lines.values()), height, self.width, metric, now)
            if self.live and self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F\x1b[J")  # back to the first line drawn, clear below
            self.stream.write("\n".join(text) + "\n")
            self.stream.flush()
            self.drawn, self.last_draw = len(text), now

    return SweepConsole()


def send_ray_logs_to(path: Path) -> None:
    """Ray's and Tune's loggers write to `path`, not to the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
