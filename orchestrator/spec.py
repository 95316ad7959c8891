"""The sweep spec: what a YAML file in experiments/ may say, checked before anything runs.

    name: moe-sweep
    base: {config: ../configs/x.yaml | {model: {...}, data: {...}}, overrides: {optim.lr: 1e-3}}
    sweep:
      variants: {dense: {model.decoder_ffn: dense}, moe-8x2: {model.decoder_ffn: moe, model.n_experts: 8}}
      grid: {model.noisy_topk: [false, true], model.flash: [true, false]}
      seeds: [0, 1, 2]
      exclude: [{variant: dense, model.flash: false}]
      include: []
    resources: {gpus: 1, cpus: 4, nproc_per_node: 1}
    max_concurrent: 4
    retries: 1
    tracking: {mlflow_uri: sqlite:///mlflow.db, experiment: moe-sweep}
    report: {metric: val/wer, baseline: dense}

Errors name the spec path of the offending key, e.g. `sweep.grid.model.top_k[2]`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class SpecError(ValueError):
    """A spec that cannot run; the message starts with the spec path of the offending key."""


@dataclass
class Resources:
    gpus: int = 0  # per trial, shared by its nproc_per_node ranks
    cpus: int = 1  # per trial
    nproc_per_node: int = 1


@dataclass
class Tracking:
    mlflow_uri: str = ""  # default: an SQLite store in the directory run.py is started from
    experiment: str = ""  # default: the spec name


@dataclass
class Report:
    metric: str = "val/wer"
    baseline: str = ""  # a variant name; default: the first variant


@dataclass
class Sweep:
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {"base": {}})
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    exclude: list[dict[str, Any]] = field(default_factory=list)
    include: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Spec:
    name: str
    base: dict[str, Any]  # a RunConfig mapping (sections), with the base overrides applied
    sweep: Sweep
    resources: Resources
    max_concurrent: int
    retries: int
    tracking: Tracking
    report: Report
    path: Path


TOP_LEVEL = ("name", "base", "sweep", "resources", "max_concurrent", "retries", "tracking", "report")


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec is a mapping with keys {', '.join(TOP_LEVEL)}")
    _reject_unknown(raw, TOP_LEVEL, "")
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise SpecError("name: required, a non-empty string naming the sweep")
    sweep_raw = _mapping(raw.get("sweep", {}), "sweep")
    _reject_unknown(sweep_raw, ("variants", "grid", "seeds", "exclude", "include"), "sweep")
    sweep = Sweep(
        variants=_variants(sweep_raw.get("variants", {"base": {}})),
        grid=_grid(sweep_raw.get("grid", {})),
        seeds=_seeds(sweep_raw.get("seeds", [0])),
        exclude=_filters(sweep_raw.get("exclude", []), "sweep.exclude"),
        include=_filters(sweep_raw.get("include", []), "sweep.include"),
    )
    report = _dataclass(Report, raw.get("report", {}), "report")
    if report.baseline and report.baseline not in sweep.variants:
        raise SpecError(f"report.baseline: {report.baseline!r} is not a variant; variants: {', '.join(sweep.variants)}")
    max_concurrent, retries = raw.get("max_concurrent", 1), raw.get("retries", 0)
    for key, value, minimum in (("max_concurrent", max_concurrent, 1), ("retries", retries, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SpecError(f"{key}: {value!r} is not allowed; expected an integer >= {minimum}")
    return Spec(name=raw["name"].strip(), base=_base(raw.get("base", {}), path.parent), sweep=sweep,
                resources=_dataclass(Resources, raw.get("resources", {}), "resources"),
                max_concurrent=max_concurrent, retries=retries,
                tracking=_dataclass(Tracking, raw.get("tracking", {}), "tracking"), report=report, path=path)


def _base(raw: Any, directory: Path) -> dict[str, Any]:
    raw = _mapping(raw, "base")
    _reject_unknown(raw, ("config", "overrides"), "base")
    config = raw.get("config", {})
    if isinstance(config, str):
        file = (directory / config).resolve()
        if not file.is_file():
            raise SpecError(f"base.config: {config!r} does not exist (resolved to {file})")
        config = yaml.safe_load(file.read_text()) or {}
    config = {name: dict(section or {}) for name, section in _mapping(config, "base.config").items()}
    for key, value in _mapping(raw.get("overrides", {}), "base.overrides").items():
        section, name = _dotted(key, f"base.overrides.{key}")
        config.setdefault(section, {})[name] = value
    return config


def _variants(raw: Any) -> dict[str, dict[str, Any]]:
    raw = _mapping(raw, "sweep.variants")
    if not raw:
        raise SpecError("sweep.variants: empty; give at least one named set of overrides (it may be {})")
    variants = {}
    for name, overrides in raw.items():
        overrides = _mapping(overrides or {}, f"sweep.variants.{name}")
        for key in overrides:
            _dotted(key, f"sweep.variants.{name}.{key}")
        variants[str(name)] = dict(overrides)
    return variants


def _grid(raw: Any) -> dict[str, list[Any]]:
    grid = {}
    for key, values in _mapping(raw, "sweep.grid").items():
        _dotted(key, f"sweep.grid.{key}")
        if not isinstance(values, list) or not values:
            raise SpecError(f"sweep.grid.{key}: {values!r} is not allowed; expected a non-empty list of values")
        grid[key] = values
    return grid


def _seeds(raw: Any) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"sweep.seeds: {raw!r} is not allowed; expected a non-empty list of integers")
    for i, seed in enumerate(raw):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SpecError(f"sweep.seeds[{i}]: {seed!r} is not an integer")
    return raw


def _filters(raw: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise SpecError(f"{where}: expected a list of mappings such as {{variant: dense, model.flash: false}}")
    filters = []
    for i, item in enumerate(raw):
        item = _mapping(item, f"{where}[{i}]")
        for key in item:
            if key not in ("variant", "seed"):
                _known_field(key, f"{where}[{i}].{key}")
        filters.append(item)
    return filters


def _dotted(key: Any, where: str) -> tuple[str, str]:
    from smolwhisper.config import SECTIONS

    parts = str(key).split(".")
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise SpecError(f"{where}: expected section.field with a section among {', '.join(SECTIONS)}")
    return parts[0], parts[1]


def _known_field(key: Any, where: str) -> None:
    """A filter on a field that does not exist would silently match nothing."""
    from dataclasses import fields

    from smolwhisper.config import SECTIONS

    section, name = _dotted(key, where)
    known = [f.name for f in fields(SECTIONS[section].default_factory())]
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        raise SpecError(f"{where}: unknown field {key!r}" + (f"; did you mean '{section}.{close[0]}'?" if close else ""))


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _reject_unknown(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            raise SpecError(f"{where + '.' if where else ''}{key}: unknown key; {hint}")


def _dataclass(cls: type, raw: Any, where: str):
    raw = _mapping(raw or {}, where)
    _reject_unknown(raw, tuple(cls.__dataclass_fields__), where)
    instance = cls(**raw)
    for name, f in cls.__dataclass_fields__.items():
        value, expected = getattr(instance, name), type(f.default)
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            raise SpecError(f"{where}.{name}: {value!r} is not allowed; expected {expected.__name__}")
    return instance
