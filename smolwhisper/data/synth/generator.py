"""The sentence generator the corpus planner draws from: everyday sentences over the frequent English
words (frames.py, everyday.py), a share of the scenes of sentences.py (shopping, travel, schedules,
prices), and, while exploring, sentences that make sure the most frequent words get said."""

from __future__ import annotations

import random
import re

from .everyday import Grammar
from .frames import everyday_sentence
from .grammar import CLOSED_CLASS_SENTENCES, MORE_CONTRACTION_SENTENCES
from .sentences import FRAMES, Lexicon, words_of
from .vocabulary import FORM_SENTENCES, WordPicker, frequent_forms

_FRAME_FUNCTIONS = [frame for frame, _ in FRAMES]
# Of the sentences, the share from sentences.py's scenes; the rest are everyday sentences (`frames`).
SCENE_SHARE = 0.05
# While exploring, the share of sentences that say the first word of `priority` not yet said.
CLOSED_CLASS_SHARE = 0.15
_FRAME_WEIGHTS = [weight for _, weight in FRAMES]


class SentenceGenerator:
    """Random English sentences: everyday sentences over the frequent English words (`frames`), and
    a share of sentences.py's scenes (shopping, travel, schedules, prices).

    `sentence(rng, explore)` depends on the random state and on the words said so far (`seen`):
    while `explore` is on, part of the slots go to the most frequent words not yet said (see
    `vocabulary.WordPicker`), so the planner turns it on for the training split only."""

    def __init__(self, min_words: int = 4, max_words: int = 24, scene_share: float = SCENE_SHARE):
        self.lexicon = Lexicon()
        self.min_words, self.max_words = min_words, max_words
        self.scene_share = scene_share
        self.seen: set[str] = set()
        self.grammar = Grammar(WordPicker(self.seen), self.lexicon)
        # The words to say soon: closed-class words with their sentences, then the lexicon's forms
        # among the thousand most frequent English words, with a sentence for their part of speech,
        # then the rarer contractions.
        self.priority = [*CLOSED_CLASS_SENTENCES.items(),
                         *((form, FORM_SENTENCES[tuple(key.split())]) for form, key in frequent_forms()),
                         *MORE_CONTRACTION_SENTENCES.items()]

    def sentence(self, rng: random.Random, explore: bool = True) -> str:
        self.grammar.explore = explore
        priority = next((item for item in self.priority if item[0] not in self.seen), None) if explore else None
        for _ in range(100):
            if priority and rng.random() < CLOSED_CLASS_SHARE:
                text = self.grammar.fill(rng.choice(priority[1]).replace("{w}", priority[0]), rng)
                body, punctuation = text[:-1], text[-1]
            elif rng.random() < self.scene_share:
                frame = rng.choices(_FRAME_FUNCTIONS, weights=_FRAME_WEIGHTS)[0]
                body, punctuation = frame(self.lexicon, rng)
            else:
                body, punctuation = everyday_sentence(self.grammar, rng)
            body = re.sub(r"\s+", " ", body).strip().replace(" ,", ",")
            if self.min_words <= len(body.split()) <= self.max_words:
                self.seen.update(words_of(body))
                return body + punctuation
        raise RuntimeError(f"no sentence of {self.min_words}..{self.max_words} words in 100 draws")
