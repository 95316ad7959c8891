"""Decoding: greedy, sampling and beam search over the KV-cached decoder, with Whisper's rules.

Follows openai/whisper's `decoding.py`: small composable pieces —
logit filters (SuppressBlank, SuppressTokens, ApplyTimestampRules), token decoders
(GreedyDecoder, BeamSearchDecoder), a sequence ranker (MaximumLikelihoodRanker) — driven by one
loop in `DecodingTask`. Differences: the encoder runs once per batch and may take a mel mask
(padded batches of different lengths), the decoder's cache is our explicit `KVCache` (cross-attention
keys/values computed once, on the first step), and `decode_with_fallback` re-decodes only the rows
that fail Whisper's compression-ratio / log-probability checks, at the next temperature.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Categorical

from ..audio import CHUNK_LENGTH, HOP_LENGTH, SAMPLE_RATE
from ..model import KVCache, Whisper
from ..tokenizer import Tokenizer

# Whisper's transcribe() defaults for the temperature fallback.
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD = 2.4  # zlib ratio above this: the text is too repetitive
LOGPROB_THRESHOLD = -1.0  # mean token log-probability below this: too unsure
NO_SPEECH_THRESHOLD = 0.6  # with a low log-probability, treat the window as silence

# Special tokens Whisper never lets the decoder emit (openai/whisper's `_get_suppress_tokens`).
SUPPRESSED_SPECIALS = ("<|transcribe|>", "<|translate|>", "<|startoftranscript|>", "<|startofprev|>",
                       "<|startoflm|>", "<|nospeech|>", "<|nocaptions|>")


@dataclass(frozen=True)
class DecodingOptions:
    temperature: float = 0.0
    sample_len: int | None = None  # most new tokens per sequence; default n_text_ctx // 2
    best_of: int | None = None  # independent samples when temperature > 0
    beam_size: int | None = None  # beam search when temperature == 0 (None: greedy)
    patience: float | None = None  # beam search patience (arxiv:2204.05424)
    length_penalty: float | None = None  # None: rank by mean log-prob; else Google NMT's alpha
    # "-1" suppresses Whisper's non-speech symbols (♪, brackets, ...); or an explicit list of ids
    suppress_tokens: str | Iterable[int] | None = "-1"
    suppress_blank: bool = True  # no blank or end-of-text as the first token
    without_timestamps: bool = True  # prompt with <|notimestamps|> and sample text only
    max_initial_timestamp: float | None = 1.0
    # At most this many tokens per second of each row's audio (ESPnet's maxlenratio): the repetition
    # loops of a half-trained model end at a length its audio could hold. None: sample_len only.
    max_tokens_per_second: float | None = None


@dataclass(frozen=True)
class DecodingResult:
    tokens: list[int]  # sampled tokens, without the prompt and end-of-text
    text: str
    avg_logprob: float  # sum_logprob / (len(tokens) + 1), end-of-text counted, as in Whisper
    sum_logprob: float
    compression_ratio: float
    temperature: float
    no_speech_prob: float = float("nan")


def compression_ratio(text: str) -> float:
    """Whisper's repetition check: raw bytes over zlib-compressed bytes."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def non_speech_tokens(tokenizer: Tokenizer) -> list[int]:
    """openai/whisper's `Tokenizer.non_speech_tokens`: speaker tags, music notes, brackets...

    Keeps basic punctuation; forbids ' -' and " '" at the start of a word but not inside one. Never
    the bare space: GPT-2 has ' -' and ' ♪' as tokens of their own, but a small BPE may spell them
    as a space token and the symbol, and words need that space.
    """
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    # miscellaneous symbols U+2640..U+267F share their first two UTF-8 bytes: suppress the first token
    miscellaneous = set("♩♪♫♬♭♮♯")
    result = {tokenizer.encode(" -")[0], tokenizer.encode(" '")[0]}
    for symbol in symbols + sorted(miscellaneous):
        for tokens in (tokenizer.encode(symbol), tokenizer.encode(" " + symbol)):
            if len(tokens) == 1 or symbol in miscellaneous:
                result.add(tokens[0])
    return sorted(result - set(tokenizer.encode(" ")))


