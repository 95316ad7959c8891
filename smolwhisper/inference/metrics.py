"""Word and character error rates, and the text normalisations applied before scoring.

Two normalisations, because two communities score differently:

- `normalize_english`: Whisper's English normaliser (Radford et al. 2022, appendix C), as packaged
  by `whisper_normalizer` (a copy of openai/whisper's `normalizers/english.py`): lower case, no
  punctuation, British to American spelling, spelled-out numbers to digits, "Mr." to "mister", and
  hesitations ("um", "uh") removed. This is what Whisper papers and the Open ASR leaderboard report.
- `normalize_gigaspeech`: the official GigaSpeech scoring (SpeechColab/GigaSpeech,
  `utils/gigaspeech_scoring.py`, `asr_text_post_processing`): upper case, hyphens to spaces, and
  the non-scoring words (conversational fillers, <UNK>, punctuation and garbage tags) removed from
  both sides. This is what GigaSpeech results are reported with.

Counting follows sclite: errors = substitutions + deletions + insertions, against the number of
reference words, summed over the corpus before dividing (not a mean of per-utterance rates).
An empty reference (for instance a GigaSpeech `<SIL>` segment after normalisation) adds its
hypothesis words as insertions and nothing to the denominator. A corpus whose references are all
empty has no defined error rate: `wer`/`cer` raise ValueError rather than return a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

from ..data.gigaspeech_tags import GIGASPEECH_GARBAGE_TAGS, GIGASPEECH_PUNCTUATION

# GigaSpeech's non-scoring words, exactly as listed in the official gigaspeech_scoring.py.
GIGASPEECH_FILLERS = ("UH", "UHH", "UM", "EH", "MM", "HM", "AH", "HUH", "HA", "ER", "OOF", "HEE", "ACH", "EEE", "EW")
GIGASPEECH_UNK_TAGS = ("<UNK>", "<unk>")
GIGASPEECH_NON_SCORING = frozenset(
    GIGASPEECH_FILLERS + GIGASPEECH_UNK_TAGS + tuple(GIGASPEECH_PUNCTUATION) + GIGASPEECH_GARBAGE_TAGS
)
_PUNCTUATION_MARKS = "".join(GIGASPEECH_PUNCTUATION.values())

Normalizer = Callable[[str], str]

_english_normalizer = EnglishTextNormalizer()


def normalize_english(text: str) -> str:
    """Whisper's English text normaliser, e.g. "Mr. Smith, uh, paid $20." -> "mister smith paid $20"."""
    return _english_normalizer(text)


def normalize_gigaspeech(text: str, *, strip_punctuation_marks: bool = True) -> str:
    """GigaSpeech's official scoring normalisation (`asr_text_post_processing`).

    With `strip_punctuation_marks` (the default), the marks `, . ? !` at the edges of words are
    removed first: a model trained on GigaSpeech text with its tags mapped to marks emits
    "WORLD," where the reference has "WORLD <COMMA>", and the official script drops the tag, so
    it must drop the mark too. On text without those marks (the official hypothesis format) the
    result is the official script's, character for character.
    """
    words = text.upper().replace("-", " ").split()
    if strip_punctuation_marks:
        words = [word.strip(_PUNCTUATION_MARKS) for word in words]
    return " ".join(word for word in words if word and word not in GIGASPEECH_NON_SCORING)


def _identity(text: str) -> str:
    return text


def error_counts(ref: str, hyp: str, *, normalize: Normalizer | None = None, unit: str = "word") -> tuple[int, int]:
    """(substitutions + deletions + insertions, number of reference units) for one utterance.

    `unit` is "word" or "char"; characters include the spaces between words, as in jiwer's CER.
    Text is scored as given unless `normalize` is passed. An empty reference gives
    (number of hypothesis units, 0).
    """
    normalize = normalize or _identity
    output = _align([normalize(ref)], [normalize(hyp)], unit)
    return output.substitutions + output.deletions + output.insertions, _n_reference(output)


def wer(refs: Sequence[str], hyps: Sequence[str], normalize: Normalizer | None = normalize_english) -> float:
    """Corpus word error rate: all errors over all reference words (`normalize=None` scores raw text)."""
    return _error_rate(refs, hyps, normalize, "word")


def cer(refs: Sequence[str], hyps: Sequence[str], normalize: Normalizer | None = normalize_english) -> float:
    """Corpus character error rate (spaces count as characters), normalised as in `wer`."""
    return _error_rate(refs, hyps, normalize, "char")


def _error_rate(refs: Sequence[str], hyps: Sequence[str], normalize: Normalizer | None, unit: str) -> float:
    if len(refs) != len(hyps):
        raise ValueError(f"got {len(refs)} references but {len(hyps)} hypotheses; they must pair up")
    if not refs:
        raise ValueError("no utterances to score")
    normalize = normalize or _identity
    output = _align([normalize(text) for text in refs], [normalize(text) for text in hyps], unit)
    n_reference = _n_reference(output)
    if n_reference == 0:
        raise ValueError(f"every reference is empty after normalisation, so the {unit} error rate is undefined")
    return (output.substitutions + output.deletions + output.insertions) / n_reference


def _align(refs: list[str], hyps: list[str], unit: str):
    # jiwer 4 accepts empty strings inside the lists and counts them as above
    if unit == "word":
        return jiwer.process_words(refs, hyps)
    if unit == "char":
        return jiwer.process_characters(refs, hyps)
    raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")


def _n_reference(output) -> int:
    return output.hits + output.substitutions + output.deletions
