"""Everyday English: sentences built by a small grammar over the lexicon of frequent English words.

A clause is a subject, a verb phrase in one of English's tenses and aspects (present, past,
future, going to, perfect, progressive, modals), affirmative or negative, as a statement or a
question, with contractions where speech has them ("she's", "didn't", "they'll"); around it come
objects, adverbials of time and place, subordinate clauses (because, although, if, unless, ...),
reported speech, relative clauses, comparisons, quantities, names and numbers. The words come from
`vocabulary.WordPicker`, so the corpus works its way through the frequent English words.

Everything is a function of the generator's random state and the words already said.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .sentences import (DAYS, HE_NAMES, MONTHS, SEASONS, Lexicon, number_to_words, small_count,
                        with_indefinite_article, year_to_words)
from .vocabulary import OBJECT_CLASSES, WordPicker

# Verbs of state: never in the progressive ("she is knowing" is not English).
STATIVE = {"know", "want", "like", "love", "hate", "need", "believe", "seem", "belong", "own", "prefer", "mean",
           "understand", "contain", "consist", "deserve", "matter", "owe", "possess", "recognize", "suppose",
           "realize", "include", "cost", "exist", "appear", "resemble", "remember", "forget", "see", "hear",
           "involve", "depend", "equal", "lack", "weigh", "fit", "concern", "require"}
TELLS_SOMEONE = {"tell", "inform", "remind", "assure", "convince", "warn", "notify", "persuade", "teach", "show"}
PLURAL_NOUNS = {"people", "police", "cattle", "clothes", "staff", "folks", "jeans", "trousers", "scissors"}
BE = {"i": ("am", "was"), "you": ("are", "were"), "we": ("are", "were"), "they": ("are", "were")}
NEGATIVE = {"is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "do": "don't", "does": "doesn't",
            "did": "didn't", "have": "haven't", "has": "hasn't", "had": "hadn't", "will": "won't", "would": "wouldn't",
            "can": "can't", "could": "couldn't", "should": "shouldn't", "must": "mustn't", "might": "might not",
            "may": "may not", "am": "am not"}
SHORT_AUX = {"am": "'m", "are": "'re", "is": "'s", "have": "'ve", "has": "'s", "had": "'d", "will": "'ll",
             "would": "'d"}
GENERIC_ABSTRACT_HEADS = ("problem", "question", "issue", "reason", "decision", "matter", "point", "change",
                          "tradition", "debate", "interest", "view", "history", "system", "project")
UNIVERSAL_ADJECTIVES = ("new", "old", "whole", "same", "main", "real", "other", "big", "small", "first", "last",
                        "next", "only", "good", "bad", "right", "wrong", "important", "different", "strange")
PLURAL_DETERMINERS = ["some", "a few", "several", "many", "a lot of", "lots of", "no", "two", "three", "fewer",
                      "more", "such", "any", "most", "a million", "thousands of", "hundreds of", "dozens of", "other",
                      "all the", "both", "enough", "various", "certain"]
PLACE_PREPOSITIONS = ("at", "near", "in", "outside", "behind", "from", "by", "across", "around", "inside", "beyond",
                      "along", "towards", "toward", "within", "past", "through", "into", "onto", "above", "below",
                      "under", "against", "underneath", "beside", "throughout", "opposite", "over", "off", "up",
                      "down", "out of", "next to", "in front of", "close to", "far from", "on top of", "via", "upon")
PARTICLES = ("up", "out", "off", "down", "back", "away", "over", "around", "in", "on", "along", "ahead", "apart")
PARTICLE_CLASSES = {"verb.motion", "verb.change", "verb.contact", "verb.body", "verb.social", "verb.possession"}
INTENSIFIERS = ("very", "really", "quite", "pretty", "so", "too", "a bit", "rather", "fairly", "extremely",
                "incredibly", "not very", "a little", "far too")


@dataclass(frozen=True)
class Subject:
    text: str
    person: str  # i, you, he, she, it, we, they: agreement
    pronoun: bool = False
    negative: bool = False  # "nobody": the clause stays affirmative

    @property
    def third_singular(self) -> bool:
        return self.person in ("he", "she", "it")

    @property
    def possessive(self) -> str:
        return {"i": "my", "you": "your", "he": "his", "she": "her", "it": "its", "we": "our", "they": "their"}[self.person]

    @property
    def object(self) -> str:
        return {"i": "me", "you": "you", "he": "him", "she": "her", "it": "it", "we": "us", "they": "them"}[self.person]

    @property
    def reflexive(self) -> str:
        return {"i": "myself", "you": "yourself", "he": "himself", "she": "herself", "it": "itself",
                "we": "ourselves", "they": "themselves"}[self.person]

    def be(self, past: bool = False) -> str:
        if self.person in BE:
            return BE[self.person][past]
        return "was" if past else "is"


PRONOUN_SUBJECTS = [Subject(p, p, pronoun=True) for p in ("i", "you", "he", "she", "we", "they")]
QUANTIFIED_SUBJECTS = [Subject("everyone", "he"), Subject("somebody", "he"), Subject("someone", "she"),
                       Subject("nobody", "he", negative=True), Subject("most people", "they"),
                       Subject("some of them", "they"), Subject("all of us", "we"), Subject("both of them", "they"),
                       Subject("each of them", "he"), Subject("neither of them", "he", negative=True),
                       Subject("none of my friends", "they", negative=True), Subject("everybody", "she"),
                       Subject("a few of the others", "they"), Subject("many people", "they"), Subject("anyone", "he")]


@dataclass(frozen=True)
class Tense:
    name: str
    time: str  # which time adverbials fit: past, future, present, perfect, now, none


TENSES = [Tense("past", "past")] * 6 + [Tense("present", "present")] * 4 + [
    Tense("future", "future"), Tense("going to", "future"), Tense("perfect", "perfect"), Tense("perfect", "perfect"),
    Tense("past perfect", "past"), Tense("progressive", "now"), Tense("past progressive", "past"),
    Tense("can", "none"), Tense("could", "none"), Tense("should", "none"), Tense("would", "none"),
    Tense("might", "future"), Tense("must", "none"), Tense("may", "future"), Tense("used to", "past")]


class Grammar:
    """Phrase builders sharing the picker, the old lexicon (names, places, jobs) and the random state."""

    def __init__(self, picker: WordPicker, lexicon: Lexicon):
        self.picker, self.lex = picker, lexicon
        self.explore = True

    # --- words ---

    def word(self, pool: str, form: str, rng: random.Random) -> str:
        return self.picker.word(pool, form, rng, self.explore)

    def entry(self, pool: str, form: str, rng: random.Random):
        return self.picker.pick(pool, form, rng, self.explore)

    # --- noun phrases ---

    def noun_phrase(self, group: str, rng: random.Random, plural: bool | None = None, definite: bool | None = None) -> tuple[str, bool]:
        """'the policy', 'some cheese', 'a new bridge', 'those engines', 'my brother's idea'."""
        plural = rng.random() < 0.35 if plural is None else plural
        entry = self.entry(group, "plural" if plural else "singular", rng) if plural else self.entry(group, "singular", rng)
        if plural and not entry.countable:
            plural = False
        noun = entry.form("plural" if plural else "singular")
        plural = plural or noun in PLURAL_NOUNS
        if rng.random() < 0.15:
            noun = f"{rng.choice(UNIVERSAL_ADJECTIVES)} {noun}"
        elif rng.random() < 0.12:
            kind = "relational adjective" if group == "abstract" else "attributive adjective"
            noun = f"{self.word(kind, 'base', rng)} {noun}"
        definite = rng.random() < 0.55 if definite is None else definite
        if definite:
            owner = rng.random()
            if owner < 0.1:
                return f"{self.person_name(rng)}'s {noun}", plural
            if owner < 0.16:  # "my mother's", "the company's", "the children's"
                holder = rng.choice(["person", "group", "person"])
                many = rng.random() < 0.3
                who = self.word(holder, "plural" if many else "singular", rng)
                mark = "'" if many and who.endswith("s") else "'s"
                return f"{rng.choice(['the', 'my', 'our'])} {who}{mark} {noun}", plural
            if owner < 0.35:
                possessive = rng.choice(["my", "your", "his", "her", "our", "their", "its"])
                own = " own" if rng.random() < 0.1 else ""
                return f"{possessive}{own} {noun}", plural
            pointer = rng.choice(["the", "the", "the", "these" if plural else "this", "those" if plural else "that"])
            return f"{pointer} {noun}", plural
        if plural:
            return f"{rng.choice(PLURAL_DETERMINERS + [number_to_words(small_count(rng))])} {noun}", True
        if not entry.countable:
            return f"{rng.choice(['some', 'a lot of', 'more', 'enough', 'no', 'much', 'a little', 'less', 'plenty of'])} {noun}", False
        determiner = rng.random()
        if determiner < 0.2:
            return f"{rng.choice(['another', 'every', 'each', 'no', 'one'])} {noun}", False
        if determiner < 0.25:
            return f"such {with_indefinite_article(noun)}", False
        return with_indefinite_article(noun), False

    def person_name(self, rng: random.Random) -> str:
        return self.fresh(self.lex.names, rng)

    def fresh(self, options: list[str], rng: random.Random) -> str:
        """One of `options`; while exploring, often one not yet said."""
        if self.explore and rng.random() < 0.5:
            unsaid = [o for o in options if not all(w in self.picker.seen for w in o.split())]
            if unsaid:
                return rng.choice(unsaid)
        return rng.choice(options)

    def someone(self, rng: random.Random) -> Subject:
        """A person as subject or object: a name, a relative, a job, a person noun."""
        draw = rng.random()
        if draw < 0.08:
            entry = self.entry("proper person", "singular", rng)
            if entry.form("plural") and rng.random() < 0.3:
                return Subject(f"the {entry.form('plural')}", "they")
            return Subject(entry.form("singular"), rng.choice(["he", "she"]))
        if draw < 0.3:
            name = self.person_name(rng)
            return Subject(name, "he" if name in HE_NAMES else "she")
        if draw < 0.5:
            relative, _ = self.lex.pick("relatives", rng)
            return Subject(f"{rng.choice(['my', 'your', 'her', 'his', 'our', 'their'])} {relative}", rng.choice(["he", "she"]))
        if draw < 0.8:
            text, plural = self.noun_phrase("person", rng, definite=rng.random() < 0.7)
            return Subject(text, "they" if plural else rng.choice(["he", "she"]))
        text, plural = self.noun_phrase("group", rng, plural=rng.random() < 0.3, definite=True)
        return Subject(text, "they" if plural else "it")

    def subject(self, rng: random.Random, question: bool = False) -> Subject:
        """Someone to speak of; in a question, never "nobody" or "neither of them"."""
        subject = self._subject(rng)
        while question and subject.negative:
            subject = self._subject(rng)
        return subject

    def _subject(self, rng: random.Random) -> Subject:
        draw = rng.random()
        if draw < 0.35:
            return rng.choice(PRONOUN_SUBJECTS)
        if draw < 0.45:
            return rng.choice(QUANTIFIED_SUBJECTS)
        return self.someone(rng)

    def object_of(self, verb, rng: random.Random) -> str:
        """What a transitive verb takes, from its class; sometimes a pronoun."""
        if rng.random() < 0.12:
            pronoun = rng.choice(["it", "them", "this", "that", "everything", "something", "all of it", "one of them",
                                  "anything", "nothing", "whatever they wanted", "both of them", "either of them",
                                  "most of it", "none of it", "another one", "the rest", "the others"])
            if verb.cls in PARTICLE_CLASSES and pronoun in ("it", "them", "this", "that") and rng.random() < 0.4:
                pronoun = f"{pronoun} {rng.choice(PARTICLES)}"  # "pick it up", "turn them off"
            return pronoun
        group = rng.choice(OBJECT_CLASSES.get(verb.cls, ("noun.artifact",)))
        return self.noun_phrase(group, rng)[0]

    # --- adverbials ---

    def time(self, kind: str, rng: random.Random) -> str:
        if kind == "past":
            return self.lex.past_time(rng)
        if kind == "future":
            return self.lex.future_time(rng)
        if kind == "present":
            return rng.choice(["every day", "every morning", "on " + rng.choice(DAYS) + "s", "at the weekend",
                               "once a week", "twice a month", "most evenings", "in the " + rng.choice(SEASONS),
                               "after work", "before school", "every " + rng.choice(["year", "summer", "night"])])
        if kind == "perfect":
            return rng.choice(["since " + rng.choice(MONTHS), "for " + number_to_words(rng.randint(2, 12)) + " "
                               + rng.choice(["days", "weeks", "months", "years"]), "this week", "recently",
                               "since " + year_to_words(rng.randint(1990, 2024)), "this year", "lately"])
        if kind == "now":
            return rng.choice(["now", "right now", "at the moment", "this week", "today", "these days", "tonight"])
        return ""

    def place(self, rng: random.Random) -> str:
        draw = rng.random()
        if draw < 0.25:
            return self.lex.place(rng)
        if draw < 0.35:
            return f"{rng.choice(['in', 'from', 'to', 'near', 'outside'])} {self.fresh(self.lex.cities, rng)}"
        if draw < 0.45:
            return f"{rng.choice(['in', 'from', 'to', 'across', 'around', 'outside'])} {self.word('proper place', 'singular', rng)}"
        if draw < 0.55:
            first, second = self.word("thing", "singular", rng), self.word("thing", "singular", rng)
            return f"between the {first} and the {second}"
        if draw < 0.6:
            return f"{rng.choice(['among', 'amongst', 'between'])} the {self.word('thing', 'plural', rng)}"
        noun, _ = self.noun_phrase(rng.choice(["place", "place", "thing"]), rng, plural=False, definite=True)
        return f"{rng.choice(PLACE_PREPOSITIONS)} {noun}"

    # --- verb phrases ---

    def verb_and_complement(self, rng: random.Random, form: str, progressive_ok: bool = True):
        """(entry, complement) for a verb in `form`; the complement suits the verb."""
        kind = rng.choices(["thing", "abstract", "food", "person", "intransitive", "clause", "infinitive"],
                           weights=[5, 7, 1, 3, 3, 1, 1])[0]
        pool = "verb intransitive" if kind == "intransitive" else f"verb {kind}"
        for _ in range(20):
            verb = self.entry(pool, form, rng)
            if progressive_ok or verb.forms[0] not in STATIVE:
                break
        if kind == "intransitive":
            particle = rng.choice(PARTICLES) if verb.cls in PARTICLE_CLASSES and rng.random() < 0.4 else ""
            complement = _join(particle, rng.choice(["", "", self.adverb(rng), self.place(rng)]))
        elif kind == "person":
            complement = self.someone(rng).text if rng.random() < 0.7 else rng.choice(["me", "him", "her", "us", "them", "you"])
        elif kind == "clause":
            told = verb.forms[0] in TELLS_SOMEONE  # "she told me that ...", not "she told that ..."
            complement = _join(rng.choice(["me", "them", "us", "him", "her"]) if told else "",
                               "that", self.simple_clause(rng))
        elif kind == "infinitive":
            inner, inner_complement = self.verb_and_complement(rng, "base")
            complement = f"to {inner.form('base')} {inner_complement}"
        else:
            complement = self.object_of(verb, rng)
        return verb, complement.strip()

    def adverb(self, rng: random.Random) -> str:
        return self.word(rng.choice(["adverb ly", "adverb"]), "base", rng)

    def clause(self, subject: Subject, tense: Tense, rng: random.Random, negative: bool = False,
               question: bool = False, contract: bool | None = None) -> str:
        """One clause: subject + verb phrase in `tense`, as a statement or a yes/no question."""
        negative = negative and not subject.negative
        contract = rng.random() < 0.6 if contract is None else contract
        name = tense.name
        progressive = name in ("progressive", "past progressive")
        plain = name in ("present", "past") and not negative and not question  # no auxiliary
        form = "base"
        if plain:
            form = "past" if name == "past" else "third" if subject.third_singular else "base"
        elif name in ("perfect", "past perfect"):
            form = "participle"
        elif progressive:
            form = "ing"
        verb, complement = self.verb_and_complement(rng, form, progressive_ok=not progressive)
        main = verb.form(form)
        if plain:
            adverb = rng.choice(["just", "still", "even", "often", "usually", "always", "never", "sometimes", "also",
                                 "only", "really", "almost", "actually", "probably", "finally", "suddenly", "", "", "", "", "", ""])
            return _join(subject.text, adverb, main, complement, rng.choice(["again", "anyway", "too", "as well", "though"]) if rng.random() < 0.1 else "")
        if name == "used to":
            if question:
                return _join("did", subject.text, "use to", main, complement)
            return _join(subject.text, "didn't use to" if negative else "used to", main, complement)
        aux, rest = self._auxiliary(name, subject)
        if name in ("perfect", "past perfect") and rng.random() < 0.3:  # "she has already left", "have you ever"
            rest = rest + [rng.choice(["ever"] if question else ["never"] if negative else ["already", "just", "recently", "always", "nearly"])]
            negative = negative and rest[-1] != "never"
        text = self._realize(subject, aux, rest + [main, complement], negative, question, contract)
        if negative and name in ("perfect", "past perfect") and rng.random() < 0.4:
            text += " yet"
        return text

    @staticmethod
    def _auxiliary(name: str, subject: Subject) -> tuple[str, list[str]]:
        if name == "present":
            return ("does" if subject.third_singular else "do"), []
        if name == "past":
            return "did", []
        if name == "future":
            return "will", []
        if name == "going to":
            return subject.be(), ["going to"]
        if name == "perfect":
            return ("has" if subject.third_singular else "have"), []
        if name == "past perfect":
            return "had", []
        if name == "progressive":
            return subject.be(), []
        if name == "past progressive":
            return subject.be(past=True), []
        return name, []  # a modal

    @staticmethod
    def _realize(subject: Subject, aux: str, rest: list[str], negative: bool, question: bool, contract: bool) -> str:
        if question:
            if negative and aux in NEGATIVE and " " not in NEGATIVE[aux] and aux != "am":
                return _join(NEGATIVE[aux], subject.text, *rest)
            return _join(aux, subject.text, "not" if negative else "", *rest)
        if negative:
            if contract and subject.pronoun and aux in ("am", "are", "is") and subject.person != "it":
                return _join(subject.text + SHORT_AUX[aux], "not", *rest)
            if contract and aux in NEGATIVE and aux != "am":
                return _join(subject.text, NEGATIVE[aux], *rest)
            return _join(subject.text, aux, "not", *rest)
        if contract and subject.pronoun and aux in SHORT_AUX and not (aux == "has" and rest and rest[0] == "going to"):
            return _join(subject.text + SHORT_AUX[aux], *rest)
        return _join(subject.text, aux, *rest)

    def simple_clause(self, rng: random.Random, tense: Tense | None = None) -> str:
        tense = tense or rng.choice(TENSES)
        subject = self.subject(rng)
        text = self.clause(subject, tense, rng, negative=rng.random() < 0.25)
        if tense.time != "none" and rng.random() < 0.4:
            text = _join(text, self.time(tense.time, rng))
        return text

    def fill(self, template: str, rng: random.Random) -> str:
        """A sentence of CLOSED_CLASS_SENTENCES with its slots filled."""
        slots = {"noun": lambda: self.word("thing", "singular", rng), "nouns": lambda: self.word("thing", "plural", rng),
                 "person": lambda: self.someone(rng).text, "place": lambda: self.place(rng),
                 "past": lambda: self.time("past", rng), "future": lambda: self.time("future", rng),
                 "verb": lambda: _join(*(lambda v: (v[0].form("base"), v[1]))(self.verb_and_complement(rng, "base")))}
        return template.format(**{name: make() for name, make in slots.items() if "{" + name + "}" in template})

    def during(self, rng: random.Random) -> str:
        event = self.word(rng.choice(["abstract", "group"]), "singular", rng)
        return f"{rng.choice(['during', 'after', 'before', 'throughout', 'since', 'despite', 'because of', 'instead of', 'in spite of', 'thanks to', 'according to', 'regardless of'])} the {event}"


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)