def suppressed_tokens(tokenizer: Tokenizer, suppress: str | Iterable[int] | None, n_vocab: int) -> list[int]:
    if isinstance(suppress, str):
        suppress = [int(t) for t in suppress.split(",") if t.strip()]
    ids = set(suppress or [])
    if -1 in ids:
        ids.discard(-1)
        ids.update(non_speech_tokens(tokenizer))
    ids.update(t for name in SUPPRESSED_SPECIALS if (t := tokenizer.hf.token_to_id(name)) is not None)
    ids.update(range(tokenizer.n_vocab, n_vocab))  # logits of ids the tokenizer cannot decode
    return sorted(t for t in ids if 0 <= t < n_vocab)


# ---------------------------------------------------------------------------------------------
# Logit filters: change logits [n_rows, n_vocab] in place, given the tokens so far [n_rows, length].

class LogitFilter:
    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        raise NotImplementedError


class SuppressBlank(LogitFilter):
    """At the first sampled position, forbid a blank (' ') and end-of-text."""

    def __init__(self, tokenizer: Tokenizer, sample_begin: int):
        self.ids = [*tokenizer.encode(" "), tokenizer.eot]
        self.sample_begin = sample_begin

    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        if tokens.shape[1] == self.sample_begin:
            logits[:, self.ids] = -np.inf


class LimitLengthToAudio(LogitFilter):
    """Only end-of-text once a row has sampled its share of tokens for its audio's duration."""

    def __init__(self, eot: int, sample_begin: int, max_tokens: Tensor):
        self.eot, self.sample_begin, self.max_tokens = eot, sample_begin, max_tokens

    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        full = tokens.shape[1] - self.sample_begin >= self.max_tokens
        if full.any():
            eot_logits = logits[full, self.eot].clone()
            logits[full] = -np.inf
            logits[full, self.eot] = eot_logits


class SuppressTokens(LogitFilter):
    def __init__(self, ids: Sequence[int]):
        self.ids = list(ids)

    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        logits[:, self.ids] = -np.inf


class ApplyTimestampRules(LogitFilter):
    """Whisper's timestamp grammar: pairs of increasing timestamps around text, a timestamp first."""

    def __init__(self, tokenizer: Tokenizer, sample_begin: int, max_initial_timestamp_index: int | None):
        self.tokenizer = tokenizer
        self.sample_begin = sample_begin
        self.max_initial_timestamp_index = max_initial_timestamp_index

    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        begin, eot = self.tokenizer.timestamp_begin, self.tokenizer.eot
        logits[:, self.tokenizer.no_timestamps] = -np.inf
        for k in range(tokens.shape[0]):
            sampled = tokens[k, self.sample_begin:]
            seq = sampled.tolist()
            last_was_timestamp = len(seq) >= 1 and seq[-1] >= begin
            penultimate_was_timestamp = len(seq) < 2 or seq[-2] >= begin
            if last_was_timestamp:
                if penultimate_was_timestamp:  # a pair just closed: text (or end) must follow
                    logits[k, begin:] = -np.inf
                else:  # an open pair: its closing timestamp or end-of-text
                    logits[k, :eot] = -np.inf
            timestamps = sampled[sampled.ge(begin)]
            if timestamps.numel() > 0:
                # timestamps never decrease, and a segment has a non-zero length (no endless loops)
                last = timestamps[-1] if last_was_timestamp and not penultimate_was_timestamp else timestamps[-1] + 1
                logits[k, begin:last] = -np.inf
        if tokens.shape[1] == self.sample_begin:
            logits[:, :begin] = -np.inf  # the first sampled token is a timestamp
            if self.max_initial_timestamp_index is not None:
                logits[:, begin + self.max_initial_timestamp_index + 1:] = -np.inf
        # when all timestamps together are more likely than any one text token, emit a timestamp
        logprobs = F.log_softmax(logits.float(), dim=-1)
        timestamp_logprob = logprobs[:, begin:].logsumexp(dim=-1)
        max_text_logprob = logprobs[:, :begin].max(dim=-1).values
        logits[timestamp_logprob > max_text_logprob, :begin] = -np.inf


# ---------------------------------------------------------------------------------------------
# The decoder with its KV cache.

