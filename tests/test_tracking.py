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


def test_the_sweeps_shared_writer_serves_trainers_at_once_and_outlives_a_shutdown_until_they_finish(
        tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking import SharedWriter
    from smolwhisper.tracking import WRITER_SOCKET_ENV

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("shared")
    run_ids = [client.create_run(experiment).info.run_id for _ in range(2)]
    writer = SharedWriter()
    monkeypatch.setenv(WRITER_SOCKET_ENV, writer.address)
    trackers = []
    for run_id in run_ids:
        monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
        trackers.append(MLflowTracker(uri, "shared", ""))
    assert all(t.process is None for t in trackers)  # no writer process of their own
    for step in (1, 2):
        for i, tracker in enumerate(trackers):
            tracker.log_metrics({"train/loss": 10.0 * i + step}, step)
    trackers[0].finish("FINISHED")
    closing = __import__("threading").Thread(target=writer.close)
    closing.start()  # the orchestrator is done, but the second trainer still logs and then dies
    trackers[1].log_metrics({"train/loss": 13.0}, 3)
    trackers[1].flush()
    for end in (trackers[1].writes, trackers[1].reads, trackers[1].connection):  # what dying does
        end.close()
    closing.join(60)
    assert writer.process.returncode == 0
    assert [m.value for m in client.get_metric_history(run_ids[0], "train/loss")] == [1.0, 2.0]
    assert [m.value for m in client.get_metric_history(run_ids[1], "train/loss")] == [11.0, 12.0, 13.0]
    assert client.get_run(run_ids[0]).info.status == "FINISHED"


def test_a_trainer_that_finds_no_shared_writer_on_its_node_starts_its_own(tmp_path, monkeypatch):
    from smolwhisper.tracking import WRITER_SOCKET_ENV

    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.setenv(WRITER_SOCKET_ENV, str(tmp_path / "on-another-node.sock"))
    tracker = MLflowTracker(f"sqlite:///{tmp_path}/mlflow.db", "fallback", "")
    assert tracker.process is not None and tracker.run_id
    tracker.finish("FINISHED")
