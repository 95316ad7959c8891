"""MLflow through its own client: a run directory mirrored into a run, each step once, whatever dies."""

import json

import pytest

from smolwhisper import run_files, tracking


@pytest.fixture
def store(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    return uri, MlflowClient(uri)


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_a_mirror_logs_config_params_metrics_and_artifacts_of_a_run_directory(store, tmp_path):
    uri, client = store
    run_dir = tmp_path / "run"
    run_files.write_config(run_dir, {"model": {"top_k": 2}, "train": {"seed": 0}})
    run_files.update_params(run_dir, {"params.total": 1000})
    for step in (1, 2):
        run_files.append_metrics(run_dir, step, {"train/loss": 4.0 - step})
    run_files.write_json(run_files.hypotheses_path(run_dir, 2), {"id": "u0"})
    mirror = tracking.mirror(uri, run_dir, "standalone", "run-a")
    mirror.sync()
    run_files.append_metrics(run_dir, 2, {"val/wer": 0.5})
    run_files.write_json(run_dir / run_files.SUMMARY_FILE, {"status": "FINISHED"})
    mirror.finish()

    run = client.get_run(mirror.run_id)
    assert run.info.run_name == "run-a" and run.info.status == "FINISHED"
    assert run.data.params == {"model.top_k": "2", "train.seed": "0", "params.total": "1000"}
    assert history(client, mirror.run_id, "train/loss") == [(1, 3.0), (2, 2.0)]
    assert history(client, mirror.run_id, "val/wer") == [(2, 0.5)]
    artifacts = {a.path for a in client.list_artifacts(mirror.run_id)}
    assert artifacts == {"step_00000002.jsonl", "summary.json", "config.yaml"}
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on runs


def test_a_new_mirror_logs_what_mlflow_lacks_once_per_step(store, tmp_path):
    # The mirror dies after logging steps 1-3 but before it noted how far it got; the trainer resumes
    # from its step-2 checkpoint and writes steps 3 and 4 again (step 3 with another value).
    uri, client = store
    run_dir = tmp_path / "run"
    for step in (1, 2, 3):
        run_files.append_metrics(run_dir, step, {"train/loss": float(step)})
    first = tracking.mirror(uri, run_dir, "resumed")
    first.sync()
    first.flush()
    (run_dir / tracking.MIRROR_FILE).unlink()  # as if the mirror had died before writing it
    for step in (3, 4):
        run_files.append_metrics(run_dir, step, {"train/loss": 10.0 * step})
    second = tracking.RunMirror(first.client, first.run_id, run_dir)
    second.sync()
    second.flush()
    assert history(client, first.run_id, "train/loss") == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)]
    third = tracking.RunMirror(first.client, first.run_id, run_dir)  # picks up where the second noted
    assert third.metrics.offset == (run_dir / run_files.METRICS_FILE).stat().st_size
    assert json.loads((run_dir / tracking.MIRROR_FILE).read_text())["run_id"] == first.run_id


def test_an_unreachable_store_is_named(tmp_path):
    with pytest.raises(tracking.TrackingError, match=r"MLflow store .*mlflow.db.*0123456789abcdef"):
        tracking.mirror(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "run", run_id="0123456789abcdef")


def test_flatten_turns_a_config_into_dotted_parameters():
    assert tracking.flatten({"model": {"top_k": 2, "moe": {"n": 4}}, "seed": 1}) == {
        "model.top_k": 2, "model.moe.n": 4, "seed": 1}
