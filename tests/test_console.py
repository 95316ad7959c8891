"""The sweep console: one line per trial, redrawn in place on a terminal, printed on changes elsewhere."""

import contextlib
import io
import re
import sys
from types import SimpleNamespace

from orchestrator import console as console_module
from orchestrator.console import TrialLine, sweep_console

METRIC = "val/wer_rescore_lm"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def trial(trial_id: str):
    return SimpleNamespace(config={"trial_id": trial_id})


def frames(text: str) -> list[str]:
    """What a terminal shows after each redraw: the text after each 'cursor up N lines, clear below'."""
    return re.split(r"\x1b\[\d+F\x1b\[J", text)


def screen_after(text: str) -> list[str]:
    """The lines a terminal shows at the end: each 'cursor up N lines, clear below' erases the last N."""
    lines: list[str] = []
    for n, chunk in enumerate(re.split(r"\x1b\[(\d+)F\x1b\[J", text)):
        if n % 2:
            del lines[len(lines) - int(chunk):]
        else:
            lines += chunk.splitlines()
    return lines


def test_a_terminal_sees_one_line_per_trial_redrawn_in_place_with_step_loss_metric_and_eta(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(console_module.time, "time", lambda: clock[0])
    screen = Terminal()
    console = sweep_console({"dense,seed=0": 700, "moe-4x2,seed=0": 700}, METRIC, stream=screen)
    console.on_trial_start(0, [], trial("dense,seed=0"))
    clock[0] += 100
    console.on_trial_result(0, [], trial("dense,seed=0"), {"step": 350, "train/loss": 3.21, METRIC: 0.856})
    console.on_trial_start(0, [], trial("moe-4x2,seed=0"))
    clock[0] += 100
    console.on_trial_complete(0, [], trial("dense,seed=0"))

    shown = frames(screen.getvalue())
    assert len(shown) == 4  # every event redraws once the clock has moved or the status changed
    last = shown[-1].splitlines()
    assert len(last) == 3 and last[0].split() == ["trial", "status", "step", "loss", METRIC, "elapsed", "ETA"]
    assert last[1].split() == ["dense,seed=0", "FINISHED", "350/700", "3.210", "85.6%", "3m20s", "-"]
    assert last[2].split() == ["moe-4x2,seed=0", "RUNNING", "0/700", "-", "-", "1m40s", "-"]
    # mid-run: half the steps in 100 s leaves 100 s to go
    assert shown[1].splitlines()[1].split()[-2:] == ["1m40s", "1m40s"]


def test_a_log_file_gets_the_table_on_status_changes_and_at_most_once_a_minute_otherwise(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(console_module.time, "time", lambda: clock[0])
    log = io.StringIO()
    console = sweep_console({"a": 10}, METRIC, stream=log)
    console.on_trial_start(0, [], trial("a"))
    for step in range(1, 10):
        clock[0] += 10
        console.on_trial_result(0, [], trial("a"), {"step": step, "train/loss": 1.0})
    clock[0] += 30
    console.on_trial_error(0, [], trial("a"))
    text = log.getvalue()
    assert "\x1b[" not in text  # no cursor movement outside a terminal
    tables = text.count("trial  ")
    assert tables == 3  # start, the result a minute later (step 6), the error
    assert "ERROR" in text.splitlines()[-1]


def test_a_retried_trial_shows_its_attempt_and_keeps_its_first_start():
    line = TrialLine("t", 100, status="RUNNING", step=20, started=0.0, attempts=2)
    assert line.render(1, METRIC, now=40.0).split()[1:5] == ["RUNNING", "(attempt", "2)", "20/100"]
    assert line.render(1, METRIC, now=40.0).split()[-2:] == ["0m40s", "2m40s"]


def test_the_console_pickles_while_tunes_prints_go_elsewhere(tmp_path, monkeypatch):
    """Tune pickles its callbacks with the experiment state, while run_with_ray sends Tune's own prints
    to ray.log: the console's stream, the real stdout then, must not be pickled."""
    from ray import cloudpickle

    with open(tmp_path / "stdout", "w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        console = sweep_console({"a": 10}, METRIC)
        console.on_trial_start(0, [], trial("a"))
        with contextlib.redirect_stdout(io.StringIO()):
            copy = cloudpickle.loads(cloudpickle.dumps(console))
    assert copy.stream is None and copy.lines["a"].status == "RUNNING"


def test_a_failed_trial_prints_its_reason_above_the_table_as_it_fails(tmp_path):
    from orchestrator.failures import NOT_RETRYABLE
    from smolwhisper import run_files

    run_files.write_failure(tmp_path / "a" / "run", "data.source 'x': no such corpus\n(details)", retryable=False)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "train.log").write_text("=== attempt started 1\nold\n=== attempt started 2 on node n\n"
                                              "Traceback (most recent call last):\n  File x\n"
                                              "RuntimeError: CUDA error: an illegal memory access\n")
    screen = Terminal()
    console = sweep_console({"a": 10, "b": 10}, METRIC, stream=screen, run_dirs={"a": tmp_path / "a" / "run",
                                                                                  "b": tmp_path / "b" / "run"})
    console.on_trial_start(0, [], trial("a"))
    done = SimpleNamespace(config={"trial_id": "a"}, last_result={NOT_RETRYABLE: 1})
    console.on_trial_complete(0, [], done)
    console.on_trial_error(0, [], trial("b"))
    last = screen_after(screen.getvalue())
    assert last[:2] == ["a: failed: data.source 'x': no such corpus (details)",
                        "b: failed: RuntimeError: CUDA error: an illegal memory access"]
    assert last[3].split()[:2] == ["a", "FAILED"] and last[4].split()[:2] == ["b", "ERROR"]


def test_a_sweep_taller_than_the_terminal_is_folded_into_a_summary(monkeypatch):
    """78 trials in a 24-line terminal: counts per status, the best so far, every running trial, and the
    most recently ended trials in what is left, never more lines than the terminal has."""
    clock = [1000.0]
    monkeypatch.setattr(console_module.time, "time", lambda: clock[0])
    ids = [f"moe,n_experts={n},top_k={k},noisy_topk={noisy},seed={seed}" for n in (4, 8, 16) for k in (1, 2)
           for noisy in ("on", "off") for seed in (0, 1, 2)] + [f"dense,seed={seed}" for seed in range(42)]
    assert len(ids) == 78
    screen = Terminal()
    console = sweep_console(dict.fromkeys(ids, 60000), METRIC, stream=screen, rows=24)
    for index, trial_id in enumerate(ids[:40]):
        clock[0] += 10
        console.on_trial_start(0, [], trial(trial_id))
        console.on_trial_result(0, [], trial(trial_id), {"step": 60000, METRIC: 0.30 + 0.001 * ((index * 7) % 40)})
        if index < 2:
            console.on_trial_error(0, [], trial(trial_id))
        elif index < 32:
            console.on_trial_complete(0, [], trial(trial_id))

    shown = frames(screen.getvalue())[-1].splitlines()
    assert len(shown) <= 23  # one line is left for the cursor
    assert shown[0] == "78 trials: 2 ERROR, 30 FINISHED, 38 PENDING, 8 RUNNING"
    best = min(range(40), key=lambda index: (index * 7) % 40)
    assert shown[1].split()[:4] == ["best", "so", "far:", ids[best]] and "30.0% at step 60000" in shown[1]
    assert shown[2].split()[:2] == ["trial", "status"]
    rows = [line.split()[:2] for line in shown[3:]]
    assert rows[:8] == [[trial_id, "RUNNING"] for trial_id in ids[32:40]]
    assert rows[8:] == [[trial_id, "FINISHED"] for trial_id in reversed(ids[32 - len(rows[8:]):32])]
    assert len(rows[8:]) == 23 - 3 - 8


def test_a_sweep_that_fits_the_terminal_keeps_one_line_per_trial():
    screen = Terminal()
    console = sweep_console({f"t{i}": 10 for i in range(22)}, METRIC, stream=screen, rows=24)
    console.on_trial_start(0, [], trial("t0"))
    assert len(frames(screen.getvalue())[-1].splitlines()) == 23
