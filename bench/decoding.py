"""Decoding time and WER of each decoder on a trained run's evaluation subset, all in one run.

Every decoder decodes the same batches from the same encoder output, so its time is its search
alone (the encoder's time is printed once, apart). Target (issue 18): attention rescoring costs at
most 2x the CTC + LM decoding time; the ratios are printed.

    python bench/decoding.py --checkpoint RUN/checkpoints/X [--max-utterances N] [--decoders a,b,...]
                             [--threads 1] [--ctc-weight W] [--joint-beam-size B] [--rescore-beam-size N]

The run's config.yaml (two levels above the checkpoint) gives the data, the subset, the word LM
settings and the eval.* decoding settings, as `smolwhisper evaluate` reads them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import torch

from smolwhisper import checkpoint
from smolwhisper.config import load_run_config
from smolwhisper.inference.ctc_lm import WORD_LM_FILE, LexiconDecoder, WordNgramLM
from smolwhisper.data.loader import Collator, features
from smolwhisper.inference.evaluation import (decoder_options, evaluation_loader, hypothesis_record, lexicon_search,
                                              open_run_split)
from smolwhisper.inference.joint_decoding import DECODERS, decode_features
from smolwhisper.metric_names import decoder_suffix
from smolwhisper.inference.metrics import normalize_english, normalize_gigaspeech


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="RUN/checkpoints/X of a training run with a CTC head")
    parser.add_argument("--max-utterances", type=int, default=None, help="default: the run's eval.max_utterances")
    parser.add_argument("--decoders", default=",".join(DECODERS))
    # One thread by default: the searches are long chains of small tensor ops that a second thread
    # does not speed up, and on a shared 2-core machine each op's thread barrier can wait
    # milliseconds for a busy core (measured: torch's small reductions 0.02 ms -> 20 ms under load).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctc-weight", type=float, default=None)
    parser.add_argument("--joint-beam-size", type=int, default=None)
    parser.add_argument("--rescore-beam-size", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    decoders = args.decoders.split(",")

    run_dir = Path(args.checkpoint).resolve().parent.parent
    cfg = load_run_config(str(run_dir / "config.yaml"))
    model, tokenizer = checkpoint.load(args.checkpoint, device="cpu")
    model.eval()
    lexicon = LexiconDecoder(WordNgramLM.load(run_dir / WORD_LM_FILE), tokenizer, lexicon_search(cfg.eval))
    options = decoder_options(cfg.eval, ctc_weight=args.ctc_weight, joint_beam_size=args.joint_beam_size,
                              rescore_beam_size=args.rescore_beam_size)
    _, split, dataset = open_run_split(cfg)
    max_utterances = cfg.eval.max_utterances if args.max_utterances is None else args.max_utterances
    loader = evaluation_loader(dataset, max_utterances, cfg.eval.max_batch_s, Collator(tokenizer, cfg.model.n_text_ctx))
    normalize = normalize_gigaspeech if cfg.eval.normalizer == "gigaspeech" else normalize_english

    seconds, counts, encoder_s, audio_s, n_utterances = Counter(), Counter(), 0.0, 0.0, 0
    with torch.no_grad():
        for batch in loader:
            if not batch.ids:
                continue
            mel, mel_mask = features(batch, cfg.model.n_mels, cfg.data.pad_to_30s)
            mel_mask = None if cfg.data.pad_to_30s else mel_mask
            start = time.perf_counter()
            audio_features, audio_mask = model.encoder(mel, mel_mask)
            encoder_s += time.perf_counter() - start
            audio_s, n_utterances = audio_s + batch.duration_s, n_utterances + len(batch.ids)
            for name in decoders:
                start = time.perf_counter()
                texts = decode_features(model, tokenizer, audio_features, audio_mask, [name], options, lexicon)[name]
                seconds[name] += time.perf_counter() - start
                for reference, text in zip(batch.texts, texts):
                    record = hypothesis_record("", reference, {name: text}, normalize)
                    suffix = decoder_suffix(name)
                    counts.update({f"{name}/errors": record[f"word_errors{suffix}"], f"{name}/words": record["reference_words"]})

    print(f"{n_utterances} utterances ({audio_s / 60:.1f} min of audio) of {split}, {args.threads} threads; "
          f"encoder {encoder_s:.2f} s; {options}")
    print(f"{'decoder':<12} {'WER':>7} {'time s':>8} {'x ctc_lm':>9}")
    for name in decoders:
        wer = counts[f"{name}/errors"] / max(counts[f"{name}/words"], 1)
        ratio = f"{seconds[name] / seconds['ctc_lm']:.2f}" if seconds.get("ctc_lm") else "-"
        print(f"{name:<12} {100 * wer:>6.1f}% {seconds[name]:>8.2f} {ratio:>9}")
    if seconds.get("ctc_lm"):
        for name in ("rescore", "rescore_lm"):
            if name in seconds:
                print(f"target: {name} / ctc_lm decoding time = {seconds[name] / seconds['ctc_lm']:.2f} (<= 2)")
    print(json.dumps({"seconds": dict(seconds), "wer": {name: counts[f"{name}/errors"] / max(counts[f"{name}/words"], 1)
                                                        for name in decoders}, "encoder_s": encoder_s}))


if __name__ == "__main__":
    main()
