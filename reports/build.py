"""Read one sweep back from MLflow and compute what its report shows.

Everything comes through MLflow's tracking API (so a remote tracking server works as well as the
local SQLite store): the parent run and its spec artifact, the child runs' params, tags, metric
histories, and their summary.json and per-utterance hypothesis artifacts.

    load_sweep(tracking_uri, "moe-sweep")  ->  SweepResult (reports.html.build_report writes its page)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from smolwhisper.config import SPEED_SWITCHES
from smolwhisper.metric_names import ATTENTION, VAL_UNSEEN, cer_key, decoder_of, decoder_suffix, wer_key
from smolwhisper.run_files import hypotheses_step
from smolwhisper.tracking import AXIS_TAG, STATUS_TAG, STOP_REASON_TAG

from .stats import PairedBootstrap, mean_std, paired_bootstrap_wer

# Histories read per trial (curves to plot, throughput's median, memory's peak), and every decoder's
# WER curve; the rest are latest values.
HISTORY_KEYS = ("train/loss", "val/loss", "moe/load_balance_loss", "train/audio_s_per_s", "gpu/mfu",
                "gpu/peak_memory_gb")
HISTORY_PREFIXES = ("val/wer", "val_unseen/wer")
MAX_CURVE_POINTS = 400  # per trial and curve: a laptop-sized chart cannot show more, and the page stays small
# Params that differ between trials without being an ablation axis.
NOT_AXES = ("train.seed", "train.out_dir", "train.progress", "params.", "tracking.", "gpu.")


class ReportError(ValueError):
    """The sweep cannot be found or read; the message names what was looked for."""


@dataclass
class TrialResult:
    """One trial's MLflow run as the report reads it back (orchestrator.expand.Trial is the trial to run)."""

    run_id: str
    trial_id: str
    variant: str
    seed: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]  # latest value of each metric
    curves: dict[str, tuple[list[int], list[float]]]  # deduplicated by step, thinned for plotting
    wall_time_s: float
    log_tail: str = ""
    failure_reason: str = ""
    utterances: dict[str, dict] = field(default_factory=dict)  # id -> the latest evaluation's record
    hypotheses_step: int | None = None
    axes: dict[str, str | None] = field(default_factory=dict)  # None: the axis does not apply
    group: str = ""
    # The values its spec gave it (the run's smolwhisper.axis.* tags, set when the orchestrator made
    # it): only the keys that apply to it, and there even if the trial failed before logging anything.
    spec_values: dict[str, str] = field(default_factory=dict)
    kind: str = "wer"  # "speed": a trial of the spec's speed section, compared on speed only
    stop_reason: str = ""  # status STOPPED: what its stop rule saw

    @property
    def settings(self) -> dict[str, str]:
        """Where its axis values come from: the spec's, or for a run made without them its params."""
        return self.spec_values or self.params

    @property
    def throughput(self) -> float:
        """Median audio seconds trained per second: the first steps (compilation, warm-up) do not count."""
        return self.median("train/audio_s_per_s")

    @property
    def mfu(self) -> float:
        return self.median("gpu/mfu")

    @property
    def peak_memory_gb(self) -> float:
        """The highest of the per-window peaks the trainer logs."""
        _, values = self.curves.get("gpu/peak_memory_gb", ([], []))
        return max(values) if values else self.metrics.get("gpu/peak_memory_gb", math.nan)

    def median(self, key: str) -> float:
        _, values = self.curves.get(key, ([], []))
        return float(np.median(values)) if values else self.metrics.get(key, math.nan)

    def late_loss(self, share: float = 0.2) -> float:
        """Mean training loss over the last `share` of the logged steps: the end of the curve, less noisy
        than its last point."""
        steps, values = self.curves.get("train/loss", ([], []))
        if not steps:
            return math.nan
        tail = [v for step, v in zip(steps, values) if step >= steps[-1] - share * (steps[-1] - steps[0])]
        return float(np.mean(tail))


