"""The sweep report: numbers checked by hand on a synthetic MLflow sweep, the bootstrap against numpy,
the HTML's tables, failures and transcripts, and the `run.py report` command."""

import html.parser
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reports import build_report
from reports.build import load_sweep
from reports.html import word_diff
from reports.stats import mean_std, paired_bootstrap_wer

from helpers import REPORT_SWEEP_ERRORS, report_sweep, write_synthetic_sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("report_store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    spec, trials = report_sweep()
    write_synthetic_sweep(uri, root / "artifacts", "hand", spec, trials)
    return uri


@pytest.fixture(scope="module")
def sweep(store):
    return load_sweep(store, "hand")


@pytest.fixture(scope="module")
def page(store, tmp_path_factory) -> str:
    return build_report(store, "hand", tmp_path_factory.mktemp("report") / "report.html").read_text()


def bootstrap_by_hand(a_errors, a_words, b_errors, b_words, n_resamples, seed):
    """The documented procedure written out plainly: one rng.integers draw per resample."""
    rng = np.random.default_rng(seed)
    n = len(a_errors)
    differences = []
    for _ in range(n_resamples):
        idx = rng.integers(0, n, n)
        differences.append(sum(b_errors[i] for i in idx) / sum(b_words[i] for i in idx)
                           - sum(a_errors[i] for i in idx) / sum(a_words[i] for i in idx))
    return np.percentile(differences, [2.5, 97.5])


def per_utterance(*keys):
    return np.sum([REPORT_SWEEP_ERRORS[k] for k in keys], axis=0)


def test_mean_std_is_the_sample_standard_deviation():
    assert mean_std([0.30, 0.32]) == pytest.approx((0.31, math.sqrt(2 * 0.01 ** 2)))
    mean, std = mean_std([0.25])
    assert mean == 0.25 and math.isnan(std)  # one seed has no spread, not a spread of zero
    assert all(math.isnan(v) for v in mean_std([]))


def test_paired_bootstrap_matches_the_procedure_done_by_hand():
    rng = np.random.default_rng(1)
    words = rng.integers(3, 30, 40)
    a, b = rng.binomial(words, 0.3), rng.binomial(words, 0.25)
    result = paired_bootstrap_wer(a, words, b, words, n_resamples=300, seed=7)
    assert result.difference == pytest.approx(b.sum() / words.sum() - a.sum() / words.sum())
    assert (result.low, result.high) == pytest.approx(tuple(bootstrap_by_hand(a, words, b, words, 300, 7)))
    assert result.n_utterances == 40 and result.low < result.difference < result.high


def test_paired_bootstrap_separates_a_consistent_gain_from_noise():
    words = np.full(50, 10)
    a = np.full(50, 3)
    better = paired_bootstrap_wer(a, words, a - 1, words, n_resamples=200)  # one error fewer everywhere
    assert better.difference == pytest.approx(-0.1) and (better.low, better.high) == pytest.approx((-0.1, -0.1))
    assert not better.within_noise
    swapped = paired_bootstrap_wer(a, words, np.roll(a + np.tile([1, -1], 25), 0), words, n_resamples=200)
    assert swapped.within_noise and swapped.difference == 0
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_bootstrap_wer(a, words, a[:3], words)


def test_groups_hold_seed_means_and_spreads_of_finished_trials(sweep):
    groups = {g.name: g for g in sweep.groups}
    assert set(groups) == {"dense", "moe,noisy_topk=off", "moe,noisy_topk=on"}
    assert sweep.axes == ["model.noisy_topk"]  # decoder_ffn is the variant's; seed and paths are not axes
    assert groups["dense"].summary["val/wer"] == pytest.approx((0.31, math.sqrt(2) * 0.01))
    assert groups["moe,noisy_topk=off"].summary["val/wer"] == pytest.approx((0.26, math.sqrt(2) * 0.01))
    # the failed third seed does not count: mean of 0.24 and 0.29
    on = groups["moe,noisy_topk=on"]
    assert [t.status for t in on.trials].count("FAILED") == 1
    assert on.summary["val/wer"] == pytest.approx((0.265, math.sqrt(2 * 0.025 ** 2)))
    assert on.summary["val/cer"][0] == pytest.approx(0.1325)
    assert groups["dense"].summary["throughput"] == pytest.approx((225.0, 0.0))  # median of 100, 200, 300, 250
    assert groups["dense"].axes == {"model.noisy_topk": None}  # does not apply to a dense decoder


def test_a_resumed_trial_counts_the_last_value_logged_for_a_step(sweep):
    trial = next(t for t in sweep.trials if t.trial_id == "dense,seed=0")
    assert trial.curves["train/loss"] == ([1, 2, 3, 4], [5.0, 4.0, 3.0, 2.3])


def test_axis_effects_are_paired_bootstraps_over_matched_trials(sweep):
    effects = {(e.axis, e.value): e for e in sweep.effects}
    assert set(effects) == {("variant", "moe"), ("model.noisy_topk", "True")}

    noisy = effects[("model.noisy_topk", "True")]  # on vs off, matched by seed
    off, on = per_utterance(("moe", False, 0), ("moe", False, 1)), per_utterance(("moe", True, 0), ("moe", True, 1))
    words = np.full(5, 40)
    assert noisy.n_pairs == 2 and noisy.bootstrap.difference == pytest.approx(53 / 200 - 52 / 200)
    low, high = bootstrap_by_hand(off, words, on, words, 2000, 0)
    assert (noisy.bootstrap.low, noisy.bootstrap.high) == pytest.approx((low, high))
    assert noisy.bootstrap.within_noise

    variant = effects[("variant", "moe")]  # each MoE trial against the dense trial of its seed
    dense = 2 * per_utterance(("dense", None, 0), ("dense", None, 1))
    moe = per_utterance(*(k for k in REPORT_SWEEP_ERRORS if k[0] == "moe"))
    assert variant.reference == "dense" and variant.n_pairs == 4
    assert variant.bootstrap.difference == pytest.approx(105 / 400 - 124 / 400)
    low, high = bootstrap_by_hand(dense, np.full(5, 80), moe, np.full(5, 80), 2000, 0)
    assert (variant.bootstrap.low, variant.bootstrap.high) == pytest.approx((low, high))
    assert not variant.bootstrap.within_noise and variant.bootstrap.high < 0

    assert variant.detectable and not noisy.detectable


def test_the_sweep_states_the_smallest_difference_it_can_detect_and_names_no_best_among_ties(sweep):
    """Seed spread: WER std over the two finished seeds of each configuration (1.41, 3.54, 1.41 points),
    pooled; utterances: the median half-width of the paired-bootstrap intervals (the effects and the top
    configuration against the baseline). Combined as independent errors of a difference of two 2-seed means."""
    resolution = sweep.resolution
    assert resolution.seed_std == pytest.approx(math.sqrt((0.0002 + 0.00125 + 0.0002) / 3))
    assert resolution.seeds == 2 and resolution.n_utterances == 5
    halves = sorted((e.bootstrap.high - e.bootstrap.low) / 2 for e in sweep.effects)
    assert min(halves) <= resolution.bootstrap_half_width <= max(halves)
    expected = 1.959964 * math.sqrt((resolution.bootstrap_half_width / 1.959964) ** 2 + resolution.seed_std ** 2)
    assert resolution.smallest_difference == pytest.approx(expected)  # 4.7 points
    # noisy top-k off (26.0%) and on (26.5%) lie 0.5 points apart, well inside it: a tie, no "best";
    # dense (31.0%) is 5 points from the top, outside it
    assert [g.name for g in sweep.tied] == ["moe,noisy_topk=off", "moe,noisy_topk=on"]
    assert sweep.headline is None
    # the MoE effect (-4.75 points over 4 seed pairs) clears what 4 pairs can detect; noisy top-k does not
    effects = {(e.axis, e.value): e for e in sweep.effects}
    assert abs(effects[("variant", "moe")].bootstrap.difference) >= effects[("variant", "moe")].smallest_difference


class TableReader(html.parser.HTMLParser):
    """The text of each cell of each row of the table with the given id."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.depth, self.rows, self.cell = table_id, False, 0, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.depth += 1
            if dict(attrs).get("id") == self.table_id:
                self.inside, self.depth = True, 1
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif self.inside and tag == "table":
            self.depth -= 1
            self.inside = self.depth > 0

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table(page: str, table_id: str) -> list[list[str]]:
    reader = TableReader(table_id)
    reader.feed(page)
    return reader.rows


def test_the_table_has_one_row_per_configuration_best_first(page):
    header, *rows = table(page, "groups")
    assert header == ["configuration", "noisy_topk", "seeds ok", "params", "active", "train loss", "val loss",
                      "WER", "CER", "audio s/s", "wall time", "status"]
    assert [r[0] for r in rows] == ["moe,noisy_topk=off", "moe,noisy_topk=on", "dense baseline"]  # a tie: no best
    off, on, dense = rows
    assert off[1:5] == ["off", "2/2", "2.50M", "1.25M"]
    assert off[7] == "26.00% ± 1.41%" and on[7] == "26.50% ± 3.54%" and dense[7] == "31.00% ± 1.41%"
    assert dense[1] == "–" and dense[5] == "2.310 ± 0.014" and dense[9] == "225.0 ± 0.0"
    assert on[2] == "2/3" and on[11] == "1 failed" and off[11] == "finished"
    assert off[10] == "30.0 min ± 0 s"


def test_the_page_states_effects_plainly_and_shows_the_header(page):
    effects = {row[0]: row for row in table(page, "effects-table")[1:]}
    assert effects["noisy_topk: on vs off"][1] == "+0.50"
    assert effects["noisy_topk: on vs off"][-1] == "no detectable difference: the 95% interval contains 0"
    assert effects["variant: moe vs dense"][1] == "-4.75"
    assert effects["variant: moe vs dense"][-1] == "real: moe is better"
    assert not any(label.startswith("best vs baseline") for label in effects)  # no best among tied configurations
    assert "No detectable difference between the top 2 configurations by val/wer" in page
    assert "none of them is called best" in page and "Smallest detectable difference between two configurations: 4.66 WER" in page
    # 6 trials x 30 min + the failed one's 10 min, on 2 CPUs each
    assert "6.33 CPU-hours" in page and "0123456789ab" in page and "testhost" in page and ">7</b>" in page


def test_a_failed_trial_is_shown_with_its_log_tail(page):
    failures = page[page.index('id="failures"'):]
    assert "moe,noisy_topk=on,seed=2" in failures and "FAILED" in failures
    assert "RuntimeError: boom &lt;at&gt; step 2" in failures  # escaped, not interpreted


def test_transcripts_mark_word_differences(page):
    assert word_diff("the lazy dog", "the lazy frog") == 'the lazy <span class="sub" title="reference: dog">frog</span>'
    assert word_diff("a b c", "a c d") == "a <del title=\"deleted\">b</del> c <ins title=\"inserted\">d</ins>"
    assert word_diff("x <y>", "x") == 'x <del title="deleted">&lt;y&gt;</del>'
    transcripts = page[page.index('id="transcripts"'):page.index('id="failures"')]
    assert '<span class="sub" title="reference: dog">frog</span>' in transcripts
    # the four utterances the configurations disagree on most (spread of errors, then total errors)
    assert re.findall(r'class="note">(utt\d)<', transcripts) == ["utt0", "utt1", "utt2", "utt3"]


def test_the_page_is_self_contained(page):
    assert page.count("Plotly.newPlot(") == 1 and "<script src" not in page and "<link" not in page
    assert len(page) < 10e6


@pytest.mark.slow
def test_a_sweep_where_every_trial_failed_still_reports_the_failures(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trials = [{"trial_id": f"moe,seed={seed}", "variant": "moe", "seed": seed, "status": "FAILED", "params": {},
               "metrics": {"train/loss": [(1, 9.0)]}, "log_tail": f"CUDA out of memory (seed {seed})"}
              for seed in (0, 1)]
    write_synthetic_sweep(uri, tmp_path / "artifacts", "doomed", {"name": "doomed"}, trials)
    page = build_report(uri, "doomed", tmp_path / "report.html").read_text()
    assert "No trial finished with a val/wer: nothing to compare yet." in page
    assert "CUDA out of memory (seed 0)" in page and "CUDA out of memory (seed 1)" in page
    assert [row[0] for row in table(page, "groups")[1:]] == ["moe baseline"] and "2 failed" in page


@pytest.mark.slow
def test_run_py_report_finds_the_sweep_by_name_or_spec_file(store, tmp_path):
    import yaml

    spec, _ = report_sweep()
    (tmp_path / "hand.yaml").write_text(yaml.safe_dump(spec))
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "report", "hand.yaml", "--tracking-uri", store],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / "hand" / "report.html").stat().st_size > 1e6
    missing = subprocess.run([sys.executable, str(ROOT / "run.py"), "report", "nope", "--tracking-uri", store,
                              "--out", str(tmp_path / "x.html")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no sweep named 'nope'" in missing.stderr


def test_a_report_ranked_by_a_ctc_metric_shows_and_compares_that_decoders_wer(tmp_path):
    # The smoke sweep ranks by the CTC + LM WER: the table, the effects and the transcripts must be
    # that decoder's too, not the attention decoder's, which says something else.
    spec, trials = report_sweep()
    spec = {**spec, "name": "ctc", "report": {"metric": "val/wer_ctc_lm", "baseline": "dense"}}
    for trial in trials:
        if trial["status"] != "FINISHED":
            continue
        for record in trial["utterances"]:
            record.update(word_errors_ctc_lm=record["word_errors"] // 2, hypothesis_ctc_lm="the ctc words")
        wer = sum(r["word_errors_ctc_lm"] for r in trial["utterances"]) / 100
        trial["metrics"].update({"val/wer_ctc_lm": [(4, wer)], "val/cer_ctc_lm": [(4, wer / 3)],
                                 "val_unseen/wer_ctc_lm": [(4, wer + 0.2)]})  # unseen voices: 20 points worse
        # the unseen-voice split's records, beside the validation ones: never mixed into the comparisons
        trial["unseen_utterances"] = [{**r, "id": f"unseen{i}", "word_errors_ctc_lm": 20}
                                      for i, r in enumerate(trial["utterances"])]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_synthetic_sweep(uri, tmp_path / "artifacts", "ctc", spec, trials)
    sweep = load_sweep(uri, "ctc")
    assert sweep.decoder == "ctc_lm"
    dense = next(g for g in sweep.groups if g.name == "dense")
    assert dense.summary["val/wer_ctc_lm"][0] == pytest.approx(0.15)  # errors // 2: 15 of 100 words, both seeds
    # ranked by the CTC + LM WER: moe off (10 and 12 errors) and moe on (11, 13) tie, dense (15, 15) trails
    assert [g.name for g in sweep.tied] == ["moe,noisy_topk=off", "moe,noisy_topk=on"] and sweep.headline is None
    variant = next(e for e in sweep.effects if e.axis == "variant")
    assert variant.bootstrap.difference == pytest.approx((10 + 12 + 11 + 13) / 400 - (15 + 15) * 2 / 400)
    page = build_report(uri, "ctc", tmp_path / "report.html").read_text()
    assert "WER (CTC + LM)" in page and "Δ WER (CTC + LM)" in page
    assert "unseen-voice WER</th>" in page and page.count(">+20.00<") >= 3  # the gap, per configuration
    assert "On voices it never heard in training" in page and "learnt the voices more than the speech" in page
    transcripts = re.sub(r"<[^>]+>", " ", page.split("id=\"transcripts\"")[1].split("</section>")[0])
    assert "ctc" in transcripts and "frog" not in transcripts  # the CTC + LM hypotheses, not the attention ones


def switch_sweep() -> tuple[dict, list[dict]]:
    """flash and liger on a GPU, two seeds each: flash off is half as fast with the same loss curves;
    liger on uses less memory but its loss ends 0.2 higher, far beyond the seeds' spread of 0.01."""
    spec = {"name": "switches", "resources": {"gpus": 1, "cpus": 8},
            "sweep": {"grid": {"model.flash": [True, False], "model.liger": [False, True]}, "seeds": [0, 1]},
            "report": {"metric": "val/wer"}}
    trials = []
    for flash in (True, False):
        for liger in (False, True):
            for seed in (0, 1):
                late = 2.0 + 0.01 * seed + (0.2 if liger else 0.0)
                trials.append({
                    "trial_id": f"base,flash={'on' if flash else 'off'},liger={'on' if liger else 'off'},seed={seed}",
                    "variant": "base", "seed": seed, "status": "FINISHED",
                    "params": {"model.flash": flash, "model.liger": liger, "train.seed": seed,
                               "gpu.attention_kernel": "flash" if flash else "math"},
                    "metrics": {"train/loss": [(s, 6.0 - s / 25) for s in range(0, 80, 10)]
                                + [(s, late) for s in range(80, 101, 10)],
                                "train/audio_s_per_s": [(s, 1000.0 if flash else 500.0) for s in (10, 20, 30)],
                                "gpu/mfu": [(s, 0.4 if flash else 0.2) for s in (10, 20, 30)],
                                "gpu/peak_memory_gb": [(10, 8.0 if liger else 10.0), (20, 5.0)],
                                "val/wer": [(100, 0.3 + 0.01 * seed)], "val/loss": [(100, 2.0)]},
                    "utterances": [{"id": "u0", "reference": "a b", "hypothesis": "a b", "word_errors": seed,
                                    "reference_words": 2}], "eval_step": 100})
    return spec, trials


def test_acceleration_switches_are_checked_for_speed_and_numerics_not_ranked_by_wer(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_synthetic_sweep(uri, tmp_path / "artifacts", "switches", *switch_sweep())
    sweep = load_sweep(uri, "switches", n_resamples=100)
    assert {e.axis for e in sweep.effects}.isdisjoint({"model.flash", "model.liger"})
    checks = {c.axis: c for c in sweep.switch_checks}
    flash = checks["model.flash"]  # reference: off (False sorts first)
    assert (flash.reference, flash.value, flash.n_pairs) == ("False", "True", 4)
    assert flash.throughput_ratio == pytest.approx(2.0) and flash.mfu_ratio == pytest.approx(2.0)
    assert flash.memory_ratio == pytest.approx(1.0) and flash.loss_difference == pytest.approx(0.0)
    assert flash.kernels == ("math", "flash") and not flash.suspect
    liger = checks["model.liger"]
    assert liger.memory_ratio == pytest.approx(0.8) and liger.loss_difference == pytest.approx(0.2)
    assert liger.seed_noise == pytest.approx(math.sqrt(0.5) * 0.01) and liger.suspect
    page = build_report(uri, "switches", tmp_path / "report.html").read_text()
    assert "Switches that must not change the math" in page
    assert "suspected numerical bug" in page and "2.00×" in page
    assert ">attention kernel</th>" in page


def test_speed_trials_fill_the_switches_table_and_stay_out_of_the_wer_comparison(tmp_path):
    """A spec's speed section: its short runs (flash on and off, one seed) give the switches table; the
    WER trials (top_k 1 and 2) alone make the configurations and effects."""
    spec, switch_trials = switch_sweep()
    speed = [dict(t, kind="speed", variant="dense", trial_id=t["trial_id"].replace("base", "speed-dense"))
             for t in switch_trials if "liger=off" in t["trial_id"] and t["seed"] == 0]
    wer = [dict(switch_trials[0], trial_id=f"dense,top_k={k},seed=0", variant="dense",
                params={"model.top_k": k, "train.seed": 0}) for k in (1, 2)]
    spec = {**spec, "sweep": {"variants": {"dense": {}}, "grid": {"model.top_k": [1, 2]}, "seeds": [0]},
            "speed": {"switches": {"model.flash": [True, False]}}}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_synthetic_sweep(uri, tmp_path / "artifacts", "switches", spec, wer + speed)
    sweep = load_sweep(uri, "switches", n_resamples=100)
    assert sorted(t.trial_id for t in sweep.trials) == ["dense,top_k=1,seed=0", "dense,top_k=2,seed=0"]
    assert len(sweep.speed_trials) == 2 and sweep.axes == ["model.top_k"]
    assert {e.axis for e in sweep.effects} == {"model.top_k"}
    assert [(c.axis, c.n_pairs, c.throughput_ratio) for c in sweep.switch_checks] == [("model.flash", 1, 2.0)]


def test_the_trials_table_states_the_compute_each_trial_used(page):
    header, *rows = table(page, "trials")
    assert header[9] == "compute (CPU-h)"  # the hand sweep's trials hold 2 CPU cores each
    assert {row[9] for row in rows if row[8] == "30.0 min"} == {"1.00"}  # 30 minutes x 2 cores
