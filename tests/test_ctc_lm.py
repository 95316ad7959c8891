"""CTC decoding with a lexicon and a word n-gram LM (smolwhisper/inference/ctc_lm.py)."""

import json
import math

import pytest
import torch

from smolwhisper.inference.ctc_lm import LexiconDecoder, LexiconSearch, WordNgramLM
from smolwhisper.inference.decoding import ctc_greedy
from smolwhisper.tokenizer import train_bpe

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat ate the fish", "hello all", "café au lait"]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_ngram_probabilities_sum_to_one_in_seen_and_unseen_histories(tmp_path, order):
    lm = WordNgramLM.train(TEXTS, order)
    outcomes = [*lm.words, "</s>"]
    for history in ((), ("the",), ("sat", "on", "the"), ("on", "the"), ("never-seen",), ("cat", "never-seen")):
        assert math.fsum(math.exp(lm.log_prob(history, word)) for word in outcomes) == pytest.approx(1.0)
    assert lm.log_prob(("the",), "zebra") == float("-inf")
    lm.save(tmp_path / "lm.json")
    loaded = WordNgramLM.load(tmp_path / "lm.json")
    assert loaded.order == order and loaded.counts == lm.counts
    assert loaded.log_prob(("on", "the"), "mat") == lm.log_prob(("on", "the"), "mat")


def test_a_trigram_knows_what_a_bigram_cannot_and_old_bigram_files_still_load(tmp_path):
    texts = ["a red cat", "a red cat", "the red cap", "the red cap"]
    bigram, trigram = WordNgramLM.train(texts, 2), WordNgramLM.train(texts, 3)
    assert bigram.log_prob(("a", "red"), "cat") == bigram.log_prob(("a", "red"), "cap")
    assert trigram.log_prob(("a", "red"), "cat") > trigram.log_prob(("a", "red"), "cap")
    # the format of the bigram-only LM that earlier runs saved in their directories
    rows = [[v, w, c] for (v, w), c in bigram.counts[2].items()]
    (tmp_path / "old.json").write_text(json.dumps({"format": "word-bigram-kn", "discount": 0.75, "bigrams": rows}))
    old = WordNgramLM.load(tmp_path / "old.json")
    assert old.order == 2 and old.log_prob(("red",), "cat") == bigram.log_prob(("red",), "cat")


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
    decoder = LexiconDecoder(WordNgramLM.train(TEXTS), tokenizer, LexiconSearch(beam_size=8))
    assert decoder(log_probs[None], lengths) == ["the cat sat on the mat"]


def test_repeated_letters_need_a_blank_between_them_and_accented_words_are_found(tokenizer):
    decoder = LexiconDecoder(WordNgramLM.train(TEXTS), tokenizer, LexiconSearch(beam_size=8))
    for text in (" hello all", " café au lait"):
        log_probs = frames_spelling(tokenizer, text)
        assert decoder(log_probs[None], torch.tensor([len(log_probs)])) == [text.strip()]
    merged = frames_spelling(tokenizer, " helo all")  # one "l" frame: CTC cannot read it as "ll"
    assert decoder(merged[None], torch.tensor([len(merged)])) != ["hello all"]


def test_the_search_scores_words_with_the_whole_ngram_history():
    texts = ["a red cat", "a red cat", "the red cap", "the red cap"]  # a bigram hears "red ca?" alike
    tokenizer = train_bpe(texts, vocab_size=300, min_frequency=100)
    decoder = LexiconDecoder(WordNgramLM.train(texts, 3), tokenizer, LexiconSearch(beam_size=16))
    for first, expected in (("a", "a red cat"), ("the", "the red cap")):
        text = f" {first} red cat"  # its last letter heard as 't' or 'p' at even odds
        log_probs = frames_spelling(tokenizer, text, confusions={len(text) - 1: ("p", 0.45)})
        assert decoder(log_probs[None], torch.tensor([len(log_probs)])) == [expected]


def test_an_open_vocabulary_lm_decodes_a_word_the_transcripts_never_hold(tokenizer, tmp_path):
    from smolwhisper.inference.ctc_lm import train_word_lm

    text = " the cat sat on the rug"  # "rug" is in no training transcript
    assert "rug" not in {w for t in TEXTS for w in t.split()}
    log_probs = frames_spelling(tokenizer, text, confusions={text.index("ug"): ("a", 0.3)})
    lengths = torch.tensor([len(log_probs)])
    closed = LexiconDecoder(WordNgramLM.train(TEXTS), tokenizer, LexiconSearch(beam_size=16))
    assert "rug" not in closed(log_probs[None], lengths)[0]
    lm = train_word_lm(TEXTS, general_words=30_000, general_weight=0.1)  # "rug" ranks about 11,000th
    opened = LexiconDecoder(lm, tokenizer, LexiconSearch(beam_size=16))
    assert opened(log_probs[None], lengths) == ["the cat sat on the rug"]
    outcomes = [*lm.words, "</s>"]  # still a distribution over its words and the end
    assert math.fsum(math.exp(lm.log_prob(("on", "the"), w)) for w in outcomes) == pytest.approx(1.0)
    lm.save(tmp_path / "lm.json")
    assert WordNgramLM.load(tmp_path / "lm.json").log_prob(("the",), "rug") == lm.log_prob(("the",), "rug")
