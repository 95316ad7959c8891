"""CTC prefix probabilities: the scorer a label-synchronous (joint) beam search asks at every token,
and the frame-synchronous CTC prefix beam search whose n-best attention rescoring reorders.

Notation of Graves (2008, ch. 7) and Watanabe et al. (2017, Algorithm 2): x_t(k) is the CTC head's
log-probability of class k at frame t (blank last); for a prefix g, r^n_t(g) and r^b_t(g) are the
log-probabilities that frames 1..t spell g and end in its last token (n) or in blank (b). The prefix
probability of h = g + c sums, over the frame t where c is first emitted,

    psi(h) = sum_t phi_{t-1}(g, c) x_t(c),   phi_t(g, c) = r^b_t(g) + (r^n_t(g) if c != last(g) else 0)

(in probability space), and the end of the hypothesis scores r^n_T(g) + r^b_T(g) = P_ctc(g | x). The
prefix probabilities of all continuations of g (end included) sum to psi(g), so psi(h) / psi(g) is a
next-token distribution that the search mixes with the attention decoder's (ESPnet's CTCPrefixScore).

ESPnet runs the forward recursion over t in a Python loop. Both recursions are first-order linear
in probability space, r^n_t(h) = (r^n_{t-1}(h) + phi_{t-1}) e^{x_t(c)}, so with X_t = sum_{s<=t} x_s(c)
they have the closed form r^n_t(h) = X_t + logcumsumexp_{tau<=t}(phi_{tau-1} - X_{tau-1}): here the
time loop is a cumulative sum, vectorised over hypotheses and utterances.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

NEG_INF = float("-inf")
# Stand-in for log 0 in the CTC log-probs: keeps the cumulative sums finite, and exp(-1e4) is 0 in any
# precision. The cumulative sums run in float64: X_t reaches -1e4 x frames.
LOG_PROB_FLOOR = -1e4
# Bound on the [hypotheses, candidates, frames] block scored at once (elements), for full-vocabulary scoring.
SCORE_BLOCK = 1 << 24


@dataclass
class PrefixState:
    """The CTC forward variables of one prefix per row (hypothesis)."""

    r: Tensor  # [rows, 2, frames + 1] float32: log r^n, log r^b after frames 0..T (0: before the first)
    prefix_score: Tensor  # [rows] log psi(prefix); 0 for the empty prefix
    last: Tensor  # [rows] last token of the prefix, -1 when empty


class CTCPrefixScorer:
    """Prefix scores of hypotheses over a batch of utterances, each utterance's hypotheses in
    `rows_per_utterance` consecutive rows (a beam)."""

    def __init__(self, log_probs: Tensor, lengths: Tensor, rows_per_utterance: int, eot: int):
        """log_probs [B, T, n_tokens + 1] (blank last, model.ctc_log_probs), lengths [B] valid frames;
        `eot` is the token that ends a hypothesis (scored with the whole-sequence probability)."""
        self.x = log_probs.float().clamp(min=LOG_PROB_FLOOR)  # [B, T, C]
        self.blank, self.eot = log_probs.shape[-1] - 1, eot
        device = log_probs.device
        self.utterance = torch.arange(len(log_probs), device=device).repeat_interleave(rows_per_utterance)
        self.lengths = lengths.to(device).long()[self.utterance]  # [rows]
        n_frames = log_probs.shape[1]
        self.frame_valid = torch.arange(n_frames, device=device)[None, :] < self.lengths[:, None]  # [rows, T]
        self.blank_sums = _cumulative(self.x[self.utterance, :, self.blank])  # [rows, T + 1] float64

    def initial_state(self) -> PrefixState:
        """The empty prefix in every row: r^b_t = the blanks of frames 1..t, r^n = 0."""
        rows = len(self.utterance)
        r_blank = self.blank_sums.float()
        r = torch.stack([torch.full_like(r_blank, NEG_INF), r_blank], dim=1)
        return PrefixState(r, torch.zeros(rows, device=r.device), torch.full((rows,), -1, device=r.device))

    def score(self, state: PrefixState, tokens: Tensor) -> Tensor:
        """log psi(prefix + token) [rows, K] for candidate tokens [rows, K]; for `eot`, log P_ctc(prefix)."""
        rows, n_frames = self.frame_valid.shape
        block = max(1, SCORE_BLOCK // max(rows * n_frames, 1))
        return torch.cat([self._score(state, tokens[:, i:i + block]) for i in range(0, tokens.shape[1], block)], 1)

    def _score(self, state: PrefixState, tokens: Tensor) -> Tensor:
        x_token = self.x[self.utterance[:, None], :, tokens]  # [rows, K, T]
        phi = self._phi(state, tokens)[..., :-1]  # [rows, K, T]: phi_{t-1} for frames t = 1..T
        emit = (phi + x_token).masked_fill(~self.frame_valid[:, None, :], NEG_INF)
        psi = emit.logsumexp(dim=-1)
        end = state.r.gather(2, self.lengths[:, None, None].expand(-1, 2, 1)).squeeze(2)
        end = torch.logaddexp(end[:, 0], end[:, 1])
        return torch.where(tokens == self.eot, end[:, None], psi)

    def _phi(self, state: PrefixState, tokens: Tensor) -> Tensor:
        """phi_t(g, c) [rows, K, T + 1]: a repeat of g's last token needs a blank between the two."""
        r_token, r_blank = state.r[:, 0, None, :], state.r[:, 1, None, :]
        repeat = (tokens == state.last[:, None])[..., None]
        return torch.logaddexp(r_blank, torch.where(repeat, NEG_INF, r_token))

    def advance(self, state: PrefixState, source_rows: Tensor, tokens: Tensor) -> PrefixState:
        """The state of each row's new prefix: row `source_rows[i]`'s prefix followed by `tokens[i]`."""
        source = PrefixState(state.r[source_rows], state.prefix_score[source_rows], state.last[source_rows])
        phi = self._phi(source, tokens[:, None])[:, 0, :-1].double()  # [rows, T]
        x_token = _cumulative(self.x[self.utterance, :, tokens])  # X_t, [rows, T + 1]
        dead = torch.full_like(x_token[:, :1], NEG_INF)
        r_token = torch.cat([dead, x_token[:, 1:] + torch.logcumsumexp(phi - x_token[:, :-1], dim=-1)], dim=1)
        r_blank = torch.cat([dead, self.blank_sums[:, 1:]
                             + torch.logcumsumexp(r_token[:, :-1] - self.blank_sums[:, :-1], dim=-1)], dim=1)
        psi = self._score(source, tokens[:, None])[:, 0]
        return PrefixState(torch.stack([r_token, r_blank], dim=1).float(), psi, tokens.clone())


