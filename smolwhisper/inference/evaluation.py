"""Scoring decoders on a validation split: the evaluation training runs, and that `smolwhisper evaluate
--checkpoint RUN/checkpoints/X` repeats on the same utterances, batches, features and decoders, so
that it reproduces a logged metric exactly.

This module owns the per-utterance hypothesis record an evaluation writes (one JSON line per
utterance: id, reference, and per decoder `hypothesis<suffix>`, `word_errors<suffix>`,
`char_errors<suffix>`); the metric names are smolwhisper.metric_names'.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from ..config import EvalConfig, RunConfig
from ..metric_names import AUDIO_GAIN, VAL, cer_key, decoder_suffix, scored_decoders, wer_key
from ..model import Whisper
from ..tokenizer import Tokenizer
from .ctc_lm import WORD_LM_FILE, LexiconDecoder, LexiconSearch, WordNgramLM, train_word_lm
from .joint_decoding import DecoderOptions, decode_features
from .metrics import error_counts, normalize_english, normalize_gigaspeech


def evaluation_subset(n_utterances: int, max_utterances: int) -> list[int] | None:
    """The fixed subset of eval.max_utterances utterances scored at every evaluation (sorted indices),
    or None for the whole split (max_utterances 0, or at least the split's size)."""
    if not max_utterances or max_utterances >= n_utterances:
        return None
    chosen = torch.randperm(n_utterances, generator=torch.Generator().manual_seed(0))[:max_utterances]
    return chosen.sort().values.tolist()


def open_run_split(cfg: RunConfig, data: str | None = None, split: str | None = None) -> tuple[str, str, object]:
    """(source, split name, dataset) of a run's evaluation as the trainer reads it: its data.source
    (or `data`) with its duration filters, its validation split (or `split`), from its log-mel cache
    where it trained on one (built if gone). Errors name --data / --split, the flags that choose them."""
    from ..config import ConfigError
    from ..data.manifest import open_source

    source = data or (cfg.data.synth_dir if cfg.data.source == "synthetic" else cfg.data.source)
    try:
        splits = open_source(source, purpose="evaluate", min_duration_s=cfg.data.min_duration_s,
                             max_duration_s=cfg.data.max_duration_s)
    except FileNotFoundError as error:
        raise ConfigError(f"--data: {error} (the run's data.source); pass --data") from error
    split = split or cfg.data.validation_split
    if split not in splits:
        raise ConfigError(f"--split: {split!r} is not in {source}; it has {', '.join(sorted(splits))}")
    dataset = splits[split]
    if cfg.data.feature_cache:
        from ..data.features import CachedFeatures, build_feature_cache, cache_path

        path = cache_path(dataset, cfg.model.n_mels, cfg.data.cache_dir)
        if not path.exists():
            build_feature_cache(dataset, cfg.model.n_mels, path)
        dataset = CachedFeatures(dataset, path)
    return str(source), split, dataset


def evaluation_loader(dataset, max_utterances: int, max_batch_s: float, collate, num_workers: int = 0) -> DataLoader:
    """The split's evaluation batches: the eval.max_utterances subset, bucketed by duration, in order."""
    from ..data.loader import BucketBatchSampler

    subset = evaluation_subset(len(dataset), max_utterances)
    durations = list(dataset.durations_s) if subset is None else [dataset.entries[i].duration_s for i in subset]
    if subset is not None:
        dataset = Subset(dataset, subset)
    sampler = BucketBatchSampler(durations, max_batch_s, shuffle=False)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers)


def decoder_options(cfg: EvalConfig, **overrides) -> DecoderOptions:
    """The decoders' options from the eval section (and any given explicitly)."""
    values = {"beam_size": cfg.beam_size, "max_tokens": cfg.max_tokens, "max_tokens_per_second": cfg.max_tokens_per_second,
              "ctc_weight": cfg.ctc_weight, "joint_beam_size": cfg.joint_beam_size,
              "rescore_beam_size": cfg.rescore_beam_size}
    return DecoderOptions(**{**values, **{k: v for k, v in overrides.items() if v is not None}})


def lexicon_search(cfg: EvalConfig) -> LexiconSearch:
    return LexiconSearch(cfg.ctc_beam_size, cfg.ctc_lm_weight, cfg.ctc_word_bonus)


def save_word_lm(cfg: EvalConfig, texts, run_dir: Path) -> None:
    """The run's word LM from its training transcripts, saved once in its directory: a resumed run,
    and `smolwhisper evaluate` on its checkpoints, score with the same LM."""
    path = Path(run_dir) / WORD_LM_FILE
    if not path.exists():
        train_word_lm(texts, cfg.ctc_lm_order, cfg.lm_general_words, cfg.lm_general_weight).save(path)


def run_lexicon(cfg: EvalConfig, tokenizer: Tokenizer, run_dir: Path) -> LexiconDecoder:
    """The *_lm decoders' lexicon and word LM, as the run saved them."""
    return LexiconDecoder(WordNgramLM.load(Path(run_dir) / WORD_LM_FILE), tokenizer, lexicon_search(cfg))


