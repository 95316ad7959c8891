"""Run an ablation sweep: `python run.py SPEC.yaml [--dry-run | --fast-dev-run] [--address ADDR] [--restart]
[--set K=V ...] [--detach | --stop]`.
Report on one: `python run.py report SPEC.yaml|SWEEP_NAME [--out FILE] [--tracking-uri URI]`.

Expands the spec into trials, checks that their data is there (or will be made), runs them as
Ray-scheduled torchrun jobs (a local Ray unless --address or RAY_ADDRESS names a cluster), tracks
them in MLflow and prints a comparison. Running it again skips finished trials and resumes the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from orchestrator import detach
from orchestrator.spec import SpecError, load_spec
from orchestrator.sweep import run_sweep, sweep_directory
from smolwhisper.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["report"]:
        return report(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="a sweep spec, e.g. experiments/smoke.yaml")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the expanded trials, check their data sources exist, and exit")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                        help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--restart", action="store_true", help="start every trial over, in new MLflow runs")
    parser.add_argument("--fast-dev-run", action="store_true",
                        help="rehearse every configuration in minutes (a few steps at its real shapes, largest batch "
                             "first, a checkpoint saved and read back, one evaluation) in runs/<name>-fast-dev-run, "
                             "and print a table: OK or error, s/step, peak memory, projected time")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a base config value for every trial (repeatable), e.g. "
                             "--set data.source=gigaspeech:s:/data/gigaspeech")
    parser.add_argument("--detach", action="store_true",
                        help="run in the background, on after this terminal closes; the console goes to "
                             "runs/<sweep>/console.log")
    parser.add_argument("--stop", action="store_true", help="stop the sweep that --detach started (as Ctrl-C)")
    parser.add_argument(detach.DETACHED_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        check_address(args.address)
        sweep_dir = sweep_directory(Path.cwd(), load_spec(args.spec, args.overrides).name)
        if args.stop:
            return detach.stop(sweep_dir)
        check_spec_data(args.spec, args.overrides)
        if args.detach and not args.dry_run:
            command = [sys.executable, str(Path(__file__).resolve()), *(a for a in argv if a != "--detach")]
            return detach.start(command, sweep_dir, args.spec)
        with detach.detached(sweep_dir) if args.detached else contextlib.nullcontext():
            return run_sweep(args.spec, dry_run=args.dry_run, address=args.address, restart=args.restart,
                             overrides=args.overrides, fast_dev_run=args.fast_dev_run)
    except (SpecError, ConfigError) as error:
        print(f"run.py: {error}", file=sys.stderr)
        return 2


def check_address(address: str | None) -> None:
    """Ray Client (ray://) runs the driver off the cluster, where the trials' directories are not: the
    sweep runs on a node of the cluster instead."""
    if address and address.startswith("ray://"):
        raise SpecError(f"--address {address}: Ray Client addresses (ray://) are not supported; run run.py on a "
                        "node of the cluster with its GCS address, e.g. --address HEAD:6379 (--detach keeps it "
                        "running after you log out)")


def check_spec_data(spec_path: str, overrides: list[str] = ()) -> None:
    """Data sources and tokenizer files of every trial, before anything starts (SpecError if missing)."""
    from orchestrator.expand import expand
    from orchestrator.preflight import check_data

    spec = load_spec(spec_path, overrides)
    for note in check_data(spec, expand(spec).trials):
        print(note)


def report(argv: list[str]) -> int:
    """Build the sweep's HTML report from MLflow (default runs/<sweep name>/report.html)."""
    from orchestrator.tracking import default_uri
    from reports import build_report
    from reports.build import ReportError

    parser = argparse.ArgumentParser(prog="run.py report", description=report.__doc__)
    parser.add_argument("sweep", help="the sweep's spec file or its name")
    parser.add_argument("--out", type=Path, help="where to write the HTML (default runs/<sweep name>/report.html)")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="the MLflow store (default: MLFLOW_TRACKING_URI, else the spec's tracking.mlflow_uri, "
                             "else ./mlflow.db)")
    args = parser.parse_args(argv)
    uri = args.tracking_uri or _spec_uri(args.sweep) or default_uri(Path.cwd())
    try:
        build_report(uri, args.sweep, args.out)
    except ReportError as error:
        print(f"run.py report: {error}", file=sys.stderr)
        return 2
    return 0


def _spec_uri(sweep: str) -> str:
    """The store a spec file names in tracking.mlflow_uri, if it is a spec file that names one."""
    import yaml

    path = Path(sweep)
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return ""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):  # the report names the spec it cannot read
        return ""
    tracking = raw.get("tracking") if isinstance(raw, dict) else None
    uri = tracking.get("mlflow_uri") if isinstance(tracking, dict) else None
    return uri if isinstance(uri, str) else ""


if __name__ == "__main__":
    sys.exit(main())
