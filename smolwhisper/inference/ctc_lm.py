"""CTC decoding with a lexicon and a word language model: prefix beam search with shallow fusion.

Best-path CTC decoding (decoding.ctc_greedy) spells each word from the acoustics alone; a small
model trained for minutes gets half the letters right and nearly every word wrong. Searching
instead for the transcript that maximises

    log P_ctc(text | audio) + lm_weight * log P_lm(words) + word_bonus * len(words)

over words of a lexicon is how CTC models are usually scored (the CTC prefix beam search of Hannun
et al. 2014; torchaudio's lexicon decoder, pyctcdecode and ESPnet do the same). Here the lexicon
and the LM, an interpolated Kneser-Ney word n-gram (Chen and Goodman 1998), are learned from the
training transcripts, so nothing but the training split informs them. Words are the transcripts'
whitespace-separated words as the tokenizer sees them (case and punctuation kept); a word outside
the lexicon cannot be produced, unless the LM is opened to general English words (train_word_lm's
general_words, from wordfreq's list) that the lexicon then holds too.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..tokenizer import Tokenizer

WORD_LM_FILE = "word_lm.json"  # where a training run with eval.ctc_lm saves its LM, in the run directory
NEG_INF = float("-inf")
WORD_START = "Ġ"  # how byte-level BPE writes the space that begins a word
SENTENCE_START, SENTENCE_END = "<s>", "</s>"


class WordNgramLM:
    """Interpolated Kneser-Ney n-gram over words (Chen and Goodman 1998, their eq. for interpolated KN):

        P_k(w | h) = max(c_k(h w) - D, 0) / c_k(h .) + D * N1+(h .) / c_k(h .) * P_{k-1}(w | h minus its first word)

    where c_k is the raw count at the highest order and the continuation count N1+(. h w) (the
    distinct words seen before h w) at lower orders, and P_1(w) = N1+(. w) / N1+(. .). A history
    never seen (c_k(h .) = 0) falls through to the lower order. Sentences are padded with order - 1
    <s> and end in </s>."""

    def __init__(self, ngrams: Counter, order: int, discount: float = 0.75,
                 general: dict[str, float] | None = None, general_weight: float = 0.0):
        self.order, self.discount = order, discount
        # Open vocabulary: a unigram distribution over general English words, interpolated with
        # weight general_weight (P = (1 - w) P_kn + w P_general), so that words the training
        # transcripts never hold can still be decoded; the transcripts keep the rest of the mass.
        self.general, self.general_weight = general or {}, general_weight if general else 0.0
        self.counts = {order: ngrams}  # order k -> Counter of k-word tuples
        for k in range(order - 1, 0, -1):
            continuation: Counter = Counter()
            for ngram in self.counts[k + 1]:
                continuation[ngram[1:]] += 1
            self.counts[k] = continuation
        self.history_counts: dict[int, Counter] = {}  # c_k(h .)
        self.history_types: dict[int, Counter] = {}  # N1+(h .)
        for k, counts in self.counts.items():
            totals, types = Counter(), Counter()
            for ngram, count in counts.items():
                totals[ngram[:-1]] += count
                types[ngram[:-1]] += 1
            self.history_counts[k], self.history_types[k] = totals, types
        self.unigram_total = max(sum(self.counts[1].values()), 1)
        self.words = frozenset(w for (w,) in self.counts[1] if w not in (SENTENCE_START, SENTENCE_END)) | set(self.general)

    @classmethod
    def train(cls, texts: Iterable[str], order: int = 3) -> WordNgramLM:
        if order < 1:
            raise ValueError(f"n-gram order must be >= 1, got {order}")
        ngrams: Counter = Counter()
        for text in texts:
            words = [SENTENCE_START] * (order - 1) + text.split() + [SENTENCE_END]
            ngrams.update(tuple(words[i:i + order]) for i in range(len(words) - order + 1))
        if not ngrams:
            raise ValueError("cannot train a word language model on no text")
        return cls(ngrams, order)

    def log_prob(self, history: tuple[str, ...], word: str) -> float:
        """Natural log of P(word | the words before it); -inf for a word never seen (outside the lexicon)."""
        padded = (SENTENCE_START,) * (self.order - 1) + tuple(history)
        probability = self._probability(self.order, padded[len(padded) - self.order + 1:], word)
        if self.general_weight:
            probability = (1 - self.general_weight) * probability + self.general_weight * self.general.get(word, 0.0)
        return math.log(probability) if probability > 0 else NEG_INF

    def with_general_words(self, general: dict[str, float], weight: float) -> WordNgramLM:
        """This LM interpolated with a unigram over `general` words (probabilities summing to 1)."""
        if not 0 < weight < 1:
            raise ValueError(f"general word weight: {weight} must be between 0 and 1 (exclusive)")
        return WordNgramLM(self.counts[self.order], self.order, self.discount, general, weight)

    def _probability(self, k: int, history: tuple[str, ...], word: str) -> float:
        if k == 1:
            return self.counts[1][(word,)] / self.unigram_total
        lower = self._probability(k - 1, history[1:], word)
        seen = self.history_counts[k][history]
        if seen == 0:
            return lower
        discounted = max(self.counts[k][(*history, word)] - self.discount, 0) / seen
        return discounted + self.discount * self.history_types[k][history] / seen * lower

    def save(self, path: str | Path) -> None:
        rows = [[*ngram, count] for ngram, count in sorted(self.counts[self.order].items())]
        partial = Path(f"{path}.partial")  # then renamed: a run killed mid-write never leaves half a file
        saved = {"format": "word-ngram-kn", "order": self.order, "discount": self.discount, "ngrams": rows}
        if self.general:  # the words themselves, so a run decodes with its LM whatever wordfreq is installed
            saved.update(general=self.general, general_weight=self.general_weight)
        partial.write_text(json.dumps(saved))
        partial.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> WordNgramLM:
        saved = json.loads(Path(path).read_text())
        if saved.get("format") == "word-bigram-kn":  # written by runs from before the n-gram LM
            return cls(Counter({(p, w): c for p, w, c in saved["bigrams"]}), 2, saved["discount"])
        if saved.get("format") != "word-ngram-kn":
            raise ValueError(f"{path}: not a word n-gram LM file written by smolwhisper")
        return cls(Counter({tuple(row[:-1]): row[-1] for row in saved["ngrams"]}), saved["order"], saved["discount"],
                   saved.get("general"), saved.get("general_weight", 0.0))


def general_english_words(n_words: int) -> dict[str, float]:
    """The n most frequent English words of wordfreq (shipped with its data: no network), those
    spelt with letters and apostrophes only, with their frequencies renormalised to sum to 1."""
    try:
        import wordfreq
    except ImportError as error:
        raise ImportError("an open-vocabulary word LM needs the wordfreq package (pip install wordfreq)") from error
    words = [w for w in wordfreq.top_n_list("en", n_words) if w.replace("'", "").isalpha()]
    frequencies = [wordfreq.word_frequency(w, "en") for w in words]
    total = math.fsum(frequencies)
    return {w: f / total for w, f in zip(words, frequencies)}


def train_word_lm(texts: Iterable[str], order: int = 3, general_words: int = 0,
                  general_weight: float = 0.1) -> WordNgramLM:
    """The run's word LM: a Kneser-Ney n-gram of the training transcripts, and with general_words > 0
    open to that many general English words at general_weight (general_english_words)."""
    lm = WordNgramLM.train(texts, order)
    return lm.with_general_words(general_english_words(general_words), general_weight) if general_words else lm


class Lexicon:
    """The LM's words as the tokenizer's pieces spell them. Byte-level BPE pieces are byte strings
    in GPT-2's printable alphabet ('Ġ' for a space), so the words are mapped into it too: then a
    word with accents is found from its byte pieces."""

    def __init__(self, lm: WordNgramLM, tokenizer: Tokenizer):
        byte_level = tokenizer.hf.pre_tokenizer
        self.words = {"".join(piece for piece, _ in byte_level.pre_tokenize_str(word)): word for word in lm.words}
        self.prefixes = frozenset(spelling[:i] for spelling in self.words for i in range(1, len(spelling) + 1))
        self.pieces = [tokenizer.hf.id_to_token(token) for token in range(tokenizer.eot)]  # text tokens only


@dataclass(frozen=True)
class LexiconSearch:
    beam_size: int = 32
    lm_weight: float = 0.5
    word_bonus: float = 0.5
    # Only each frame's most likely tokens extend a prefix, and none less likely than this (beam
    # pruning, as pyctcdecode's token_min_logp): most frames are nearly all blank.
    tokens_per_frame: int = 8
    min_token_log_prob: float = -8.0


def _log_add(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))


@dataclass
class _Prefix:
    """A partial transcript: finished words, the word being spelled, and the CTC probabilities of
    the frames so far ending in blank / in its last token (the two cases merge differently)."""

    words: tuple[str, ...]
    spelling: str
    lm_score: float
    last_token: int | None = None
    ends_blank: float = NEG_INF
    ends_token: float = NEG_INF

    def score(self) -> float:
        return _log_add(self.ends_blank, self.ends_token) + self.lm_score


def lexicon_beam_search(log_probs: Tensor, lexicon: Lexicon, lm: WordNgramLM,
                        search: LexiconSearch = LexiconSearch()) -> str:
    """The best transcript of one utterance. log_probs: [frames, n_tokens + 1], blank last."""
    best = lexicon_nbest(log_probs, lexicon, lm, search)
    return best[0] if best else ""


def lexicon_nbest(log_probs: Tensor, lexicon: Lexicon, lm: WordNgramLM,
                  search: LexiconSearch = LexiconSearch()) -> list[str]:
    """The distinct complete transcripts left in the final beam, best first (what attention rescoring reorders)."""
    blank, pieces = log_probs.shape[-1] - 1, lexicon.pieces
    beam = [_Prefix((), "", 0.0, ends_blank=0.0)]
    values, candidates = log_probs.float().topk(min(search.tokens_per_frame, blank + 1), dim=-1)
    blank_probs = log_probs[:, blank].tolist()
    for frame_values, frame_tokens, p_blank in zip(values.tolist(), candidates.tolist(), blank_probs):
        extended: dict[tuple, _Prefix] = {}
        # not blank, nor a special token CTC never emits
        tokens = [(p, token) for p, token in zip(frame_values, frame_tokens)
                  if token < len(pieces) and p >= search.min_token_log_prob]
        for prefix in beam:
            total = _log_add(prefix.ends_blank, prefix.ends_token)
            same = _entry(extended, prefix.words, prefix.spelling, prefix.lm_score, prefix.last_token)
            same.ends_blank = _log_add(same.ends_blank, total + p_blank)
            for p_token, token in tokens:
                if token == prefix.last_token:  # a repeat without a blank between merges into it
                    same.ends_token = _log_add(same.ends_token, prefix.ends_token + p_token)
                    source = prefix.ends_blank
                else:
                    source = total
                grown = _grow(prefix, pieces[token], lexicon, lm, search)
                if grown is None or source == NEG_INF:
                    continue
                entry = _entry(extended, *grown, token)
                entry.ends_token = _log_add(entry.ends_token, source + p_token)
        beam = sorted(extended.values(), key=_Prefix.score, reverse=True)[: search.beam_size]
    return _finish(beam, lexicon, lm, search)


def _entry(extended: dict, words: tuple, spelling: str, lm_score: float, last_token: int | None) -> _Prefix:
    # Keyed by the last token too: CTC's merge rule depends on it, and "ca"+"t" and "c"+"at" spell
    # the same text with different last tokens (as distinct token sequences are distinct prefixes
    # in Hannun et al.'s search).
    key = (words, spelling, last_token)
    if key not in extended:
        extended[key] = _Prefix(words, spelling, lm_score, last_token)
    return extended[key]


def _grow(prefix: _Prefix, piece: str, lexicon: Lexicon, lm: WordNgramLM, search: LexiconSearch) -> tuple | None:
    """The prefix with one more token, or None where it leaves the lexicon."""
    if not piece.startswith(WORD_START):
        spelling = prefix.spelling + piece
        return (prefix.words, spelling, prefix.lm_score) if spelling in lexicon.prefixes else None
    spelling = piece[len(WORD_START):]
    if spelling and spelling not in lexicon.prefixes:
        return None
    if not prefix.spelling:
        return prefix.words, spelling, prefix.lm_score
    word = lexicon.words.get(prefix.spelling)
    if word is None:  # a prefix of a word, not a word
        return None
    word_score = _word_score(prefix.words, word, lm, search)
    return (*prefix.words, word), spelling, prefix.lm_score + word_score


def _word_score(words: tuple[str, ...], word: str, lm: WordNgramLM, search: LexiconSearch) -> float:
    return search.lm_weight * lm.log_prob(words, word) + search.word_bonus


def _finish(beam: Iterable[_Prefix], lexicon: Lexicon, lm: WordNgramLM, search: LexiconSearch) -> list[str]:
    """Close each prefix's last word and the sentence; the complete transcripts, best first."""
    scores: dict[tuple[str, ...], float] = {}
    for prefix in beam:
        words, score = prefix.words, prefix.score()
        if prefix.spelling:
            word = lexicon.words.get(prefix.spelling)
            if word is None:
                continue
            score += _word_score(words, word, lm, search)
            words = (*words, word)
        score += search.lm_weight * lm.log_prob(words, SENTENCE_END)
        if score > scores.get(words, NEG_INF):
            scores[words] = score
    return [" ".join(words) for words in sorted(scores, key=scores.get, reverse=True)]


