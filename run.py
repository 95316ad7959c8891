"""Run an ablation sweep: `python run.py SPEC.yaml [--dry-run] [--address ADDR] [--restart]`.

Expands the spec into trials, runs them as Ray-scheduled torchrun jobs (a local Ray unless
--address or RAY_ADDRESS names a cluster), tracks them in MLflow and prints a comparison.
Running it again skips finished trials and resumes the rest.
"""

from __future__ import annotations

import argparse
import os
import sys

from orchestrator.spec import SpecError
from orchestrator.sweep import run_sweep
from smolwhisper.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="a sweep spec, e.g. experiments/smoke.yaml")
    parser.add_argument("--dry-run", action="store_true", help="print the expanded trials and exit")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                        help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--restart", action="store_true", help="start every trial over, in new MLflow runs")
    args = parser.parse_args(argv)
    try:
        return run_sweep(args.spec, dry_run=args.dry_run, address=args.address, restart=args.restart)
    except (SpecError, ConfigError) as error:
        print(f"run.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
