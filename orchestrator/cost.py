"""What a sweep will cost, before it starts (`run.py SPEC --dry-run`): per trial and in total, the audio
it trains on, the model's training FLOPs per audio-second (smolwhisper/model/flops.py: attention
counted, MoE experts at top_k), and the device-hours and wall time on the resources the spec asks for.

Time comes from a throughput measured on the device (training FLOP/s, stored per device in
runs/throughput.json by `run.py SPEC --fast-dev-run`), else from the device's peak at an assumed MFU,
which the output labels as an estimate. Evaluations are not counted: training steps only.
"""

from __future__ import annotations

import heapq
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from .expand import Trial
from .spec import Spec

THROUGHPUT_FILE = "throughput.json"  # under runs/: measured training FLOP/s per device
# Without a measurement: a GPU (the sweep's own kind is unknown before it runs) at this share of its
# bf16 peak. tiny.en's matmuls are 384 wide, memory-bound on an H100 (a 384x384 weight does ~190
# FLOP per byte moved, under the ~300 where its tensor cores saturate), and its norms, softmax and
# GELU move bytes without FLOPs: a fifth of peak is what such a small model can hope for.
ASSUMED_GPU = "H100"
ASSUMED_GPU_MFU = 0.20
# A CPU core: the 78-93 GFLOP/s that a 2048^2 fp32 matmul reaches on 2 cores (shared/FIELD_NOTES.md),
# at the share of it a training step keeps.
ASSUMED_CPU_CORE_FLOPS = 40e9
ASSUMED_CPU_MFU = 0.30
# The utterances FLOPs per audio-second are counted on (attention grows with their length): GigaSpeech's
# segments are a few seconds long, Whisper's window 30 s; a BPE of a few thousand tokens spends about
# 4 tokens per second of English speech (2.5 words/s, 1.5 tokens a word).
ASSUMED_UTTERANCE_S = 10.0
ASSUMED_TOKENS_PER_S = 4.0
WALL_TIME_GPUS = (1, 8)  # the node sizes a GPU sweep's wall time is given for


@dataclass
class TrialCost:
    trial_id: str
    steps: int
    audio_s_per_step: float  # padded audio seconds per optimizer step, over every rank
    flops_per_audio_s: float
    devices: int  # GPUs (or CPU cores, for a CPU trial) it holds
    seconds: float  # wall time of its training steps

    @property
    def audio_hours(self) -> float:
        return self.steps * self.audio_s_per_step / 3600

    @property
    def flops(self) -> float:
        return self.steps * self.audio_s_per_step * self.flops_per_audio_s

    @property
    def device_hours(self) -> float:
        return self.seconds * self.devices / 3600


@dataclass
class Throughput:
    """Training FLOP/s of one device, and where the figure comes from."""

    device: str
    flops_per_s: float
    source: str  # "measured ..." or "estimate: ..."

    @property
    def estimate(self) -> bool:
        return self.source.startswith("estimate")


def flops_per_audio_second(trial: Trial) -> float:
    """A frozen encoder costs its forward pass only, a cached one nothing per step (its states are computed
    once per utterance, which is not counted here)."""
    import dataclasses

    from smolwhisper.model.flops import encoder_mode, training_flops_per_audio_second

    data, model = trial.config.data, trial.config.model
    # The trainer sizes the output layer and CTC head to the tokenizer it trains (model.init_from brings its own).
    if data.tokenizer == "bpe" and not model.init_from:
        model = dataclasses.replace(model, n_vocab=data.vocab_size)
    utterance_s = min(ASSUMED_UTTERANCE_S, data.max_duration_s)
    return training_flops_per_audio_second(model, utterance_s, ASSUMED_TOKENS_PER_S, encoder_mode(trial.config))


def device_throughput(spec: Spec, runs_dir: Path) -> Throughput:
    """The measured throughput of the kind of device the spec asks for (the latest GPU measured, or this
    machine's CPU), else the assumed one."""
    measured = read_throughputs(runs_dir)
    on_gpu = spec.resources.gpus > 0
    candidates = [(name, entry) for name, entry in measured.items() if (name != "cpu") == on_gpu]
    if candidates:
        name, entry = max(candidates, key=lambda item: item[1].get("measured_at", ""))
        return Throughput(name, float(entry["flops_per_s"]),
                          f"measured by {entry.get('by', 'a rehearsal')} on {entry.get('measured_at', '?')}")
    if on_gpu:
        from smolwhisper.model.flops import PEAK_BF16_FLOPS

        peak = PEAK_BF16_FLOPS[ASSUMED_GPU]
        return Throughput(ASSUMED_GPU, peak * ASSUMED_GPU_MFU,
                          f"estimate: {ASSUMED_GPU} bf16 peak {peak / 1e12:.0f} TFLOP/s at {ASSUMED_GPU_MFU:.0%} MFU "
                          "(no throughput measured yet: run.py SPEC --fast-dev-run on the GPU stores one)")
    cores = spec.resources.cpus
    return Throughput("cpu", ASSUMED_CPU_CORE_FLOPS * ASSUMED_CPU_MFU * cores,
                      f"estimate: {cores} CPU core(s) at {ASSUMED_CPU_CORE_FLOPS / 1e9:.0f} GFLOP/s each and "
                      f"{ASSUMED_CPU_MFU:.0%} MFU (run.py SPEC --fast-dev-run here stores a measurement)")