@torch.no_grad()
def evaluate(model: Whisper, tokenizer: Tokenizer, loader: DataLoader, cfg: RunConfig, device: torch.device,
             bf16: bool, hypotheses_path: str | Path | None = None, lexicon: LexiconDecoder | None = None,
             decoders: Sequence[str] | None = None, options: DecoderOptions | None = None,
             prefix: str = VAL) -> dict[str, float]:
    """Validation loss in eval mode over the loader, and WER/CER of each decoder (the run's
    scored_decoders by default), named `prefix`/..., with one hypothesis record per utterance written
    to `hypotheses_path`."""
    decoders = list(decoders or scored_decoders(cfg))
    options = options or decoder_options(cfg.eval)
    was_training = model.training
    model.eval()
    normalize = normalize_gigaspeech if cfg.eval.normalizer == "gigaspeech" else normalize_english
    loss_sum, n_tokens, lines, counts = 0.0, 0, [], Counter()
    gain_sum, gain_tokens = 0.0, 0
    for batch in loader:
        if not batch.ids:
            continue
        batch = batch.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            audio_features, audio_mask = encoded(model, batch, cfg)
            out = model.decode(audio_features, audio_mask, batch.tokens, targets=batch.targets)
            texts = decode_features(model, tokenizer, audio_features, audio_mask, decoders, options, lexicon)
            other_loss = loss_with_other_states(model, audio_features, audio_mask, batch.tokens, batch.targets)
        tokens, own_loss = (batch.targets != -100).sum().item(), out.loss.item()
        loss_sum, n_tokens = loss_sum + own_loss * tokens, n_tokens + tokens
        if other_loss is not None:
            gain_sum, gain_tokens = gain_sum + (other_loss.item() - own_loss) * tokens, gain_tokens + tokens
        for row, (utterance_id, reference) in enumerate(zip(batch.ids, batch.texts)):
            record = hypothesis_record(utterance_id, reference, {name: texts[name][row] for name in decoders},
                                       normalize)
            for name in decoders:
                suffix = decoder_suffix(name)
                counts.update({f"word_errors{suffix}": record[f"word_errors{suffix}"], f"words{suffix}": record["reference_words"],
                               f"char_errors{suffix}": record[f"char_errors{suffix}"], f"chars{suffix}": record["reference_chars"]})
            lines.append(json.dumps(record))
    if hypotheses_path is not None:
        from ..run_files import write_atomic

        write_atomic(Path(hypotheses_path), "\n".join(lines) + "\n")
    model.train(was_training)
    metrics = {f"{prefix}/loss": loss_sum / max(n_tokens, 1), f"{prefix}/utterances": float(len(lines))}
    if gain_tokens:
        metrics[f"{prefix}/{AUDIO_GAIN}"] = gain_sum / gain_tokens
    for name in decoders:
        suffix = decoder_suffix(name)
        metrics[wer_key(name, prefix)] = counts[f"word_errors{suffix}"] / max(counts[f"words{suffix}"], 1)
        metrics[cer_key(name, prefix)] = counts[f"char_errors{suffix}"] / max(counts[f"chars{suffix}"], 1)
    return metrics


def encoded(model: Whisper, batch, cfg: RunConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch's encoder output and mask: its cached encoder states (data.encoder_cache), else the
    encoder run on its log-mel (Whisper's 30 s input without a mask where data.pad_to_30s)."""
    from ..data.loader import encoder_states, features

    if batch.audio_features is not None:
        return encoder_states(batch)
    mel, mel_mask = features(batch, cfg.model.n_mels, cfg.data.pad_to_30s)
    return model.encoder(mel, None if cfg.data.pad_to_30s else mel_mask)


def loss_with_other_audio(model: Whisper, mel: torch.Tensor, mel_mask: torch.Tensor | None, tokens: torch.Tensor,
                          targets: torch.Tensor) -> torch.Tensor | None:
    """The decoder's loss on each row's transcript with the previous row's audio (the batch rolled by
    one): about the loss with its own audio for a decoder that does not listen. None for a batch of one."""
    if mel.shape[0] < 2:
        return None
    return loss_with_other_states(model, *model.encoder(mel, mel_mask), tokens, targets)


def loss_with_other_states(model: Whisper, audio_features: torch.Tensor, audio_mask: torch.Tensor | None,
                           tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
    """loss_with_other_audio from the encoder's output (the encoder treats each row alone, so rolling
    its output is rolling its input)."""
    if audio_features.shape[0] < 2:
        return None
    other_mask = None if audio_mask is None else audio_mask.roll(1, 0)
    return model.decode(audio_features.roll(1, 0), other_mask, tokens, targets=targets).loss


def hypothesis_record(utterance_id: str, reference: str, hypotheses: dict[str, str], normalize) -> dict:
    """One utterance's line of the hypotheses file: each decoder's text and its errors, the reference's length."""
    record = {"id": utterance_id, "reference": reference}
    for name, text in hypotheses.items():
        suffix = decoder_suffix(name)
        word_errors, n_words = error_counts(reference, text, normalize=normalize)
        char_errors, n_chars = error_counts(reference, text, normalize=normalize, unit="char")
        record.update({f"hypothesis{suffix}": text, f"word_errors{suffix}": word_errors,
                       f"char_errors{suffix}": char_errors, "reference_words": n_words, "reference_chars": n_chars})
    return record
