"""CTC decoding with a lexicon and a word bigram LM (smolwhisper/ctc_lm.py)."""

import math

import pytest
import torch

from smolwhisper.ctc_lm import LexiconDecoder, LexiconSearch, WordBigramLM
from smolwhisper.decoding import ctc_greedy
from smolwhisper.tokenizer import train_bpe

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat ate the fish", "hello all", "café au lait"]


def test_bigram_probabilities_sum_to_one_in_seen_and_unseen_contexts(tmp_path):
    lm = WordBigramLM.train(TEXTS)
    outcomes = [*lm.words, "</s>"]
    for context in ("the", "<s>", "sat", "never-seen"):
        assert math.fsum(math.exp(lm.log_prob(context, word)) for word in outcomes) == pytest.approx(1.0)
    assert lm.log_prob("the", "zebra") == float("-inf")
    lm.save(tmp_path / "lm.json")
    loaded = WordBigramLM.load(tmp_path / "lm.json")
    assert loaded.bigrams == lm.bigrams and loaded.log_prob("the", "cat") == lm.log_prob("the", "cat")


def frames_spelling(tokenizer, text: str, confusions: dict[int, tuple[str, float]] = {}) -> torch.Tensor:
    """CTC log-probs [frames, n_vocab + 1] that spell `text` byte by byte, one token frame then one
    blank frame each; confusions[i] = (other byte, its probability) at the i-th byte of the text."""
    byte_tokens = [tokenizer.hf.token_to_id(piece) for piece, _ in tokenizer.hf.pre_tokenizer.pre_tokenize_str(text)
                   for piece in piece]
    blank = tokenizer.n_vocab
    probs = torch.full((2 * len(byte_tokens), tokenizer.n_vocab + 1), 1e-4)
    for i, token in enumerate(byte_tokens):
        probs[2 * i, token] = 0.9
        if i in confusions:
            other, p = confusions[i]
            probs[2 * i, tokenizer.hf.token_to_id(other)] = p
            probs[2 * i, token] = 0.9 - p
        probs[2 * i + 1, blank] = 0.9
    return (probs / probs.sum(dim=-1, keepdim=True)).log()


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(TEXTS, vocab_size=300, min_frequency=100)  # bytes only: every piece is one byte


def test_lexicon_search_corrects_a_word_that_best_path_decoding_misspells(tokenizer):
    text = " the cat sat on the mat"
    log_probs = frames_spelling(tokenizer, text, confusions={text.index("t on"): ("d", 0.5)})
    lengths = torch.tensor([len(log_probs)])
    assert ctc_greedy(tokenizer, log_probs[None], lengths) == ["the cat sad on the mat"]
    decoder = LexiconDecoder(WordBigramLM.train(TEXTS), tokenizer, LexiconSearch(beam_size=8))
    assert decoder(log_probs[None], lengths) == ["the cat sat on the mat"]


def test_repeated_letters_need_a_blank_between_them_and_accented_words_are_found(tokenizer):
    decoder = LexiconDecoder(WordBigramLM.train(TEXTS), tokenizer, LexiconSearch(beam_size=8))
    for text in (" hello all", " café au lait"):
        log_probs = frames_spelling(tokenizer, text)
        assert decoder(log_probs[None], torch.tensor([len(log_probs)])) == [text.strip()]
    merged = frames_spelling(tokenizer, " helo all")  # one "l" frame: CTC cannot read it as "ll"
    assert decoder(merged[None], torch.tensor([len(merged)])) != ["hello all"]
