"""Generated mutations of the shipped specs and of training configs: each ends in a clear SpecError or
ConfigError naming where it went wrong, or in a valid expansion whose spec round-trips through YAML.
Cases per test: the Hypothesis profile (tests/conftest.py; HYPOTHESIS_PROFILE=thorough for thousands)."""

import contextlib
import copy
import importlib.util
import io
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from orchestrator.expand import expand
from orchestrator.spec import SAFE_NAME, TOP_LEVEL, SpecError, load_spec, spec_to_dict
from smolwhisper.config import SECTIONS, ConfigError, RunConfig, load_run_config, run_config_from_dict, to_dict
from smolwhisper.metric_names import logged_metrics

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {path.stem: yaml.safe_load(path.read_text()) for path in sorted((ROOT / "experiments").glob("*.yaml"))}
FIELD_KEYS = [f"{section}.{name}" for section, f in SECTIONS.items() for name in to_dict(f.default_factory())]

# What a hand-edited YAML value can be: wrong types, out-of-range and non-finite numbers, huge integers,
# empty or nested containers, and values that are right somewhere (so that some mutations stay valid).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70), st.integers(), st.sampled_from([2**31, 2**63, -2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2), st.text(max_size=12),
    st.sampled_from(["", "dense", "moe", "bpe", "cpu", "auto", "tiny.en", "test", "val/wer", "val/wer_ctc",
                     "../..", "a/b", "synthetic", "gigaspeech:s", "1e-3", "nan", "model.top_k"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(FIELD_KEYS)),
                                                 inner, max_size=3)), max_leaves=6)
keys = st.one_of(st.sampled_from(FIELD_KEYS + list(TOP_LEVEL) + list(SECTIONS) + ["variant", "seed", "preset"]),
                 st.text(max_size=10), st.integers(-2, 5))


def paths_in(node, prefix=()):
    """Every (path) to a value in a nested structure of dicts and lists, the root included."""
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from paths_in(child, (*prefix, key))


def mutate(data, document):
    """One to three edits: a value replaced, a key or item removed, or a key added."""
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(list(paths_in(document))), label="path")
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "remove", "add"]), label="action")
        if not path:  # the root: replace it, or add a key to it
            if action == "replace":
                document = data.draw(values, label="root")
            elif isinstance(document, dict):
                document[data.draw(keys, label="key")] = data.draw(values, label="value")
            continue
        target = parent[path[-1]]
        if action == "remove":
            del parent[path[-1]]
        elif action == "add" and isinstance(target, dict):
            target[data.draw(keys, label="key")] = data.draw(values, label="value")
        elif action == "add" and isinstance(target, list):
            target.append(data.draw(values, label="value"))
        else:
            parent[path[-1]] = data.draw(values, label="value")
    return document


def names_a_spec_path(message: str, spec_file: Path, document) -> bool:
    """The message starts with where the problem is: a spec path (`sweep.grid.model.top_k[2]: ...`,
    `base (sweep.variants.x, ...)`), an unknown top-level key, or the spec file itself."""
    head = re.split(r"[.:\[ ]", message, maxsplit=1)[0]
    unknown = [f"{key}: unknown key" for key in document] if isinstance(document, dict) else []
    return head in TOP_LEVEL or message.startswith((str(spec_file), "spec file", *unknown))


def check_valid_expansion(spec, expansion, tmp_path: Path) -> None:
    assert SAFE_NAME.fullmatch(spec.name) and (Path("runs") / spec.name).parent == Path("runs")
    resources = spec.resources
    assert resources.cpus >= 1 and resources.nproc_per_node >= 1 and resources.gpus >= 0
    assert resources.gpus == 0 or resources.gpus >= resources.nproc_per_node
    for trial in expansion.trials:
        assert run_config_from_dict(to_dict(trial.config)) == trial.config  # every value re-validates
        assert spec.report.metric in logged_metrics(trial.config)
    # the spec as the loader understood it, written out and read back, is the same spec and sweep
    again_file = tmp_path / "again.yaml"
    again_file.write_text(yaml.safe_dump(spec_to_dict(spec), sort_keys=False))
    again = load_spec(again_file)
    assert spec_to_dict(again) == spec_to_dict(spec)
    assert [(t.trial_id, t.config_hash) for t in expand(again).trials] == \
        [(t.trial_id, t.config_hash) for t in expansion.trials]


