"""The sweep orchestrator: spec checks, expansion, and real runs through Ray, torchrun and MLflow."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.expand import expand
from orchestrator.spec import SpecError, load_spec
from smolwhisper import run_files

from helpers import write_tone_corpus

ROOT = Path(__file__).resolve().parents[1]


def write_spec(path: Path, **changes) -> Path:
    spec = {"name": "t", "base": {"config": {"model": {"preset": "test"}}},
            "sweep": {"variants": {"dense": {"model.decoder_ffn": "dense"},
                                   "moe": {"model.decoder_ffn": "moe", "model.n_experts": 2}},
                      "seeds": [0]}}
    for dotted, value in changes.items():
        target = spec
        *parents, last = dotted.split("/")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"sweep/grid": {"model.top_k": [1, 2, 3]}}, r"sweep.grid.model.top_k\[2\]: model.top_k: 3 is not allowed"),
    ({"sweep/grid": {"model.top_k": []}}, r"sweep.grid.model.top_k: \[\] is not allowed; expected a non-empty list"),
    ({"sweep/grid": {"model.n_experts": [2, "four"]}}, r"sweep.grid.model.n_experts\[1\]: model.n_experts: 'four'"),
    ({"sweep/grid": {"modle.top_k": [1]}}, r"sweep.grid.modle.top_k: expected section.field"),
    ({"sweep/grid": {"model.topk": [1]}}, r"sweep.grid.model.topk\[0\]: model.topk: unknown field; did you mean 'top_k'"),
    ({"sweep/seeds": [0, "x"]}, r"sweep.seeds\[1\]: 'x' is not an integer"),
    ({"sweep/varients": {}}, r"sweep.varients: unknown key; did you mean 'variants'"),
    ({"retries": -1}, r"retries: -1 is not allowed"),
    ({"resources/gpus": "one"}, r"resources.gpus: 'one' is not allowed; expected int"),
    ({"report/baseline": "sparse"}, r"report.baseline: 'sparse' is not a variant"),
    ({"sweep/exclude": [{"variant": "dense"}, {"variant": "moe"}]}, r"sweep: the filters leave no trial"),
    ({"name": ""}, r"name: '' is not allowed; required, a name for the sweep"),
    ({"base/config": "missing.yaml"}, r"base.config: 'missing.yaml' does not exist"),
    ({"base/overrides": {"optim.warmup": 3}}, r"optim.warmup: unknown field; did you mean 'warmup_steps'"),
    ({"resources/tpus": 1}, r"resources.tpus: unknown key"),
    ({"max_concurrent": 0}, r"max_concurrent: 0 is not allowed; expected an integer >= 1"),
    ({"sweep/grid": [1, 2]}, r"sweep.grid: expected a mapping"),
    ({"sweep/variants": {}}, r"sweep.variants: empty"),
    ({"sweep/variants/moe": {"model.decoder_ffn": "moe", "model.n_experts": 2, "model.top_k": 3}},
     r"sweep.variants.moe.*model.top_k: 3 is not allowed; must be between 1 and n_experts=2"),
    ({"sweep/exclude": {"variant": "moe"}}, r"sweep.exclude: expected a list of mappings"),
    ({"sweep/grid": {"data.num_workers": [1, 4]}},
     r"sweep.grid.data.num_workers: data.num_workers is operational .*set it once in base.config"),
    ({"sweep/variants/moe": {"model.decoder_ffn": "moe", "train.checkpoint_every": 5}},
     r"sweep.variants.moe.train.checkpoint_every: train.checkpoint_every is operational"),
    ({"sweep/include": [{"model.colour": "red"}]}, r"sweep.include\[0\].model.colour: unknown field 'model.colour'"),
    ({"trials": 3}, r"trials: unknown key"),
    ({"tracking/mlflow_uri": 5}, r"tracking.mlflow_uri: 5 is not allowed; expected str"),
])
def test_bad_specs_fail_with_the_spec_path(tmp_path, changes, message):
    with pytest.raises(SpecError, match=message):
        expand(load_spec(write_spec(tmp_path / "spec.yaml", **changes)))


@pytest.mark.parametrize("changes, message", [
    ({"base/config/data": {"max_batch_s": float("nan")}},
     r"^base.config.data.max_batch_s: data.max_batch_s: nan is not allowed; expected a finite number"),
    ({"base/config/data": {"max_batch_s": float("inf")}}, r"^base.config.data.max_batch_s: .*inf is not allowed"),
    ({"base/overrides": {"optim.lr": float("inf")}}, r"^base.overrides.optim.lr: optim.lr: inf is not allowed"),
    ({"base/config/data": {"synth_hours": -1}}, r"^base.config.data.synth_hours: data.synth_hours: -1.0 .*must be > 0"),
    ({"base/config/optim": {"warmup_steps": -1}}, r"^base.config.optim.warmup_steps: .*-1 is not allowed; must be >= 0"),
    ({"resources/gpus": -1}, r"^resources.gpus: -1 is not allowed; expected an integer >= 0"),
    ({"resources/nproc_per_node": -1}, r"^resources.nproc_per_node: -1 is not allowed; expected an integer >= 1"),
    ({"resources/cpus": 0}, r"^resources.cpus: 0 is not allowed; expected an integer >= 1"),
    ({"resources": {"gpus": 1, "nproc_per_node": 4}},
     r"^resources.gpus: 1 is not allowed with resources.nproc_per_node=4: each rank needs a GPU of its own"),
    ({"report/metric": ""}, r"^report.metric: '' is not allowed"),
    ({"report/metric": "val/wer_ctc"}, r"^report.metric: 'val/wer_ctc' is not logged by 2 trial\(s\) \(dense,seed=0, "
                                       r"moe,seed=0\); every trial logs: train/loss, val/cer, val/loss, val/wer"),
    ({"report/metric": "val/werr"}, r"^report.metric: 'val/werr' is not logged"),
    ({"name": "../.."}, r"^name: '../..' is not allowed; required, a name for the sweep's directory runs/<name>"),
    ({"name": "a/b"}, r"^name: 'a/b' is not allowed"),
    ({"name": 7}, r"^name: 7 is not allowed"),
    ({"base/config": 3}, r"^base.config: expected a mapping, got int 3"),
    ({"base/config": [1, 2]}, r"^base.config: expected a mapping, got list"),
    ({"base/config": {"model": 3}}, r"^base.config.model: expected a mapping, got int 3"),
    ({"base/config": {"data": ["a", "b"]}}, r"^base.config.data: expected a mapping, got list"),
    ({"base/config": {"model": {"preset": {"a": 1}}}},
     r"^base.config.model.preset: model.preset: \{'a': 1\} is not allowed; allowed: tiny.en"),
    ({"base/config": {"model": {"preset": ["test"]}}}, r"^base.config.model.preset: .*is not allowed"),
    ({"base/overrides": {"train.seed": 3}}, r"^base.overrides.train.seed: trials take their seeds from sweep.seeds"),
    ({"sweep/grid": {"train.seed": [1, 2]}}, r"^sweep.grid.train.seed: trials take their seeds from sweep.seeds"),
    ({"sweep/variants/dense": {"model.decoder_ffn": {"a": 1}}},
     r"^sweep.variants.dense.model.decoder_ffn: model.decoder_ffn: \{'a': 1\} is not allowed; allowed: dense, moe"),
    ({"sweep/grid": {"model.qk_norm": [[True]]}}, r"^sweep.grid.model.qk_norm\[0\]: model.qk_norm: \[True\] is not allowed"),
    ({"sweep/seeds": [0, 2**40]}, r"^sweep.seeds\[1\]: train.seed: 1099511627776 is not allowed; must be an integer"),
    ({"sweep/exclude": [{"variant": "dnse"}]}, r"^sweep.exclude\[0\].variant: 'dnse' is not a variant"),
    ({"sweep/include": [{"seed": 4}]}, r"^sweep.include\[0\].seed: 4 is not in sweep.seeds \[0\]"),
    ({"sweep": 5}, r"^sweep: expected a mapping, got int 5"),
    ({"base/config/train": {"device": "gpu"}}, r"^base.config.train.device: train.device: 'gpu' is not allowed; "
                                               r"allowed: auto, cpu, cuda or cuda:N"),
    ({"resources/nproc_per_node": 9223372036854775808},
     r"^resources.nproc_per_node: 9223372036854775808 is not allowed; expected an integer in \[1, 4096\]"),
    ({"resources": {"cpus": 2, "nproc_per_node": 4}},
     r"^resources.nproc_per_node: 4 is not allowed with resources.cpus=2: each rank needs a CPU of its own"),
    ({"resources": {"gpus": 2**40, "cpus": 8}}, r"^resources.gpus: 1099511627776 is not allowed; expected an integer "
                                                r"in \[0, 64\]"),
    ({"retries": 10**9}, r"^retries: 1000000000 is not allowed; expected an integer in \[0, 100\]"),
    ({"sweep/seeds": [0, 1, 0]}, r"^sweep.seeds\[2\]: 0 repeats sweep.seeds\[0\]; list each seed once"),
    ({"sweep/grid": {"model.flash": [True, False]}},
     r"^sweep.grid.model.flash: model.flash changes how the model is computed, not what, so it cannot change WER: "
     r"compare it in the spec's speed section"),
    ({"sweep/variants/moe": {"model.decoder_ffn": "moe", "train.compile": True}},
     r"^sweep.variants.moe.train.compile: train.compile changes how the model is computed"),
    ({"speed": {"switches": {"model.top_k": [1, 2]}}}, r"^speed.switches.model.top_k: not a speed switch"),
    ({"speed": {"switches": {"model.flash": [True, True]}}}, r"^speed.switches.model.flash: \[True, True\] is not "
                                                              r"allowed; expected a list of distinct true/false"),
    ({"speed": {"switches": {"model.flash": [True, False]}, "steps": 0}}, r"^speed.steps: 0 is not allowed"),
    ({"speed": {"switches": {"model.flash": [True, False]}, "variant": "sparse"}},
     r"^speed.variant: 'sparse' is not a variant"),
])
def test_each_invalid_value_is_rejected_naming_its_key(tmp_path, changes, message):
    with pytest.raises(SpecError, match=message):
        expand(load_spec(write_spec(tmp_path / "spec.yaml", **changes)))


def test_a_spec_that_is_not_utf8_or_not_a_file_is_refused(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9".encode("latin-1"))
    with pytest.raises(SpecError, match=r"spec file .*latin1.yaml' cannot be read"):
        load_spec(tmp_path / "latin1.yaml")
    (tmp_path / "base.yaml").write_text("model: [1, 2]\n")
    with pytest.raises(SpecError, match=r"^base.config \(.*base.yaml\).model: expected a mapping, got list"):
        load_spec(write_spec(tmp_path / "spec.yaml", **{"base/config": "base.yaml"}))


@pytest.fixture
def dry_run(tmp_path, monkeypatch, capsys):
    """run.py SPEC --dry-run in this process, from tmp_path, with no Hugging Face login: (status, out, err)."""
    import importlib.util

    loader = importlib.util.spec_from_file_location("run_py", ROOT / "run.py")
    run_py = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(run_py)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_TOKEN", raising=False)

    def run(spec: Path) -> tuple[int, str, str]:
        status = run_py.main([str(spec), "--dry-run"])
        out, err = capsys.readouterr()
        return status, out, err
    return run


def test_dry_run_checks_that_each_data_source_exists(tmp_path, dry_run):
    status, _, err = dry_run(write_spec(tmp_path / "a.yaml", **{"base/config/data": {"source": "corpus/train.jsonl"}}))
    assert status == 2 and "run.py: base.config.data.source: data source 'corpus/train.jsonl' does not exist" in err
    write_tone_corpus(tmp_path / "corpus", n_train=2, n_validation=1)
    status, out, err = dry_run(tmp_path / "a.yaml")
    assert status == 0 and "sweep 't': 2 trials" in out, err
    _, out, _ = dry_run(write_spec(tmp_path / "b.yaml"))
    assert "data: synthetic corpus of 1 h (seed 0) in data/synth: made before the trials start" in out
    status, _, err = dry_run(write_spec(tmp_path / "c.yaml", **{"sweep/variants/moe": {"data.source": "gigaspeech:s"}}))
    assert status == 2 and "sweep.variants.moe.data.source: 'gigaspeech:s': no Hugging Face token found" in err
    _, _, err = dry_run(write_spec(tmp_path / "d.yaml", **{"base/config/data": {"source": "gigaspeech:s:gs"}}))
    assert "base.config.data.source: 'gigaspeech:s:gs': local GigaSpeech copy 'gs' does not exist" in err
    _, _, err = dry_run(write_spec(tmp_path / "f.yaml", **{"base/config/data": {"source": "lhotse:manifests:XL"}}))
    assert "base.config.data.source: 'lhotse:manifests:XL': Lhotse manifest 'manifests' does not exist" in err
    _, _, err = dry_run(write_spec(tmp_path / "e.yaml", **{"base/config/data": {"tokenizer": "tok.json"}}))
    assert "base.config.data.tokenizer: 'tok.json' does not exist" in err


def test_checking_a_sweeps_local_data_imports_no_torch(tmp_path):
    """run.py checks a sweep before anything starts; torch's import alone takes seconds."""
    write_tone_corpus(tmp_path / "corpus", n_train=2, n_validation=1)
    spec = write_spec(tmp_path / "a.yaml", **{"base/config/data": {"source": "corpus"}})
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import run; run.check_spec_data({str(spec)!r}); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_a_dry_run_against_a_hub_revision_with_a_loading_script_exits_2_in_one_line_before_ray(tmp_path):
    """moe_sweep.yaml's gigaspeech:s with a (fake) token, the simulated Hub serving the loading-script
    revision: run.py --dry-run exits 2 with one line, and neither Ray nor the trials start."""
    import fake_hub

    repo = fake_hub.make_repos(tmp_path / "hub")["script"]
    code = ("import sys; from pathlib import Path; sys.path[:0] = [{root!r}, {tests!r}]; import fake_hub\n"
            "fake_hub.install(Path({repo!r}), 'script')\n"
            "import run; status = run.main([{spec!r}, '--dry-run'])\n"
            "print('ray imported:', 'ray' in sys.modules); sys.exit(status)\n").format(
        root=str(ROOT), tests=str(ROOT / "tests"), repo=str(repo),
        spec=str(ROOT / "experiments" / "moe_sweep.yaml"))
    env = {**os.environ, "HF_TOKEN": "hf_fake_token_for_tests", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("run.py: base.config.data.source: 'gigaspeech:s': speechcolab/gigaspeech (commit ")
    assert "holds the loading script gigaspeech.py" in lines[0] and "gigaspeech:s@refs/pr/20" in lines[0]
    assert result.stdout.strip().splitlines()[-1] == "ray imported: False"
    assert "trials" not in result.stdout and not (tmp_path / "runs").exists()


def test_keys_that_do_not_apply_are_dropped_and_identical_trials_merged(tmp_path):
    spec = load_spec(write_spec(tmp_path / "spec.yaml", **{
        "sweep/grid": {"model.top_k": [1, 2], "model.qk_norm": [True, False]}, "sweep/seeds": [0, 1],
        "sweep/exclude": [{"variant": "moe", "model.qk_norm": False, "seed": 1}]}))
    expansion = expand(spec)
    ids = [t.trial_id for t in expansion.trials]
    dense = [i for i in ids if i.startswith("dense")]
    assert len(dense) == 4  # qk_norm x seeds; top_k does not apply to a dense decoder
    assert len(ids) == 4 + 2 * 2 * 2 - 2
    assert "moe,top_k=2,qk_norm=off,seed=0" in ids and "moe,top_k=2,qk_norm=off,seed=1" not in ids
    assert len(set(t.config_hash for t in expansion.trials)) == len(ids)
    assert any("merged into it (model.top_k do not apply" in note for note in expansion.notes)
    moe = next(t for t in expansion.trials if t.trial_id == "moe,top_k=2,qk_norm=off,seed=0")
    assert (moe.config.model.top_k, moe.config.model.qk_norm, moe.config.train.seed) == (2, False, 0)


def test_the_speed_section_runs_each_switch_against_one_reference_on_one_configuration(tmp_path):
    spec = load_spec(write_spec(tmp_path / "spec.yaml", **{
        "sweep/grid": {"model.top_k": [1, 2]}, "sweep/seeds": [3, 4],
        "speed": {"switches": {"model.flash": [True, False], "model.moe_grouped_mm": [True, False],
                               "train.compile": [False, True]}, "steps": 200, "variant": "moe"}}))
    expansion = expand(spec)
    speed = [t for t in expansion.trials if t.kind == "speed"]
    assert [t.trial_id for t in speed] == ["speed-moe,reference", "speed-moe,flash=off", "speed-moe,moe_grouped_mm=off",
                                           "speed-moe,compile=on"]
    assert len(expansion.trials) - len(speed) == 2 * 2 + 2  # the WER grid is untouched
    for trial in speed:  # the moe variant, the first top_k, the first seed, 200 steps evaluated once
        config = trial.config
        assert (config.model.decoder_ffn, config.model.top_k, config.train.seed) == ("moe", 1, 3)
        assert config.train.max_steps == config.eval.every_steps == config.train.checkpoint_every == 200
        assert {"model.flash", "model.moe_grouped_mm", "train.compile"} <= set(trial.overrides)
    flash_off = speed[1].config
    assert (flash_off.model.flash, flash_off.model.moe_grouped_mm, flash_off.train.compile) == (False, True, False)
    # grouped matmul does not apply to a dense decoder: its speed trial would repeat the reference
    dense = load_spec(write_spec(tmp_path / "dense.yaml", **{
        "speed": {"switches": {"model.moe_grouped_mm": [True, False], "model.flash": [True, False]}, "only": True}}))
    expansion = expand(dense)
    assert [t.trial_id for t in expansion.trials] == ["speed-dense,reference", "speed-dense,flash=off"]
    assert any("moe_grouped_mm=off does not apply to variant 'dense'" in note for note in expansion.notes)


def test_the_shipped_switches_spec_is_speed_trials_only():
    expansion = expand(load_spec(ROOT / "experiments" / "switches.yaml"))
    assert {t.kind for t in expansion.trials} == {"speed"} and len(expansion.trials) == 4


def trial_dir_of_an_earlier_run(tmp_path, trial, edit) -> Path:
    """A finished trial's directory as an earlier sweep left it, its recorded config changed by `edit`."""
    from orchestrator.sweep import prepare_trial_dir

    trial_dir = tmp_path / "trials" / "dense,seed=0"
    prepare_trial_dir(trial, trial_dir)
    config = yaml.safe_load((trial_dir / "config.yaml").read_text())
    edit(config)
    (trial_dir / "config.yaml").write_text(yaml.safe_dump(config))
    record = json.loads((trial_dir / "trial.json").read_text())
    (trial_dir / "trial.json").write_text(json.dumps({**record, "config_hash": "0123456789abcdef"}))
    (trial_dir / "run").mkdir()
    (trial_dir / "run" / run_files.SUMMARY_FILE).write_text(json.dumps({"status": "FINISHED", "step": 7}))
    return trial_dir


def test_a_finished_trial_from_before_a_new_config_field_is_not_rerun(tmp_path):
    from orchestrator.expand import config_hash
    from orchestrator.sweep import is_finished

    trial = expand(load_spec(write_spec(tmp_path / "spec.yaml"))).trials[0]
    trial_dir = trial_dir_of_an_earlier_run(tmp_path, trial, lambda config: config["eval"].pop("ctc_weight"))
    assert is_finished(trial_dir, trial)

    trial.config.eval.ctc_weight = 0.3  # the new field set to other than its default: another experiment
    trial.config_hash = config_hash(trial.config)
    assert not is_finished(trial_dir, trial)


def test_an_operational_change_continues_a_finished_trial_and_an_experiment_change_does_not(tmp_path):
    from orchestrator.sweep import is_finished

    spec = write_spec(tmp_path / "spec.yaml", **{"base/config/data": {"num_workers": 1}})
    trial = expand(load_spec(spec)).trials[0]
    trial_dir = trial_dir_of_an_earlier_run(tmp_path, trial, lambda config: None)
    for changed, finished in (({"num_workers": 6}, True), ({"cache_dir": "/elsewhere"}, True),
                              ({"max_batch_s": 60}, False)):
        spec = write_spec(tmp_path / "spec.yaml", **{"base/config/data": {"num_workers": 1, **changed}})
        again = next(t for t in expand(load_spec(spec)).trials if t.trial_id == trial.trial_id)
        assert (again.config_hash == trial.config_hash) == finished, changed
        assert is_finished(trial_dir, again) == finished, changed


def test_a_trial_directory_of_another_config_is_kept_aside_not_deleted(tmp_path, capsys):
    from orchestrator.sweep import is_finished, prepare_trial_dir

    trial = expand(load_spec(write_spec(tmp_path / "spec.yaml"))).trials[0]
    for _ in range(2):
        trial_dir = trial_dir_of_an_earlier_run(tmp_path, trial, lambda config: config["optim"].update(lr=0.5))
        assert not is_finished(trial_dir, trial)
        prepare_trial_dir(trial, trial_dir)
        assert "held another config; kept as" in capsys.readouterr().out
    kept = sorted(p.name for p in trial_dir.parent.iterdir())
    assert kept == ["dense,seed=0", "dense,seed=0.config-01234567", "dense,seed=0.config-01234567-2"]
    for name in kept[1:]:
        assert run_files.read_summary(trial_dir.parent / name / "run")["step"] == 7
    assert not (trial_dir / "run").exists() and (trial_dir / "config.yaml").exists()


def test_dry_run_prints_the_trials_and_starts_nothing(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", **{"sweep/seeds": [0, 1, 2]})
    out = subprocess.run([sys.executable, str(ROOT / "run.py"), str(spec), "--dry-run"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert "sweep 't': 6 trials" in out and "moe,seed=2" in out and "1 proc, 1 cpu, 0 gpu" in out
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_shipped_specs_expand():
    for spec in sorted((ROOT / "experiments").glob("*.yaml")):
        assert expand(load_spec(spec)).trials, spec


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    write_tone_corpus(root / "corpus")
    config = {"model": {"preset": "test", "n_text_ctx": 32},
              "data": {"source": str(root / "corpus"), "vocab_size": 300, "max_batch_s": 30,
                       "max_duration_s": 2, "num_workers": 0, "feature_cache": True,
                       "cache_dir": str(root / "features")},
              "optim": {"warmup_steps": 2, "lr": 3.0e-3},
              "train": {"max_steps": 24, "checkpoint_every": 4, "log_every": 2},
              "eval": {"every_steps": 24, "max_tokens": 8}}
    write_spec(root / "spec.yaml", **{"base/config": config, "max_concurrent": 2, "retries": 1,
                                      "resources": {"cpus": 1, "nproc_per_node": 1}, "sweep/seeds": [0, 1],
                                      "sweep/variants/broken": {"data.validation_split": "nowhere"},
                                      "sweep/exclude": [{"variant": "broken", "seed": 1}]})
    return root


def trainer_pids(trial_dir: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"smolwhisper.train --config {trial_dir}"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def test_a_sweep_survives_a_crash_retries_and_reports_failures(sweep_dir):
    """Four trials run through Ray and torchrun, two at a time, into one SQLite store; one of them is
    killed mid-run and resumes from its checkpoint; a fifth can never start and fails; the sweep
    finishes the others, marks the failure in MLflow and exits non-zero."""
    from mlflow.tracking import MlflowClient

    run = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "spec.yaml"], cwd=sweep_dir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dense = sweep_dir / "runs" / "t" / "trials" / "dense,seed=0"
    deadline = time.time() + 180
    while not run_files.complete_checkpoints(dense / "run") and time.time() < deadline:
        time.sleep(0.2)
    for pid in trainer_pids(dense):
        os.kill(pid, signal.SIGKILL)  # a crash: no clean-up of any kind
    output, _ = run.communicate(timeout=400)
    assert run.returncode == 1, output
    assert "1 trial(s) failed: broken,seed=0" in output
    # a configuration error: said on the console as it fails, in the summary, and not retried
    reason = "data.validation_split: 'nowhere' is not in"
    assert re.search(rf"^broken,seed=0: failed: {reason}", output, re.MULTILINE), output
    assert re.search(rf"^  broken,seed=0: {reason}", output, re.MULTILINE), output
    broken_log = (sweep_dir / "runs" / "t" / "trials" / "broken,seed=0" / "train.log").read_text()
    assert broken_log.count("=== attempt started") == 1 and "Traceback" not in broken_log.split("torch.distributed")[0]
    # the console: our table of trials; Ray's and Tune's own messages in the sweep's ray.log
    assert re.search(r"^dense,seed=0 +FINISHED \(attempt 2\) +24/24 ", output, re.MULTILINE), output
    assert "Configuration for experiment" not in output and "View detailed results" not in output
    assert "Configuration for experiment" in (sweep_dir / "runs" / "t" / "ray.log").read_text()

    log = (dense / "train.log").read_text()
    assert log.count("=== attempt started") == 2 and "resumed from" in log
    # one feature cache per split, built by the orchestrator before the trials; every trial reads it
    assert output.count("data: feature cache of") == 2, output  # the broken variant names another split
    assert len(re.findall(r"^data: train: 48 utterances, .* built in", output, re.MULTILINE)) == 1, output
    assert len(re.findall(r"^data: validation: 6 utterances, .* built in", output, re.MULTILINE)) == 1, output
    for name in ("dense,seed=0", "dense,seed=1", "moe,seed=0", "moe,seed=1"):
        trial_log = (sweep_dir / "runs" / "t" / "trials" / name / "train.log").read_text()
        assert "feature cache: train: reading" in trial_log and "built before this run" in trial_log, name
        assert "frames of 80 mels in" not in trial_log, name  # no trial built one
    client = MlflowClient(f"sqlite:///{sweep_dir / 'mlflow.db'}")
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("t").experiment_id])}
    finished = ["dense,seed=0", "dense,seed=1", "moe,seed=0", "moe,seed=1"]
    assert set(runs) == {"t", "broken,seed=0", *finished}
    parent = runs["t"].info.run_id
    assert runs["t"].info.status == "FAILED"
    for name in finished:
        run_id = runs[name].info.run_id
        assert runs[name].info.status == "FINISHED"
        assert runs[name].data.tags["mlflow.parentRunId"] == parent
        assert runs[name].data.tags["smolwhisper.config_hash"]
        assert runs[name].data.params["train.seed"] == name[-1]
        # parallel trials into one SQLite store: no logged step is missing
        steps = [m.step for m in client.get_metric_history(run_id, "train/loss")]
        assert sorted(steps) == [1, *range(2, 25, 2)], name  # each step once, the resumed trial's too
        assert runs[name].data.tags["smolwhisper.axis.train.seed"] == name[-1]  # set when the run was made
        assert [m.step for m in client.get_metric_history(run_id, "val/wer")] == [24]
        assert {"summary.json", "config.yaml", "train.log", "step_00000024.jsonl"} <= {
            a.path for a in client.list_artifacts(run_id)}
    assert client.get_experiment_by_name("t").tags["mlflow.experimentKind"] == "custom_model_development"
    broken = runs["broken,seed=0"]
    assert broken.info.status == "FAILED"
    assert "data.validation_split: 'nowhere' is not in" in broken.data.tags["smolwhisper.log_tail"]
    assert broken.data.tags["smolwhisper.failure_reason"].startswith(reason)

    report = (sweep_dir / "runs" / "t" / "report.html").read_text()
    assert "broken,seed=0" in report and "<strong>Reason:</strong> data.validation_split: &#39;nowhere&#39;" in report

    # the same command again, with operational fields changed (data loading processes, checkpoint
    # cadence): finished trials are skipped, not trained again; the broken one is tried again
    spec = yaml.safe_load((sweep_dir / "spec.yaml").read_text())
    spec["base"]["config"]["data"]["num_workers"] = 2
    spec["base"]["config"]["train"]["checkpoint_every"] = 8
    (sweep_dir / "spec.yaml").write_text(yaml.safe_dump(spec))
    again = subprocess.run([sys.executable, str(ROOT / "run.py"), "spec.yaml"], cwd=sweep_dir,
                           capture_output=True, text=True, timeout=300)
    for name in finished:
        assert f"skip {name}: finished earlier" in again.stdout
        trial_log = (sweep_dir / "runs" / "t" / "trials" / name / "train.log").read_text()
        assert trial_log.count("=== attempt started") == (2 if name == "dense,seed=0" else 1)
    assert again.returncode == 1


def test_rerun_after_the_orchestrator_was_killed_finishes_only_what_was_left(sweep_dir, tmp_path):
    spec = yaml.safe_load((sweep_dir / "spec.yaml").read_text())
    spec.update(name="killed", retries=0)
    spec["sweep"] = {"variants": {"short": {"train.max_steps": 4}, "long": {"train.max_steps": 300}}, "seeds": [0]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    trials = tmp_path / "runs" / "killed" / "trials"
    orchestrator = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "spec.yaml"], cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and orchestrator.poll() is None and not (
            run_files.read_summary(trials / "short,seed=0" / "run").get("status") == "FINISHED"
            and run_files.complete_checkpoints(trials / "long,seed=0" / "run")):
        time.sleep(0.2)
    assert orchestrator.poll() is None, "the orchestrator ended before it could be killed mid-sweep"
    orchestrator.kill()  # SIGKILL: no clean-up in the orchestrator at all
    orchestrator.wait()
    deadline = time.time() + 30
    while trainer_pids(trials / "long,seed=0") and time.time() < deadline:
        time.sleep(0.5)
    assert trainer_pids(trials / "long,seed=0") == [], "the trainer outlived its orchestrator"

    again = subprocess.run([sys.executable, str(ROOT / "run.py"), "spec.yaml"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "skip short,seed=0: finished earlier" in again.stdout
    log = (trials / "long,seed=0" / "train.log").read_text()
    assert log.count("=== attempt started") == 2 and "resumed from" in log
    assert json.loads((trials / "long,seed=0" / "run" / "summary.json").read_text())["step"] == 300


def test_a_trial_that_cannot_hear_is_stopped_and_the_sweep_goes_on(sweep_dir, tmp_path):
    """The stop rule in a real sweep: the deaf trial's decoder has its cross-attention zeroed
    (tests/deaf_decoder/sitecustomize.py, on the trainers' PYTHONPATH), so its val/audio_gain is 0 and
    the rule ends it at step 8 as STOPPED, in the console, MLflow and the report; the other trial, whose
    evaluations all come before the rule's after_steps, finishes; the sweep exits 0."""
    from mlflow.tracking import MlflowClient

    spec = yaml.safe_load((sweep_dir / "spec.yaml").read_text())
    spec.update(name="deaf", retries=1, stop={"metric": "val/audio_gain", "below": 0.05, "after_steps": 8})
    spec["base"]["config"]["eval"]["every_steps"] = 4
    spec["sweep"] = {"variants": {"deaf": {"train.max_steps": 40}, "hearing": {"train.max_steps": 4}}, "seeds": [0]}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    hook = str(ROOT / "tests" / "deaf_decoder")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [hook, os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(ROOT / "run.py"), "spec.yaml"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    reason = "stop rule: val/audio_gain = 0 at step 8, below 0.05 (checked from step 8)"
    assert re.search(rf"^deaf,seed=0 +STOPPED +8/40 .*{re.escape(reason)}$", run.stdout, re.MULTILINE), run.stdout
    assert f"stopped early: deaf,seed=0: {reason}" in run.stdout
    assert re.search(r"^hearing,seed=0 +FINISHED +4/4 ", run.stdout, re.MULTILINE), run.stdout
    log = (tmp_path / "runs" / "deaf" / "trials" / "deaf,seed=0" / "train.log").read_text()
    assert log.count("=== attempt started") == 1  # a stopped trial is a result, not a crash to retry
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("deaf").experiment_id])}
    assert runs["deaf,seed=0"].info.status == "KILLED" and runs["hearing,seed=0"].info.status == "FINISHED"
    assert runs["deaf,seed=0"].data.tags["smolwhisper.status"] == "STOPPED"
    assert runs["deaf,seed=0"].data.tags["smolwhisper.stop_reason"] == reason
    assert runs["deaf"].info.status == "FINISHED"
    report = (tmp_path / "runs" / "deaf" / "report.html").read_text()
    assert f"Stopped early, freeing its device: {reason}" in report
    again = subprocess.run([sys.executable, str(ROOT / "run.py"), "spec.yaml"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert "skip deaf,seed=0: stopped earlier" in again.stdout and again.returncode == 0


@pytest.mark.parametrize("when", ["trainers running", "starting"])
def test_ctrl_c_stops_every_trial_and_marks_runs_killed(sweep_dir, tmp_path, when):
    """Ctrl-C while the trainers run, or before any has started: exit 130, no trainer left, every
    run KILLED (not FAILED, which is what a trial stopped before writing its summary once looked like)."""
    from mlflow.tracking import MlflowClient

    spec = yaml.safe_load((sweep_dir / "spec.yaml").read_text())
    spec["name"] = "interrupted"
    spec["base"]["config"]["train"]["max_steps"] = 100000
    del spec["sweep"]["variants"]["broken"], spec["sweep"]["exclude"]  # a filter on it would be refused
    spec["sweep"]["seeds"] = [0]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    # As from a terminal: a shell without job control starts background jobs with SIGINT ignored,
    # and so would we be, were pytest one of them.
    run = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "spec.yaml"], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    trials = tmp_path / "runs" / "interrupted" / "trials"
    deadline = time.time() + 180
    started = (lambda: (trials / "dense,seed=0" / "config.yaml").exists()) if when == "starting" else (
        lambda: all((trials / name / "run" / "metrics.jsonl").exists() for name in ("dense,seed=0", "moe,seed=0")))
    while time.time() < deadline and not started():
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    logs = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in sorted(trials.glob("*/train.log")))
    assert run.returncode == 130, output + logs
    time.sleep(1)
    for name in ("dense,seed=0", "moe,seed=0"):
        assert trainer_pids(trials / name) == [], f"orphan trainer processes of {name}"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("interrupted").experiment_id])
    # The parent and both trials (when stopped while making the trials' runs: those made so far).
    assert len(runs) == 3 or when == "starting", output + logs
    assert {r.info.status for r in runs} == {"KILLED"}, output + logs


