"""The everyday sentence frames: each builds one sentence from a `Grammar` and returns it without its
final punctuation, and that punctuation. Frames choose among several shapes each, so no surface
pattern repeats often enough for a listener to notice."""

from __future__ import annotations

import random

from .everyday import GENERIC_ABSTRACT_HEADS, INTENSIFIERS, PRONOUN_SUBJECTS, TELLS_SOMEONE, TENSES, Grammar, Tense, _join
from .sentences import MONTHS, number_to_words, plural, small_count, year_to_words

OPENERS = ["well,", "oh,", "so,", "actually,", "anyway,", "hey,", "okay,", "yes,", "no,", "to be honest,",
           "honestly,", "by the way,", "of course,", "in fact,", "luckily,", "sadly,", "apparently,", "still,",
           "besides,", "however,", "then again,", "as far as i know,", "thus,", "otherwise,", "meanwhile,"]
CONJUNCTIONS = ["because", "although", "though", "while", "when", "after", "before", "until", "unless", "since",
                "so", "but", "and", "or", "whereas", "as soon as", "even though", "if", "once", "as long as",
                "so that", "even if", "now that", "whenever", "wherever", "as"]
PAST = Tense("past", "past")
PRESENT = Tense("present", "present")
FUTURE = Tense("future", "future")
PERFECT = Tense("perfect", "perfect")


def statement(g: Grammar, rng: random.Random) -> tuple[str, str]:
    tense = rng.choice(TENSES)
    subject = g.subject(rng)
    text = g.clause(subject, tense, rng, negative=rng.random() < 0.3)
    if tense.name == "going to" and rng.random() < 0.1:
        text = text.replace("going to", "gonna", 1)
    extras = []
    if tense.time != "none" and rng.random() < 0.5:
        extras.append(g.time(tense.time, rng))
    if rng.random() < 0.3:
        extras.append(g.place(rng))
    if rng.random() < 0.15:
        extras.append(g.during(rng))
    if rng.random() < 0.15:
        extras.append(rng.choice(["with " + g.someone(rng).text, "by " + subject.reflexive, "for " + g.someone(rng).text, "without any help", "on purpose",
                                  "in the end", "as usual", "at last", "for a while", "instead"]))
    return _join(text, *extras), rng.choice([".", ".", ".", "!"])


def yes_no_question(g: Grammar, rng: random.Random) -> tuple[str, str]:
    tense = rng.choice([t for t in TENSES if t.name not in ("must", "used to")])
    subject = g.subject(rng, question=True)
    text = g.clause(subject, tense, rng, negative=rng.random() < 0.2, question=True)
    if tense.time != "none" and rng.random() < 0.4:
        text = _join(text, g.time(tense.time, rng))
    return text, "?"


def wh_question(g: Grammar, rng: random.Random) -> tuple[str, str]:
    subject = g.subject(rng, question=True)
    kind = rng.randrange(8)
    if kind == 0:
        verb = g.entry("verb thing", "base", rng)
        aux = rng.choice(["did", "will", "should", "can", "would", "could", "does" if subject.third_singular else "do"])
        return _join("what", aux, subject.text, verb.form("base"), rng.choice(["", g.place(rng), g.time("past", rng) if aux == "did" else ""])), "?"
    if kind == 1:
        verb, complement = g.verb_and_complement(rng, "past")
        return _join(rng.choice(["who", "which of them", "who else", "whoever"]) if rng.random() < 0.9 else "who", verb.form("past"), complement), "?"
    if kind == 2:
        word = rng.choice(["why", "when", "where", "how", "why", "how"])
        tense = rng.choice([PAST, PRESENT, FUTURE, PERFECT, Tense("can", "none"), Tense("should", "none")])
        return _join(word, g.clause(subject, tense, rng, negative=word == "why" and rng.random() < 0.4, question=True)), "?"
    if kind == 3:
        return _join(rng.choice(["how often", "how long", "how much", "how soon", "how far"]),
                     g.clause(subject, rng.choice([PRESENT, PAST, PERFECT]), rng, question=True)), "?"
    if kind == 4:
        noun = g.word(rng.choice(["thing", "abstract", "place", "food"]), "singular", rng)
        verb = g.entry("verb thing", "base", rng)
        return _join("which", noun, "did", subject.text, verb.form("base")), "?"
    if kind == 5:
        noun = g.word(rng.choice(["thing", "animal"]), "singular", rng)
        return _join("whose", noun, rng.choice(["is this", "is that", "was it", "did you borrow"])), "?"
    if kind == 6:
        noun = g.word(rng.choice(["thing", "food", "animal", "abstract"]), "singular", rng)
        return _join("what kind of", noun, rng.choice(["do you like", "did she want", "are they looking for",
                                                       "would you recommend", "does he need"])), "?"
    noun, plural = g.noun_phrase(rng.choice(["thing", "abstract", "place", "person"]), rng, definite=True)
    return _join(rng.choice(["where", "what", "when", "how", "why"]), "are" if plural else "is", noun), "?"


