"""Where to watch a sweep, printed when it starts and again when it ends: the MLflow UI (the command
that serves a database store, and the direct address of the experiment's runs table), an SSH tunnel
line for a sweep on a remote node, and the Ray dashboard.

MLflow 3.18's UI opens an experiment on its GenAI overview, whatever the experiment's tags; the
runs table is at `#/experiments/<id>/runs`, so that is the address printed.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

MLFLOW_UI_PORT = 5000  # `mlflow ui`'s default
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def runs_url(server: str, experiment_id: str) -> str:
    """The page of an experiment's runs (parent runs with their trials nested), on an MLflow server."""
    return f"{server.rstrip('/')}/#/experiments/{experiment_id}/runs"


def mlflow_command() -> str:
    """`mlflow` as the user can type it: the one beside this Python (a venv's bin), else from PATH."""
    beside = Path(os.path.abspath(sys.executable)).parent / "mlflow"  # not resolved: a venv's python is a link
    return str(beside) if beside.exists() else "mlflow"


def watch_lines(uri: str, experiment_id: str, dashboard_url: str = "") -> list[str]:
    """What to open, and how, for a sweep tracked in `uri` (experiment `experiment_id`)."""
    if uri.startswith(("http://", "https://")):
        server, lines = uri, [f"MLflow runs: {runs_url(uri, experiment_id)}"]
    else:
        server = f"http://127.0.0.1:{MLFLOW_UI_PORT}"
        lines = [f"MLflow UI:   {mlflow_command()} ui --backend-store-uri {uri} --port {MLFLOW_UI_PORT}",
                 f"  its runs:  {runs_url(server, experiment_id)}"]
    if dashboard_url:
        lines.append(f"Ray dashboard: http://{dashboard_url.removeprefix('http://')}")
    tunnel = tunnel_line([server, dashboard_url])
    if tunnel:
        lines.append(f"From another machine: {tunnel}  (then open the addresses above there)")
    return lines


def tunnel_line(addresses: list[str]) -> str:
    """An SSH command forwarding the local ports of the pages that listen on this node's loopback only."""
    ports = []
    for address in addresses:
        if not address:
            continue
        parts = urlsplit(address if "//" in address else f"http://{address}")
        if parts.hostname in LOCAL_HOSTS and parts.port:
            ports.append(parts.port)
    if not ports:
        return ""
    forwards = " ".join(f"-L {port}:127.0.0.1:{port}" for port in ports)
    return f"ssh -N {forwards} {getpass.getuser()}@{socket.gethostname()}"


def print_watch_lines(uri: str, experiment_id: str, dashboard_url: str = "", stream=None) -> None:
    print("\n".join(watch_lines(uri, experiment_id, dashboard_url)), file=stream or sys.stdout, flush=True)
