"""Facts of the GigaSpeech corpus's transcripts, shared by its readers (the Hub copy, the official release
through Lhotse) and scoring; no imports."""

# Punctuation is written as tags in GigaSpeech transcripts; the marks are what a model emits instead.
GIGASPEECH_PUNCTUATION = {"<COMMA>": ",", "<PERIOD>": ".", "<QUESTIONMARK>": "?", "<EXCLAMATIONPOINT>": "!"}
# Whole-utterance labels for segments without speech; the GigaSpeech README asks that they be
# dropped from training.
GIGASPEECH_GARBAGE_TAGS = ("<SIL>", "<NOISE>", "<MUSIC>", "<OTHER>")


def normalize_transcript(text: str, *, keep_punctuation: bool = True, lowercase: bool = True) -> str:
    """'WELL <COMMA> HELLO THERE <PERIOD>' -> 'well, hello there.' (tags to marks on the previous word)."""
    words: list[str] = []
    for word in text.split():
        mark = GIGASPEECH_PUNCTUATION.get(word)
        if mark is None:
            words.append(word)
        elif keep_punctuation and words:  # a tag with no word before it has nothing to attach to
            words[-1] += mark
    text = " ".join(words)
    return text.lower() if lowercase else text


def has_garbage_tag(text: str) -> bool:
    return any(word in GIGASPEECH_GARBAGE_TAGS for word in text.split())


def has_gigaspeech_tags(text: str) -> bool:
    return any(word in GIGASPEECH_PUNCTUATION or word in GIGASPEECH_GARBAGE_TAGS for word in text.split())
