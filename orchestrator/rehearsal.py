"""`run.py SPEC --fast-dev-run` (PyTorch Lightning's name): the sweep rehearsed in minutes before it
spends hours. Each configuration runs a few optimizer steps at its real shapes, its largest batch
first, one checkpoint saved and read back, and one evaluation on a few utterances, as the sweep would
run it (Ray, torchrun, MLflow, max_concurrent at once), in runs/<name>-fast-dev-run and the MLflow
experiment <experiment>-fast-dev-run. Seeds share their configuration's shapes, so one seed of each
configuration is rehearsed and the others are listed as it. The table ends it: per trial OK or the
first line of its error, seconds per step, peak memory, and the projected time of the full trial; the
training FLOP/s measured is stored for `--dry-run`'s cost (orchestrator/cost.py).

On a machine without a GPU the same trials run on shapes a CPU holds, one core each (the output
says so): batches of at most CPU_BATCH_S seconds, no accumulation, no data-loading workers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
from pathlib import Path
from typing import Callable

from smolwhisper import run_files
from smolwhisper.metric_names import TRAIN_STEP_S

from . import cost
from .expand import Trial, config_hash
from .failures import failure_reason
from .schedule import _safe
from .spec import Resources, Spec, Tracking

SUFFIX = "-fast-dev-run"
STEPS = 3  # the largest batch; a checkpoint at CHECKPOINT_AT read back; then one more step and the evaluation
CHECKPOINT_AT = 2
EVAL_UTTERANCES = 4
CPU_BATCH_S = 30.0  # tiny.en trains on 30 s of audio in seconds on a CPU core, on 600 s in minutes


def representatives(trials: list[Trial]) -> dict[str, Trial]:
    """Trial id -> the trial rehearsed for it: the first seed of its configuration."""
    chosen: dict[tuple, Trial] = {}
    result = {}
    for trial in trials:
        key = (trial.kind, trial.variant, tuple(sorted((k, repr(v)) for k, v in trial.overrides.items()
                                                       if k != "train.seed")))
        result[trial.trial_id] = chosen.setdefault(key, trial)
    return result


def rehearsal_trial(trial: Trial, on_gpu: bool) -> Trial:
    config = trial.config
    train = dataclasses.replace(config.train, max_steps=STEPS, checkpoint_every=CHECKPOINT_AT, log_every=1,
                                max_minutes=0.0, **({} if on_gpu else {"device": "cpu"}))
    evaluation = dataclasses.replace(config.eval, every_steps=STEPS, max_utterances=EVAL_UTTERANCES)
    data, optim = config.data, config.optim
    if not on_gpu:
        batch_s = min(data.max_batch_s, max(CPU_BATCH_S, data.max_duration_s))
        data = dataclasses.replace(data, max_batch_s=batch_s, num_workers=0)
        optim = dataclasses.replace(optim, global_batch_s=0.0, grad_accum=1)
    rehearsed = dataclasses.replace(config, train=train, eval=evaluation, data=data, optim=optim)
    return dataclasses.replace(trial, config=rehearsed, config_hash=config_hash(rehearsed))


def rehearsal_spec(spec: Spec, on_gpu: bool) -> Spec:
    resources = spec.resources
    max_concurrent = spec.max_concurrent
    if not on_gpu:  # one core per rank, as many trials at once as the cores allow
        resources = Resources(gpus=0, cpus=resources.nproc_per_node, nproc_per_node=resources.nproc_per_node)
        max_concurrent = max(1, min(spec.max_concurrent, (os.cpu_count() or 1) // resources.cpus))
    tracking = Tracking(spec.tracking.mlflow_uri, (spec.tracking.experiment or spec.name) + SUFFIX)
    return dataclasses.replace(spec, name=spec.name + SUFFIX, resources=resources, max_concurrent=max_concurrent,
                               retries=0, tracking=tracking)


def fast_dev_run(spec: Spec, trials: list[Trial], workdir: Path, execute: Callable[..., int],
                 address: str | None = None) -> int:
    """Rehearse one seed of each configuration through `execute` (sweep.execute, passed in: the sweep module
    chooses between a sweep and its rehearsal, so importing it here would make a circle)."""
    on_gpu = gpu_present()
    chosen = representatives(trials)
    unique = list({id(t): t for t in chosen.values()}.values())
    rehearsed = [rehearsal_trial(t, on_gpu) for t in unique]
    plan = rehearsal_spec(spec, on_gpu)
    print(f"\nfast dev run: {len(rehearsed)} configuration(s) of {len(trials)} trial(s) (one seed each: seeds share "
          f"shapes), {STEPS} steps with the largest batch first, a checkpoint saved and read back after step "
          f"{CHECKPOINT_AT}, one evaluation on {EVAL_UTTERANCES} utterances; {plan.max_concurrent} at once, in "
          f"runs/{plan.name} and MLflow experiment {plan.tracking.experiment!r}")
    if not on_gpu:
        print(f"no GPU here: on CPU with the shapes a CPU holds: batches of at most {CPU_BATCH_S:g} s of audio "
              f"(the sweep's: {trials[0].config.data.max_batch_s:g} s), no gradient accumulation or data-loading "
              f"workers, {plan.resources.cpus} core(s) a trial; times are projected from these shapes")
    execute(plan, rehearsed, workdir, address, restart=True, trainer_args=("--rehearse",), report=False)
    sweep_dir = workdir / "runs" / plan.name
    results = {t.trial_id: read_result(sweep_dir / "trials" / _safe(t.trial_id)) for t in rehearsed}
    print(rehearsal_table(trials, chosen, results, spec, on_gpu))
    store_measured_throughput(spec, rehearsed, results, workdir, on_gpu)
    failed = [trial_id for trial_id, result in results.items() if result["outcome"] != "OK"]
    return 1 if failed else 0


def gpu_present() -> bool:
    import torch

    return torch.cuda.is_available()


def read_result(trial_dir: Path) -> dict:
    """What one rehearsal showed: OK or the first line of its error, seconds per step (the steps after the
    first, which warms up), peak memory, and the audio of a step."""
    summary = run_files.read_summary(trial_dir / "run")
    rows = []
    try:
        rows = [json.loads(line) for line in (trial_dir / "run" / run_files.METRICS_FILE).read_text().splitlines()]
    except (OSError, ValueError):
        pass
    step_s = [row[TRAIN_STEP_S] for row in rows if TRAIN_STEP_S in row and row.get("step", 0) > 1]
    step_s = step_s or [row[TRAIN_STEP_S] for row in rows if TRAIN_STEP_S in row]
    finished = summary.get("status") == "FINISHED"
    if finished and summary.get("step") == STEPS and resumed(trial_dir):
        outcome = "OK"
    elif finished:
        outcome = "finished without reading its checkpoint back"
    else:
        outcome = summary.get("stop_reason") or failure_reason(trial_dir)
    return {"outcome": outcome.splitlines()[0] if outcome else "error",
            "step_s": statistics.median(step_s) if step_s else None, "peak_memory_gb": summary.get("peak_memory_gb")}


def resumed(trial_dir: Path) -> bool:
    try:
        return "resumed from" in (trial_dir / "train.log").read_text(errors="replace")
    except OSError:
        return False


def rehearsal_table(trials: list[Trial], chosen: dict[str, Trial], results: dict[str, dict], spec: Spec,
                    on_gpu: bool) -> str:
    width = max(len("trial"), *(len(t.trial_id) for t in trials))
    lines = [f"\n{'trial':<{width}}  {'s/step':>7}  {'peak mem':>9}  {'full trial':>10}  result"]
    for trial in trials:
        rep = chosen[trial.trial_id]
        result = results[rep.trial_id]
        step_s, memory = result["step_s"], result["peak_memory_gb"]
        projected = projected_seconds(trial, step_s, on_gpu, spec) if step_s else None
        outcome = result["outcome"] if rep is trial else f"as {rep.trial_id} (another seed)"
        lines.append(f"{trial.trial_id:<{width}}  {f'{step_s:.2f}' if step_s else '-':>7}  "
                     f"{f'{memory:.2f} GB' if memory else '-':>9}  "
                     f"{cost.duration(projected) if projected else '-':>10}  {outcome}")
    note = ("peak memory: the GPU's allocated memory" if on_gpu else
            "peak memory: the trainer process's resident set; full trial: seconds per step scaled by the "
            "sweep's audio per step over the rehearsal's, times its steps (evaluations not counted)")
    return "\n".join(lines + [note])


def projected_seconds(trial: Trial, step_s: float, on_gpu: bool, spec: Spec) -> float:
    """The full trial's training time: its steps at the rehearsal's seconds per step, scaled on CPU from
    the rehearsal's batch to the sweep's (work grows with the audio of a step)."""
    steps = trial.config.train.max_steps
    if on_gpu:
        return steps * step_s
    rehearsed_audio = rehearsal_trial(trial, on_gpu=False).config.batch_plan(spec.resources.nproc_per_node)
    real_audio = trial.config.batch_plan(spec.resources.nproc_per_node)
    return steps * step_s * real_audio.global_batch_s / rehearsed_audio.global_batch_s


def store_measured_throughput(spec: Spec, rehearsed: list[Trial], results: dict[str, dict], workdir: Path,
                              on_gpu: bool) -> None:
    """Training FLOP/s per device (per trial on CPU), the median over the configurations that ran."""
    plan = rehearsal_spec(spec, on_gpu)
    rates = []
    for trial in rehearsed:
        step_s = results[trial.trial_id]["step_s"]
        if results[trial.trial_id]["outcome"] != "OK" or not step_s:
            continue
        audio = trial.config.batch_plan(plan.resources.nproc_per_node).global_batch_s
        rates.append(audio * cost.flops_per_audio_second(trial) / step_s / max(1, plan.resources.gpus))
    if not rates:
        return
    device = "cpu"
    if on_gpu:
        import torch

        device = torch.cuda.get_device_name(0)
    cost.store_throughput(workdir / "runs", device, statistics.median(rates), f"run.py {spec.path.name} --fast-dev-run")
    print(f"measured training throughput on {device}: {statistics.median(rates) / 1e12:.3g} TFLOP/s "
          f"{'per GPU' if on_gpu else 'per trial'}, stored for --dry-run's cost (runs/{cost.THROUGHPUT_FILE})")