def _cumulative(log_probs: Tensor) -> Tensor:
    """[rows, T] -> [rows, T + 1] float64 sums over frames 1..t (0 at t = 0)."""
    return F.pad(log_probs.double().cumsum(dim=-1), (1, 0))


def ctc_log_likelihoods(log_probs: Tensor, lengths: Tensor, hypotheses: list[list[list[int]]]) -> list[list[float]]:
    """log P_ctc(y | x), summed over all alignments (torch's CTC loss), of each utterance's hypotheses."""
    scores = [[0.0] * len(group) for group in hypotheses]
    blank = log_probs.shape[-1] - 1
    inputs = log_probs.float().transpose(0, 1)  # [T, B, C], as F.ctc_loss takes it
    for rank in range(max((len(group) for group in hypotheses), default=0)):
        # one call per n-best rank, over the batch: no copy of the log-probs per hypothesis
        rows = [i for i, group in enumerate(hypotheses) if rank < len(group)]
        targets = [torch.tensor(hypotheses[i][rank], dtype=torch.long) for i in rows]
        target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
        index = torch.tensor(rows, device=log_probs.device)
        losses = F.ctc_loss(inputs.index_select(1, index), torch.cat(targets).to(log_probs.device)
                            if targets else torch.zeros(0, dtype=torch.long), lengths.index_select(0, index),
                            target_lengths.to(log_probs.device), blank=blank, reduction="none")
        for i, loss in zip(rows, losses.tolist()):
            scores[i][rank] = -loss
    return scores


# ---------------------------------------------------------------------------------------------
# Frame-synchronous CTC prefix beam search (Hannun et al. 2014; WeNet's ctc_prefix_beam_search),
# vectorised over utterances and beams: at every frame each prefix stays (blank, or a repeat of its
# last token) or grows by one of the frame's most likely tokens, and prefixes that spell the same
# tokens merge. A grown prefix can only equal a prefix already in the beam whose parent it is, so
# the merge is a parent test between beam rows, not a dictionary.