@dataclass
class Group:
    """The trials of one configuration that differ only in their seed."""

    name: str
    variant: str
    axes: dict[str, str | None]
    trials: list[TrialResult]
    summary: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> (mean, std) over seeds

    @property
    def finished(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status == "FINISHED"]


@dataclass
class Effect:
    """One axis value against the reference value of that axis, over trials matched on everything else."""

    axis: str
    reference: str
    value: str
    n_pairs: int
    bootstrap: PairedBootstrap
    seed_mean_difference: float  # mean over matched pairs of their final WER differences
    smallest_difference: float = math.nan  # what this comparison can detect (Resolution.for_pairs)

    @property
    def detectable(self) -> bool:
        """Outside the bootstrap's 95% interval around 0 and at least the smallest detectable difference."""
        if self.bootstrap.within_noise:
            return False
        return math.isnan(self.smallest_difference) or abs(self.bootstrap.difference) >= self.smallest_difference


Z95 = 1.959964  # two-sided 95% of a normal distribution


@dataclass
class Resolution:
    """The smallest WER difference a sweep can tell from noise: the utterances it scores (the paired
    bootstrap's interval) and the seed-to-seed spread of its configurations, combined as independent
    errors of a difference between two configurations' seed means (95%)."""

    seed_std: float  # pooled standard deviation of the ranked metric between seeds of one configuration
    seeds: int  # finished seeds of a typical configuration (the median)
    bootstrap_half_width: float  # median half-width of the sweep's paired-bootstrap 95% intervals
    n_utterances: int

    def for_pairs(self, n_pairs: int, bootstrap_half_width: float | None = None) -> float:
        """For a difference of means over n_pairs seed pairs (nan when neither error is known)."""
        half = self.bootstrap_half_width if bootstrap_half_width is None else bootstrap_half_width
        parts = [] if math.isnan(half) else [(half / Z95) ** 2]
        if not math.isnan(self.seed_std):
            parts.append(2 * self.seed_std ** 2 / max(n_pairs, 1))
        return Z95 * math.sqrt(sum(parts)) if parts else math.nan

    @property
    def smallest_difference(self) -> float:
        """Between two configurations of `seeds` seeds each."""
        return self.for_pairs(self.seeds)


# Switches that change how the math is computed, never what it computes. A sweep over one of them
# compares speed and memory; its loss curves must agree within seed noise, or a kernel is suspect.
ACCELERATIONS = SPEED_SWITCHES
# Without seeds to measure noise against, matched loss curves may differ by this share of the loss.
UNSEEDED_LOSS_TOLERANCE = 0.02


@dataclass
class SwitchCheck:
    """One acceleration switch's value against its reference, over trials matched on everything else."""

    axis: str
    reference: str
    value: str
    n_pairs: int
    throughput_ratio: float  # value / reference, mean over pairs (nan where not logged)
    mfu_ratio: float
    memory_ratio: float
    loss_difference: float  # late training loss, value minus reference, mean over pairs
    loss_reference: float  # the reference's late training loss, mean over pairs
    seed_noise: float  # spread of the late loss between seeds of one configuration; nan with one seed
    kernels: tuple[str, str]  # the attention kernels that ran (gpu.attention_kernel), reference / value

    @property
    def tolerance(self) -> float:
        """How far the paired loss difference may go: 3 standard errors of a difference of two seeds'
        means, or UNSEEDED_LOSS_TOLERANCE of the loss when there is no seed spread to go by."""
        if math.isnan(self.seed_noise):
            return UNSEEDED_LOSS_TOLERANCE * abs(self.loss_reference)
        return 3 * self.seed_noise * math.sqrt(2 / self.n_pairs)

    @property
    def suspect(self) -> bool:
        return abs(self.loss_difference) > self.tolerance