class CachedDecoder:
    """Runs the text decoder step by step: the whole prompt first, then one new token per call."""

    def __init__(self, model: Whisper, audio_features: Tensor, audio_mask: Tensor | None, n_group: int = 1):
        """audio_features [n_audio, frames, n_state]; each audio is decoded as `n_group` rows (beams, samples)."""
        self.model = model
        self.audio_features = audio_features.repeat_interleave(n_group, dim=0)
        self.audio_mask = None if audio_mask is None else audio_mask.repeat_interleave(n_group, dim=0)
        self.cache = KVCache.empty(len(model.decoder.blocks))
        # Cross-attention keys/values once per audio, not once per beam: on 30 s of audio they
        # cost more than the whole rest of a short decode.
        for block, layer in zip(model.decoder.blocks, self.cache.layers):
            layer.cross_kv = tuple(t.repeat_interleave(n_group, dim=0)
                                   for t in block.cross_attn.project_kv(audio_features))

    def logits(self, tokens: Tensor) -> Tensor:
        """Logits [n_rows, n_new, n_vocab] for the tokens not yet in the cache."""
        new = tokens[:, self.cache.length:]
        return self.model.decoder(new, self.audio_features, self.audio_mask, kv_cache=self.cache).logits

    def reorder(self, source_rows: list[int]) -> None:
        """Beam search moved rows: reorder the self-attention cache to follow them.

        Rows only ever move within one audio's group of beams, whose cross-attention keys/values
        and audio mask are identical, so those stay as they are (KVCache.reorder would copy them).
        """
        if source_rows == list(range(len(source_rows))):
            return
        index = torch.tensor(source_rows, device=self.audio_features.device)
        for layer in self.cache.layers:
            layer.self_kv = tuple(t.index_select(0, index) for t in layer.self_kv)


# ---------------------------------------------------------------------------------------------
# Token decoders: choose the next token of every row; `finalize` returns candidates per audio.

class GreedyDecoder:
    """Arg-max at temperature 0, else sampling from softmax(logits / temperature)."""

    def __init__(self, temperature: float, eot: int):
        self.temperature, self.eot = temperature, eot

    def reset(self) -> None:
        pass

    def update(self, tokens: Tensor, logits: Tensor, sum_logprobs: Tensor,
               decoder: CachedDecoder) -> tuple[Tensor, bool]:
        if self.temperature == 0:
            next_tokens = logits.argmax(dim=-1)
        else:
            next_tokens = Categorical(logits=logits / self.temperature).sample()
        logprobs = F.log_softmax(logits.float(), dim=-1)
        current = logprobs[torch.arange(logprobs.shape[0]), next_tokens]
        finished = tokens[:, -1] == self.eot
        sum_logprobs += current * ~finished  # a finished row keeps its score and repeats end-of-text
        next_tokens[finished] = self.eot
        tokens = torch.cat([tokens, next_tokens[:, None]], dim=-1)
        return tokens, bool((tokens[:, -1] == self.eot).all())

    def finalize(self, tokens: Tensor, sum_logprobs: Tensor) -> tuple[list[list[Tensor]], list[list[float]]]:
        """tokens [n_audio, n_group, length] -> candidates per audio, each ending in end-of-text."""
        tokens = F.pad(tokens, (0, 1), value=self.eot)
        return [list(group) for group in tokens], sum_logprobs.tolist()


