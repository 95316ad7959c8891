"""run.py SPEC --fast-dev-run: one seed of each configuration rehearsed at its shapes, the table per trial."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.expand import expand
from orchestrator.rehearsal import CPU_BATCH_S, STEPS, rehearsal_spec, rehearsal_trial, representatives
from orchestrator.spec import load_spec

from helpers import write_gigaspeech_copy

ROOT = Path(__file__).resolve().parents[1]


def test_one_seed_of_each_configuration_is_rehearsed_on_shapes_a_cpu_holds():
    spec = load_spec(ROOT / "experiments" / "moe_sweep.yaml")
    trials = expand(spec).trials
    chosen = representatives(trials)
    rehearsed = {id(t): t for t in chosen.values()}
    assert len(trials) == 39 and len(rehearsed) == 13
    assert all(rep.seed == 0 and rep.overrides.items() - {("train.seed", 0)} ==
               trial.overrides.items() - {("train.seed", trial.seed)} for trial, rep in
               ((t, chosen[t.trial_id]) for t in trials))
    cpu = rehearsal_trial(trials[0], on_gpu=False).config
    assert (cpu.train.max_steps, cpu.eval.max_utterances, cpu.train.device) == (STEPS, 4, "cpu")
    assert cpu.data.max_batch_s == CPU_BATCH_S and cpu.optim.global_batch_s == 0 and cpu.data.num_workers == 0
    assert cpu.model == trials[0].config.model  # the real model: only the batch is what a CPU holds
    gpu = rehearsal_trial(trials[0], on_gpu=True).config
    assert gpu.data == trials[0].config.data and gpu.optim == trials[0].config.optim  # real shapes on the GPU
    plan = rehearsal_spec(spec, on_gpu=False)
    assert plan.name == "moe-sweep-fast-dev-run" and plan.tracking.experiment == "moe-sweep-fast-dev-run"
    assert (plan.resources.gpus, plan.resources.cpus, plan.retries) == (0, 1, 0)


@pytest.mark.slow  # 13 rehearsals of tiny.en: about 8 minutes on 2 loaded cores
def test_fast_dev_run_of_the_moe_sweep_on_a_local_gigaspeech_copy(tmp_path):
    from mlflow.tracking import MlflowClient

    from smolwhisper.data.synth import SynthConfig, synthesize_corpus

    synthesize_corpus(SynthConfig(hours=0.02), tmp_path / "synth", workers=2, progress=False)
    copy = write_gigaspeech_copy(tmp_path / "synth", tmp_path / "gigaspeech")
    run = subprocess.run([sys.executable, str(ROOT / "run.py"), str(ROOT / "experiments" / "moe_sweep.yaml"),
                          "--fast-dev-run", "--set", f"data.source=gigaspeech:s:{copy}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    out = run.stdout
    assert "fast dev run: 13 configuration(s) of 39 trial(s)" in out and "no GPU here: on CPU" in out
    rows = re.findall(r"^((?:dense|moe)\S*) +([\d.]+) +([\d.]+) GB +([\d.]+ [a-z]+) +(.+)$", out, re.MULTILINE)
    assert len(rows) == 39, out[-5000:]
    outcomes = [outcome for *_, outcome in rows]
    assert outcomes.count("OK") == 13 and sum("(another seed)" in o for o in outcomes) == 26
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("moe-sweep-fast-dev-run")
    children = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 13 and {r.info.status for r in children} == {"FINISHED"}
    log = (tmp_path / "runs" / "moe-sweep-fast-dev-run" / "trials" / "dense,seed=0" / "train.log").read_text()
    assert "resumed from" in log  # the checkpoint was read back
    assert json.loads((tmp_path / "runs" / "throughput.json").read_text())["cpu"]["flops_per_s"] > 0
    assert not (tmp_path / "runs" / "moe-sweep").exists()  # the sweep itself is untouched