@dataclass
class SweepResult:
    """A sweep's parent run, its trials and what the report computes of them (orchestrator.spec.Sweep is
    the spec)."""

    name: str
    experiment: str
    parent: Any  # mlflow Run
    spec: dict
    trials: list[TrialResult]
    axes: list[str]
    groups: list[Group] = field(default_factory=list)
    baseline_variant: str = ""
    metric: str = "val/wer"
    decoder: str = ATTENTION  # whose WER and CER the report shows: the decoder of `metric` (decoder_of)
    effects: list[Effect] = field(default_factory=list)
    headline: Effect | None = None
    resolution: Resolution | None = None
    tied: list[Group] = field(default_factory=list)  # the top configurations no comparison can tell apart
    switch_checks: list[SwitchCheck] = field(default_factory=list)
    speed_trials: list[TrialResult] = field(default_factory=list)  # the spec's speed section, apart


# ------------------------------------------------------------------------------------- reading

def find_sweep(client, sweep: str) -> tuple[str, Any, dict]:
    """(experiment id, parent run, spec) of a sweep named by its spec file or its name."""
    name, experiment_name = sweep, sweep
    path = Path(sweep)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        raw = yaml.safe_load(path.read_text()) or {}
        name = raw.get("name", path.stem)
        experiment_name = (raw.get("tracking") or {}).get("experiment") or name
    experiment = client.get_experiment_by_name(experiment_name)
    experiments = [experiment] if experiment else client.search_experiments()
    for candidate in experiments:
        parents = [r for r in client.search_runs([candidate.experiment_id], f"tags.`smolwhisper.spec` = '{name}'",
                                                 order_by=["attributes.start_time DESC"])
                   if "mlflow.parentRunId" not in r.data.tags]
        if parents:
            return candidate.experiment_id, parents[0], _spec_of(client, parents[0])
    raise ReportError(f"no sweep named {name!r} in the MLflow store {client.tracking_uri} (looked for a run "
                      f"tagged smolwhisper.spec={name!r} in experiment {experiment_name!r}, then in every experiment)")


def _spec_of(client, parent) -> dict:
    """The spec YAML the orchestrator attached to the parent run ({} if there is none)."""
    for artifact in client.list_artifacts(parent.info.run_id):
        if artifact.path.endswith((".yaml", ".yml")):
            return yaml.safe_load(download_text(client, parent.info.run_id, artifact.path)) or {}
    return {}


def read_trials(client, experiment_id: str, parent_id: str, workers: int = 8) -> list[TrialResult]:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'",
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    # Each run is several round trips to the store: overlap them (SQLite and HTTP both allow it).
    with ThreadPoolExecutor(workers) as pool:
        trials = list(pool.map(lambda run: read_trial(client, run), runs))
    return sorted(trials, key=lambda t: t.trial_id)


def read_trial(client, run) -> TrialResult:
    tags, run_id = run.data.tags, run.info.run_id
    curves = {key: thin(*history(client, run_id, key)) for key in run.data.metrics
              if key in HISTORY_KEYS or key.startswith(HISTORY_PREFIXES)}
    trial = TrialResult(run_id=run_id, trial_id=tags.get("smolwhisper.trial_id", run.info.run_name),
                        variant=tags.get("smolwhisper.variant", "base"), seed=tags.get("smolwhisper.seed", ""),
                        status=tags.get(STATUS_TAG, run.info.status), params=dict(run.data.params),
                        metrics=dict(run.data.metrics),
                        curves=curves, wall_time_s=math.nan, log_tail=tags.get("smolwhisper.log_tail", ""),
                        spec_values={k[len(AXIS_TAG):]: v for k, v in tags.items() if k.startswith(AXIS_TAG)},
                        failure_reason=tags.get("smolwhisper.failure_reason", ""),
                        kind=tags.get("smolwhisper.kind", "wer"), stop_reason=tags.get(STOP_REASON_TAG, ""))
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    if "summary.json" in artifacts:
        summary = json.loads(download_text(client, run_id, "summary.json"))
        trial.wall_time_s = float(summary.get("wall_time_s", math.nan))
    elif run.info.end_time:  # crashed before writing a summary: the run's own clock, queueing included
        trial.wall_time_s = (run.info.end_time - run.info.start_time) / 1000
    # the validation split's evaluations (the unseen-voice split's files carry a prefix of their own)
    steps = {step: path for path in artifacts if (step := hypotheses_step(path)) is not None}
    if steps:
        trial.hypotheses_step = max(steps)
        trial.utterances = read_hypotheses(download_text(client, run_id, steps[trial.hypotheses_step]))
    if not trial.log_tail and trial.status != "FINISHED" and "train.log" in artifacts:
        trial.log_tail = "\n".join(download_text(client, run_id, "train.log").splitlines()[-60:])
    return trial