def lm_score(text: str, lm: WordNgramLM, search: LexiconSearch) -> float:
    """The LM's share of a transcript's score in the lexicon search: lm_weight * log P_lm(words, end)
    + word_bonus per word."""
    words, score = (), 0.0
    for word in text.split():
        score += _word_score(words, word, lm, search)
        words = (*words, word)
    return score + search.lm_weight * lm.log_prob(words, SENTENCE_END)


class LexiconDecoder:
    """Decodes batches of CTC head outputs with one tokenizer, lexicon and LM."""

    def __init__(self, lm: WordNgramLM, tokenizer: Tokenizer, search: LexiconSearch = LexiconSearch()):
        self.lm, self.lexicon, self.search = lm, Lexicon(lm, tokenizer), search

    def __call__(self, log_probs: Tensor, lengths: Tensor) -> list[str]:
        """One transcript per row of log_probs [B, T, n_vocab + 1] (blank last), lengths [B]."""
        return [nbest[0] if nbest else "" for nbest in self.nbest(log_probs, lengths)]

    def nbest(self, log_probs: Tensor, lengths: Tensor) -> list[list[str]]:
        """Each row's distinct transcripts in the final beam, best first."""
        rows = log_probs.detach().float().cpu()
        return [lexicon_nbest(row[: int(length)], self.lexicon, self.lm, self.search)
                for row, length in zip(rows, lengths.tolist())]

    def lm_score(self, text: str) -> float:
        return lm_score(text, self.lm, self.search)

    @functools.cached_property
    def fusion(self) -> LexiconFusion:
        """The same lexicon and LM for a token-by-token (label-synchronous) search."""
        return LexiconFusion(self.lexicon, self.lm, self.search)


