"""Expansion of a spec into trials: variants x grid x seeds, filtered, made concrete and deduplicated.

Keys that do not apply to a trial (expert counts for a dense decoder, the BPE size for a fixed
tokenizer) are dropped, and the trials that this makes identical are merged, with a note.
Every trial is validated by building its RunConfig, so a bad value fails here, before any run,
with the spec path of the value that caused it; so does a report.metric that some trial never logs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from smolwhisper.config import ConfigError, RunConfig, experiment_values, run_config_from_dict, to_dict
from smolwhisper.metric_names import check_select_metric, check_stop_metric, logged_metrics, ranking_metrics

from .spec import Spec, SpecError

# key -> (the key deciding whether it applies, the values for which it applies)
APPLIES_ONLY_WHEN = {
    **{f"model.{name}": ("model.decoder_ffn", ("moe",))
       for name in ("n_experts", "top_k", "noisy_topk", "moe_layers", "load_balance_coef", "router_z_coef",
                    "moe_grouped_mm")},
    "data.vocab_size": ("data.tokenizer", ("bpe",)),
}


@dataclass
class Trial:
    trial_id: str
    variant: str
    seed: int
    overrides: dict[str, Any]  # what this trial sets on top of the base: variant, grid values, seed
    config: RunConfig = field(repr=False)
    config_hash: str = ""
    origin: list[str] = field(default_factory=list)  # spec paths of the values that made this trial
    paths: dict[str, str] = field(default_factory=dict)  # override key -> the spec path that set it
    merged: list[str] = field(default_factory=list)  # ids of identical trials folded into this one
    dropped: list[str] = field(default_factory=list)  # override keys that do not apply to this trial
    kind: str = "wer"  # "speed": a short run of the spec's speed section, compared on throughput only


@dataclass
class Expansion:
    trials: list[Trial]
    notes: list[str]


def expand(spec: Spec) -> Expansion:
    notes: list[str] = []
    trials: dict[str, Trial] = {}
    grid_keys = list(spec.sweep.grid)
    combinations = list(itertools.product(*(enumerate(spec.sweep.grid[k]) for k in grid_keys)))
    for variant, variant_overrides in spec.sweep.variants.items():
        for combination in combinations:
            for seed_index, seed in enumerate(spec.sweep.seeds):
                overrides = dict(variant_overrides)
                origin = [f"sweep.variants.{variant}"]
                paths = {key: f"sweep.variants.{variant}.{key}" for key in variant_overrides}
                for key, (index, value) in zip(grid_keys, combination):
                    overrides[key] = value
                    origin.append(f"sweep.grid.{key}[{index}]")
                    paths[key] = origin[-1]
                overrides["train.seed"] = seed
                origin.append(f"sweep.seeds[{seed_index}]")
                paths["train.seed"] = origin[-1]
                if not _selected(spec, variant, seed, overrides):
                    continue
                trial = _make_trial(spec, variant, seed, overrides, origin, paths, grid_keys)
                if trial.config_hash in trials:
                    kept = trials[trial.config_hash]
                    kept.merged.append(_name(variant, overrides, seed, grid_keys))
                    continue
                trials[trial.config_hash] = trial
    result = list(trials.values())
    if not result:
        raise SpecError("sweep: the filters leave no trial to run")
    result = (speed_trials(spec, notes) if spec.speed.only else result + speed_trials(spec, notes))
    for trial in result:
        if trial.merged:
            notes.append(f"{trial.trial_id}: {len(trial.merged)} identical combination(s) merged into it "
                         f"({', '.join(trial.dropped)} do not apply to it)")
    notes += _batch_notes(spec, result)
    _make_ids_unique(result)
    _check_report_metric(spec, result)
    _select_by_report_metric(spec, result)
    return Expansion(result, notes)


SPEED = "speed"  # Trial.kind of the speed section's trials, and their id's first part


def speed_trials(spec: Spec, notes: list[str]) -> list[Trial]:
    """The speed section's trials: its configuration (a variant, the first value of each grid key, the
    first seed) for speed.steps steps, evaluated once at the end, with every switch at its reference
    (its first value), then with each other value of one switch. Every trial records every switch, so
    that the report pairs each with the reference."""
    speed = spec.speed
    if not speed.switches:
        return []
    overrides = dict(spec.sweep.variants[speed.variant])
    paths = {key: f"sweep.variants.{speed.variant}.{key}" for key in overrides}
    for key, values in spec.sweep.grid.items():
        overrides[key], paths[key] = values[0], f"sweep.grid.{key}[0]"
    reference = {key: values[0] for key, values in speed.switches.items()}
    short = {"train.max_steps": speed.steps, "train.checkpoint_every": speed.steps, "eval.every_steps": speed.steps}
    seed = spec.sweep.seeds[0]
    runs = [("reference", reference)] + [(f"{key.split('.')[1]}={_short(value)}", {**reference, key: value})
                                         for key, values in speed.switches.items() for value in values[1:]]
    trials: dict[str, Trial] = {}
    for label, switches in runs:
        # A speed trial measures speed: the spec's stop rule is not for it.
        trial_overrides = {**overrides, **switches, **short, "stop.metric": "", "train.seed": seed}
        trial_paths = {**paths, **{key: f"speed.switches.{key}" for key in switches},
                       **{key: "speed.steps" for key in short}, "stop.metric": "speed", "train.seed": "sweep.seeds[0]"}
        origin = [f"speed ({label})"]
        trial = _make_trial(spec, speed.variant, seed, trial_overrides, origin, trial_paths, [])
        trial.trial_id, trial.kind = f"{SPEED}-{speed.variant},{label}", SPEED
        if trial.config_hash in trials:  # a switch that does not apply to the variant (grouped matmul, dense)
            notes.append(f"speed: {label} does not apply to variant {speed.variant!r} ({', '.join(trial.dropped)}); "
                         "left out")
            continue
        trials[trial.config_hash] = trial
    return list(trials.values())


def _batch_notes(spec: Spec, trials: list[Trial]) -> list[str]:
    """Where the number of processes sets the global batch, say so."""
    processes = spec.resources.nproc_per_node
    per_process = sorted({t.config.batch_plan(processes).global_batch_s for t in trials
                          if not t.config.optim.global_batch_s})
    if processes == 1 or not per_process:
        return []
    sizes = " or ".join(f"{size:g}" for size in per_process)
    return [f"global batch: data.max_batch_s x optim.grad_accum x resources.nproc_per_node={processes} = {sizes} s "
            "of audio per step, which changes with the number of processes; set optim.global_batch_s to fix it"]


def _select_by_report_metric(spec: Spec, trials: list[Trial]) -> None:
    """Each trial keeps as checkpoints/best the checkpoint the report ranks by: one metric for both.
    (Not part of the config hash: it picks among a run's checkpoints, it does not change the run.)"""
    if spec.report.metric.startswith(("val/", "val_unseen/")):
        for trial in trials:
            trial.config.eval = dataclasses.replace(trial.config.eval, select_metric=spec.report.metric)


def spec_path(spec: Spec, trial: Trial, key: str) -> str:
    """The spec path that gave `key` (section.field) its value in this trial."""
    return trial.paths.get(key) or spec.base_path(key)


def _check_report_metric(spec: Spec, trials: list[Trial]) -> None:
    metric = spec.report.metric
    missing = [t for t in trials if metric not in logged_metrics(t.config)]
    if missing:
        logged_by_all = set.intersection(*(logged_metrics(t.config) for t in trials))
        raise SpecError(f"report.metric: {metric!r} is not logged by {len(missing)} trial(s) "
                        f"({', '.join(t.trial_id for t in missing[:3])}{', ...' if len(missing) > 3 else ''}); "
                        f"every trial logs: {', '.join(ranking_metrics(logged_by_all))}")


def _make_trial(spec: Spec, variant: str, seed: int, overrides: dict[str, Any], origin: list[str],
                paths: dict[str, str], grid_keys: list[str]) -> Trial:
    applicable = _drop_inapplicable(spec.base, overrides)
    values = {name: dict(section) for name, section in spec.base.items()}
    for key, value in applicable.items():
        section, name = key.split(".")
        values.setdefault(section, {})[name] = value
    try:
        config = run_config_from_dict(values)
        check_select_metric(config)
        config.batch_plan(spec.resources.nproc_per_node)
        check_stop_metric(config)
    except ConfigError as error:
        raise SpecError(f"{_blame(str(error), origin, paths, spec)}: {error}") from None
    return Trial(_name(variant, applicable, seed, grid_keys), variant, seed, applicable, config,
                 config_hash(config), origin, paths, dropped=[k for k in overrides if k not in applicable])


def _drop_inapplicable(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides whose deciding key (from the overrides, else the base config with its preset and
    defaults) says they apply."""
    try:
        base_config = run_config_from_dict(base)
    except ConfigError as error:
        raise SpecError(f"base: {error}") from None

    def value_of(key: str) -> Any:
        if key in overrides:
            return overrides[key]
        section, name = key.split(".")
        return getattr(getattr(base_config, section), name)

    return {key: value for key, value in overrides.items()
            if key not in APPLIES_ONLY_WHEN or value_of(APPLIES_ONLY_WHEN[key][0]) in APPLIES_ONLY_WHEN[key][1]}


def _blame(message: str, origin: list[str], paths: dict[str, str], spec: Spec) -> str:
    """The spec path whose key the config error names (`model.top_k: ...` -> sweep.grid.model.top_k[2]);
    a check across fields (or of a base value) names the base and the trial's origin."""
    field_name = message.split(":")[0]
    if field_name in paths:
        return paths[field_name]
    if field_name in spec.base_paths:
        return f"{spec.base_paths[field_name]} ({', '.join(origin)})"
    return f"base ({', '.join(origin)})"


def _selected(spec: Spec, variant: str, seed: int, overrides: dict[str, Any]) -> bool:
    facts = {**overrides, "variant": variant, "seed": seed}

    def matches(rule: dict[str, Any]) -> bool:
        return all(facts.get(key) == value for key, value in rule.items())

    if spec.sweep.include and not any(matches(rule) for rule in spec.sweep.include):
        return False
    return not any(matches(rule) for rule in spec.sweep.exclude)


def _name(variant: str, overrides: dict[str, Any], seed: int, grid_keys: list[str]) -> str:
    """Readable and unique within a sweep: variant, then the grid values it has, then the seed."""
    grid = [f"{key.split('.')[1]}={_short(overrides[key])}" for key in grid_keys if key in overrides]
    return ",".join([variant, *grid, f"seed={seed}"])


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _make_ids_unique(trials: list[Trial]) -> None:
    seen: dict[str, int] = {}
    for trial in trials:
        if trial.trial_id in seen:
            trial.trial_id = f"{trial.trial_id},{trial.config_hash[:6]}"
        seen[trial.trial_id] = 1


def config_hash(config: RunConfig) -> str:
    """What makes two trials the same experiment: the resolved config's experiment fields
    (smolwhisper.config.experiment_values), not how or where it runs."""
    values = json.dumps(experiment_values(to_dict(config)), sort_keys=True, default=str)
    return hashlib.sha256(values.encode()).hexdigest()[:16]


def same_experiment(recorded: dict, config: RunConfig) -> bool:
    """Whether a trial directory's resolved config (`recorded`, as its config.yaml holds it) ran
    `config`'s experiment. A field that a later version added is absent from it, and counts as equal
    at its default, which is how runs before it behaved: an upgrade does not rerun finished trials."""
    old, new, default = (experiment_values(values) for values in (recorded, to_dict(config), to_dict(RunConfig())))
    for section, fields in new.items():
        for key, value in fields.items():
            before = old.get(section, {}).get(key, default[section][key])
            if before != value:
                return False
    return True