def download_text(client, run_id: str, path: str) -> str:
    """One artifact's text, through the tracking server's artifact API (works for remote stores too)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # else one bar per file
    with tempfile.TemporaryDirectory() as directory:
        return Path(client.download_artifacts(run_id, path, directory)).read_text(encoding="utf-8", errors="replace")


def history(client, run_id: str, key: str) -> tuple[list[int], list[float]]:
    """A metric's values by step; a resumed trial logs some steps twice, and the last one counts."""
    by_step = {}
    for point in sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp)):
        by_step[point.step] = point.value
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def thin(steps: list[int], values: list[float], limit: int = MAX_CURVE_POINTS) -> tuple[list[int], list[float]]:
    """At most `limit` evenly spaced points, always keeping the first and the last."""
    if len(steps) <= limit:
        return steps, values
    keep = np.unique(np.linspace(0, len(steps) - 1, limit).round().astype(int))
    return [steps[i] for i in keep], [values[i] for i in keep]


def read_hypotheses(text: str) -> dict[str, dict]:
    """Per-utterance records of one evaluation; a line that is not a complete record is skipped."""
    records = {}
    needed = ("id", "word_errors", "reference_words")
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and all(key in record for key in needed):
            records[str(record["id"])] = record
    return records


# --------------------------------------------------------------------------------- computing

def varying_axes(trials: list[TrialResult]) -> list[str]:
    """Config keys that differ between trials, except the seed, paths and those the variant decides."""
    trials = [t for t in trials if t.settings]
    keys = sorted({k for t in trials for k in t.settings})
    axes = []
    variants = {t.variant for t in trials}
    for key in keys:
        if key.startswith(NOT_AXES):
            continue
        if len({t.settings.get(key) for t in trials}) < 2:
            continue
        by_variant = defaultdict(set)
        for t in trials:
            by_variant[t.variant].add(t.settings.get(key))
        if len(variants) > 1 and all(len(values) == 1 for values in by_variant.values()):
            continue  # set by the variant itself (e.g. model.decoder_ffn): the variant column says it
        axes.append(key)
    return axes


def display(value: str | None) -> str:
    return {"True": "on", "False": "off", None: "–"}.get(value, value)


def assign_groups(trials: list[TrialResult], axes: list[str], metric: str = "val/wer") -> list[Group]:
    groups: dict[tuple, Group] = {}
    for trial in trials:
        trial.axes = {key: trial.settings.get(key) for key in axes}
        label = ",".join([trial.variant] + [f"{key.split('.')[-1]}={display(v)}"
                                            for key, v in trial.axes.items() if v is not None])
        key = (trial.variant, tuple(trial.axes.values()))
        if key not in groups:
            groups[key] = Group(label, trial.variant, trial.axes, [])
        groups[key].trials.append(trial)
        trial.group = label
    for group in groups.values():
        summarize(group, metric)
    return list(groups.values())


SUMMARY_METRICS = ("train/loss", "val/loss", "val/wer", "val/cer")


def summarize(group: Group, metric: str = "val/wer") -> None:
    """Mean and spread over the seeds that finished (a failed seed would bias the mean)."""
    finished = group.finished
    decoder = decoder_of(metric)
    keys = (metric, wer_key(decoder), cer_key(decoder), wer_key(decoder, VAL_UNSEEN))
    for key in dict.fromkeys(SUMMARY_METRICS + keys):
        group.summary[key] = mean_std([t.metrics.get(key) for t in finished])
    group.summary["throughput"] = mean_std([t.throughput for t in finished])
    group.summary["wall_time_s"] = mean_std([t.wall_time_s for t in finished])
    for key in ("params.total", "params.active"):
        group.summary[key] = mean_std([float(t.params[key]) for t in group.trials if key in t.params])