def trial_costs(spec: Spec, trials: list[Trial], throughput: Throughput) -> list[TrialCost]:
    """Each trial's training on the resources the spec gives it; `throughput` is per device, and a
    trial of nproc_per_node ranks runs at that many times it (data parallel)."""
    costs = []
    devices = spec.resources.gpus or spec.resources.cpus
    ranks = spec.resources.nproc_per_node if spec.resources.gpus else 1  # a CPU figure is per trial already
    for trial in trials:
        audio_per_step = trial.config.batch_plan(spec.resources.nproc_per_node).global_batch_s
        per_audio_s = flops_per_audio_second(trial)
        steps = trial.config.train.max_steps
        seconds = steps * audio_per_step * per_audio_s / (throughput.flops_per_s * ranks)
        costs.append(TrialCost(trial.trial_id, steps, audio_per_step, per_audio_s, devices, seconds))
    return costs


def wall_time_s(costs: list[TrialCost], parallel: int) -> float:
    """The sweep's wall time with `parallel` trials at once: longest first onto the slot free soonest
    (what Tune's FIFO queue does with trials this similar)."""
    slots = [0.0] * max(1, parallel)
    for cost in sorted(costs, key=lambda c: -c.seconds):
        heapq.heapreplace(slots, slots[0] + cost.seconds)
    return max(slots)


def cost_table(spec: Spec, trials: list[Trial], runs_dir: Path) -> str:
    throughput = device_throughput(spec, runs_dir)
    costs = trial_costs(spec, trials, throughput)
    unit = "GPU-h" if spec.resources.gpus else "CPU-h"
    width = max(len("trial"), *(len(c.trial_id) for c in costs))
    lines = [f"\ncost ({'ESTIMATE: ' if throughput.estimate else ''}{throughput.flops_per_s / 1e12:.3g} TFLOP/s "
             f"per {'GPU' if spec.resources.gpus else 'trial'}, {throughput.source}; training steps only, "
             f"FLOPs counted on {ASSUMED_UTTERANCE_S:g} s utterances at {ASSUMED_TOKENS_PER_S:g} tokens/s):",
             f"{'trial':<{width}}  {'steps':>7}  {'audio/step':>10}  {'audio':>9}  {'GFLOP/audio-s':>13}  "
             f"{'PFLOP':>8}  {unit:>7}  {'time':>8}"]
    for c in costs:
        lines.append(f"{c.trial_id:<{width}}  {c.steps:>7}  {c.audio_s_per_step:>9.0f}s  {c.audio_hours:>8.0f}h  "
                     f"{c.flops_per_audio_s / 1e9:>13.2f}  {c.flops / 1e15:>8.1f}  {c.device_hours:>7.2f}  "
                     f"{duration(c.seconds):>8}")
    total_hours = sum(c.device_hours for c in costs)
    lines.append(f"{'total':<{width}}  {sum(c.steps for c in costs):>7}  {'':>10}  "
                 f"{sum(c.audio_hours for c in costs):>8.0f}h  {'':>13}  {sum(c.flops for c in costs) / 1e15:>8.1f}  "
                 f"{total_hours:>7.2f}")
    lines += [f"wall time: {wall_time_line(spec, costs)}"]
    return "\n".join(lines)


def wall_time_line(spec: Spec, costs: list[TrialCost]) -> str:
    if not spec.resources.gpus:
        parallel = spec.max_concurrent
        return f"{duration(wall_time_s(costs, parallel))} with {parallel} trial(s) at once (max_concurrent)"
    parts = []
    for gpus in WALL_TIME_GPUS:
        parallel = min(spec.max_concurrent, gpus // spec.resources.gpus)
        if parallel < 1:
            parts.append(f"{gpus} GPU(s): too few for a trial of {spec.resources.gpus}")
            continue
        parts.append(f"{duration(wall_time_s(costs, parallel))} on {gpus} GPU(s) ({parallel} trial(s) at once)")
    return "; ".join(parts)


def duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min"


# ------------------------------------------------------------------------------- measurements

def read_throughputs(runs_dir: Path) -> dict[str, dict]:
    try:
        return json.loads((runs_dir / THROUGHPUT_FILE).read_text())
    except (OSError, ValueError):
        return {}


def store_throughput(runs_dir: Path, device: str, flops_per_s: float, by: str) -> None:
    """Keep a device's measured training FLOP/s for later dry runs (one entry per device, the latest)."""
    from smolwhisper import run_files

    measured = read_throughputs(runs_dir)
    measured[device] = {"flops_per_s": flops_per_s, "by": by, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_files.write_atomic(runs_dir / THROUGHPUT_FILE, json.dumps(measured, indent=2))