class BeamSearchDecoder:
    """Whisper's beam search: keep `beam_size` live beams per audio and collect finished ones.

    Stops once every audio has round(beam_size * patience) finished candidates.
    """

    def __init__(self, beam_size: int, eot: int, patience: float | None = None):
        self.beam_size, self.eot = beam_size, eot
        self.max_candidates = round(beam_size * (patience or 1.0))
        if self.max_candidates < 1:
            raise ValueError(f"beam_size={beam_size} with patience={patience} keeps no candidates")
        self.finished: list[dict[tuple, float]] | None = None

    def reset(self) -> None:
        self.finished = None

    def update(self, tokens: Tensor, logits: Tensor, sum_logprobs: Tensor,
               decoder: CachedDecoder) -> tuple[Tensor, bool]:
        n_audio = tokens.shape[0] // self.beam_size
        if self.finished is None:
            self.finished = [{} for _ in range(n_audio)]
        logprobs = F.log_softmax(logits.float(), dim=-1)
        top_logprobs, top_tokens = logprobs.topk(self.beam_size + 1, dim=-1)
        top_logprobs, top_tokens = top_logprobs.tolist(), top_tokens.tolist()
        prefixes, previous_sums = tokens.tolist(), sum_logprobs.tolist()
        next_tokens, source_rows = [], []
        for i in range(n_audio):
            scores, sources = {}, {}
            for row in range(i * self.beam_size, (i + 1) * self.beam_size):
                for logprob, token in zip(top_logprobs[row], top_tokens[row]):
                    sequence = (*prefixes[row], token)
                    scores[sequence] = previous_sums[row] + logprob
                    sources[sequence] = row
            # keep the best beam_size live sequences; finished ones go to the candidate list
            saved, newly_finished = 0, {}
            for sequence in sorted(scores, key=scores.get, reverse=True):
                if sequence[-1] == self.eot:
                    newly_finished[sequence] = scores[sequence]
                else:
                    sum_logprobs[len(next_tokens)] = scores[sequence]
                    next_tokens.append(sequence)
                    source_rows.append(sources[sequence])
                    saved += 1
                    if saved == self.beam_size:
                        break
            for sequence in sorted(newly_finished, key=newly_finished.get, reverse=True):
                if len(self.finished[i]) >= self.max_candidates:
                    break
                self.finished[i][sequence] = newly_finished[sequence]
        decoder.reorder(source_rows)
        tokens = torch.tensor(next_tokens, device=tokens.device)
        return tokens, all(len(done) >= self.max_candidates for done in self.finished)

    def finalize(self, tokens: Tensor, sum_logprobs: Tensor) -> tuple[list[list[Tensor]], list[list[float]]]:
        """Finished candidates per audio, topped up with the best live beams if too few finished."""
        finished = self.finished or [{} for _ in range(tokens.shape[0])]
        for i, candidates in enumerate(finished):
            for j in sum_logprobs[i].argsort(descending=True).tolist():
                if len(candidates) >= self.beam_size:
                    break
                candidates[(*tokens[i, j].tolist(), self.eot)] = sum_logprobs[i, j].item()
        return ([[torch.tensor(seq) for seq in candidates] for candidates in finished],
                [list(candidates.values()) for candidates in finished])


class MaximumLikelihoodRanker:
    """Pick the candidate with the best sum log-prob / length (length_penalty None, Whisper's
    default), or / ((5 + length) / 6) ** alpha (Google NMT, Wu et al. 2016)."""

    def __init__(self, length_penalty: float | None):
        self.length_penalty = length_penalty

    def rank(self, tokens: list[list[Tensor]], sum_logprobs: list[list[float]]) -> list[int]:
        def score(logprob: float, length: int) -> float:
            penalty = length if self.length_penalty is None else ((5 + length) / 6) ** self.length_penalty
            return logprob / penalty if penalty else logprob

        return [int(np.argmax([score(lp, len(t)) for t, lp in zip(group, logprobs)]))
                for group, logprobs in zip(tokens, sum_logprobs)]


# ---------------------------------------------------------------------------------------------
# The loop.