def axis_order(values: set[str]) -> list[str]:
    """Reference value first: off before on, smaller numbers first."""
    def key(value: str):
        try:
            return (0, float({"False": 0, "True": 1}.get(value, value)), value)
        except ValueError:
            return (1, 0.0, value)

    return sorted(values, key=key)


def axis_effects(trials: list[TrialResult], axes: list[str], baseline_variant: str, n_resamples: int = 2000,
                 seed: int = 0, decoder: str = ATTENTION) -> list[Effect]:
    """For each axis and each non-reference value: the paired WER difference against the reference.

    Trials are matched on every other axis and the seed (an axis that does not apply to one of
    the two matches anything), so "noisy top-k on vs off" compares otherwise identical runs and
    averages over the other axes. Errors of matched trials are summed per utterance in each arm,
    and utterances are resampled (pairs keep their utterances together).
    """
    usable = [t for t in trials if t.status == "FINISHED" and t.utterances]
    effects = []
    axes = [axis for axis in axes if axis not in ACCELERATIONS]  # not a WER effect: see switch_checks
    all_axes = (["variant"] if len({t.variant for t in trials}) > 1 else []) + axes
    for axis in all_axes:
        value_of = (lambda t: t.variant) if axis == "variant" else (lambda t, a=axis: t.axes.get(a))
        values = {value_of(t) for t in usable} - {None}
        if len(values) < 2:
            continue
        ordered = axis_order(values)
        reference = baseline_variant if axis == "variant" and baseline_variant in values else ordered[0]
        for value in [v for v in ordered if v != reference]:
            pairs = matched_pairs(usable, axis, value_of, reference, value)
            effect = paired_effect(axis, reference, value, pairs, n_resamples, seed, decoder) if pairs else None
            if effect:
                effects.append(effect)
    return effects


def matched_pairs(trials: list[TrialResult], axis: str, value_of, reference: str,
                  value: str) -> list[tuple[TrialResult, TrialResult]]:
    others = [a for a in (trials[0].axes if trials else {}) if a != axis]

    def match(a: TrialResult, b: TrialResult) -> bool:
        return a.seed == b.seed and all(a.axes.get(k) is None or b.axes.get(k) is None or a.axes[k] == b.axes[k]
                                        for k in others) and (axis == "variant" or a.variant == b.variant)

    arm_a = [t for t in trials if value_of(t) == reference]
    return [(a, b) for b in trials if value_of(b) == value for a in arm_a if match(a, b)]


def paired_effect(axis: str, reference: str, value: str, pairs: list[tuple[TrialResult, TrialResult]], n_resamples: int,
                  seed: int, decoder: str = ATTENTION) -> Effect | None:
    """None where the matched trials share no utterance scored by `decoder` (e.g. different validation sets)."""
    errors = f"word_errors{decoder_suffix(decoder)}"
    scored = lambda trial: {i for i, record in trial.utterances.items() if errors in record}  # noqa: E731
    ids = sorted(set.intersection(*(scored(a) & scored(b) for a, b in pairs)))
    if not ids:
        return None
    counts = np.zeros((4, len(ids)))  # errors A, words A, errors B, words B
    for a, b in pairs:
        for row, trial in ((0, a), (2, b)):
            counts[row] += [trial.utterances[i][errors] for i in ids]
            counts[row + 1] += [trial.utterances[i]["reference_words"] for i in ids]
    bootstrap = paired_bootstrap_wer(*counts, n_resamples=n_resamples, seed=seed)
    wer = wer_key(decoder)
    seed_mean = float(np.mean([b.metrics.get(wer, math.nan) - a.metrics.get(wer, math.nan) for a, b in pairs]))
    return Effect(axis, reference, value, len(pairs), bootstrap, seed_mean)


