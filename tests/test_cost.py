"""The cost a dry run states before a sweep starts: FLOPs from the model's config, time from a measured
or an assumed throughput, wall time from how many trials run at once."""

import dataclasses
import re
from pathlib import Path

import pytest

from orchestrator import cost
from orchestrator.expand import expand
from orchestrator.spec import load_spec
from smolwhisper.model.flops import PEAK_BF16_FLOPS, training_flops_per_audio_second

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def moe_sweep():
    spec = load_spec(ROOT / "experiments" / "moe_sweep.yaml")
    return spec, expand(spec).trials


def test_each_trial_costs_its_audio_times_its_flops_at_the_assumed_throughput(moe_sweep, tmp_path):
    spec, trials = moe_sweep
    throughput = cost.device_throughput(spec, tmp_path)  # nothing measured here
    assert throughput.estimate and throughput.flops_per_s == PEAK_BF16_FLOPS["H100"] * cost.ASSUMED_GPU_MFU
    costs = cost.trial_costs(spec, trials, throughput)
    for trial, trial_cost in zip(trials, costs):
        config = trial.config
        model = dataclasses.replace(config.model, n_vocab=config.data.vocab_size)  # the BPE the trainer makes
        per_audio_s = training_flops_per_audio_second(model, cost.ASSUMED_UTTERANCE_S, cost.ASSUMED_TOKENS_PER_S)
        audio_s = config.train.max_steps * config.optim.global_batch_s
        assert trial_cost.flops == pytest.approx(audio_s * per_audio_s)
        assert trial_cost.device_hours == pytest.approx(audio_s * per_audio_s / throughput.flops_per_s / 3600)
    dense = next(c for c in costs if c.trial_id.startswith("dense"))
    top2 = next(c for c in costs if "top_k=2" in c.trial_id)
    assert top2.flops_per_audio_s > dense.flops_per_audio_s  # a second expert per token


def test_wall_time_packs_trials_onto_the_devices(moe_sweep, tmp_path):
    spec, trials = moe_sweep
    costs = cost.trial_costs(spec, trials, cost.device_throughput(spec, tmp_path))
    total = sum(c.seconds for c in costs)
    assert cost.wall_time_s(costs, 1) == pytest.approx(total)
    longest = max(c.seconds for c in costs)
    # 39 trials of nearly equal length on 8 GPUs: five rounds
    assert total / 8 <= cost.wall_time_s(costs, 8) <= total / 8 + longest
    assert cost.wall_time_s(costs, 8) == pytest.approx(5 * longest, rel=0.05)


def test_a_measured_throughput_replaces_the_estimate(moe_sweep, tmp_path):
    spec, trials = moe_sweep
    cost.store_throughput(tmp_path, "NVIDIA H100 80GB HBM3", 100e12, "run.py moe_sweep.yaml --fast-dev-run")
    throughput = cost.device_throughput(spec, tmp_path)
    assert not throughput.estimate and throughput.flops_per_s == 100e12
    assert throughput.source.startswith("measured by run.py moe_sweep.yaml --fast-dev-run on ")
    table = cost.cost_table(spec, trials, tmp_path)
    assert "ESTIMATE" not in table and "100 TFLOP/s per GPU" in table


def test_dry_run_prints_gpu_hours_per_trial_and_in_total_and_the_wall_time_on_1_and_8_gpus(tmp_path, capsys,
                                                                                         monkeypatch):
    """GigaSpeech is not reachable here: the data source is overridden to a local corpus (the cost does
    not depend on it; the data check before the plan does)."""
    import run
    from helpers import write_tone_corpus

    monkeypatch.chdir(tmp_path)
    corpus = write_tone_corpus(tmp_path / "corpus")
    status = run.main([str(ROOT / "experiments" / "moe_sweep.yaml"), "--dry-run", "--set", f"data.source={corpus}"])
    out = capsys.readouterr().out
    assert status == 0
    assert "cost (ESTIMATE: 198 TFLOP/s per GPU" in out
    rows = re.findall(r"^(moe|dense)\S* +60000 +600s +10000h +[\d.]+ +[\d.]+ +([\d.]+) ", out, re.MULTILINE)
    assert len(rows) == 39
    total = re.search(r"^total +2340000 +390000h +[\d.]+ +([\d.]+)$", out, re.MULTILINE)
    assert total and float(total.group(1)) == pytest.approx(sum(float(hours) for _, hours in rows), abs=0.005 * len(rows))
    assert re.search(r"^wall time: [\d.]+ h on 1 GPU\(s\) \(1 trial\(s\) at once\); [\d.]+ (h|min) on 8 GPU\(s\) "
                     r"\(8 trial\(s\) at once\)$", out, re.MULTILINE), out[-600:]


def test_a_frozen_encoder_costs_its_forward_pass_and_a_cached_one_nothing():
    spec = load_spec(ROOT / "experiments" / "moe_upcycle.yaml")
    costs = {c.trial_id.split(",")[0]: c.flops_per_audio_s
             for c in cost.trial_costs(spec, expand(spec).trials, cost.device_throughput(spec, Path("/nonexistent")))}
    assert costs["tiny.en-frozen-dense"] < costs["tiny.en-trained-dense"]
    cached = load_spec(ROOT / "experiments" / "upcycle.yaml")
    dense = next(t for t in expand(cached).trials if t.trial_id.startswith("dense"))
    assert cost.flops_per_audio_second(dense) < costs["tiny.en-frozen-dense"]
