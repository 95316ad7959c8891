"""The statistics a sweep report rests on: seed means and spreads, and a paired bootstrap on WER.

WER is a corpus rate (all errors over all reference words, as sclite counts it), so a resampled
WER is recomputed from resampled per-utterance counts, never averaged from per-utterance rates.
The bootstrap is paired (Koehn 2004, "Statistical significance tests for machine translation
evaluation"; Bisani & Ney 2004 for ASR): both arms are scored on the same resampled utterances,
so the variation between utterances, which both arms share, cancels out of the difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 in the denominator); nan where undefined.

    One seed gives a mean and a nan spread: there is no spread to show, not a spread of zero.
    """
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@dataclass
class PairedBootstrap:
    """WER of arm B minus WER of arm A on the same utterances, with a percentile interval."""

    difference: float  # on all utterances, as a fraction (0.01 = one WER point)
    low: float
    high: float
    confidence: float
    n_utterances: int
    n_resamples: int

    @property
    def within_noise(self) -> bool:
        return self.low <= 0.0 <= self.high


def paired_bootstrap_wer(errors_a: np.ndarray, words_a: np.ndarray, errors_b: np.ndarray, words_b: np.ndarray,
                         n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> PairedBootstrap:
    """Bootstrap the WER difference B - A by resampling utterances with replacement.

    Arrays are per utterance, aligned by position (utterance i in A is utterance i in B). Each
    resample draws `rng.integers(0, n, n)` from `np.random.default_rng(seed)`, one draw per
    resample in order, and the interval is `np.percentile` of the resampled differences at
    (1 - confidence) / 2 and 1 - (1 - confidence) / 2 (linear interpolation).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (errors_a, words_a, errors_b, words_b)]
    n = len(arrays[0])
    if n == 0 or any(len(a) != n for a in arrays):
        raise ValueError(f"paired bootstrap needs equal, non-empty per-utterance arrays; got lengths "
                         f"{[len(a) for a in arrays]}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    errors_a, words_a, errors_b, words_b = arrays
    rng = np.random.default_rng(seed)
    differences = np.empty(n_resamples)
    for r in range(n_resamples):
        idx = rng.integers(0, n, n)
        differences[r] = _rate(errors_b[idx], words_b[idx]) - _rate(errors_a[idx], words_a[idx])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return PairedBootstrap(_rate(errors_b, words_b) - _rate(errors_a, words_a), float(low), float(high),
                           confidence, n, n_resamples)


def _rate(errors: np.ndarray, words: np.ndarray) -> float:
    total = words.sum()
    # a resample of only empty references has no WER; count its errors against one word
    return float(errors.sum() / max(total, 1.0))
