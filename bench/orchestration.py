"""Orchestration overhead: 8 short trials through `run.py` (Ray + torchrun + MLflow) against the
same trials run with plain torchrun one after another, without MLflow, in this one run.

Prints the per-trial overhead of Ray + MLflow (sweep with one trial at a time, minus plain, over 8;
target <= 1.5 s) and the wall time of the sweep with 2 trials at once against the sequential
time (target <= 0.9x). The three are run in turn, `--rounds` times, and each figure is the median
over rounds of the figures within one round: a shared or virtual machine's speed drifts by more
than the overhead measured.

    python bench/orchestration.py [--steps 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import write_tone_corpus  # noqa: E402
from orchestrator.expand import expand  # noqa: E402
from orchestrator.spec import load_spec  # noqa: E402
from smolwhisper.config import to_dict  # noqa: E402


def write_spec(root: Path, name: str, steps: int, max_concurrent: int) -> Path:
    spec = {
        "name": name,
        "base": {"config": {
            "model": {"preset": "test", "n_text_ctx": 32},
            "data": {"source": str(root / "corpus"), "vocab_size": 300, "max_batch_s": 30, "max_duration_s": 2,
                     "num_workers": 0},
            "optim": {"warmup_steps": 2},
            "train": {"max_steps": steps, "checkpoint_every": steps, "log_every": 1},
            "eval": {"every_steps": steps, "max_tokens": 8}}},
        "sweep": {"variants": {"dense": {"model.decoder_ffn": "dense"},
                               "moe": {"model.decoder_ffn": "moe", "model.n_experts": 2}},
                  "seeds": [0, 1, 2, 3]},
        "resources": {"cpus": 1}, "max_concurrent": max_concurrent}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def plain_torchrun(spec_path: Path, root: Path) -> float:
    start = time.perf_counter()
    for trial in expand(load_spec(spec_path)).trials:
        config = to_dict(trial.config)
        config["train"].update(out_dir=str(root / "plain" / trial.trial_id), progress=False)
        path = root / "plain" / f"{trial.trial_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
                        "-m", "smolwhisper.train", "--config", str(path)], check=True, cwd=root,
                       capture_output=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                                 "MLFLOW_TRACKING_URI": ""})
    return time.perf_counter() - start


def sweep(spec_path: Path, root: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "run.py"), str(spec_path)], check=True, cwd=root,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    overheads, ratios = [], []
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as directory:
            root = Path(directory)
            write_tone_corpus(root / "corpus")
            plain = plain_torchrun(write_spec(root, "plain", args.steps, 1), root)
            one_at_a_time = sweep(write_spec(root, "one", args.steps, 1), root)
            two_at_once = sweep(write_spec(root, "two", args.steps, 2), root)
        overheads.append((one_at_a_time - plain) / 8)
        ratios.append(two_at_once / plain)
        print(f"round {round_}: 8 trials of {args.steps} steps: plain torchrun one after another {plain:.1f} s; "
              f"run.py one at a time {one_at_a_time:.1f} s ({overheads[-1]:.2f} s/trial more); "
              f"run.py two at once {two_at_once:.1f} s ({ratios[-1]:.2f}x)", flush=True)
    print(f"per-trial overhead of Ray + MLflow: {statistics.median(overheads):.2f} s, median of {args.rounds} "
          f"(target <= 1.5 s)")
    print(f"sweep with 2 trials at once vs sequential plain torchrun: {statistics.median(ratios):.2f}x the time, "
          f"median of {args.rounds} (target <= 0.9x)")


if __name__ == "__main__":
    main()