def switch_checks(trials: list[TrialResult], groups: list[Group], axes: list[str]) -> list[SwitchCheck]:
    """For each acceleration axis: speed, MFU and memory of its value over its reference, and whether
    the matched loss curves part by more than seed noise (a numerical bug in a kernel, not an effect)."""
    usable = [t for t in trials if t.status == "FINISHED" and "train/loss" in t.curves]
    noise = seed_noise(groups)
    checks = []
    for axis in (a for a in axes if a in ACCELERATIONS):
        value_of = lambda t, a=axis: t.axes.get(a)  # noqa: E731
        values = {value_of(t) for t in usable} - {None}
        if len(values) < 2:
            continue
        ordered = axis_order(values)
        for value in ordered[1:]:
            pairs = matched_pairs(usable, axis, value_of, ordered[0], value)
            if not pairs:
                continue
            ratio = lambda prop: float(np.mean([getattr(b, prop) / getattr(a, prop) for a, b in pairs]))  # noqa: E731
            kernels = tuple(", ".join(sorted({t.params.get("gpu.attention_kernel", "–") for t in arm}))
                            for arm in zip(*pairs))
            checks.append(SwitchCheck(
                axis, ordered[0], value, len(pairs), ratio("throughput"), ratio("mfu"), ratio("peak_memory_gb"),
                float(np.mean([b.late_loss() - a.late_loss() for a, b in pairs])),
                float(np.mean([a.late_loss() for a, _ in pairs])), noise, kernels))
    return checks


def seed_noise(groups: list[Group]) -> float:
    """The pooled standard deviation of the late training loss between seeds of one configuration."""
    variances, weights = [], []
    for group in groups:
        losses = [t.late_loss() for t in group.finished if "train/loss" in t.curves]
        if len(losses) >= 2:
            variances.append(np.var(losses, ddof=1))
            weights.append(len(losses) - 1)
    return float(math.sqrt(np.average(variances, weights=weights))) if variances else math.nan


def ranked(groups: list[Group], metric: str) -> list[Group]:
    """Groups by their seed-mean metric, best (lowest) first; groups with no finished seed last."""
    def key(group: Group):
        mean = group.summary.get(metric, (math.nan, math.nan))[0]
        return (math.isnan(mean), mean if not math.isnan(mean) else 0.0, group.name)

    return sorted(groups, key=key)


def best_and_baseline(sweep: SweepResult) -> tuple[Group | None, Group | None]:
    """The best group (None while the top groups tie: no "best" among ties), and the best group of the
    baseline variant (the strongest baseline is the fair one)."""
    order = [g for g in ranked(sweep.groups, sweep.metric) if not math.isnan(g.summary[sweep.metric][0])]
    baselines = [g for g in order if g.variant == sweep.baseline_variant]
    best = order[0] if order and len(sweep.tied) <= 1 else None
    return best, (baselines[0] if baselines else None)


def resolution(sweep: SweepResult, effects: list[Effect]) -> Resolution:
    """What the sweep can resolve, from its seed spread and the intervals of its paired comparisons."""
    stds, weights = [], []
    for group in sweep.groups:
        values = [t.metrics[sweep.metric] for t in group.finished if sweep.metric in t.metrics]
        if len(values) >= 2:
            stds.append(float(np.var(values, ddof=1)))
            weights.append(len(values) - 1)
    seed_std = math.sqrt(np.average(stds, weights=weights)) if stds else math.nan
    seeds = [len(g.finished) for g in sweep.groups if g.finished]
    halves = [(e.bootstrap.high - e.bootstrap.low) / 2 for e in effects]
    return Resolution(seed_std, int(np.median(seeds)) if seeds else 0,
                      float(np.median(halves)) if halves else math.nan,
                      max((e.bootstrap.n_utterances for e in effects), default=0))


