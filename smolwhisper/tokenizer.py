"""Byte-level BPE tokenizer with Whisper's special tokens, on Hugging Face `tokenizers`.

Two sources: the real tiny.en `tokenizer.json` (GPT-2's BPE plus Whisper's specials, ids as in
openai/whisper's English tokenizer), or `train_bpe` for a small vocabulary learned from
transcripts. Special tokens are addressed by role (`eot`, `sot`, ...), never by literal id.
"""

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"
SOT = "<|startoftranscript|>"
TRANSCRIBE = "<|transcribe|>"
NO_SPEECH = ("<|nospeech|>", "<|nocaptions|>")  # openai/whisper's name, then Hugging Face's
NO_TIMESTAMPS = "<|notimestamps|>"
ENGLISH = "<|en|>"  # only an OpenAI Whisper vocabulary has language tokens

N_BYTES = 256  # byte-level BPE starts from every byte, so any text can be encoded
N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|>
TIME_PRECISION = 0.02  # seconds per timestamp token
TRAINED_SPECIALS = (EOT, SOT, TRANSCRIBE, NO_SPEECH[0], NO_TIMESTAMPS)  # Whisper's relative order
TOKENIZER_FILE = "tokenizer.json"


def timestamp_token(index: int) -> str:
    """The text of the `index`-th timestamp token, e.g. 54 -> '<|1.08|>'."""
    return f"<|{index * TIME_PRECISION:.2f}|>"


class Tokenizer:
    """A `tokenizers.Tokenizer` plus the ids of Whisper's special tokens.

    Timestamp tokens follow `<|notimestamps|>` in Whisper's layout. Converted tiny.en files
    often leave them out of `tokenizer.json`; the model still has their 1501 logits, so for an
    OpenAI vocabulary (one with language tokens) they count in `n_vocab` even when absent.
    """

    def __init__(self, hf: HFTokenizer, source: str = "<in-memory tokenizer>"):
        self.hf, self.source = hf, source
        self.eot = self._require(EOT, "eot")
        self.sot = self._require(SOT, "sot")
        self.no_timestamps = self._require(NO_TIMESTAMPS, "no_timestamps")
        self.transcribe: int | None = hf.token_to_id(TRANSCRIBE)
        no_speech_ids = [hf.token_to_id(token) for token in NO_SPEECH]
        self.no_speech: int | None = next((i for i in no_speech_ids if i is not None), None)
        first_timestamp = hf.token_to_id(timestamp_token(0))
        self.timestamp_begin = self.no_timestamps + 1 if first_timestamp is None else first_timestamp
        implied = first_timestamp is None and hf.token_to_id(ENGLISH) is not None
        size = hf.get_vocab_size(with_added_tokens=True)
        self.n_vocab = max(size, self.timestamp_begin + N_TIMESTAMPS) if implied else size

    def __repr__(self) -> str:
        return f"Tokenizer({self.source}, n_vocab={self.n_vocab}, timestamp_begin={self.timestamp_begin})"

    def _require(self, token: str, role: str) -> int:
        token_id = self.hf.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{self.source}: tokenizer has no special token {token!r} (role {role!r})")
        return token_id

    @property
    def sot_sequence(self) -> tuple[int, ...]:
        """Tokens that open every decoder prompt; English-only models have no language or task token."""
        return (self.sot,)

    def encode(self, text: str) -> list[int]:
        """Text tokens only, no specials added; a leading space belongs to the word (GPT-2)."""
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_transcript(self, text: str) -> list[int]:
        """The training target: sot, notimestamps, ' ' + text, eot (Whisper puts a space before text)."""
        text = text.strip()
        body = self.encode(" " + text) if text else []
        return [*self.sot_sequence, self.no_timestamps, *body, self.eot]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`, dropping special and timestamp tokens (all at or above `eot`)."""
        text_ids = [int(t) for t in ids if int(t) < self.eot]
        return self.hf.decode(text_ids, skip_special_tokens=True)

    def decode_with_timestamps(self, ids: Iterable[int]) -> str:
        """Like `decode`, with timestamp tokens rendered as '<|1.08|>'."""
        pieces, text_ids = [], []
        for token in map(int, ids):
            if token >= self.timestamp_begin:
                pieces += [self.decode(text_ids), timestamp_token(token - self.timestamp_begin)]
                text_ids = []
            else:
                text_ids.append(token)
        return "".join(pieces) + self.decode(text_ids)

    def save(self, path: str | PathLike) -> Path:
        """Write `tokenizer.json` to `path` (a .json file, or a directory to create); returns the file."""
        path = Path(path)
        file = path if path.suffix == ".json" else path / TOKENIZER_FILE
        file.parent.mkdir(parents=True, exist_ok=True)
        self.hf.save(str(file))
        return file

    @classmethod
    def from_file(cls, path: str | PathLike) -> "Tokenizer":
        """Load a `tokenizer.json`, or the one inside directory `path`."""
        path = Path(path)
        file = path / TOKENIZER_FILE if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"no tokenizer file at {str(file)!r}")
        try:
            hf = HFTokenizer.from_file(str(file))
        except Exception as error:  # tokenizers raises a bare Exception on malformed JSON
            raise ValueError(f"{file}: not a Hugging Face tokenizers JSON file ({error})") from error
        return cls(hf, source=str(file))


def train_bpe(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, timestamps: bool = False
) -> Tokenizer:
    """Learn a byte-level BPE from transcripts; `vocab_size` is the total n_vocab, specials included.

    Special tokens follow the learned vocabulary in Whisper's order; timestamp tokens are
    left out unless `timestamps`, since small models trained from scratch do not predict them.
    """
    specials = [*TRAINED_SPECIALS, *(timestamp_token(i) for i in range(N_TIMESTAMPS) if timestamps)]
    n_learned = vocab_size - len(specials)
    if n_learned < N_BYTES:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: it must be at least {N_BYTES + len(specials)} "
            f"({N_BYTES} byte tokens + {len(specials)} special tokens)"
        )
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=n_learned,
        min_frequency=min_frequency,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # learn from the text as encode_transcript presents it, so a transcript's first word
    # shares the ' word' tokens of the same word elsewhere
    hf.train_from_iterator((" " + text.strip() for text in texts), trainer)
    n_merged = hf.get_vocab_size()
    hf.add_special_tokens(specials)
    if hf.get_vocab_size() != n_merged + len(specials):
        raise ValueError(f"the training texts contain a special token's text (one of {TRAINED_SPECIALS})")
    return Tokenizer(hf)
