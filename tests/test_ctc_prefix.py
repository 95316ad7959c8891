"""CTC prefix scores and the CTC prefix beam search against sums over every alignment
(smolwhisper/inference/ctc_prefix.py)."""

import itertools
import math
from collections import defaultdict

import pytest
import torch

from smolwhisper.inference.ctc_prefix import CTCPrefixScorer, ctc_log_likelihoods, ctc_prefix_beam_search

N_CLASSES = 4  # tokens 0, 1, 2 and blank (3)
BLANK = N_CLASSES - 1


def random_log_probs(n_utterances: int, n_frames: int, seed: int, sharpness: float = 1.0) -> torch.Tensor:
    logits = torch.randn(n_utterances, n_frames, N_CLASSES, generator=torch.Generator().manual_seed(seed))
    return (sharpness * logits).log_softmax(dim=-1)


def all_alignments(log_probs: torch.Tensor) -> dict[tuple, float]:
    """log P(y | x) of every label sequence y, by summing over every path of len(log_probs) frames."""
    totals = defaultdict(float)
    for path in itertools.product(range(N_CLASSES), repeat=len(log_probs)):
        collapsed = [c for i, c in enumerate(path) if c != BLANK and (i == 0 or path[i - 1] != c)]
        totals[tuple(collapsed)] += math.exp(sum(log_probs[t, c].item() for t, c in enumerate(path)))
    return {y: math.log(p) for y, p in totals.items() if p > 0}


def prefix_probability(sequences: dict[tuple, float], prefix: tuple) -> float:
    return math.log(sum(math.exp(p) for y, p in sequences.items() if y[:len(prefix)] == prefix))


def test_prefix_scores_equal_sums_over_all_alignments():
    log_probs = random_log_probs(2, 5, seed=0)
    lengths = torch.tensor([5, 4])  # the second utterance's last frame is padding
    eot = 2  # scored as the end of the hypothesis; tokens 0 and 1 are text
    scorer = CTCPrefixScorer(log_probs, lengths, rows_per_utterance=1, eot=eot)
    brute = [all_alignments(log_probs[i, :length]) for i, length in enumerate(lengths.tolist())]
    candidates = torch.tensor([[0, 1, eot]] * 2)

    state, prefixes = scorer.initial_state(), [(), ()]
    for next_tokens in ([0, 1], [0, 0], [1, 0]):  # grow each row's prefix, a repeated token included
        scores = scorer.score(state, candidates)
        for row, prefix in enumerate(prefixes):
            expected = [prefix_probability(brute[row], prefix + (c,)) for c in (0, 1)]
            expected.append(brute[row].get(prefix, -math.inf))  # eot: the whole sequence
            assert scores[row].tolist() == pytest.approx(expected, abs=1e-5)
        state = scorer.advance(state, torch.tensor([0, 1]), torch.tensor(next_tokens))
        prefixes = [p + (t,) for p, t in zip(prefixes, next_tokens)]
        assert state.prefix_score.tolist() == pytest.approx(
            [prefix_probability(brute[row], p) for row, p in enumerate(prefixes)], abs=1e-5)


def test_prefix_scores_of_a_continuation_and_the_end_sum_to_the_prefix_score():
    """psi(g) = P(g) + sum over c of psi(g c): the scores are a next-token distribution."""
    n_classes = 9
    log_probs = torch.randn(1, 40, n_classes, generator=torch.Generator().manual_seed(1)).log_softmax(-1)
    eot = n_classes - 2  # a class the head never emits in training, as in the model
    log_probs[..., eot] = -math.inf
    log_probs = log_probs.log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([40]), 1, eot=eot)
    state = scorer.initial_state()
    for token in (3, 3, 5, 0):
        state = scorer.advance(state, torch.tensor([0]), torch.tensor([token]))
    scores = scorer.score(state, torch.arange(n_classes - 1)[None])
    assert scores.logsumexp(dim=-1).item() == pytest.approx(state.prefix_score.item(), abs=1e-4)


def test_exact_ctc_likelihoods_are_torchs_ctc_loss():
    log_probs = random_log_probs(2, 5, seed=2)
    lengths = torch.tensor([5, 3])
    hypotheses = [[[0, 1], [], [2, 2, 0]], [[1]]]
    scores = ctc_log_likelihoods(log_probs, lengths, hypotheses)
    for i, group in enumerate(hypotheses):
        brute = all_alignments(log_probs[i, :lengths[i]])
        assert scores[i] == pytest.approx([brute.get(tuple(y), -math.inf) for y in group], abs=1e-5)


def test_a_beam_wide_enough_finds_the_exact_n_best():
    log_probs = random_log_probs(2, 5, seed=3)
    lengths = torch.tensor([5, 4])
    found = ctc_prefix_beam_search(log_probs, lengths, beam_size=400, tokens_per_frame=3)
    for i, nbest in enumerate(found):
        brute = all_alignments(log_probs[i, :lengths[i]])
        exact = sorted(brute.items(), key=lambda item: -item[1])[:10]
        assert [tuple(y) for y, _ in nbest[:10]] == [y for y, _ in exact]
        assert [score for _, score in nbest[:10]] == pytest.approx([p for _, p in exact], abs=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_a_narrow_beam_on_peaked_posteriors_still_finds_the_best_path(seed):
    n_classes, n_frames = 12, 30
    logits = torch.randn(3, n_frames, n_classes, generator=torch.Generator().manual_seed(seed)) * 4
    log_probs = logits.log_softmax(-1)
    lengths = torch.tensor([30, 22, 9])
    narrow = ctc_prefix_beam_search(log_probs, lengths, beam_size=4)
    wide = ctc_prefix_beam_search(log_probs, lengths, beam_size=64, tokens_per_frame=n_classes - 1)
    assert [n[0][0] for n in narrow] == [w[0][0] for w in wide]
    exact = ctc_log_likelihoods(log_probs, lengths, [[w[0][0]] for w in wide])
    for (_, kept), (total,) in zip((w[0] for w in wide), exact):  # the alignments a beam keeps: a lower bound
        assert total - 0.5 < kept <= total + 1e-4
