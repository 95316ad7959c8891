"""Decoding with the attention decoder and the CTC head together, and `decode_batch`: the one
function that decodes a batch by decoder name, for training's evaluation, `smolwhisper evaluate`
and `smolwhisper transcribe` alike.

Decoders (DECODERS), as ESPnet and WeNet use them on joint CTC/attention models:
  attention   the attention decoder alone: greedy, or Whisper's beam search (decoding.py)
  ctc         best path of the CTC head
  ctc_lm      CTC prefix beam search over a lexicon with the word LM (ctc_lm.py)
  rescore     attention rescoring (WeNet's attention_rescoring): the CTC prefix beam search's
              n-best, reordered by ctc_weight * log P_ctc + (1 - ctc_weight) * log P_att
  rescore_lm  the same over ctc_lm's n-best, the LM's score (lm_weight * log P_lm + word bonus) added
  joint       one-pass joint beam search (Watanabe et al. 2017; ESPnet's ctc_weight decoding): each
              token scored by (1 - ctc_weight) * log p_att + ctc_weight * log of the CTC prefix ratio
  joint_lm    the same kept inside the lexicon, with the word LM fused as each word ends
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..metric_names import DECODERS, LM_DECODERS
from ..model import Whisper
from ..tokenizer import Tokenizer
from .ctc_lm import FusionState, LexiconDecoder, LexiconFusion
from .ctc_prefix import CTCPrefixScorer, ctc_log_likelihoods, ctc_prefix_beam_search
from .decoding import BeamSearchDecoder, CachedDecoder, DecodingOptions, DecodingTask, ctc_greedy

NEG_INF = float("-inf")


@dataclass(frozen=True)
class DecoderOptions:
    """What the decoders need beyond the model; EvalConfig's fields of the same meaning fill it."""

    beam_size: int = 1  # attention: 1 is greedy (eval.beam_size)
    max_tokens: int = 128  # new tokens per hypothesis of the token-by-token searches (eval.max_tokens)
    max_tokens_per_second: float = 30.0  # and at most this many per second of audio; 0: no limit
    ctc_weight: float = 0.5  # joint and rescore: the CTC head's share of the score
    joint_beam_size: int = 8
    rescore_beam_size: int = 8  # the CTC prefix beam whose n-best rescoring reorders
    # Joint search: only each hypothesis's most likely next tokens by the attention decoder (and LM)
    # get a CTC prefix score (ESPnet's pre-beam); 0 is 1.5 x joint_beam_size, as ESPnet's.
    pre_beam_size: int = 0

    def __post_init__(self) -> None:
        for name in ("beam_size", "max_tokens", "joint_beam_size", "rescore_beam_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"DecoderOptions.{name}: {getattr(self, name)} must be >= 1")
        if not 0 <= self.ctc_weight <= 1:
            raise ValueError(f"DecoderOptions.ctc_weight: {self.ctc_weight} must be between 0 and 1")
        if self.max_tokens_per_second < 0:
            raise ValueError(f"DecoderOptions.max_tokens_per_second: {self.max_tokens_per_second} must be >= 0")
        if self.pre_beam_size < 0:
            raise ValueError(f"DecoderOptions.pre_beam_size: {self.pre_beam_size} must be >= 0 (0: 1.5 x beam)")

    def attention_options(self) -> DecodingOptions:
        return DecodingOptions(sample_len=self.max_tokens, beam_size=None if self.beam_size == 1 else self.beam_size,
                               max_tokens_per_second=self.max_tokens_per_second or None)

    def joint_options(self) -> DecodingOptions:
        # Ranked by the whole score, as ESPnet does: the CTC term already penalises a hypothesis
        # too short for its audio, which length normalisation is there to do for attention alone.
        # No SuppressBlank: a small BPE may begin a transcript with the bare space token, and the CTC
        # head, not that rule, tells where the first word starts.
        return DecodingOptions(sample_len=self.max_tokens, beam_size=self.joint_beam_size, length_penalty=0.0,
                               suppress_blank=False, max_tokens_per_second=self.max_tokens_per_second or None)


def check_decoders(decoders: Sequence[str], has_ctc_head: bool, has_lm: bool) -> None:
    """ValueError naming the first decoder that cannot run."""
    for name in decoders:
        if name not in DECODERS:
            raise ValueError(f"decoder {name!r} is unknown; allowed: {', '.join(DECODERS)}")
        if name != "attention" and not has_ctc_head:
            raise ValueError(f"decoder {name!r} needs a CTC head (a model trained with model.ctc_weight > 0)")
        if name in LM_DECODERS and not has_lm:
            raise ValueError(f"decoder {name!r} needs the word LM and its lexicon (eval.ctc_lm, word_lm.json)")


@torch.no_grad()
def decode_batch(model: Whisper, tokenizer: Tokenizer, mel: Tensor, mel_mask: Tensor | None,
                 decoders: Sequence[str], options: DecoderOptions = DecoderOptions(),
                 lexicon: LexiconDecoder | None = None) -> dict[str, list[str]]:
    """Each decoder's transcript of each utterance of mel [B, n_mels, frames] (mel_mask [B, frames]
    True on real frames, None for Whisper's 30 s input): {decoder name: [text per utterance]}.
    `lexicon` (the word LM with its lexicon and weights) is needed by the *_lm decoders."""
    audio_features, audio_mask = model.encoder(mel, mel_mask)
    return decode_features(model, tokenizer, audio_features, audio_mask, decoders, options, lexicon)


@torch.no_grad()
def decode_features(model: Whisper, tokenizer: Tokenizer, audio_features: Tensor, audio_mask: Tensor | None,
                    decoders: Sequence[str], options: DecoderOptions = DecoderOptions(),
                    lexicon: LexiconDecoder | None = None) -> dict[str, list[str]]:
    """decode_batch from the encoder's output."""
    check_decoders(decoders, model.ctc is not None, lexicon is not None)
    batch = _Batch(model, tokenizer, audio_features, audio_mask, options, lexicon)
    return {name: getattr(batch, name)() for name in decoders}


class _Batch:
    """One batch's encoder output and the searches its decoders share (the lexicon n-best serves
    both ctc_lm and rescore_lm)."""

    def __init__(self, model, tokenizer, audio_features, audio_mask, options: DecoderOptions,
                 lexicon: LexiconDecoder | None):
        self.model, self.tokenizer, self.options, self.lexicon = model, tokenizer, options, lexicon
        self.audio_features, self.audio_mask = audio_features, audio_mask

    @functools.cached_property
    def ctc_log_probs(self) -> tuple[Tensor, Tensor]:
        return self.model.ctc_log_probs(self.audio_features, self.audio_mask)

    @functools.cached_property
    def lexicon_nbest(self) -> list[list[str]]:
        return self.lexicon.nbest(*self.ctc_log_probs)

    def attention(self) -> list[str]:
        task = DecodingTask(self.model, self.tokenizer, self.options.attention_options())
        return [result.text for result in task.run(self.audio_features, self.audio_mask)]

    def ctc(self) -> list[str]:
        return ctc_greedy(self.tokenizer, *self.ctc_log_probs)

    def ctc_lm(self) -> list[str]:
        return [nbest[0] if nbest else "" for nbest in self.lexicon_nbest]

    def rescore(self) -> list[str]:
        found = ctc_prefix_beam_search(*self.ctc_log_probs, beam_size=self.options.rescore_beam_size)
        texts = [list(dict.fromkeys(self.tokenizer.decode(tokens).strip() for tokens, _ in nbest)) for nbest in found]
        return self._rescored(texts)

    def rescore_lm(self) -> list[str]:
        nbest = [group[: self.options.rescore_beam_size] for group in self.lexicon_nbest]
        return self._rescored(nbest, [[self.lexicon.lm_score(text) for text in group] for group in nbest])

    def _rescored(self, candidates: list[list[str]], lm_scores: list[list[float]] | None = None) -> list[str]:
        scores = rescoring_scores(self.model, self.tokenizer, self.audio_features, self.audio_mask,
                                  *self.ctc_log_probs, candidates, self.options.ctc_weight, lm_scores)
        return pick_best(candidates, scores)

    def joint(self) -> list[str]:
        return self._joint(None)

    def joint_lm(self) -> list[str]:
        return self._joint(self.lexicon.fusion)

    def _joint(self, fusion: LexiconFusion | None) -> list[str]:
        results = joint_beam_search(self.model, self.tokenizer, self.audio_features, self.audio_mask,
                                    *self.ctc_log_probs, self.options, fusion)
        if fusion is None:
            return [result.text for result in results]
        # A search cut off by its length limit before any hypothesis ended leaves one mid-word; its
        # words up to there are the lexicon's (each was checked as it ended), the last may not be.
        texts = []
        for result in results:
            words = result.text.split()
            texts.append(" ".join(words if not words or words[-1] in fusion.lm.words else words[:-1]))
        return texts


# ---------------------------------------------------------------------------------------------
# Attention rescoring.

def rescoring_scores(model: Whisper, tokenizer: Tokenizer, audio_features: Tensor, audio_mask: Tensor | None,
                     ctc_log_probs: Tensor, ctc_lengths: Tensor, candidates: list[list[str]], ctc_weight: float,
                     lm_scores: list[list[float]] | None = None) -> list[list[float]]:
    """ctc_weight * log P_ctc(y) + (1 - ctc_weight) * log P_att(y) (+ the LM's score) of each
    utterance's candidate texts, each as the tokenizer spells it (as both heads were trained):
    exact CTC likelihoods (torch's CTC loss) and one teacher-forced decoder pass for all candidates."""
    tokens = [[tokenizer.encode(" " + text) if text else [] for text in group] for group in candidates]
    ctc = ctc_log_likelihoods(ctc_log_probs, ctc_lengths, tokens) if ctc_weight > 0 else None
    attention = attention_log_likelihoods(model, tokenizer, audio_features, audio_mask, tokens) \
        if ctc_weight < 1 else None
    scores = []
    for i, group in enumerate(tokens):
        row = []
        for j in range(len(group)):
            score = ctc_weight * ctc[i][j] if ctc is not None else 0.0
            score += (1 - ctc_weight) * attention[i][j] if attention is not None else 0.0
            row.append(score + (lm_scores[i][j] if lm_scores is not None else 0.0))
        scores.append(row)
    return scores


def pick_best(candidates: list[list[str]], scores: list[list[float]]) -> list[str]:
    """Each utterance's best-scored candidate ('' for none); a tie goes to the earlier (the search's better)."""
    return [group[max(range(len(group)), key=row.__getitem__)] if group else "" for group, row in zip(candidates, scores)]


def attention_log_likelihoods(model: Whisper, tokenizer: Tokenizer, audio_features: Tensor,
                              audio_mask: Tensor | None, hypotheses: list[list[list[int]]]) -> list[list[float]]:
    """log P_att(y + end-of-text | audio) of each utterance's token sequences, in one decoder pass,
    prompted as decoding prompts (start of transcript, no timestamps); -inf for one too long to fit."""
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    rows = [(i, [*prompt, *sequence, tokenizer.eot]) for i, group in enumerate(hypotheses) for sequence in group]
    n_ctx = model.config.n_text_ctx
    fits = [len(sequence) - 1 <= n_ctx for _, sequence in rows]
    scored = [row for row, fit in zip(rows, fits) if fit]
    sums: list[float] = []
    if scored:
        device = audio_features.device
        width = max(len(sequence) for _, sequence in scored) - 1
        inputs = torch.full((len(scored), width), tokenizer.eot, dtype=torch.long)
        targets = torch.full((len(scored), width), -100, dtype=torch.long)
        for r, (_, sequence) in enumerate(scored):
            inputs[r, : len(sequence) - 1] = torch.tensor(sequence[:-1])
            targets[r, len(prompt) - 1: len(sequence) - 1] = torch.tensor(sequence[len(prompt):])
        index = torch.tensor([i for i, _ in scored], device=device)
        mask = None if audio_mask is None else audio_mask.index_select(0, index)
        logits = model.decoder(inputs.to(device), audio_features.index_select(0, index), mask).logits
        targets = targets.to(device)
        log_probs = F.log_softmax(logits.float(), dim=-1).gather(2, targets.clamp(min=0)[..., None]).squeeze(2)
        sums = log_probs.masked_fill(targets < 0, 0.0).sum(dim=1).tolist()
    found = iter(sums)
    scores = [[] for _ in hypotheses]
    for (i, _), fit in zip(rows, fits):
        scores[i].append(next(found) if fit else NEG_INF)
    return scores


# ---------------------------------------------------------------------------------------------
# One-pass joint CTC/attention beam search.

@torch.no_grad()
def joint_beam_search(model: Whisper, tokenizer: Tokenizer, audio_features: Tensor, audio_mask: Tensor | None,
                      ctc_log_probs: Tensor, ctc_lengths: Tensor, options: DecoderOptions = DecoderOptions(),
                      fusion: LexiconFusion | None = None):
    """Beam search scored by (1 - w) log p_att + w log psi(g c) / psi(g) (+ fused word LM) per token:
    decoding.DecodingResult per utterance, sum_logprob holding the joint score."""
    decoding = options.joint_options()
    scorer = None
    if options.ctc_weight > 0:
        scorer = CTCPrefixScorer(ctc_log_probs, ctc_lengths, options.joint_beam_size, tokenizer.eot)
    pre_beam = options.pre_beam_size or max(int(1.5 * options.joint_beam_size), options.joint_beam_size + 1)
    search = JointBeamSearchDecoder(options.joint_beam_size, tokenizer.eot, scorer, options.ctc_weight,
                                    pre_beam, fusion)
    return DecodingTask(model, tokenizer, decoding, token_decoder=search).run(audio_features, audio_mask)


class JointBeamSearchDecoder(BeamSearchDecoder):
    """Whisper's beam search rules (BeamSearchDecoder: beam_size live sequences per audio from the
    top beam_size + 1 tokens of each, finished ones collected until there are beam_size), on joint
    scores, vectorised over audio and beams. With ctc_weight 0 and no LM it is Whisper's search."""

    def __init__(self, beam_size: int, eot: int, ctc: CTCPrefixScorer | None, ctc_weight: float,
                 pre_beam_size: int, fusion: LexiconFusion | None = None):
        super().__init__(beam_size, eot)
        self.ctc, self.ctc_weight, self.pre_beam_size, self.fusion = ctc, ctc_weight, pre_beam_size, fusion
        self.ctc_state = None
        self.fusion_states: list[FusionState] = []

    def reset(self) -> None:
        super().reset()
        self.ctc_state = self.ctc.initial_state() if self.ctc is not None else None
        self.fusion_states = []

    def update(self, tokens: Tensor, logits: Tensor, sum_logprobs: Tensor,
               decoder: CachedDecoder) -> tuple[Tensor, bool]:
        beam, n_rows = self.beam_size, tokens.shape[0]
        n_audio = n_rows // beam
        if self.finished is None:
            self.finished = [{} for _ in range(n_audio)]
            # an audio's rows start as copies of one prompt: only the first grows, as Whisper's
            # search keeps each distinct sequence once
            sum_logprobs.view(n_audio, beam)[:, 1:] = NEG_INF
            self.fusion_states = [FusionState()] * n_rows
        top_scores, top_tokens = self.next_token_scores(logits)  # [rows, beam + 1]
        totals = (sum_logprobs[:, None] + top_scores).view(n_audio, -1)
        sources = torch.arange(n_rows, device=tokens.device).repeat_interleave(beam + 1).view(n_audio, -1)
        order = totals.argsort(dim=1, descending=True, stable=True)
        totals, candidates, sources = (t.gather(1, order) for t in (totals, top_tokens.view(n_audio, -1), sources))

        # the best beam_size that go on; those ending before the last of them are finished
        ends = candidates == self.eot
        live_before = (~ends).long().cumsum(dim=1) - (~ends).long()
        kept = (~ends & (live_before < beam)).long().argsort(dim=1, descending=True, stable=True)[:, :beam]
        self.collect_finished(tokens, ends & (live_before < beam) & (totals > NEG_INF), totals, sources)

        sum_logprobs.copy_(totals.gather(1, kept).flatten())
        source_rows, new_tokens = sources.gather(1, kept).flatten(), candidates.gather(1, kept).flatten()
        source_list = source_rows.tolist()
        decoder.reorder(source_list)
        if self.ctc is not None:
            self.ctc_state = self.ctc.advance(self.ctc_state, source_rows, new_tokens)
        if self.fusion is not None:
            alive = (sum_logprobs > NEG_INF).tolist()
            self.fusion_states = [self.fusion.advance(self.fusion_states[row], token) if ok else FusionState()
                                  for row, token, ok in zip(source_list, new_tokens.tolist(), alive)]
        tokens = torch.cat([tokens[source_rows], new_tokens[:, None]], dim=-1)
        return tokens, all(len(done) >= self.max_candidates for done in self.finished)

    def finalize(self, tokens: Tensor, sum_logprobs: Tensor) -> tuple[list[list[Tensor]], list[list[float]]]:
        if self.fusion is not None and self.fusion_states:
            # a live hypothesis mid-word is no transcript of the lexicon: finished ones, or those at a
            # word's end, go first
            may_end = torch.tensor([self.fusion.word_may_end(state) for state in self.fusion_states])
            sum_logprobs = sum_logprobs.masked_fill(~may_end.view_as(sum_logprobs), NEG_INF)
        return super().finalize(tokens, sum_logprobs)

    def collect_finished(self, tokens: Tensor, finishing: Tensor, totals: Tensor, sources: Tensor) -> None:
        for audio, position in finishing.nonzero().tolist():
            done = self.finished[audio]
            if len(done) < self.max_candidates:
                row = int(sources[audio, position])
                done[(*tokens[row].tolist(), self.eot)] = float(totals[audio, position])

    def next_token_scores(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """The beam_size + 1 best joint scores of each row's next token, and those tokens."""
        log_probs = F.log_softmax(logits.float(), dim=-1)
        if self.ctc is None and self.fusion is None:
            return log_probs.topk(self.beam_size + 1, dim=-1)
        w = self.ctc_weight
        # the CTC head and the lexicon know text tokens and the end only
        scores = torch.full_like(log_probs, NEG_INF)
        text_and_end = slice(0, self.eot + 1)
        attention = log_probs[:, text_and_end]
        scores[:, text_and_end] = torch.where(attention > NEG_INF, 0.0, NEG_INF) if w == 1 else (1 - w) * attention
        if self.fusion is not None:
            scores[:, text_and_end] += self.fusion_scores(scores.device)
        if self.ctc is None:
            return scores.topk(self.beam_size + 1, dim=-1)
        n_candidates = self.eot + 1 if w == 1 else min(self.pre_beam_size, self.eot + 1)
        pre_scores, pre_tokens = scores.topk(n_candidates, dim=-1)
        prefix = self.ctc_state.prefix_score[:, None]
        ratio = torch.where(prefix > NEG_INF, self.ctc.score(self.ctc_state, pre_tokens) - prefix, NEG_INF)
        top_scores, top = (pre_scores + w * ratio).topk(self.beam_size + 1, dim=-1)
        return top_scores, pre_tokens.gather(1, top)

    def fusion_scores(self, device: torch.device) -> Tensor:
        """[rows, eot + 1]: -inf outside the lexicon, the LM's word score on tokens that end a word."""
        allowed = torch.stack([self.fusion.allowed(state) for state in self.fusion_states])
        word_end, sentence_end = zip(*(self.fusion.scores(state) for state in self.fusion_states))
        bonus = torch.zeros(allowed.shape, dtype=torch.float32)
        bonus[:, :-1] = torch.where(self.fusion.word_starts, torch.tensor(word_end)[:, None], 0.0)
        bonus[:, -1] = torch.tensor(sentence_end)
        return bonus.masked_fill(~allowed, NEG_INF).to(device)