def complex_sentence(g: Grammar, rng: random.Random) -> tuple[str, str]:
    first = g.simple_clause(rng)
    second = g.simple_clause(rng)
    conjunction = rng.choice(CONJUNCTIONS)
    if rng.random() < 0.3 and conjunction not in ("so", "but", "and", "or", "whereas", "so that"):
        return f"{conjunction} {second}, {first}", "."
    return f"{first} {conjunction} {second}", "."


def conditional(g: Grammar, rng: random.Random) -> tuple[str, str]:
    subject = g.subject(rng)
    kind = rng.randrange(4)
    if kind == 0:
        condition = g.clause(subject, PRESENT, rng, negative=rng.random() < 0.3)
        result = g.clause(g.subject(rng), rng.choice([FUTURE, Tense("can", "none"), Tense("might", "future")]), rng)
        return f"{rng.choice(['if', 'unless', 'as long as', 'provided that'])} {condition}, {result}", "."
    if kind == 1:
        return f"if i were you, {g.clause(PRONOUN_SUBJECTS[0], Tense('would', 'none'), rng, negative=rng.random() < 0.4)}", "."
    if kind == 2:
        condition = g.clause(subject, PAST, rng)
        result = g.clause(g.subject(rng), rng.choice([Tense("would", "none"), Tense("could", "none"), Tense("might", "none")]), rng)
        return f"if {condition}, {result}", "."
    return f"what would you do if {g.clause(subject, PAST, rng)}", "?"


