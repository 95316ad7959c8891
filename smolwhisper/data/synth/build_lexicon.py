"""Build `lexicon.tsv`, the open-class vocabulary of the everyday sentences, from WordNet and wordfreq.

    apt-get install wordnet-base && pip install wordfreq
    python -m smolwhisper.data.synth.build_lexicon

A developer's tool, run when the lexicon should change; the corpus reads the committed
`lexicon.tsv` and needs neither package. For each of the English words wordfreq ranks highest
(`TOP_N`) that is not a function word (the sentence frames speak those: `grammar.FUNCTION_WORDS`),
it finds the WordNet lemma and part of speech it is a form of (WordNet's exception lists and
detachment rules, as its `morphy` does), keeps the part of speech with the most sense-tagged uses in the Brown corpus (and others at least half as common),
and writes the lemma's inflected forms, each with its wordfreq rank, the lexicographer class of
its most frequent sense (noun.food, verb.consumption, ...) and, for verbs, the sentence frames
WordNet lists for it (transitive, intransitive, takes a person). Where English spells an
inflection two ways ("stopped"/"stoped", "potatoes"/"potatos") the more frequent spelling in
wordfreq wins. Words whose most frequent sense WordNet glosses as offensive, vulgar, slang or a slur are left
out, and so are the words of a short block list (profanity, sex).

WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. (Its licence, which
allows use, copying, modification and distribution with this notice, is repeated in the header
of `lexicon.tsv`.)
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from .grammar import FUNCTION_WORDS, IRREGULAR_VERBS
from .sentences import CITIES, FIRST_NAMES

# First names and places are spoken by the frames' own slots ("john" is not a noun for a toilet
# here), unless the word is common in its own right ("hope", "nice"). Two-letter lemmas are mostly
# abbreviations ("re", "co", "tv"), except these.
NAMES = frozenset(FIRST_NAMES.split()) | frozenset(CITIES.split())
TWO_LETTER_WORDS = frozenset({"go", "ox", "ax"})

WORDNET_DIR = Path("/usr/share/wordnet")
OUT = Path(__file__).with_name("lexicon.tsv")
TOP_N = 25000  # a margin over the 20k the coverage is measured on: inflected forms of top lemmas rank lower
LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
            "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
            "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
            "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
            "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
            "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
            "adj.ppl").split()
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# WordNet's morphy detachment rules (suffix of the form, ending of the lemma).
DETACHMENT = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
          ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}
OFFENSIVE = re.compile(r"\b(slur|vulgar|obscene|offensive|derogatory|disparaging|taboo|sexual|genital|"
                       r"slang)\b", re.I)
# Words a corpus of everyday speech does without, whatever WordNet's first sense says.
BLOCKED = frozenset("""
fuck fucked fucking fuckin shit shitty ass asshole arse dick cock pussy porn porno sex sexy sexual slut whore
bitch bastard crap piss pissed nigga nigger fag faggot retard retarded rape raped rapist penis vagina nude naked
boob boobs tits dildo cum horny orgasm erotic masturbation prostitute hooker kinky fetish stripper""".split())
# Verb frames (WordNet's numbering): intransitive, takes a thing, takes a person, that-clause, to-infinitive.
INTRANSITIVE_FRAMES = {1, 2, 22}
THING_FRAMES = {8, 11, 21, 31}
PERSON_FRAMES = {9, 10, 20, 24}
CLAUSE_FRAMES = {26, 34}
INFINITIVE_FRAMES = {28, 32}
HEADER = """\
# The open-class vocabulary of the everyday sentences, written by build_lexicon.py (see its docstring).
# Columns: pos, class (WordNet lexicographer file of the most frequent sense), flags, then forms as
# form:rank (wordfreq rank among English words; - when absent). Nouns: singular, plural. Verbs: base,
# third person singular, past, past participle, present participle; flags i (intransitive), t (takes
# a thing), p (takes a person), c (takes a that-clause), f (takes a to-infinitive). Adjectives: base,
# comparative, superlative. Adverbs: base. Noun flags: m (uncountable: no plural in use), P (proper).
# Adjective flag: A (attributive only).
#
# Derived from WordNet 3.0 (Princeton University), under its licence:
#   WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
#   Permission to use, copy, modify and distribute this software and database and its documentation
#   for any purpose and without fee or royalty is hereby granted, provided that you agree to comply
#   with the following copyright notice and statements, including the disclaimer, and that the same
#   appear on ALL copies of the software, database and documentation, including modifications that
#   you make for internal use or for distribution.
#   THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS
#   OR WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY
#   MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE
#   OR THAT THE USE OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY THIRD
#   PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS.
#   The name of Princeton University or Princeton may not be used in advertising or publicity
#   pertaining to distribution of the software and/or database. Title to copyright in this software,
#   database and any associated documentation shall at all times remain with Princeton University
#   and LICENSEE agrees to preserve same.
# The rank column is derived from wordfreq's data (Robyn Speer and contributors), which wordfreq
# redistributes under Creative Commons Attribution-ShareAlike 4.0; this file is therefore offered
# under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), with WordNet's notice above.
"""


def read_index(pos: str) -> dict[str, tuple[int, list[str]]]:
    """lemma -> (sense-tagged uses, synset offsets in frequency order)."""
    index = {}
    for line in (WORDNET_DIR / f"index.{POS_FILES[pos]}").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        fields = line.split()
        n_synsets, n_pointers = int(fields[2]), int(fields[3])
        tagged = int(fields[5 + n_pointers])
        index[fields[0]] = (tagged, fields[6 + n_pointers:6 + n_pointers + n_synsets])
    return index


def read_tag_counts() -> dict[tuple[str, str], int]:
    """(lemma, pos) -> how often its senses were tagged in the Brown corpus (WordNet's cntlist.rev)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    pos_of = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}
    for line in (WORDNET_DIR / "cntlist.rev").read_text(encoding="latin-1").splitlines():
        key, _, count = line.split()
        lemma, _, rest = key.partition("%")
        counts[(lemma, pos_of[rest[0]])] += int(count)
    return counts


def read_data(pos: str) -> dict[str, str]:
    return {line[:8]: line for line in (WORDNET_DIR / f"data.{POS_FILES[pos]}").read_text(encoding="latin-1").splitlines()
            if not line.startswith(" ")}


def read_exceptions(pos: str) -> dict[str, list[str]]:
    table = defaultdict(list)
    for line in (WORDNET_DIR / f"{POS_FILES[pos]}.exc").read_text(encoding="latin-1").splitlines():
        form, *lemmas = line.split()
        table[form].extend(lemmas)
    return table


def synset_info(line: str) -> tuple[str, bool, set[int], str]:
    """(lexicographer class, its words as WordNet spells them, verb frame numbers, gloss)."""
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    n_words = int(parts[3], 16)
    words = parts[4:4 + 2 * n_words:2]
    at = 4 + 2 * n_words
    n_pointers = int(parts[at])
    at += 1 + 4 * n_pointers
    frames = set()
    if at < len(parts) and parts[2] == "v":
        n_frames = int(parts[at])
        frames = {int(parts[at + 2 + 3 * i]) for i in range(n_frames)}
    return LEXNAMES[int(parts[1])], words, frames, gloss


def lemma_candidates(form: str, pos: str, index, exceptions) -> list[str]:
    found = [lemma for lemma in exceptions[pos].get(form, []) if lemma in index[pos]]
    if form in index[pos]:
        found.append(form)
    for suffix, ending in DETACHMENT[pos]:
        if form.endswith(suffix) and len(form) > len(suffix) + 1:
            lemma = form[: -len(suffix)] + ending
            if lemma in index[pos]:
                found.append(lemma)
    return list(dict.fromkeys(found))


def main() -> None:
    from wordfreq import top_n_list, word_frequency

    top = [w for w in top_n_list("en", TOP_N)]
    rank = {w: i + 1 for i, w in enumerate(top)}
    index = {pos: read_index(pos) for pos in POS_FILES}
    data = {pos: read_data(pos) for pos in POS_FILES}
    exceptions = {pos: read_exceptions(pos) for pos in POS_FILES}
    tag_counts = read_tag_counts()

    entries: dict[tuple[str, str], int] = {}  # (lemma, pos) -> best rank of a form that led to it
    for word in top[:20000]:
        if not word.isalpha() or not word.isascii() or word in FUNCTION_WORDS or word in BLOCKED or len(word) < 2:
            continue
        options = [(tag_counts.get((lemma, pos), 0), pos, lemma) for pos in POS_FILES
                   for lemma in lemma_candidates(word, pos, index, exceptions)]
        if not options:
            continue
        best = max(t for t, _, _ in options)
        if best == 0:  # no sense-tagged use at all: the part of speech with the most senses
            options = [max(options, key=lambda o: len(index[o[1]][o[2]][1]))]
        for tagged, pos, lemma in options:  # the dominant use, and others nearly as common
            # ... as the word, and as the lemma ("greats" is only a noun, but "great" is an adjective)
            lemma_best = max(tag_counts.get((lemma, other), 0) for other in POS_FILES)
            if tagged >= 0.5 * max(best, lemma_best) and (tagged > 0 or best == lemma_best == 0) and lemma not in FUNCTION_WORDS \
                    and (lemma not in NAMES or lemma_best >= 20) and (len(lemma) > 2 or lemma in TWO_LETTER_WORDS):
                entries.setdefault((lemma, pos), rank[word])

    def frequency(form: str) -> float:
        return word_frequency(form, "en")

    lines = [HEADER]
    for (lemma, pos), _ in sorted(entries.items(), key=lambda item: item[1]):
        synsets = [synset_info(data[pos][offset]) for offset in index[pos][lemma][1]]
        # The most frequent sense decides: "know" and "love" have senses WordNet glosses as sexual.
        if lemma in BLOCKED or OFFENSIVE.search(synsets[0][3].split('"')[0]):  # the definition, not its examples
            continue
        lexname, words, frames, _ = synsets[0]
        proper = any(w.lower() == lemma and w[:1].isupper() for w in words)  # "London", not "water" (H2O)
        row = inflect(lemma, pos, frequency, exceptions, rank, tag_counts)
        if row is None:
            continue
        forms, flags = row
        if pos == "v":
            all_frames = set().union(*(f for _, _, f, _ in synsets[:3]))
            flags += "".join(flag for flag, wanted in (("i", INTRANSITIVE_FRAMES), ("t", THING_FRAMES),
                                                        ("p", PERSON_FRAMES), ("c", CLAUSE_FRAMES),
                                                        ("f", INFINITIVE_FRAMES)) if all_frames & wanted)
        if pos == "n" and proper:
            flags += "P"
        if pos == "a" and any(w.lower() == f"{lemma}(a)" for w in words):
            flags += "A"  # attributive only: "a former friend", never "he was former"
        cells = [f"{form}:{rank.get(form, '-')}" if form else "-" for form in forms]
        lines.append("\t".join([pos, lexname, flags or "-", *cells]))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines) - 1} entries to {OUT}")