# ---------------------------------------------------------------------------------------------
# Shallow fusion in a search that grows hypotheses token by token (smolwhisper/inference/joint_decoding.py):
# the same lexicon and word scores as the frame-synchronous search above, as a mask of the tokens
# each hypothesis may take next and the LM score that a token ending a word adds.

@dataclass(frozen=True)
class FusionState:
    words: tuple[str, ...] = ()  # finished words
    spelling: str = ""  # the word being spelled, in the tokenizer's byte alphabet


class LexiconFusion:
    def __init__(self, lexicon: Lexicon, lm: WordNgramLM, search: LexiconSearch):
        self.lexicon, self.lm, self.search = lexicon, lm, search
        pieces = lexicon.pieces
        self.n_text_tokens = len(pieces)  # text tokens are the ids below end-of-text
        self.continuing = [(token, piece) for token, piece in enumerate(pieces) if not piece.startswith(WORD_START)]
        # tokens that begin a word of the lexicon (after a space): allowed wherever a word may end
        self.word_starts = torch.tensor([piece.startswith(WORD_START) and (piece == WORD_START or piece[1:] in lexicon.prefixes)
                                         for piece in pieces])
        self._masks: dict[str, Tensor] = {}

    def allowed(self, state: FusionState) -> Tensor:
        """Bool [n_text_tokens + 1] of the tokens that keep the hypothesis in the lexicon; the last
        entry is end-of-text."""
        if state.spelling not in self._masks:
            mask = torch.zeros(self.n_text_tokens + 1, dtype=torch.bool)
            grown = [token for token, piece in self.continuing if state.spelling + piece in self.lexicon.prefixes]
            mask[torch.tensor(grown, dtype=torch.long)] = True
            if self.word_may_end(state):
                mask[:-1] |= self.word_starts
                mask[-1] = True
            self._masks[state.spelling] = mask
        return self._masks[state.spelling]

    def word_may_end(self, state: FusionState) -> bool:
        return not state.spelling or state.spelling in self.lexicon.words

    def scores(self, state: FusionState) -> tuple[float, float]:
        """What a token that starts the next word adds, and what end-of-text adds (the last word and
        the sentence end); -inf where the word being spelled is not a word yet."""
        if not self.word_may_end(state):
            return NEG_INF, NEG_INF
        words, word_score = state.words, 0.0
        if state.spelling:
            word = self.lexicon.words[state.spelling]
            word_score = _word_score(words, word, self.lm, self.search)
            words = (*words, word)
        return word_score, word_score + self.search.lm_weight * self.lm.log_prob(words, SENTENCE_END)

    def advance(self, state: FusionState, token: int) -> FusionState:
        piece = self.lexicon.pieces[token]
        if not piece.startswith(WORD_START):
            return FusionState(state.words, state.spelling + piece)
        words = (*state.words, self.lexicon.words[state.spelling]) if state.spelling else state.words
        return FusionState(words, piece[len(WORD_START):])