class DecodingTask:
    def __init__(self, model: Whisper, tokenizer: Tokenizer, options: DecodingOptions, token_decoder=None):
        """token_decoder: a search of one's own with GreedyDecoder's interface (reset, update,
        finalize), e.g. joint_decoding.JointBeamSearchDecoder; it decodes options.beam_size rows per audio."""
        _check_options(options)
        self.model, self.tokenizer, self.options = model, tokenizer, options
        n_vocab, n_ctx = model.config.n_vocab, model.config.n_text_ctx
        if not options.without_timestamps and tokenizer.timestamp_begin + 1 > n_vocab:
            raise ValueError("DecodingOptions.without_timestamps=False needs timestamp tokens, which this "
                             "model's vocabulary does not have")
        self.n_group = options.beam_size or options.best_of or 1
        self.initial_tokens = (*tokenizer.sot_sequence, *([tokenizer.no_timestamps] if options.without_timestamps else []))
        self.sample_begin = len(self.initial_tokens)
        self.sample_len = min(options.sample_len or n_ctx // 2, n_ctx - self.sample_begin)
        self.sot_index = self.initial_tokens.index(tokenizer.sot)
        self.ranker = MaximumLikelihoodRanker(options.length_penalty)
        if token_decoder is not None:
            self.decoder = token_decoder
        elif options.beam_size is not None:
            self.decoder = BeamSearchDecoder(options.beam_size, tokenizer.eot, options.patience)
        else:
            self.decoder = GreedyDecoder(options.temperature, tokenizer.eot)
        self.logit_filters: list[LogitFilter] = []
        if options.suppress_blank:
            self.logit_filters.append(SuppressBlank(tokenizer, self.sample_begin))
        if options.suppress_tokens is not None:
            self.logit_filters.append(SuppressTokens(suppressed_tokens(tokenizer, options.suppress_tokens, n_vocab)))
        if not options.without_timestamps:
            precision = CHUNK_LENGTH / model.config.n_audio_ctx  # 0.02 s per timestamp token
            max_initial = (round(options.max_initial_timestamp / precision)
                           if options.max_initial_timestamp else None)
            self.logit_filters.append(ApplyTimestampRules(tokenizer, self.sample_begin, max_initial))

    def main_loop(self, decoder: CachedDecoder, tokens: Tensor) -> tuple[Tensor, Tensor, list[float]]:
        sum_logprobs = torch.zeros(tokens.shape[0], device=tokens.device)
        no_speech_probs = [float("nan")] * tokens.shape[0]
        for step in range(self.sample_len):
            logits = decoder.logits(tokens)
            if step == 0 and self.tokenizer.no_speech is not None:
                probs_at_sot = logits[:, self.sot_index].float().softmax(dim=-1)
                no_speech_probs = probs_at_sot[:, self.tokenizer.no_speech].tolist()
            logits = logits[:, -1]
            for logit_filter in self.logit_filters:
                logit_filter.apply(logits, tokens)
            tokens, completed = self.decoder.update(tokens, logits, sum_logprobs, decoder)
            if completed:
                break
        return tokens, sum_logprobs, no_speech_probs

    @torch.no_grad()
    def run(self, audio_features: Tensor, audio_mask: Tensor | None = None) -> list[DecodingResult]:
        self.decoder.reset()
        n_audio = audio_features.shape[0]
        decoder = CachedDecoder(self.model, audio_features, audio_mask, self.n_group)
        tokens = torch.tensor([self.initial_tokens], device=audio_features.device).repeat(n_audio * self.n_group, 1)
        length_limit = self.length_limit(audio_features, audio_mask)
        if length_limit is not None:
            self.logit_filters.append(length_limit)
        try:
            tokens, sum_logprobs, no_speech_probs = self.main_loop(decoder, tokens)
        finally:
            if length_limit is not None:
                self.logit_filters.remove(length_limit)

        no_speech_probs = no_speech_probs[::self.n_group]
        candidates, candidate_logprobs = self.decoder.finalize(
            tokens.reshape(n_audio, self.n_group, -1), sum_logprobs.reshape(n_audio, self.n_group).cpu())
        eot = self.tokenizer.eot
        candidates = [[t[self.sample_begin:int((t == eot).nonzero()[0, 0])] for t in group] for group in candidates]
        selected = self.ranker.rank(candidates, candidate_logprobs)
        results = []
        for i, choice in enumerate(selected):
            chosen = candidates[i][choice].tolist()
            text = self.tokenizer.decode(chosen).strip()
            sum_logprob = candidate_logprobs[i][choice]
            results.append(DecodingResult(
                tokens=chosen, text=text, avg_logprob=sum_logprob / (len(chosen) + 1), sum_logprob=sum_logprob,
                compression_ratio=compression_ratio(text), temperature=self.options.temperature,
                no_speech_prob=no_speech_probs[i]))
        return results


    def length_limit(self, audio_features: Tensor, audio_mask: Tensor | None) -> LogitFilter | None:
        if self.options.max_tokens_per_second is None:
            return None
        frames = (audio_mask.sum(dim=1) if audio_mask is not None else
                  torch.full((len(audio_features),), audio_features.shape[1], device=audio_features.device))
        seconds = frames * (self.model.config.audio_stride * HOP_LENGTH / SAMPLE_RATE)
        max_tokens = (seconds * self.options.max_tokens_per_second).ceil().clamp(min=1)
        return LimitLengthToAudio(self.tokenizer.eot, self.sample_begin, max_tokens.repeat_interleave(self.n_group))


def _check_options(options: DecodingOptions) -> None:
    if options.beam_size is not None and options.best_of is not None:
        raise ValueError("DecodingOptions: beam_size and best_of cannot be given together")
    if options.temperature == 0 and options.best_of is not None:
        raise ValueError("DecodingOptions.best_of needs temperature > 0 (greedy decoding is deterministic)")
    if options.beam_size is not None and options.temperature != 0:
        raise ValueError("DecodingOptions.beam_size needs temperature 0")
    if options.beam_size is not None and options.beam_size < 1:
        raise ValueError(f"DecodingOptions.beam_size: {options.beam_size} must be >= 1")
    if options.patience is not None and options.beam_size is None:
        raise ValueError("DecodingOptions.patience needs beam_size")
    if options.length_penalty is not None and not 0 <= options.length_penalty <= 1:
        raise ValueError(f"DecodingOptions.length_penalty: {options.length_penalty} must be between 0 and 1")
    if options.max_tokens_per_second is not None and options.max_tokens_per_second <= 0:
        raise ValueError(f"DecodingOptions.max_tokens_per_second: {options.max_tokens_per_second} must be > 0")


@torch.no_grad()
def decode_features(model: Whisper, tokenizer: Tokenizer, audio_features: Tensor,
                    audio_mask: Tensor | None = None, options: DecodingOptions = DecodingOptions()
                    ) -> list[DecodingResult]:
    """Decode encoder output [batch, frames, n_state] (with its mask, for padded batches)."""
    return DecodingTask(model, tokenizer, options).run(audio_features, audio_mask)


@torch.no_grad()
def decode(model: Whisper, tokenizer: Tokenizer, mel: Tensor, mel_mask: Tensor | None = None,
           options: DecodingOptions = DecodingOptions()) -> list[DecodingResult]:
    """Decode mel [batch, n_mels, frames] (mel_mask [batch, frames] True on real frames).

    For real Whisper weights pass 3000-frame padded mels without a mask (see README).
    """
    if mel.ndim == 2:
        mel = mel[None]
    audio_features, audio_mask = model.encoder(mel, mel_mask)
    return decode_features(model, tokenizer, audio_features, audio_mask, options)


def ctc_greedy(tokenizer: Tokenizer, log_probs: Tensor, lengths: Tensor) -> list[str]:
    """Best-path CTC decoding of the encoder's CTC head (model.ctc_log_probs): the most likely
    class per frame, repeats merged, blanks (the last class) dropped (Graves et al. 2006)."""
    blank = log_probs.shape[-1] - 1
    texts = []
    for best, length in zip(log_probs.argmax(dim=-1), lengths.tolist()):
        path = torch.unique_consecutive(best[: int(length)])
        texts.append(tokenizer.decode(path[path != blank].tolist()).strip())
    return texts


def needs_fallback(result: DecodingResult, compression_ratio_threshold: float | None,
                   logprob_threshold: float | None, no_speech_threshold: float | None) -> bool:
    """Whisper's rule: too repetitive or too unsure, unless it looks like silence."""
    too_repetitive = compression_ratio_threshold is not None and result.compression_ratio > compression_ratio_threshold
    too_unsure = logprob_threshold is not None and result.avg_logprob < logprob_threshold
    silence = (no_speech_threshold is not None and result.no_speech_prob > no_speech_threshold
               and too_unsure)
    return (too_repetitive or too_unsure) and not silence


@torch.no_grad()
def decode_with_fallback(model: Whisper, tokenizer: Tokenizer, audio_features: Tensor,
                         audio_mask: Tensor | None = None, options: DecodingOptions = DecodingOptions(),
                         temperatures: Sequence[float] = TEMPERATURES,
                         compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD,
                         logprob_threshold: float | None = LOGPROB_THRESHOLD,
                         no_speech_threshold: float | None = NO_SPEECH_THRESHOLD) -> list[DecodingResult]:
    """Decode at temperatures[0]; re-decode the rows that fail the checks at the next temperature.

    As in Whisper's transcribe(): beam search (and patience) only at temperature 0, best_of only above it.
    """
    results: list[DecodingResult | None] = [None] * audio_features.shape[0]
    pending = list(range(audio_features.shape[0]))
    for temperature in temperatures:
        if temperature > 0:
            step_options = replace(options, temperature=temperature, beam_size=None, patience=None)
        else:
            step_options = replace(options, temperature=temperature, best_of=None)
        index = torch.tensor(pending, device=audio_features.device)
        step_results = decode_features(model, tokenizer, audio_features.index_select(0, index),
                                       None if audio_mask is None else audio_mask.index_select(0, index),
                                       step_options)
        still_pending = []
        for row, result in zip(pending, step_results):
            results[row] = result
            if needs_fallback(result, compression_ratio_threshold, logprob_threshold, no_speech_threshold):
                still_pending.append(row)
        pending = still_pending
        if not pending:
            break
    return results
