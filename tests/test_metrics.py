import pytest

from smolwhisper.inference.metrics import cer, error_counts, normalize_english, normalize_gigaspeech, wer


def test_wer_counts_substitutions_deletions_insertions_over_reference_words():
    refs = ["the cat sat on the mat", "hello world"]
    hyps = ["the cat sit on mat", "hello big world"]
    # utterance 1: sat->sit (substitution) and a missing "the" (deletion): 2 errors in 6 words
    assert error_counts(refs[0], hyps[0]) == (2, 6)
    # utterance 2: "big" inserted: 1 error in 2 words
    assert error_counts(refs[1], hyps[1]) == (1, 2)
    # corpus level sums before dividing: 3 / 8, not the mean of 2/6 and 1/2
    assert wer(refs, hyps, normalize=None) == pytest.approx(3 / 8)


def test_cer_counts_characters_including_spaces():
    assert error_counts("abc de", "abd de", unit="char") == (1, 6)
    assert error_counts("ab", "", unit="char") == (2, 2)
    assert cer(["abc de", "ab"], ["abd de", ""], normalize=None) == pytest.approx(3 / 8)


def test_empty_references_add_insertions_only_and_an_all_empty_corpus_is_undefined():
    assert error_counts("", "uh oh") == (2, 0)
    assert wer(["a b", ""], ["a b", "x"], normalize=None) == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="undefined"):
        wer([""], ["x"], normalize=None)
    with pytest.raises(ValueError, match="pair up"):
        wer(["a"], ["a", "b"])


def test_whisper_english_normaliser_is_applied_by_default():
    assert normalize_english("Mr. Smith, uh, paid $20!") == "mister smith paid $20"
    # spelling, numbers, abbreviations, punctuation and hesitations do not count as errors
    refs = ["Mr. Smith has two cats.", "Um, the colour is grey!"]
    hyps = ["mister smith has 2 cats", "the color is gray"]
    assert wer(refs, hyps) == 0.0
    assert wer(refs, hyps, normalize=None) > 0.5


def test_gigaspeech_normalisation_drops_non_scoring_words_like_the_official_script():
    text = "UM <COMMA> STATE-OF-THE-ART <UNK> E-COMMERCE UH HUH <PERIOD>"
    assert normalize_gigaspeech(text) == "STATE OF THE ART E COMMERCE"
    assert normalize_gigaspeech("<SIL>") == ""
    assert normalize_gigaspeech("oof, achoo! ew") == "ACHOO"
    # the marks a model emits for punctuation tags are dropped like the tags; the official script,
    # which expects tags, keeps them (strip_punctuation_marks=False reproduces it exactly)
    assert normalize_gigaspeech("well, really?") == "WELL REALLY"
    assert normalize_gigaspeech("well, really?", strip_punctuation_marks=False) == "WELL, REALLY?"


def test_gigaspeech_wer_hand_computed():
    refs = ["AS THEY'RE LEAVING <COMMA> UM CAN KASH PULL ZAHRA ASIDE REALLY QUICKLY <QUESTIONMARK>", "<SIL>"]
    hyps = ["as they're leaving, uh, can cash pull zara aside really quick?", "hmm"]
    # 10 scoring reference words; KASH/CASH, ZAHRA/ZARA, QUICKLY/QUICK are substitutions, and the
    # <SIL> segment's empty reference makes HMM (not a listed filler; HM is) an insertion: 4 / 10
    assert error_counts(refs[0], hyps[0], normalize=normalize_gigaspeech) == (3, 10)
    assert error_counts(refs[1], hyps[1], normalize=normalize_gigaspeech) == (1, 0)
    assert wer(refs, hyps, normalize=normalize_gigaspeech) == pytest.approx(0.4)