def _more_frequent(candidates: list[str], frequency) -> str:
    return max(candidates, key=lambda form: (frequency(form), -candidates.index(form)))


IRREGULAR_COMPARISON = {"good": ["better", "best"], "bad": ["worse", "worst"], "far": ["further", "furthest"],
                        "well": ["better", "best"], "ill": ["worse", "worst"]}
CONSONANT_DOUBLING = re.compile(r"[^aeiou][aeiou][bdgklmnprtvz]$")


def inflect(lemma: str, pos: str, frequency, exceptions, ranked=frozenset(), tag_counts=None) -> tuple[list[str | None], str] | None:
    """The forms of a lemma (None for a form English does not use) and noun flags."""
    if pos == "n":
        irregular = [form for form, lemmas in exceptions["n"].items() if lemma in lemmas and form != lemma]
        regular = [lemma + "es" if lemma.endswith(("s", "x", "z", "ch", "sh")) else
                   lemma[:-1] + "ies" if lemma.endswith("y") and lemma[-2:-1] not in "aeiou" else lemma + "s"]
        if lemma.endswith("man"):
            regular.append(lemma[:-3] + "men")
        plural = _more_frequent(irregular + regular + [lemma + "es", lemma + "s"], frequency)
        # Uncountable in use ("advice", "information"): the plural is rare next to the singular.
        countable = frequency(plural) >= 0.03 * frequency(lemma) and frequency(plural) > 1e-8
        return ([lemma, plural if countable else None], "" if countable else "m")
    if pos == "v":
        if lemma in IRREGULAR_VERBS:
            past, participle = IRREGULAR_VERBS[lemma]
        else:
            stem = lemma[:-1] if lemma.endswith("e") else lemma[:-1] + "i" if (
                lemma.endswith("y") and lemma[-2:-1] not in "aeiou") else lemma
            doubled = lemma + lemma[-1] if CONSONANT_DOUBLING.search(lemma) else None
            past = _more_frequent([stem + "ed"] + ([doubled + "ed"] if doubled else []), frequency)
            participle = past
        third = lemma + "es" if lemma.endswith(("s", "x", "z", "ch", "sh", "o")) else (
            lemma[:-1] + "ies" if lemma.endswith("y") and lemma[-2:-1] not in "aeiou" else lemma + "s")
        ing_stem = lemma[:-2] + "y" if lemma.endswith("ie") else (
            lemma[:-1] if lemma.endswith("e") and not lemma.endswith(("ee", "ye", "oe")) else lemma)
        candidates = [ing_stem + "ing"] + ([lemma + lemma[-1] + "ing"] if CONSONANT_DOUBLING.search(lemma) else [])
        return ([lemma, _more_frequent([third], frequency), past, participle, _more_frequent(candidates, frequency)], "")
    if pos == "a":
        irregular = [form for form, lemmas in exceptions["a"].items() if lemma in lemmas]
        irregular += IRREGULAR_COMPARISON.get(lemma, [])
        stem = lemma[:-1] if lemma.endswith("e") else lemma[:-1] + "i" if lemma.endswith("y") else lemma
        doubled = lemma + lemma[-1] if CONSONANT_DOUBLING.search(lemma) else None
        forms = [lemma]
        for suffix in ("er", "est"):
            candidates = [f for f in irregular if f.endswith(suffix) or f in IRREGULAR_COMPARISON.get(lemma, [])[len(forms) - 1:len(forms)]] + [stem + suffix] + (
                [doubled + suffix] if doubled else [])
            best = _more_frequent(candidates, frequency)
            # Only forms English uses: an irregular one ("better"), or a regular one among the top
            # words that is not a noun of its own ("homer", "backer"). The frames say "more X" otherwise.
            usable = best in irregular or (best in ranked and tag_counts.get((best, "n"), 0) == 0)
            forms.append(best if usable else None)
        return forms, ""
    return [lemma], ""


if __name__ == "__main__":
    main()
