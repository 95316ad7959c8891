"""Training examples made of several consecutive utterances of one speaker (data.concat_s).

A corpus of one sentence per utterance teaches a decoder that a sentence's full stop is the end of
the transcript. Whisper, and a model fine-tuned from it, then stops after the first sentence of real,
multi-sentence speech: the long-form check (eval.real_speech) loses everything after it. Joining
utterances of one voice, with a short pause between them, into examples of up to data.concat_s
seconds keeps the transcript running past a full stop (Whisper's own training data are 30 s windows of
long-form speech; fine-tuning recipes for it pack short utterances the same way).

The grouping is fixed (seed 0, not the run's seed), so every trial of a sweep reads the same examples
and shares one feature or encoder-state cache of them. The target length of each group is drawn
uniformly up to concat_s, so single utterances and every length between stay in the mix. Utterances
whose source names no speaker are pooled together (joined across voices, as they are listed in no
particular order). An example with one unreadable member is skipped whole, under that member's reason.
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np

from ..audio import SAMPLE_RATE
from .base import Entry, SpeechDataset

PAUSE_S = (0.2, 0.6)  # silence between two joined utterances, drawn per join
GROUPING_SEED = 0


class ConcatenatedSplit(SpeechDataset):
    """`dataset`'s utterances joined, per speaker, into examples of at most `concat_s` seconds."""

    def __init__(self, dataset: SpeechDataset, concat_s: float):
        self.base, self.concat_s = dataset, concat_s
        self.groups, self.pauses = plan_groups(dataset.entries, concat_s)
        entries = [joined_entry([dataset.entries[i] for i in group], pauses)
                   for group, pauses in zip(self.groups, self.pauses)]
        super().__init__(entries, dataset.name, max_duration_s=dataset.max_duration_s, skipped=dataset.skipped)

    @property
    def identity(self) -> list:
        """What the feature and encoder-state caches' fingerprints add: the members' files and the plan
        (computed when a cache asks: it reads every member file's size and time)."""
        from .features import fingerprint

        return [fingerprint(self.base, n_mels=0), self.concat_s, PAUSE_S, GROUPING_SEED]

    def load_audio(self, index: int) -> np.ndarray:
        parts = []
        for position, member in enumerate(self.groups[index]):
            if position:
                parts.append(np.zeros(round(self.pauses[index][position - 1] * SAMPLE_RATE), np.float32))
            parts.append(self.base.load_audio(member))
        return np.concatenate(parts)


def plan_groups(entries: list[Entry], concat_s: float) -> tuple[list[list[int]], list[list[float]]]:
    """Indices of `entries` per example, and the pauses between them: each speaker's utterances in a
    seeded order, packed greedily up to a target length drawn uniformly in (0, concat_s]."""
    rng = random.Random(GROUPING_SEED)
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(entries):
        by_speaker[entry.speaker or ""].append(index)
    groups, pauses = [], []
    for speaker in sorted(by_speaker):
        order = by_speaker[speaker]
        rng.shuffle(order)
        group, gaps, length, target = [], [], 0.0, rng.uniform(0, concat_s)
        for index in order:
            gap = rng.uniform(*PAUSE_S)
            if group and length + gap + entries[index].duration_s > target:
                groups.append(group)
                pauses.append(gaps)
                group, gaps, length, target = [], [], 0.0, rng.uniform(0, concat_s)
            if group:
                gaps.append(gap)
                length += gap
            group.append(index)
            length += entries[index].duration_s
        groups.append(group)
        pauses.append(gaps)
    return groups, pauses


def joined_entry(members: list[Entry], pauses: list[float]) -> Entry:
    first = members[0]
    identifier = first.id if len(members) == 1 else f"{first.id}+{len(members) - 1}"
    return Entry(identifier, " ".join(member.text for member in members),
                 sum(member.duration_s for member in members) + sum(pauses), first.speaker,
                 all(member.duration_measured for member in members))