def reported(g: Grammar, rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(5)
    inner = g.simple_clause(rng)
    if kind == 0:
        head = rng.choice(["i think", "i don't think", "she said", "they told me", "he believes", "we hope", "i guess",
                           "it seems", "i'm sure", "nobody realised", "everyone knows", "i heard", "my friend says",
                           "the report says", "i suppose", "she explained", "he admitted", "they agreed", "i doubt"])
        return _join(head, rng.choice(["that", "", ""]), inner), "."
    if kind == 1:
        head = rng.choice(["do you know", "can you tell me", "does anyone know", "have you heard", "did she say"])
        return _join(head, rng.choice(["whether", "if", "why", "when", "where", "how"]), inner), "?"
    if kind == 2:
        head = rng.choice(["i wonder", "i'm not sure", "nobody knows", "i can't remember", "it doesn't matter",
                           "she asked", "we don't know", "i have no idea", "it depends on"])
        return _join(head, rng.choice(["whether", "if", "why", "when", "where", "how", "what", "who"]), inner), "."
    if kind == 3:
        verb = g.entry("verb clause", "past", rng)
        subject = g.subject(rng)
        told = rng.choice(["me", "them", "us"]) if verb.forms[0] in TELLS_SOMEONE else ""
        return _join(subject.text, verb.form("past"), told, "that", inner), "."
    return _join("it's", rng.choice(INTENSIFIERS), g.word("adjective", "base", rng), "that", inner), "."


def request(g: Grammar, rng: random.Random) -> tuple[str, str]:
    verb, complement = g.verb_and_complement(rng, "base")
    base = _join(verb.form("base"), complement)
    kind = rng.randrange(9)
    if kind == 0:
        return _join("please", base), "."
    if kind == 1:
        return _join("don't", base, rng.choice(["", "again", "yet", "without asking"])), rng.choice([".", "!"])
    if kind == 2:
        return _join("let's", base, g.time("future", rng) if rng.random() < 0.5 else ""), "."
    if kind == 3:
        return _join(rng.choice(["could you", "can you", "would you", "will you", "shall we", "why don't we", "shouldn't we"]), base), "?"
    if kind == 4:
        ing, complement = g.verb_and_complement(rng, "ing", progressive_ok=False)
        return _join("would you mind", ing.form("ing"), complement), "?"
    if kind == 5:
        return _join(rng.choice(["try not to", "make sure you", "remember to", "you'd better", "you ought to",
                                 "you shall", "you needn't"]), base), "."
    if kind == 6:
        return _join("i'd like you to", base), "."
    if kind == 7:
        opener = rng.choice(["how about", "what about", "thanks for", "sorry for"])
        ing, complement = g.verb_and_complement(rng, "ing", progressive_ok=False)
        return _join(opener, ing.form("ing"), complement), "?" if opener.endswith("about") else "."
    return _join(base, rng.choice(["first", "now", "as soon as possible", "if you can", "before it's too late"])), "."


def existential(g: Grammar, rng: random.Random) -> tuple[str, str]:
    noun, plural = g.noun_phrase(rng.choice(["thing", "food", "animal", "person", "abstract"]), rng, definite=False)
    kind = rng.randrange(4)
    if kind == 0:
        be = rng.choice(["there are", "there were", "there'll be", "there have been"] if plural else
                        ["there's", "there was", "there'll be", "there has been", "there used to be"])
        return _join(be, noun, g.place(rng)), "."
    if kind == 1:
        return _join("are there" if plural else "is there", noun.replace("some ", "any ", 1), g.place(rng)), "?"
    if kind == 2:
        return _join("there", "aren't" if plural else "isn't", noun.replace("some ", "any ", 1).replace("a lot of ", "much ", 1), "left"), "."
    return _join("here's", noun) if not plural else _join("here are", noun), "."


def description(g: Grammar, rng: random.Random) -> tuple[str, str]:
    adjective = g.word("adjective", "base", rng)
    degree = rng.choice(INTENSIFIERS + ("", "", ""))
    kind = rng.randrange(8)
    if kind == 0:
        return _join(rng.choice(["it's", "it was", "it'll be", "it must be", "it can be", "it isn't", "it wasn't", "it's not"]), degree, adjective), rng.choice([".", "!"])
    if kind == 1:
        return _join("that", rng.choice(["sounds", "looks", "seems", "sounded", "looked", "felt"]), degree, adjective), "."
    if kind == 2:
        noun, plural = g.noun_phrase(rng.choice(["thing", "food", "place", "abstract", "animal"]), rng, definite=True)
        be = rng.choice(["are", "were", "look", "seem"] if plural else ["is", "was", "looks", "seems", "has been"])
        return _join(noun, be, degree, adjective), "."
    if kind == 3:
        subject = g.subject(rng)
        be = subject.be(past=rng.random() < 0.5)
        return _join(subject.text, rng.choice([be, "seemed", "looked", "felt", "became", "got", "stayed"]), degree, adjective), "."
    if kind == 4:
        return _join(rng.choice(["isn't it", "wasn't it", "don't you think it's", "was it", "is it really"]), adjective), "?"
    if kind == 5:
        return _join("how", adjective, rng.choice(["", "of you", "it was", "that is"])), "!"
    if kind == 6:
        opener = rng.choice(["i like the", "i prefer the", "we bought the", "can i see the"])
        return _join(opener, adjective, rng.choice(["ones", "one", "one over there"])), "?" if opener.startswith("can") else "."
    return _join("neither of them was", adjective, rng.choice(["", "enough", "at all"])), "."


def comparison(g: Grammar, rng: random.Random) -> tuple[str, str]:
    entry = g.entry("adjective", rng.choice(["comparative", "superlative"]), rng)
    comparative = entry.form("comparative") or f"more {entry.form('base')}"
    superlative = entry.form("superlative") or f"most {entry.form('base')}"
    noun = g.word(rng.choice(["thing", "place", "abstract", "person", "animal", "food"]), "singular", rng)
    kind = rng.randrange(5)
    if kind == 0:
        return _join("this", noun, "is", rng.choice(["much", "a lot", "slightly", "even", "a little", "far"]), comparative, "than", rng.choice(["the other one", "the others", "i expected", "it used to be", "mine", "yours"])), "."
    if kind == 1:
        return _join("it's the", superlative, noun, rng.choice(["i've ever seen", "in the world", "we've had", "of all", "in town"])), "."
    if kind == 2:
        return _join("it's not as", entry.form("base"), "as", rng.choice(["it looks", "you think", "it was", "the last one"])), "."
    if kind == 3:
        return _join(rng.choice(["the", "our", "your"]), noun, "is getting", comparative, "and", comparative), "."
    return _join("nothing is", comparative, "than", g.noun_phrase("thing", rng, definite=True)[0]), "."


def about(g: Grammar, rng: random.Random) -> tuple[str, str]:
    group = rng.choice(["abstract", "abstract", "abstract", "thing", "animal", "food", "place", "person", "group", "proper"])
    noun = g.word("proper", "singular", rng) if group == "proper" else g.noun_phrase(group, rng)[0]
    subject = g.subject(rng)
    kind = rng.randrange(8)
    if kind == 0:
        return _join(subject.text, rng.choice(["talked about", "argued about", "wrote a book about", "read an article about",
                                                "made a film about", "asked me about", "forgot about", "complained about",
                                                "wrote about", "learned about"]), noun, g.time("past", rng) if rng.random() < 0.3 else ""), "."
    if kind == 1:
        return _join("what do you", rng.choice(["think", "know", "remember"]), "about", noun), "?"
    if kind == 2:
        return _join(subject.text, subject.be(), rng.choice(["worried about", "interested in", "tired of", "proud of",
                                                             "afraid of", "aware of", "good at", "responsible for",
                                                             "fond of", "sure about", "excited about"]), noun), "."
    if kind == 3:
        return _join("i've never heard of", noun), "."
    if kind == 4:
        return _join("there's a programme about", noun, "on tonight"), "."
    if kind == 5:
        return _join(subject.text, rng.choice(["knows a lot about", "doesn't care about", "thinks about",
                                               "keeps talking about"]) if subject.third_singular else
                     rng.choice(["know a lot about", "don't care about", "think about", "keep talking about"]), noun), "."
    if kind == 6:
        return _join("the", rng.choice(["story", "question", "meeting", "lesson", "letter"]), rng.choice(["was about", "is about", "will be about"]), noun), "."
    return _join("nobody", rng.choice(["mentioned", "noticed", "understood", "explained", "remembered"]), noun), "."


def relative(g: Grammar, rng: random.Random) -> tuple[str, str]:
    kind = rng.randrange(5)
    if kind == 0:
        person = g.word("person", "singular", rng)
        verb, complement = g.verb_and_complement(rng, "past")
        tail = rng.choice(["is my neighbour", "was very kind", "left early", "works here now", "has moved away",
                           "didn't say a word", "is waiting outside"])
        return _join("the", person, "who", verb.form("past"), complement, tail), "."
    if kind == 1:
        noun = g.word("thing", "singular", rng)
        subject = g.subject(rng)
        verb = g.entry("verb thing", "past", rng)
        return _join("the", noun, rng.choice(["that", "which", ""]), subject.text, verb.form("past"), "was",
                     rng.choice(INTENSIFIERS), g.word("adjective", "base", rng)), "."
    if kind == 2:
        place = g.word("place", "singular", rng)
        return _join("that's the", place, "where", g.simple_clause(rng, Tense("past", "past"))), "."
    if kind == 3:
        person = g.word("person", "singular", rng)
        thing = g.word(rng.choice(["thing", "animal"]), "singular", rng)
        return _join("i met the", person, "whose", thing, rng.choice(["was stolen", "you found", "was on the news", "broke down"])), "."
    noun = g.word(rng.choice(["abstract", "thing"]), "singular", rng)
    return _join("this is the", noun, rng.choice(["i told you about", "we were talking about", "she was looking for",
                                                  "everyone is talking about", "i can't stop thinking about"])), "."


def relational(g: Grammar, rng: random.Random) -> tuple[str, str]:
    adjective = g.word("relational adjective", "base", rng)
    head = rng.choice(GENERIC_ABSTRACT_HEADS)
    kind = rng.randrange(4)
    if kind == 0:
        return _join("it's a", rng.choice(["purely", "mostly", "largely", "partly", "really"]), adjective, head), "."
    if kind == 1:
        subject = g.subject(rng)
        return _join(subject.text, rng.choice(["had", "gave"]), rng.choice(["several", "good", "two", "no"]), adjective,
                     plural(head)), "."
    if kind == 2:
        return _join("we discussed the", adjective, head, g.time("past", rng)), "."
    return _join("there's a", adjective, "side to", rng.choice(["every", "this", "that"]), head), "."


def quantity(g: Grammar, rng: random.Random) -> tuple[str, str]:
    subject = g.subject(rng)
    n = small_count(rng)
    kind = rng.randrange(6)
    if kind == 0:
        return _join(subject.text, rng.choice(["waited", "worked", "walked", "talked", "slept"]), "for",
                     number_to_words(n), rng.choice(["minutes", "hours", "days", "seconds"])), "."
    if kind == 1:
        return _join("it", rng.choice(["costs", "cost", "will cost", "used to cost"]), rng.choice(["about", "nearly", "over", "less than", "exactly", ""]),
                     number_to_words(rng.choice([n, n * 10, n * 100 + rng.randint(1, 99)])), rng.choice(["pounds", "dollars", "euros"])), "."
    if kind == 2:
        people = g.word("person", "plural", rng)
        return _join(rng.choice(["about", "more than", "almost", "around", "at least"]), number_to_words(rng.choice([n * 10, n * 100, n])),
                     people, rng.choice(["came to", "were at", "left", "visited"]), "the", g.word("place", "singular", rng)), "."
    if kind == 3:
        return _join(subject.text, subject.be(past=rng.random() < 0.3), number_to_words(rng.randint(2, 95)), "years old"), "."
    if kind == 4:
        return _join(subject.text, rng.choice(["was born in", "moved here in", "started in", "finished it in"]),
                     rng.choice([year_to_words(rng.randint(1930, 2024)), rng.choice(MONTHS)])), "."
    things = g.word(rng.choice(["thing", "food", "animal"]), "plural", rng)
    return _join(rng.choice(["half of the", "most of the", "all the", "none of the", "each of the", "both", "a couple of",
                             "one of the", "either of the"]), things, rng.choice(["were", "are", "broke", "disappeared", "arrived"])), "."


def small_talk(g: Grammar, rng: random.Random) -> tuple[str, str]:
    """The short turns of conversation, each with a word or two from the lexicon."""
    noun = g.word(rng.choice(["thing", "animal", "food"]), "singular", rng)
    verb = g.entry(rng.choice(["verb thing", "verb abstract", "verb intransitive"]), "ing", rng)
    person = g.someone(rng).text
    choices = [
        (f"is this {noun} {rng.choice(['yours', 'hers', 'his', 'theirs', 'ours'])}", "?"),
        (f"that {noun} is {rng.choice(['mine', 'yours', 'hers', 'ours', 'theirs', 'his'])}, not {rng.choice(['mine', 'yours', 'hers', 'ours', 'theirs'])}", "."),
        (f"what are you {verb.form('ing')} {rng.choice(['now', 'these days', 'tonight', 'over there', 'with that'])}", "?"),
        (f"what have you done with the {noun}", "?"),
        (f"i did it {rng.choice(['myself', 'by myself', 'on my own'])}, and {person} {rng.choice(['helped', 'watched', 'laughed'])}", "."),
        (f"we can do it {rng.choice(['ourselves', 'by ourselves'])} {g.time('future', rng)}", "."),
        (f"i can't find the {noun} {rng.choice(['anywhere', 'at all'])}", "."),
        (f"have you seen {rng.choice(['anybody', 'anyone', 'anything'])} {rng.choice(['strange', 'unusual', 'interesting'])} {g.place(rng)}", "?"),
        (f"the {noun} must be {rng.choice(['somewhere', 'here somewhere', 'nowhere near here', 'everywhere'])}", "."),
        (f"neither {person} nor {g.someone(rng).text} {rng.choice(['came', 'knew', 'called', 'noticed'])}", "."),
        (f"{person}, {rng.choice(['whom', 'who'])} you met {g.time('past', rng)}, {rng.choice(['is', 'was'])} {rng.choice(['here', 'outside', 'on the phone', 'late again'])}", "."),
        (f"ok, {rng.choice(['whatever you', 'as you', 'just as you'])} {rng.choice(['say', 'like', 'want', 'think is best'])}", "."),
        (f"{rng.choice(['being', 'having been', 'after being'])} {rng.choice(['late', 'tired', 'away', 'ill', 'busy'])} {rng.choice(['again', 'for so long', 'all week'])}, {person} {rng.choice(['apologised', 'said nothing', 'went home early'])}", "."),
        (f"{rng.choice(['having', 'after having', 'before having'])} {rng.choice(['lunch', 'dinner', 'a rest', 'a look'])}, we {rng.choice(['left', 'went on', 'carried on', 'felt better'])}", "."),
        (f"{rng.choice(['maybe', 'perhaps', 'probably', 'surely'])} {person} {rng.choice(['is', 'was', 'will be'])} {rng.choice(['right', 'wrong', 'busy', 'at home', 'on holiday'])}", "."),
        (f"unlike {person}, i {rng.choice(['never', 'always', 'rarely'])} {verb.form('base')} {rng.choice(['', 'at the weekend', 'anymore'])}", "."),
        (f"it's {number_to_words(rng.choice([2, 3, 5, 10, 20, 50]))} {rng.choice(['pounds', 'dollars', 'euros'])} per {rng.choice(['person', 'hour', 'day', 'week', 'night', 'kilo'])}", "."),
        (f"{rng.choice(['you are', 'you’re', 'they’re', 'we’re', 'i am', 'i’m'])} {rng.choice(['right', 'late', 'welcome', 'not alone', 'so kind'])}".replace("’", "'"), "."),
        (f"what's {rng.choice(['wrong with', 'the matter with', 'so funny about', 'special about'])} the {noun}", "?"),
        (f"we've {rng.choice(['got', 'bought', 'found', 'lost'])} {rng.choice(['a', 'another', 'the'])} {noun}", "."),
        (f"{person} {rng.choice(['hurt', 'enjoyed', 'blamed', 'introduced', 'taught'])} {rng.choice(['himself', 'herself', 'themselves', 'myself', 'yourself', 'ourselves'])}", "."),
        (f"the {noun} {rng.choice(['moved', 'stopped', 'turned off', 'fell over'])} by itself", "."),
        (f"help yourself to {rng.choice(['some', 'more', 'another'])} {g.word('food', 'singular', rng)}", "."),
        (f"{person} lives {rng.choice(['upstairs', 'downstairs', 'next door', 'nearby', 'abroad', 'far away', 'round the corner'])}", "."),
    ]
    return rng.choice(choices)


def topic(g: Grammar, rng: random.Random) -> tuple[str, str]:
    """Opinions about abstract things: 'the new policy seems fair', 'prices are rising quickly'."""
    noun, plural = g.noun_phrase("abstract", rng, definite=rng.random() < 0.7)
    adverb = g.word("adverb ly", "base", rng)
    kind = rng.randrange(5)
    if kind == 0:
        be = rng.choice(["are", "were", "seem", "look"] if plural else ["is", "was", "seems", "looks"])
        return _join(noun, be, rng.choice(INTENSIFIERS + ("",)), g.word("adjective", "base", rng)), "."
    if kind == 1:
        verb = g.entry("verb intransitive", "ing", rng)
        return _join(noun, "are" if plural else "is", verb.form("ing"), adverb), "."
    if kind == 2:
        return _join(adverb + ",", noun, "didn't", rng.choice(["change", "matter", "help", "last", "work"])), "."
    if kind == 3:
        return _join(rng.choice(["nobody", "everyone", "the committee", "my boss", "the teacher"]), adverb,
                     rng.choice(["ignored", "accepted", "questioned", "supported", "explained", "rejected"]), noun), "."
    return _join("what", rng.choice(["did you think of", "do you make of", "happened to", "was wrong with"]), noun), "?"


FRAMES = [(topic, 3), (small_talk, 2), (statement, 8), (yes_no_question, 3), (wh_question, 3), (complex_sentence, 4), (conditional, 1.5),
          (reported, 3), (request, 2), (existential, 2), (description, 4), (comparison, 1.5), (about, 2.5),
          (relative, 2), (relational, 2), (quantity, 1.5)]


def everyday_sentence(g: Grammar, rng: random.Random) -> tuple[str, str]:
    frame = rng.choices([f for f, _ in FRAMES], weights=[w for _, w in FRAMES])[0]
    body, punctuation = frame(g, rng)
    if rng.random() < 0.1 and punctuation != "!":
        body = f"{rng.choice(OPENERS)} {body}"
    return body, punctuation
