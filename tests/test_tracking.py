"""The trainer's MLflow tracker: a writer process that keeps what it was sent, even if the trainer dies."""

import pytest

from smolwhisper.tracking import MLflowTracker, TrackingError


def test_writer_creates_a_run_and_keeps_metrics_sent_before_the_trainer_died(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = MLflowTracker(uri, "standalone", "run-a")
    tracker.log_params({"model.top_k": 2})
    for step in (1, 2, 3):
        tracker.log_metrics({"train/loss": 4.0 - step}, step)
    run_id = tracker.run_id  # answered by the writer, once the metrics before it are handled
    tracker.process.stdin.close()  # what the writer sees when the trainer is SIGKILLed
    assert tracker.process.wait(60) == 0

    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.run_name == "run-a" and run.info.status == "RUNNING"  # the orchestrator settles it
    assert run.data.params == {"model.top_k": "2"}
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "train/loss")] == [(1, 3.0), (2, 2.0), (3, 1.0)]


def test_writer_failure_is_raised_in_the_trainer_naming_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef")  # no such run in this store
    tracker = MLflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "x", "")
    tracker.log_metrics({"train/loss": 1.0}, 1)
    with pytest.raises(TrackingError, match="mlflow.db.*0123456789abcdef"):
        tracker.flush()


def test_finish_returns_while_a_forked_child_still_holds_the_writers_input(tmp_path, monkeypatch):
    # DataLoader workers of a new epoch are forked after the writer started and inherit its stdin.
    import multiprocessing
    import time

    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    tracker = MLflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "forked", "")
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(120,))
    child.start()
    try:
        start = time.monotonic()
        tracker.finish("FINISHED")
        assert tracker.process.returncode == 0 and time.monotonic() - start < 50
    finally:
        child.kill()