def ctc_prefix_beam_search(log_probs: Tensor, lengths: Tensor, beam_size: int,
                           tokens_per_frame: int = 8) -> list[list[tuple[list[int], float]]]:
    """The n-best token sequences (best first, up to beam_size) of each utterance, with the log
    probability their beam kept (a lower bound of log P_ctc). log_probs [B, T, n_tokens + 1], blank last."""
    n_utterances, n_frames, n_classes = log_probs.shape
    blank, width = n_classes - 1, beam_size
    device = log_probs.device
    x = log_probs.float()
    k = min(tokens_per_frame, blank)
    p_blank = torch.full((n_utterances, width), NEG_INF, device=device)
    p_blank[:, 0] = 0.0
    p_token = torch.full_like(p_blank, NEG_INF)
    sequences = torch.full((n_utterances, width, 0), -1, dtype=torch.long, device=device)
    seq_lengths = torch.zeros((n_utterances, width), dtype=torch.long, device=device)
    lengths = lengths.to(device)
    for t in range(int(lengths.max()) if n_utterances else 0):
        state = _frame_step(x[:, t], p_blank, p_token, sequences, seq_lengths, k, width)
        active = (t < lengths)[:, None]
        p_blank = torch.where(active, state[0], p_blank)
        p_token = torch.where(active, state[1], p_token)
        new_sequences, new_lengths = state[2], state[3]
        if new_sequences.shape[2] > sequences.shape[2]:
            sequences = F.pad(sequences, (0, 1), value=-1)
        sequences = torch.where(active[..., None], new_sequences, sequences)
        seq_lengths = torch.where(active, new_lengths, seq_lengths)
    totals = torch.logaddexp(p_blank, p_token)
    order = totals.argsort(dim=1, descending=True)
    results = []
    for row, ranks, sequence_rows, length_row in zip(totals.tolist(), order.tolist(), sequences.tolist(),
                                                     seq_lengths.tolist()):
        results.append([(sequence_rows[j][:length_row[j]], row[j]) for j in ranks if row[j] > NEG_INF])
    return results


def _frame_step(x_t: Tensor, p_blank: Tensor, p_token: Tensor, sequences: Tensor, seq_lengths: Tensor,
                k: int, width: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    blank = x_t.shape[-1] - 1
    total = torch.logaddexp(p_blank, p_token)  # [B, W]
    alive = total > NEG_INF
    last = sequences.gather(2, (seq_lengths - 1).clamp(min=0)[..., None]).squeeze(2) if sequences.shape[2] else \
        torch.full_like(seq_lengths, -1)
    last = torch.where(seq_lengths > 0, last, -1)
    x_last = x_t.gather(1, last.clamp(min=0)).masked_fill(last < 0, NEG_INF)

    # the prefix stays: a blank, or its last token once more
    stay_blank = total + x_t[:, blank, None]
    stay_token = p_token + x_last

    # prefix j is prefix i grown by last(j): what i adds to j at this frame
    parent_of = sequences.scatter(2, (seq_lengths - 1).clamp(min=0)[..., None], -1) if sequences.shape[2] else sequences
    is_parent = ((parent_of[:, :, None, :] == sequences[:, None, :, :]).all(dim=-1)
                 & (seq_lengths[:, :, None] == seq_lengths[:, None, :] + 1)
                 & alive[:, :, None] & alive[:, None, :])  # [B, j, i]
    from_parent = torch.where(last[:, :, None] == last[:, None, :], p_blank[:, None, :], total[:, None, :])
    # beam prefixes are distinct, so j has one parent at most: a max, not a log-sum (and a max does
    # not stall on a busy CPU as torch's small reductions over threads do)
    from_parent = from_parent.masked_fill(~is_parent, NEG_INF).amax(dim=2) + x_last
    stay_token = torch.logaddexp(stay_token, from_parent)

    # grow by one of the frame's k most likely tokens, unless that prefix is already in the beam
    top_log_probs, top_tokens = x_t[:, :blank].topk(k, dim=-1)  # [B, k]
    repeat = top_tokens[:, None, :] == last[:, :, None]  # [B, W, k]
    grow = torch.where(repeat, p_blank[..., None], total[..., None]) + top_log_probs[:, None, :]
    exists = (is_parent[..., None] & (last[:, :, None, None] == top_tokens[:, None, None, :])).any(dim=1)
    grow = grow.masked_fill(exists, NEG_INF)

    candidates_blank = torch.cat([stay_blank, torch.full_like(grow.flatten(1), NEG_INF)], dim=1)
    candidates_token = torch.cat([stay_token, grow.flatten(1)], dim=1)
    best = torch.logaddexp(candidates_blank, candidates_token).topk(width, dim=1).indices  # [B, W]
    grown = best >= width
    source = torch.where(grown, (best - width) // k, best)
    token = torch.where(grown, top_tokens.gather(1, ((best - width) % k).clamp(min=0)), -1)

    new_lengths = seq_lengths.gather(1, source) + grown.long()
    new_sequences = sequences.gather(1, source[..., None].expand(-1, -1, sequences.shape[2]))
    if grown.any():
        if int(new_lengths.max()) > new_sequences.shape[2]:
            new_sequences = F.pad(new_sequences, (0, 1), value=-1)
        position = torch.arange(new_sequences.shape[2], device=x_t.device)
        write = grown[..., None] & (position == (new_lengths - 1)[..., None])
        new_sequences = torch.where(write, token[..., None], new_sequences)
    return (candidates_blank.gather(1, best), candidates_token.gather(1, best), new_sequences, new_lengths)
