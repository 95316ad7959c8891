"""The open-class words of the everyday sentences (`lexicon.tsv`) and the picker that spreads them.

A slot asks the `WordPicker` for a word of a pool (say, verbs that take a thing, in the past
tense). Usually it gets a word drawn by its frequency in English (Zipf: weight 1/rank), so common
words stay common; but while a split is still exploring, a share of the slots instead get the
most frequent form of the pool that no sentence has said yet. So a one-hour corpus already says
the thousand most frequent English words, and a longer one works its way down the frequency list,
while the sentences keep the proportions of speech: most words in them are common ones.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .sentences import words_of

LEXICON_FILE = Path(__file__).with_name("lexicon.tsv")
UNRANKED = 10**6  # a form outside wordfreq's list: picked only by frequency, never to cover it

# Noun groups by WordNet lexicographer class: which slots a noun can fill.
NOUN_GROUPS = {
    "person": ("noun.person",),
    "animal": ("noun.animal",),
    "food": ("noun.food", "noun.plant"),
    "thing": ("noun.artifact", "noun.object", "noun.substance", "noun.body"),
    "place": ("noun.location",),
    "group": ("noun.group",),
    "abstract": ("noun.act", "noun.attribute", "noun.cognition", "noun.communication", "noun.event",
                 "noun.feeling", "noun.motive", "noun.phenomenon", "noun.possession", "noun.process",
                 "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.time", "noun.Tops"),
}
# What a transitive verb's object is, by the verb's class ("eat" takes food, "discuss" an abstract noun).
OBJECT_OF_VERB_CLASS = {
    "verb.consumption": "food", "verb.contact": "thing", "verb.change": "thing", "verb.creation": "thing",
    "verb.possession": "thing", "verb.motion": "thing", "verb.body": "thing", "verb.perception": "thing",
    "verb.cognition": "abstract", "verb.communication": "abstract", "verb.stative": "abstract",
    "verb.competition": "abstract", "verb.social": "abstract", "verb.emotion": "abstract",
    "verb.weather": "thing",
}
# Finer: the noun classes a verb's object comes from, by the verb's class ("discuss" a report or an
# idea, "join" a team, "buy" a chair): WordNet's classes of verbs and nouns, paired by hand.
OBJECT_CLASSES = {
    "verb.consumption": ("noun.food",),
    "verb.contact": ("noun.artifact",), "verb.change": ("noun.artifact", "noun.substance"),
    "verb.creation": ("noun.artifact", "noun.communication"), "verb.motion": ("noun.artifact", "noun.animal"),
    "verb.body": ("noun.artifact",), "verb.possession": ("noun.artifact", "noun.possession", "noun.food"),
    "verb.perception": ("noun.artifact", "noun.animal", "noun.event", "noun.phenomenon", "noun.location"),
    "verb.communication": ("noun.communication", "noun.cognition", "noun.act"),
    "verb.cognition": ("noun.cognition", "noun.communication", "noun.attribute", "noun.state"),
    "verb.social": ("noun.act", "noun.group", "noun.possession"),
    "verb.competition": ("noun.act", "noun.event", "noun.group"),
    "verb.emotion": ("noun.act", "noun.artifact", "noun.animal", "noun.food"),
    "verb.stative": ("noun.state", "noun.attribute", "noun.quantity", "noun.possession"),
    "verb.weather": ("noun.artifact",),
}
NOUN_FORMS = ("singular", "plural")
VERB_FORMS = ("base", "third", "past", "participle", "ing")
ADJECTIVE_FORMS = ("base", "comparative", "superlative")


@dataclass(frozen=True)
class Entry:
    pos: str  # n, v, a, r
    cls: str  # WordNet lexicographer class
    flags: str
    forms: tuple[str | None, ...]
    ranks: tuple[int, ...]

    def form(self, name: str) -> str | None:
        names = {"n": NOUN_FORMS, "v": VERB_FORMS, "a": ADJECTIVE_FORMS, "r": ("base",)}[self.pos]
        return self.forms[names.index(name)]

    @property
    def countable(self) -> bool:
        return "m" not in self.flags


def _parse(line: str) -> Entry:
    pos, cls, flags, *cells = line.rstrip("\n").split("\t")
    forms, ranks = [], []
    for cell in cells:
        if cell == "-":
            forms.append(None)
            ranks.append(UNRANKED)
            continue
        form, _, rank = cell.rpartition(":")
        forms.append(form)
        ranks.append(int(rank) if rank != "-" else UNRANKED)
    return Entry(pos, cls, "" if flags == "-" else flags, tuple(forms), tuple(ranks))


@lru_cache(maxsize=1)
def load_lexicon() -> tuple[Entry, ...]:
    lines = LEXICON_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(_parse(line) for line in lines if line and not line.startswith("#"))


def pools(entries: tuple[Entry, ...]) -> dict[str, list[Entry]]:
    """Pool name -> entries: nouns by group, verbs by what follows them, adjectives, adverbs."""
    found: dict[str, list[Entry]] = {name: [] for name in NOUN_GROUPS}
    found.update({name: [] for name in ("proper place", "proper person", "proper", "attributive adjective", "verb intransitive", "verb person", "verb clause", "verb infinitive",
                                        "adjective", "relational adjective", "adverb ly", "adverb")})
    found.update({f"verb {group}": [] for group in set(OBJECT_OF_VERB_CLASS.values())})
    group_of = {cls: group for group, classes in NOUN_GROUPS.items() for cls in classes}
    for entry in entries:
        if entry.pos == "n" and "P" in entry.flags:
            found[{"noun.location": "proper place", "noun.person": "proper person"}.get(entry.cls, "proper")].append(entry)
        elif entry.pos == "n":
            found[group_of[entry.cls]].append(entry)
            found.setdefault(entry.cls, []).append(entry)  # by class, for the objects verbs take
        elif entry.pos == "v":
            if "i" in entry.flags:
                found["verb intransitive"].append(entry)
            if "t" in entry.flags and entry.cls in OBJECT_OF_VERB_CLASS:
                found[f"verb {OBJECT_OF_VERB_CLASS[entry.cls]}"].append(entry)
            if "p" in entry.flags:
                found["verb person"].append(entry)
            if "c" in entry.flags:
                found["verb clause"].append(entry)
            if "f" in entry.flags:
                found["verb infinitive"].append(entry)
        elif entry.pos == "a":
            if entry.cls == "adj.pert":
                found["relational adjective"].append(entry)
            else:
                found["attributive adjective"].append(entry)
                if "A" not in entry.flags:  # "it was former" is not English
                    found["adjective"].append(entry)
        elif entry.pos == "r":
            found["adverb ly" if entry.forms[0].endswith("ly") else "adverb"].append(entry)
    return found


# Sentences for a frequent lexicon form that the slots have not reached yet, by part of speech and form.
FORM_SENTENCES = {
    ("n", "singular"): ["we talked about the {w} for hours.", "nobody mentioned the {w} {past}."],
    ("n", "plural"): ["we talked about {w} for hours.", "{person} knows a lot about {w}."],
    ("v", "base"): ["{person} didn't want to {w}.", "do you {w} often?"],
    ("v", "third"): ["{person} {w} every day.", "it {w} now and then."],
    ("v", "past"): ["{person} {w} {past}.", "they {w} again and again."],
    ("v", "participle"): ["{person} has {w} before.", "it had {w} by then."],
    ("v", "ing"): ["{person} was {w} {past}.", "why are you {w}?"],
    ("a", "base"): ["it was {w}.", "{person} said it was {w}."],
    ("a", "comparative"): ["it's {w} than before.", "the new one is {w}."],
    ("a", "superlative"): ["it's the {w} one.", "that was the {w} of all."],
    ("r", "base"): ["{person} did it {w}.", "{w}, it worked."],
}


def frequent_forms(max_rank: int = 1000) -> list[tuple[str, str]]:
    """(form, sentence template) for the lexicon's forms among English's `max_rank` most frequent
    words, most frequent first."""
    names = {"n": NOUN_FORMS, "v": VERB_FORMS, "a": ADJECTIVE_FORMS, "r": ("base",)}
    found: dict[str, tuple[int, str]] = {}
    for entry in load_lexicon():
        if entry.pos == "a" and "A" in entry.flags:
            continue
        for form, rank, name in zip(entry.forms, entry.ranks, names[entry.pos]):
            if form and rank <= max_rank and form not in found:
                found[form] = (rank, f"{entry.pos} {name}")
    return [(form, key) for form, (rank, key) in sorted(found.items(), key=lambda item: item[1][0])]


class WordPicker:
    """Picks lexicon entries for slots: by frequency, or, while exploring, the most frequent form
    of the pool not yet said. `seen` is shared with the sentence generator, which adds every word
    of every sentence it hands out."""

    def __init__(self, seen: set[str], explore_probability: float = 0.95):
        self.seen = seen
        self.explore_probability = explore_probability
        self.pools = pools(load_lexicon())
        self._by_rank: dict[tuple[str, int], list[Entry]] = {}
        self._next: dict[tuple[str, int], int] = {}
        self._cumulative: dict[tuple[str, int], list[float]] = {}

    def _ordered(self, pool: str, slot: int) -> list[Entry]:
        key = (pool, slot)
        if key not in self._by_rank:
            usable = [e for e in self.pools[pool] if e.forms[slot] is not None]
            usable.sort(key=lambda e: (e.ranks[slot], e.forms[slot]))
            self._by_rank[key] = usable
            total, cumulative = 0.0, []
            for entry in usable:
                total += 1.0 / (min(entry.ranks[slot], min(entry.ranks)) + 20)
                cumulative.append(total)
            self._cumulative[key] = cumulative
            self._next[key] = 0
        return self._by_rank[key]

    def pick(self, pool: str, form: str, rng: random.Random, explore: bool) -> Entry:
        slot = self._slot(pool, form)
        ordered = self._ordered(pool, slot)
        if explore and rng.random() < self.explore_probability:
            key = (pool, slot)
            at = self._next[key]
            while at < len(ordered) and ordered[at].forms[slot] in self.seen:
                at += 1
            self._next[key] = at
            if at < len(ordered) and ordered[at].ranks[slot] < UNRANKED:
                return ordered[at]
        cumulative = self._cumulative[(pool, slot)]
        return ordered[bisect.bisect_left(cumulative, rng.random() * cumulative[-1])]

    def word(self, pool: str, form: str, rng: random.Random, explore: bool) -> str:
        return self.pick(pool, form, rng, explore).form(form)

    @staticmethod
    def _slot(pool: str, form: str) -> int:
        if pool.startswith("verb"):
            return VERB_FORMS.index(form)
        if pool.endswith("adjective"):
            return ADJECTIVE_FORMS.index(form)
        if pool.startswith("adverb"):
            return 0
        return NOUN_FORMS.index(form)


# Among wordfreq's thousand most frequent English words, those a corpus of spoken sentences does
# not say as written: digits (spoken as number words, which the corpus uses), stray letters (pieces
# of "u.s.", "don t", initials), abbreviations read as other words ("mr" is said "mister") and
# internet shorthand, and profanity and sex, which this corpus leaves out.
NOT_SPOKEN_AS_WRITTEN = frozenset("""
0 1 2 3 4 5 6 7 8 9 b c d e f h l m n o p r s t u v w x
u.s uk tv mr dr st co al de re la non etc lol
fuck fucking shit sex
""".split())


def english_coverage(texts, top_n: int = 20000) -> dict:
    """How much English the words of `texts` cover, by wordfreq (needs the `wordfreq` package):
    `mass`, the share of the frequency mass of English's `top_n` words that the texts contain;
    `missing_top_1000`, the thousand most frequent words they lack (less NOT_SPOKEN_AS_WRITTEN);
    `distinct_words`."""
    from wordfreq import top_n_list, word_frequency

    words = {w for text in texts for w in words_of(text)}
    top = top_n_list("en", top_n)
    frequency = {w: word_frequency(w, "en") for w in top}
    mass = sum(frequency[w] for w in top if w in words) / sum(frequency.values())
    missing = [w for w in top[:1000] if w not in words and w not in NOT_SPOKEN_AS_WRITTEN]
    return {"mass": mass, "missing_top_1000": missing, "distinct_words": len(words)}