def test_each_trial_picks_its_best_checkpoint_by_the_metric_the_report_ranks_by():
    from orchestrator.expand import expand
    from orchestrator.spec import load_spec

    spec = load_spec(ROOT / "experiments" / "smoke.yaml")
    assert {trial.config.eval.select_metric for trial in expand(spec).trials} == {spec.report.metric}


def test_the_global_batch_is_checked_for_the_processes_a_trial_gets(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", **{"resources": {"nproc_per_node": 2, "cpus": 2}})
    assert any("global batch: data.max_batch_s x optim.grad_accum x resources.nproc_per_node=2 = 240 s" in note
               for note in expand(load_spec(spec)).notes)
    spec = write_spec(tmp_path / "spec.yaml", **{"resources": {"nproc_per_node": 2, "cpus": 2},
                                                 "base/overrides": {"optim.global_batch_s": 240}})
    assert not any("global batch" in note for note in expand(load_spec(spec)).notes)
    spec = write_spec(tmp_path / "spec.yaml", **{"resources": {"nproc_per_node": 16, "cpus": 16},
                                                 "base/overrides": {"optim.global_batch_s": 240}})
    with pytest.raises(SpecError, match=r"^base.overrides.optim.global_batch_s .*: optim.global_batch_s: 240.0 "
                                        r"is not allowed; over 16 process\(es\) it makes micro-batches of 15 s"):
        expand(load_spec(spec))


def test_a_ray_client_address_is_refused_with_what_to_do_instead(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml")
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), str(spec), "--address", "ray://head:10001"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert "--address ray://head:10001: Ray Client addresses (ray://) are not supported" in done.stderr
    assert "--address HEAD:6379" in done.stderr