@pytest.mark.parametrize("shipped", ["smoke", "moe_sweep"])
@given(data=st.data())
def test_mutated_specs_expand_or_fail_naming_the_spec_path(tmp_path_factory, shipped, data):
    tmp_path = tmp_path_factory.mktemp("spec")
    spec_file = tmp_path / "spec.yaml"
    document = mutate(data, SHIPPED[shipped])
    spec_file.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        spec = load_spec(spec_file)
        expansion = expand(spec)
    except SpecError as error:
        event(f"SpecError {str(error).split(':')[0][:40]}")
        assert names_a_spec_path(str(error), spec_file, document), str(error)
        return
    event("valid")
    check_valid_expansion(spec, expansion, tmp_path)


@pytest.fixture(scope="module")
def run_py():
    loader = importlib.util.spec_from_file_location("run_py", ROOT / "run.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


@given(data=st.data())
def test_run_py_dry_run_on_mutated_specs_exits_0_or_2(tmp_path_factory, run_py, monkeypatch_module, data):
    """What the issue tried: `run.py SPEC --dry-run` on mutated shipped specs, data check included."""
    tmp_path = tmp_path_factory.mktemp("dry")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(mutate(data, SHIPPED[data.draw(st.sampled_from(sorted(SHIPPED)))])))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = run_py.main([str(spec_file), "--dry-run"])
    event(f"exit {status}")
    assert status in (0, 2)
    assert (status == 2) == err.getvalue().startswith("run.py: ")


@pytest.fixture(scope="module")
def monkeypatch_module(tmp_path_factory):
    """No Hugging Face login and a scratch working directory, for the whole module's dry runs."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("cwd")
        patch.chdir(home)
        patch.setenv("HF_HOME", str(home / "hf"))
        patch.delenv("HF_TOKEN", raising=False)
        yield patch


TRAINING_CONFIGS = {"defaults": to_dict(RunConfig()), "smoke": SHIPPED["smoke"]["base"]["config"]}


@pytest.mark.parametrize("start", sorted(TRAINING_CONFIGS))
@given(data=st.data())
def test_mutated_training_configs_load_or_fail_naming_the_field(start, data):
    values = mutate(data, TRAINING_CONFIGS[start])
    try:
        cfg = run_config_from_dict(values)
    except ConfigError as error:
        event("ConfigError")
        head = str(error).split(":")[0]  # a section's field, a section, an unknown section's name, or the whole
        unknown = [str(key) for key in values] if isinstance(values, dict) else []
        assert head.split(".")[0] in (*SECTIONS, "config") or head in unknown, str(error)
        return
    event("valid")
    assert run_config_from_dict(to_dict(cfg)) == cfg
    assert all(math.isfinite(value) for section in to_dict(cfg).values() for value in section.values()
               if isinstance(value, float))


@given(overrides=st.lists(st.tuples(st.sampled_from(FIELD_KEYS + ["model.preset", "modle.x", "optim"]),
                                    st.one_of(st.text(max_size=12), values.map(yaml.safe_dump))), max_size=4))
def test_command_line_overrides_load_or_fail_naming_the_field(overrides):
    arguments = [f"{key}={value}" for key, value in overrides]
    try:
        cfg = load_run_config(None, arguments)
    except ConfigError as error:
        event("ConfigError")
        head = str(error).split(":")[0]
        assert any(head.startswith(key) or key.startswith(head) for key, _ in overrides) or \
            head.startswith("override"), str(error)
        return
    event("valid")
    assert run_config_from_dict(to_dict(cfg)) == cfg
