"""MLflow for a training run: its run directory mirrored into one MLflow run with MLflow's own
client and its asynchronous logging (`log_batch(..., synchronous=False)`), no service of our own.

The trainer writes its run directory (run_files); `RunMirror.sync()` logs what is new there (each
`log_batch` returns at once; `flush` waits on the operations it returned): the
config and params.json as parameters, each new metrics.jsonl line, each hypotheses file and, at
the end, summary.json and config.yaml. Under run.py the trial's Ray actor mirrors the trainer's
directory while it runs, so the trainer never imports mlflow; a standalone trainer with a
tracking URI mirrors its own directory at each log window.

Nothing logged is lost when a trainer or the mirror is killed: the mirror keeps how far it got in
the run directory (.mlflow_mirror.json, written after each flush), and a new mirror of the same run
starts there. A step that MLflow already holds for a metric (the lines a resumed trainer writes
again for the steps it redoes) is not logged twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import run_files

MIRROR_FILE = ".mlflow_mirror.json"
MAX_BATCH = 1000  # metrics per log_batch call: MLflow's limit
# A trial's run carries, per config key its sweep spec set (variant, grid, seed), the tag AXIS_TAG + key.
AXIS_TAG = "smolwhisper.axis."
# A run its stop rule ended early: MLflow status KILLED, these tags say STOPPED and why.
STATUS_TAG = "smolwhisper.status"
STOP_REASON_TAG = "smolwhisper.stop_reason"
# Tags that make MLflow 3's UI open an experiment on its training runs, not on its GenAI traces.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or refuses a run: the message names the store."""


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"top_k": 2}} -> {"model.top_k": 2}: a config as MLflow parameters."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def open_run(uri: str, experiment: str, run_name: str = "", run_id: str = "", tags: dict | None = None):
    """(client, run id): the run `run_id`, or a new run named `run_name` in `experiment`."""
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(uri)
        if run_id:
            client.get_run(run_id)
            return client, run_id
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment, tags=EXPERIMENT_TAGS)
        return client, client.create_run(experiment_id, run_name=run_name or None, tags=tags or {}).info.run_id
    except Exception as error:  # noqa: BLE001 - MLflow raises many kinds; the trainer needs one
        raise TrackingError(f"MLflow store {uri}: {type(error).__name__}: {error}") from error


class RunMirror:
    """Keeps one MLflow run up to date with a run directory."""

    def __init__(self, client, run_id: str, run_dir: Path):
        self.client, self.run_id, self.run_dir = client, run_id, Path(run_dir)
        state = run_files.read_json(self.run_dir / MIRROR_FILE)
        if state.get("run_id") != run_id:
            state = {}
        self.metrics = run_files.MetricsReader(self.run_dir, state.get("offset", 0))
        self.artifacts: set[str] = set(state.get("artifacts", []))
        self.params: set[str] = set(state.get("params", []))
        # (steps MLflow holds) per metric, looked up the first time this mirror meets the metric in a
        # run that has metrics already: a resumed run rewrites the lines of the steps it redoes.
        self.resumed = bool(client.get_run(run_id).data.metrics)
        self.logged_steps: dict[str, set[int]] = {}
        self.pending: list = []  # the RunOperations of log_batch calls not yet waited on

    def sync(self) -> None:
        """Log what is new in the run directory (asynchronously; `flush` waits for it)."""
        from mlflow.entities import Metric, Param

        config = run_files.read_config(self.run_dir)
        params = {**flatten(config), **run_files.read_json(self.run_dir / run_files.PARAMS_FILE)}
        new = [Param(key, str(value)[:6000]) for key, value in params.items() if key not in self.params]
        for start in range(0, len(new), 100):
            self.pending.append(self.client.log_batch(self.run_id, params=new[start: start + 100], synchronous=False))
        self.params |= {param.key for param in new}
        points = []
        for row in self.metrics.new_rows():
            step, timestamp = row["step"], int(1000 * row.get("time", 0))
            for key, value in row.items():
                if key in ("step", "time") or not isinstance(value, (int, float)) or self.has(key, step):
                    continue
                points.append(Metric(key, float(value), timestamp, step))
                self.logged_steps.setdefault(key, set()).add(step)
        for start in range(0, len(points), MAX_BATCH):
            self.pending.append(self.client.log_batch(self.run_id, metrics=points[start: start + MAX_BATCH],
                                                      synchronous=False))
        hypotheses = self.run_dir / run_files.HYPOTHESES_DIR
        for path in sorted(hypotheses.glob("*.jsonl")) if hypotheses.is_dir() else []:
            self.log_artifact(path)

    def has(self, key: str, step: int) -> bool:
        if self.resumed and key not in self.logged_steps:
            self.logged_steps[key] = {m.step for m in self.client.get_metric_history(self.run_id, key)}
        return step in self.logged_steps.get(key, ())

    def log_artifact(self, path: Path) -> None:
        if path.is_file() and path.name not in self.artifacts:
            self.client.log_artifact(self.run_id, str(path))
            self.artifacts.add(path.name)

    def flush(self) -> None:
        """Wait until MLflow holds what was logged, then note how far the mirror got."""
        for operations in self.pending:
            operations.wait()
        self.pending.clear()
        run_files.write_json(self.run_dir / MIRROR_FILE, {
            "run_id": self.run_id, "offset": self.metrics.offset, "artifacts": sorted(self.artifacts),
            "params": sorted(self.params)})

    def finish(self, status: str | None = None, *artifacts: Path) -> None:
        """Everything left, the run's summary and config and any `artifacts`; then its status (the
        summary's, where none is given)."""
        self.sync()
        for path in (self.run_dir / run_files.SUMMARY_FILE, self.run_dir / run_files.CONFIG_FILE, *artifacts):
            self.log_artifact(Path(path))
        self.flush()
        summary = run_files.read_summary(self.run_dir)
        status = status or summary.get("status")
        if status == run_files.STOPPED:
            # MLflow knows no such status: KILLED (ended before its end), with what ended it in the tags.
            self.client.set_tag(self.run_id, STATUS_TAG, run_files.STOPPED)
            self.client.set_tag(self.run_id, STOP_REASON_TAG, summary.get("stop_reason", "")[:5000])
            status = "KILLED"
        if status:
            self.client.set_terminated(self.run_id, status)


def mirror(uri: str, run_dir: Path, experiment: str = "smolwhisper", run_name: str = "", run_id: str = "",
           tags: dict | None = None) -> RunMirror:
    """A mirror of `run_dir` into the run `run_id` of the store `uri` (a new run if none is given)."""
    client, run_id = open_run(uri, experiment, run_name, run_id, tags)
    return RunMirror(client, run_id, run_dir)