def tied_at_the_top(sweep: SweepResult) -> list[Group]:
    """The best group and every group whose seed mean lies within the smallest detectable difference of it."""
    order = [g for g in ranked(sweep.groups, sweep.metric) if not math.isnan(g.summary[sweep.metric][0])]
    if not order or sweep.resolution is None or math.isnan(sweep.resolution.smallest_difference):
        return order[:1]
    top = order[0].summary[sweep.metric][0]
    return [g for g in order if g.summary[sweep.metric][0] - top < sweep.resolution.smallest_difference]


def headline_effect(sweep: SweepResult, n_resamples: int = 2000) -> Effect | None:
    """Best group against the baseline group, trials paired by seed."""
    best, baseline = best_and_baseline(sweep)
    if not best or not baseline or best is baseline:
        return None
    usable = lambda group: {t.seed: t for t in group.finished if t.utterances}  # noqa: E731
    a, b = usable(baseline), usable(best)
    pairs = [(a[seed], b[seed]) for seed in sorted(set(a) & set(b))]
    return paired_effect("group", baseline.name, best.name, pairs, n_resamples, 0, sweep.decoder) if pairs else None


def load_sweep(tracking_uri: str, sweep: str, n_resamples: int = 2000) -> SweepResult:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment_id, parent, spec = find_sweep(client, sweep)
    every_trial = read_trials(client, experiment_id, parent.info.run_id)
    if not every_trial:
        raise ReportError(f"sweep {sweep!r} (run {parent.info.run_id}) has no trial runs yet")
    # The speed section's short runs answer one question, the switches table; the WER analysis is the rest's.
    speed = [t for t in every_trial if t.kind == "speed"]
    trials = [t for t in every_trial if t.kind != "speed"] or speed
    axes = varying_axes(trials)
    result = SweepResult(name=parent.data.tags.get("smolwhisper.spec", parent.info.run_name),
                   experiment=client.get_experiment(experiment_id).name, parent=parent, spec=spec,
                   trials=trials, axes=axes, speed_trials=speed if trials is not speed else [])
    report_options = spec.get("report") or {}
    result.metric = report_options.get("metric", "val/wer")
    result.decoder = decoder_of(result.metric)
    result.groups = assign_groups(trials, axes, result.metric)
    variants = list((spec.get("sweep") or {}).get("variants") or {}) or sorted({t.variant for t in trials})
    result.baseline_variant = report_options.get("baseline") or variants[0]
    result.effects = axis_effects(trials, axes, result.baseline_variant, n_resamples, decoder=result.decoder)
    result.switch_checks = switch_checks(trials, result.groups, axes)
    if result.speed_trials:
        speed_axes = varying_axes(result.speed_trials)
        speed_groups = assign_groups(result.speed_trials, speed_axes, result.metric)
        result.switch_checks += switch_checks(result.speed_trials, speed_groups, speed_axes)
    provisional = headline_effect(result, n_resamples)  # the top group against the baseline, for its interval
    result.resolution = resolution(result, result.effects + ([provisional] if provisional else []))
    for effect in result.effects + ([provisional] if provisional else []):
        effect.smallest_difference = result.resolution.for_pairs(
            effect.n_pairs, (effect.bootstrap.high - effect.bootstrap.low) / 2)
    result.tied = tied_at_the_top(result)
    result.headline = provisional if len(result.tied) <= 1 else None
    return result


def trial_devices(sweep: SweepResult) -> tuple[int, str]:
    """The devices each trial held (its spec's resources: GPUs, else CPU cores) and their unit."""
    resources = sweep.spec.get("resources") or {}
    gpus, cpus = int(resources.get("gpus", 0) or 0), int(resources.get("cpus", 1) or 1)
    return (gpus, "GPU-hours") if gpus else (cpus, "CPU-hours")


def device_hours(sweep: SweepResult) -> tuple[float, str]:
    """Wall time of every trial (failed ones too: they used the machine) times its devices."""
    devices, unit = trial_devices(sweep)
    seconds = sum(t.wall_time_s for t in sweep.trials + sweep.speed_trials if math.isfinite(t.wall_time_s))
    return seconds * devices / 3600, unit
