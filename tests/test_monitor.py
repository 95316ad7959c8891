"""Where to watch a sweep: the MLflow runs page of its experiment, the Ray dashboard, an SSH tunnel."""

from orchestrator.monitor import watch_lines


def test_a_local_store_gets_the_ui_command_its_runs_page_and_a_tunnel_for_both_pages():
    lines = watch_lines("sqlite:////data/mlflow.db", "7", "127.0.0.1:8266")
    assert lines[0].endswith("mlflow ui --backend-store-uri sqlite:////data/mlflow.db --port 5000")
    assert lines[1].split() == ["its", "runs:", "http://127.0.0.1:5000/#/experiments/7/runs"]
    assert lines[2] == "Ray dashboard: http://127.0.0.1:8266"
    tunnel = lines[3].split("From another machine: ")[1]
    assert tunnel.startswith("ssh -N -L 5000:127.0.0.1:5000 -L 8266:127.0.0.1:8266 ")


def test_a_tracking_server_is_linked_directly_and_needs_no_tunnel_when_it_listens_on_the_network():
    assert watch_lines("http://head:5000", "12") == ["MLflow runs: http://head:5000/#/experiments/12/runs"]
    assert "ssh -N -L 5000:127.0.0.1:5000" in watch_lines("http://127.0.0.1:5000/", "12")[-1]
