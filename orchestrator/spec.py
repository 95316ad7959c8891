"""The sweep spec: what a YAML file in experiments/ may say, checked before anything runs.

    name: moe-sweep
    base: {config: ../configs/x.yaml | {model: {...}, data: {...}}, overrides: {optim.lr: 1e-3}}
    sweep:
      variants: {dense: {model.decoder_ffn: dense}, moe-8x2: {model.decoder_ffn: moe, model.n_experts: 8}}
      grid: {model.noisy_topk: [false, true], model.top_k: [1, 2]}
      seeds: [0, 1, 2]
      exclude: [{variant: dense, model.noisy_topk: true}]
      include: []
    speed: {switches: {model.flash: [true, false], train.compile: [false, true]}, steps: 300, variant: dense}
    stop: {metric: val/audio_gain, below: 0.05, after_steps: 4000}
    resources: {gpus: 1, cpus: 4, nproc_per_node: 1}
    max_concurrent: 4
    retries: 1
    tracking: {mlflow_uri: sqlite:///mlflow.db, experiment: moe-sweep}
    report: {metric: val/wer, baseline: dense}

Errors name the spec path of the offending key, e.g. `sweep.grid.model.top_k[2]`, and what is allowed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smolwhisper.config import SPEED_SWITCHES, ConfigError, run_config_from_dict, suggestion


class SpecError(ValueError):
    """A spec that cannot run; the message starts with the spec path of the offending key."""


# A trial runs torchrun on one node: more than a node holds is a typo, not a request.
MAX_GPUS_PER_TRIAL = 64
MAX_CPUS_PER_TRIAL = 4096


@dataclass
class Resources:
    gpus: int = 0  # per trial, shared by its nproc_per_node ranks
    cpus: int = 1  # per trial
    nproc_per_node: int = 1

    def check(self) -> None:
        limits = {"gpus": (0, MAX_GPUS_PER_TRIAL), "cpus": (1, MAX_CPUS_PER_TRIAL),
                  "nproc_per_node": (1, MAX_GPUS_PER_TRIAL if self.gpus else MAX_CPUS_PER_TRIAL)}
        for name, (minimum, maximum) in limits.items():
            value = getattr(self, name)
            if value < minimum:
                raise SpecError(f"resources.{name}: {value!r} is not allowed; expected an integer >= {minimum}")
            if value > maximum:
                raise SpecError(f"resources.{name}: {value!r} is not allowed; expected an integer in "
                                f"[{minimum}, {maximum}] (a trial runs on one node)")
        if 0 < self.gpus < self.nproc_per_node:
            raise SpecError(f"resources.gpus: {self.gpus} is not allowed with resources.nproc_per_node="
                            f"{self.nproc_per_node}: each rank needs a GPU of its own; ask for at least "
                            f"{self.nproc_per_node} GPUs, or for 0 to train on CPUs")
        if self.nproc_per_node > self.cpus:
            raise SpecError(f"resources.nproc_per_node: {self.nproc_per_node} is not allowed with resources.cpus="
                            f"{self.cpus}: each rank needs a CPU of its own; ask for at least "
                            f"{self.nproc_per_node} CPUs, or for fewer ranks")


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
class Speed:
    """Short runs of one configuration that compare speed switches (config.SPEED_SWITCHES): one trial
    with every switch at its first value (the reference), and one per other value of each switch."""

    switches: dict[str, list[bool]] = field(default_factory=dict)  # empty: no speed trials
    steps: int = 300  # optimizer steps per speed trial
    variant: str = ""  # the configuration: this variant, the first value of each grid key, the first seed
    only: bool = False  # run the speed trials alone (the sweep section then only defines the configuration)


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
    speed: Speed = field(default_factory=Speed)
    # where each base value was set: "model.top_k" -> "base.overrides.model.top_k" or "base.config.model.top_k"
    base_paths: dict[str, str] = field(default_factory=dict)

    def base_path(self, key: str) -> str:
        """The spec path of a base `section.field` (base.config.<key> where the spec leaves it unset)."""
        return self.base_paths.get(key, f"base.config.{key}")


TOP_LEVEL = ("name", "base", "sweep", "speed", "stop", "resources", "max_concurrent", "retries", "tracking", "report")
MAX_CONCURRENT, MAX_RETRIES = 100_000, 100
MAX_SPEED_STEPS = 100_000
# The sweep's directory is runs/<name>: one path component, never '.', '..' or a nested path.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SEED_KEY = "train.seed"  # set by sweep.seeds, nowhere else


def load_spec(path: str | Path, overrides: list[str] = ()) -> Spec:
    """The spec at `path`; `overrides` (`section.key=value`, as run.py --set takes them) go on top of
    its base.overrides, for every trial."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    raw = _read_yaml(path, "spec file")
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec is a mapping with keys {', '.join(TOP_LEVEL)}")
    _reject_unknown(raw, TOP_LEVEL, "")
    name = raw.get("name")
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name.strip()):
        raise SpecError(f"name: {name!r} is not allowed; required, a name for the sweep's directory runs/<name>: "
                        "up to 100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    sweep = _sweep(_mapping_or_empty(raw.get("sweep"), "sweep"))
    report = _report(raw.get("report"), sweep)
    max_concurrent, retries = raw.get("max_concurrent", 1), raw.get("retries", 0)
    for key, value, minimum, maximum in (("max_concurrent", max_concurrent, 1, MAX_CONCURRENT),
                                         ("retries", retries, 0, MAX_RETRIES)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SpecError(f"{key}: {value!r} is not allowed; expected an integer >= {minimum}")
        if value > maximum:
            raise SpecError(f"{key}: {value!r} is not allowed; expected an integer in [{minimum}, {maximum}]")
    resources = _dataclass(Resources, raw.get("resources"), "resources")
    resources.check()
    base, base_paths = _base(_with_overrides(raw.get("base"), overrides), path.parent, raw.get("stop"))
    return Spec(name=name.strip(), base=base, sweep=sweep, resources=resources,
                max_concurrent=max_concurrent, retries=retries,
                tracking=_dataclass(Tracking, raw.get("tracking"), "tracking"), report=report, path=path,
                base_paths=base_paths, speed=_speed(raw.get("speed"), sweep))


def _sweep(raw: dict) -> Sweep:
    _reject_unknown(raw, ("variants", "grid", "seeds", "exclude", "include"), "sweep")
    sweep = Sweep(variants=_variants(raw.get("variants", {"base": {}})),
                  grid=_grid(_mapping_or_empty(raw.get("grid"), "sweep.grid")),
                  seeds=_seeds(raw.get("seeds", [0])))
    sweep.exclude = _filters(raw.get("exclude", []), "sweep.exclude", sweep)
    sweep.include = _filters(raw.get("include", []), "sweep.include", sweep)
    return sweep


def _report(raw: Any, sweep: Sweep) -> Report:
    """Whether the trials log report.metric is checked on their configs, in expand."""
    report = _dataclass(Report, raw, "report")
    if not report.metric.strip():
        raise SpecError("report.metric: '' is not allowed; name the metric trials are ranked by, e.g. val/wer")
    if report.baseline and report.baseline not in sweep.variants:
        raise SpecError(f"report.baseline: {report.baseline!r} is not a variant; variants: {', '.join(sweep.variants)}")
    return report


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """The spec as YAML would hold it, base resolved into one config mapping: loading it gives the same spec."""
    return {"name": spec.name, "base": {"config": spec.base}, "sweep": asdict(spec.sweep),
            "resources": asdict(spec.resources), "max_concurrent": spec.max_concurrent, "retries": spec.retries,
            "tracking": asdict(spec.tracking), "report": asdict(spec.report),
            **({"speed": asdict(spec.speed)} if spec.speed.switches else {})}


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"{what} {str(path)!r} cannot be read: {error}") from None


def _base(raw: Any, directory: Path, stop: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The base RunConfig mapping, checked, and where each of its values was set; the spec's `stop`
    section is its `stop` section (config.StopConfig), for every trial."""
    raw = _mapping_or_empty(raw, "base")
    _reject_unknown(raw, ("config", "overrides"), "base")
    config, where = raw.get("config"), "base.config"
    if isinstance(config, str):
        file = _existing_file(directory, config, "base.config")
        config, where = _read_yaml(file, "base.config"), f"base.config ({file})"
    config = {name: dict(_mapping_or_empty(section, f"{where}.{name}"))
              for name, section in _mapping_or_empty(config, where).items()}
    paths = {f"{section}.{name}": f"base.config.{section}.{name}" for section, values in config.items()
             for name in values}
    for key, value in _mapping_or_empty(raw.get("overrides"), "base.overrides").items():
        section, name = _dotted(key, f"base.overrides.{key}")
        config.setdefault(section, {})[name] = value
        paths[f"{section}.{name}"] = f"base.overrides.{key}"
    if stop is not None:
        if "stop" in config:
            raise SpecError("stop: the spec's stop section and base.config.stop say the same thing; keep one")
        config["stop"] = dict(_mapping(stop, "stop"))
        paths.update({f"stop.{name}": f"stop.{name}" for name in config["stop"]})
    if SEED_KEY in paths:
        _not_the_seed(SEED_KEY, paths[SEED_KEY])
    try:
        run_config_from_dict({name: dict(section) for name, section in config.items()})
    except ConfigError as error:
        key = str(error).split(":")[0]
        raise SpecError(f"{paths.get(key, f'base.config.{key}')}: {error}") from None
    return config, paths


def _with_overrides(base: Any, overrides: list[str]) -> Any:
    """base with `section.key=value` strings (values read as YAML scalars) added to its overrides; a
    base that is not a mapping is left for _base to refuse."""
    if not overrides or not isinstance(base if base is not None else {}, dict):
        return base
    base = dict(base or {})
    merged = dict(_mapping_or_empty(base.get("overrides"), "base.overrides"))
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise SpecError(f"--set {override!r}: expected section.key=value, e.g. data.source=gigaspeech:s:/data/gs")
        _dotted(key, f"--set {key}")
        try:
            merged[key] = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise SpecError(f"--set {key}: {raw!r} is not a YAML value ({type(error).__name__})") from None
    base["overrides"] = merged
    return base


def _existing_file(directory: Path, name: str, where: str) -> Path:
    try:
        file = (directory / name).resolve()
        found = file.is_file()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a name too long, a symlink loop
        file, found = directory / name, False
    if not found:
        raise SpecError(f"{where}: {name!r} does not exist (resolved to {file})")
    return file


def _variants(raw: Any) -> dict[str, dict[str, Any]]:
    raw = _mapping(raw, "sweep.variants")
    if not raw:
        raise SpecError("sweep.variants: empty; give at least one named set of overrides (it may be {})")
    variants = {}
    for name, overrides in raw.items():
        if not str(name).strip():
            raise SpecError(f"sweep.variants.{name}: a variant needs a name")
        overrides = _mapping_or_empty(overrides, f"sweep.variants.{name}")
        for key in overrides:
            _dotted(key, f"sweep.variants.{name}.{key}")
            _not_the_seed(key, f"sweep.variants.{name}.{key}")
            _not_a_speed_switch(key, f"sweep.variants.{name}.{key}")
            _not_operational(key, f"sweep.variants.{name}.{key}")
        variants[str(name)] = dict(overrides)
    return variants


def _grid(raw: dict) -> dict[str, list[Any]]:
    grid = {}
    for key, values in raw.items():
        _dotted(key, f"sweep.grid.{key}")
        _not_the_seed(key, f"sweep.grid.{key}")
        _not_a_speed_switch(key, f"sweep.grid.{key}")
        _not_operational(key, f"sweep.grid.{key}")
        if not isinstance(values, list) or not values:
            raise SpecError(f"sweep.grid.{key}: {values!r} is not allowed; expected a non-empty list of values")
        grid[key] = values
    return grid


def _not_the_seed(key: Any, where: str) -> None:
    if key == SEED_KEY:
        raise SpecError(f"{where}: trials take their seeds from sweep.seeds, which would override it; "
                        "list the seeds there instead")


def _not_a_speed_switch(key: Any, where: str) -> None:
    if key in SPEED_SWITCHES:
        raise SpecError(f"{where}: {key} changes how the model is computed, not what, so it cannot change WER: "
                        f"compare it in the spec's speed section (speed: {{switches: {{{key}: [...]}}, steps: 300}}, "
                        "short speed trials of one configuration whose throughput, MFU and memory the report "
                        "compares), or set it in base.config for every trial")


def _not_operational(key: Any, where: str) -> None:
    """An operational field (smolwhisper.config.is_operational) is no part of a trial's identity: trials
    differing only there would be one experiment, merged into one trial."""
    from smolwhisper.config import is_operational

    if is_operational(str(key)):
        raise SpecError(f"{where}: {key} is operational (how a trial runs, not what it computes), so its values "
                        f"would all be the same experiment; set it once in base.config or base.overrides, where "
                        f"changing it later continues the sweep's trials instead of starting them over")


def _seeds(raw: Any) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"sweep.seeds: {raw!r} is not allowed; expected a non-empty list of integers")
    for i, seed in enumerate(raw):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise SpecError(f"sweep.seeds[{i}]: {seed!r} is not an integer")
        if seed in raw[:i]:
            raise SpecError(f"sweep.seeds[{i}]: {seed!r} repeats sweep.seeds[{raw.index(seed)}]; list each seed "
                            "once (a repeated seed is the same run)")
    return raw


def _speed(raw: Any, sweep: Sweep) -> Speed:
    """The speed section: switches among SPEED_SWITCHES, each with a non-empty list of true/false."""
    if raw is None:
        return Speed()
    raw = _mapping(raw, "speed")
    _reject_unknown(raw, tuple(Speed.__dataclass_fields__), "speed")
    switches = _mapping(raw.get("switches"), "speed.switches")
    if not switches:
        raise SpecError(f"speed.switches: empty; name one or more of {', '.join(SPEED_SWITCHES)} with the values "
                        "to compare, the reference first, e.g. {model.flash: [true, false]}")
    for key, values in switches.items():
        if key not in SPEED_SWITCHES:
            raise SpecError(f"speed.switches.{key}: not a speed switch; allowed: {', '.join(SPEED_SWITCHES)} "
                            "(a key that can change WER belongs in sweep.grid)")
        if (not isinstance(values, list) or not values or not all(isinstance(v, bool) for v in values)
                or len(set(values)) != len(values)):
            raise SpecError(f"speed.switches.{key}: {values!r} is not allowed; expected a list of distinct "
                            "true/false values, the reference first, e.g. [true, false]")
    steps = raw.get("steps", Speed.steps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_SPEED_STEPS:
        raise SpecError(f"speed.steps: {steps!r} is not allowed; expected an integer in [1, {MAX_SPEED_STEPS}] "
                        "(a few hundred steps measure a switch's speed)")
    variant = raw.get("variant", "") or next(iter(sweep.variants))
    if not isinstance(variant, str) or variant not in sweep.variants:
        raise SpecError(f"speed.variant: {variant!r} is not a variant; variants: {', '.join(sweep.variants)}")
    only = raw.get("only", False)
    if not isinstance(only, bool):
        raise SpecError(f"speed.only: {only!r} is not allowed; expected true or false")
    return Speed(dict(switches), steps, variant, only)


def _filters(raw: Any, where: str, sweep: Sweep) -> list[dict[str, Any]]:
    """Filters whose every key and variant or seed exists: one that does not would silently match nothing."""
    if not isinstance(raw, list):
        raise SpecError(f"{where}: expected a list of mappings such as {{variant: dense, model.flash: false}}")
    filters = []
    for i, item in enumerate(raw):
        item = _mapping(item, f"{where}[{i}]")
        for key, value in item.items():
            if key == "variant" and (not isinstance(value, str) or value not in sweep.variants):
                raise SpecError(f"{where}[{i}].variant: {value!r} is not a variant; variants: {', '.join(sweep.variants)}")
            if key == "seed" and value not in sweep.seeds:
                raise SpecError(f"{where}[{i}].seed: {value!r} is not in sweep.seeds {sweep.seeds}")
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
        raise SpecError(f"{where}: unknown field {key!r}; {suggestion(name, known, prefix=section + '.')}")


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _mapping_or_empty(value: Any, where: str) -> dict:
    """A mapping, where a key given without a value (YAML null) means an empty one."""
    return {} if value is None else _mapping(value, where)


def _reject_unknown(raw: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise SpecError(f"{where + '.' if where else ''}{key}: unknown key; {suggestion(key, allowed)}")


def _dataclass(cls: type, raw: Any, where: str):
    raw = _mapping_or_empty(raw, where)
    _reject_unknown(raw, tuple(cls.__dataclass_fields__), where)
    instance = cls(**raw)
    for name, f in cls.__dataclass_fields__.items():
        value, expected = getattr(instance, name), type(f.default)
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            raise SpecError(f"{where}.{name}: {value!r} is not allowed; expected {expected.__name__}")
    return instance
