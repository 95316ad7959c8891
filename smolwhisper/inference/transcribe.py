"""Transcribe audio files of any length with a checkpoint: `smolwhisper transcribe AUDIO... --checkpoint DIR`.

Long audio is decoded window by window as in openai/whisper's `transcribe()`: a 30 s window starts
at `seek`; when the model predicts timestamps, the window's complete segments are kept and the
next window starts at the last timestamp; otherwise windows are fixed 30 s steps. Files are batched:
each slot of a batch holds one file's current window, and a finished file's slot is refilled with
the next file, so a batch stays full while files of different lengths progress at their own pace.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from ..audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE, AudioError, load_audio, log_mel_spectrogram, pad_or_trim
from ..model import Whisper
from ..tokenizer import Tokenizer
from .ctc_lm import LexiconDecoder, LexiconSearch
from .decoding import (COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD, TEMPERATURES,
                       DecodingOptions, DecodingResult, decode_with_fallback)
from .joint_decoding import DECODERS, LM_DECODERS, DecoderOptions, decode_features

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au", ".w64", ".caf"}
OUTPUT_FORMATS = ("txt", "json", "srt", "vtt")


@dataclass
class Segment:
    start_s: float
    end_s: float
    text: str
    tokens: list[int]
    temperature: float
    # None where the decoder does not compute them (the CTC decoders)
    avg_logprob: float | None
    compression_ratio: float | None
    no_speech_prob: float | None


@dataclass
class Transcript:
    source: str
    segments: list[Segment] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass
class TranscribeOptions:
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    pad_to_30s: bool = True  # Whisper's weights: windows padded to 30 s, no mask
    timestamps: bool = True  # seek by predicted timestamps (else fixed 30 s windows)
    temperatures: Sequence[float] = TEMPERATURES
    compression_ratio_threshold: float | None = COMPRESSION_RATIO_THRESHOLD
    logprob_threshold: float | None = LOGPROB_THRESHOLD
    no_speech_threshold: float | None = NO_SPEECH_THRESHOLD
    # A decoder of joint_decoding.DECODERS other than "attention" (those that read the CTC head)
    # decodes each window with joint_decoding.decode_features, as training's evaluation does; windows
    # are then fixed 30 s steps, each one segment. `lexicon` serves the *_lm decoders.
    decoder: str = "attention"
    decoder_options: DecoderOptions = field(default_factory=DecoderOptions)
    lexicon: LexiconDecoder | None = None


class _LongForm:
    """One file's progress through the seek loop."""

    def __init__(self, source: str, audio: np.ndarray, n_mels: int, pad_to_30s: bool, device: torch.device):
        self.transcript = Transcript(source)
        # Whisper appends 30 s of zeros so every window's log-mel sees the same padding it was trained on.
        mel = log_mel_spectrogram(audio, n_mels, padding=N_SAMPLES if pad_to_30s else 0, device=device)
        self.content_frames = mel.shape[-1] - (N_FRAMES if pad_to_30s else 0)
        self.mel, self.seek = mel, 0

    @property
    def done(self) -> bool:
        return self.seek >= self.content_frames

    def window(self) -> Tensor:
        size = min(N_FRAMES, self.content_frames - self.seek)
        return self.mel[:, self.seek:self.seek + size]

    def advance(self, result: DecodingResult, window_frames: int, tokenizer: Tokenizer,
                options: TranscribeOptions, frames_per_token: int) -> None:
        """Add the window's segments and move `seek`, following openai/whisper's transcribe()."""
        time_offset = self.seek * HOP_LENGTH / SAMPLE_RATE
        if (options.no_speech_threshold is not None and result.no_speech_prob > options.no_speech_threshold
                and not (options.logprob_threshold is not None and result.avg_logprob > options.logprob_threshold)):
            self.seek += window_frames  # silence: skip the window
            return
        tokens = result.tokens
        if not options.timestamps:
            self._add(time_offset, time_offset + window_frames * HOP_LENGTH / SAMPLE_RATE, tokens, result, tokenizer)
            self.seek += window_frames
            return
        begin = tokenizer.timestamp_begin
        precision = frames_per_token * HOP_LENGTH / SAMPLE_RATE  # 0.02 s per timestamp token
        is_timestamp = [t >= begin for t in tokens]
        single_timestamp_ending = is_timestamp[-2:] == [False, True]
        consecutive = [i + 1 for i in range(len(tokens) - 1) if is_timestamp[i] and is_timestamp[i + 1]]
        previous_seek = self.seek
        if consecutive:
            slices = consecutive + ([len(tokens)] if single_timestamp_ending else [])
            last_slice = 0
            for current_slice in slices:
                piece = tokens[last_slice:current_slice]
                self._add(time_offset + (piece[0] - begin) * precision, time_offset + (piece[-1] - begin) * precision,
                          piece, result, tokenizer)
                last_slice = current_slice
            if single_timestamp_ending:
                self.seek += window_frames  # no speech after the last timestamp
            else:  # drop the unfinished segment; the next window starts at the last closed timestamp
                self.seek += (tokens[last_slice - 1] - begin) * frames_per_token
        else:
            duration = window_frames * HOP_LENGTH / SAMPLE_RATE
            timestamps = [t for t in tokens if t >= begin]
            if timestamps and timestamps[-1] != begin:
                duration = (timestamps[-1] - begin) * precision
            self._add(time_offset, time_offset + duration, tokens, result, tokenizer)
            self.seek += window_frames
        if self.seek <= previous_seek:  # never loop on one window
            self.seek = previous_seek + window_frames

    def advance_text(self, text: str, window_frames: int, tokenizer: Tokenizer) -> None:
        """Add the window's transcript (a decoder without timestamps) as one segment; the next window
        follows this one."""
        start_s, end_s = (frame * HOP_LENGTH / SAMPLE_RATE for frame in (self.seek, self.seek + window_frames))
        if text.strip():
            self.transcript.segments.append(Segment(round(start_s, 3), round(end_s, 3), text, tokenizer.encode(text),
                                                    0.0, None, None, None))
        self.seek += window_frames

    def _add(self, start_s: float, end_s: float, tokens: list[int], result: DecodingResult,
             tokenizer: Tokenizer) -> None:
        text = tokenizer.decode(tokens)
        if start_s == end_s or not text.strip():
            return
        self.transcript.segments.append(Segment(
            round(start_s, 3), round(end_s, 3), text, list(tokens), result.temperature, result.avg_logprob,
            result.compression_ratio, result.no_speech_prob))


def _batch_windows(windows: list[Tensor], pad_to_30s: bool) -> tuple[Tensor, Tensor | None]:
    if pad_to_30s:
        return torch.stack([pad_or_trim(w, N_FRAMES) for w in windows]), None
    longest = max(w.shape[-1] for w in windows)
    mel = torch.stack([pad_or_trim(w, longest) for w in windows])
    lengths = torch.tensor([w.shape[-1] for w in windows], device=mel.device)
    return mel, torch.arange(longest, device=mel.device)[None, :] < lengths[:, None]


@torch.no_grad()
def transcribe_stream(model: Whisper, tokenizer: Tokenizer, items: Sequence[tuple[str, Callable[[], np.ndarray]]],
                      options: TranscribeOptions | None = None, batch_size: int = 8,
                      progress: bool = False) -> Iterator[Transcript | AudioError]:
    """Yield a Transcript per (name, load_audio) item, in input order, or the AudioError its loader raised.

    Loaders run lazily, when a batch slot frees up, so only `batch_size` waveforms are in memory.
    """
    options = options or TranscribeOptions()
    decoding = replace_timestamps(options.decoding, options.timestamps)
    device = next(model.parameters()).device
    frames_per_token = N_FRAMES // model.config.n_audio_ctx  # 2: the second conv has stride 2
    pending = list(enumerate(items))
    finished: dict[int, Transcript | AudioError] = {}
    active: list[tuple[int, _LongForm]] = []
    next_to_yield = 0
    bar = tqdm(total=len(pending), unit="file", disable=not progress)
    while pending or active:
        while pending and len(active) < batch_size:  # refill free slots
            index, (name, load) = pending.pop(0)
            try:
                audio = load()
            except AudioError as error:
                finished[index] = error
                bar.update()
                continue
            active.append((index, _LongForm(name, audio, model.config.n_mels, options.pad_to_30s, device)))
        if active:
            windows = [state.window() for _, state in active]
            mel, mel_mask = _batch_windows(windows, options.pad_to_30s)
            features, audio_mask = model.encoder(mel, mel_mask)
            if options.decoder != "attention":
                texts = decode_features(model, tokenizer, features, audio_mask, [options.decoder],
                                        options.decoder_options, options.lexicon)[options.decoder]
                for (_, state), window, text in zip(active, windows, texts):
                    state.advance_text(text, window.shape[-1], tokenizer)
            else:
                results = decode_with_fallback(model, tokenizer, features, audio_mask, decoding, options.temperatures,
                                               options.compression_ratio_threshold, options.logprob_threshold,
                                               options.no_speech_threshold)
                for (_, state), window, result in zip(active, windows, results):
                    state.advance(result, window.shape[-1], tokenizer, options, frames_per_token)
            for index, state in active:
                if state.done:
                    finished[index] = state.transcript
                    bar.update()
            active = [(index, state) for index, state in active if not state.done]
        while next_to_yield in finished:
            yield finished.pop(next_to_yield)
            next_to_yield += 1
    bar.close()


def transcribe_files(model: Whisper, tokenizer: Tokenizer, sources: Sequence[str | PathLike],
                     options: TranscribeOptions | None = None, batch_size: int = 8,
                     progress: bool = False) -> Iterator[Transcript | AudioError]:
    """Yield a Transcript per audio file, in input order, or the AudioError that made it unreadable."""
    items = [(str(source), partial(load_audio, source)) for source in sources]
    return transcribe_stream(model, tokenizer, items, options, batch_size, progress)


def options_for(model: Whisper, beam_size: int = 1, best_of: int | None = None, sample_len: int | None = None,
                fallback: bool = True, timestamps: bool = True) -> TranscribeOptions:
    """Transcription options as the checkpoint's InferenceConfig says (padding to 30 s, timestamps)."""
    from ..config import InferenceConfig

    inference = getattr(model, "inference_config", None) or InferenceConfig()
    return TranscribeOptions(
        decoding=DecodingOptions(beam_size=beam_size if beam_size > 1 else None, best_of=best_of,
                                 sample_len=sample_len),
        pad_to_30s=inference.pad_to_30s, timestamps=inference.timestamps and timestamps,
        temperatures=TEMPERATURES if fallback else (0.0,))


def replace_timestamps(options: DecodingOptions, timestamps: bool) -> DecodingOptions:
    return replace(options, without_timestamps=not timestamps)


def transcribe_audio(model: Whisper, tokenizer: Tokenizer, audio: np.ndarray,
                     options: TranscribeOptions | None = None) -> Transcript:
    """Transcribe one 16 kHz waveform already in memory."""
    return next(transcribe_stream(model, tokenizer, [("<memory>", lambda: audio)], options, batch_size=1))


# ---------------------------------------------------------------------------------------------
# Inputs and outputs.

def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Files as given, directories searched recursively for audio files, glob patterns expanded.

    Anything that matches nothing is kept as given, so that it is reported as missing.
    """
    paths: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif not path.exists() and glob.has_magic(item):
            paths += sorted(glob.glob(item, recursive=True)) or [item]
        else:
            paths.append(item)
    return paths


def _timestamp(seconds: float, decimal: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    secs, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{milliseconds:03d}"


def format_transcript(transcript: Transcript, output_format: str) -> str:
    segments = transcript.segments
    if output_format == "txt":
        return "".join(s.text.strip() + "\n" for s in segments)
    if output_format == "json":
        return json.dumps({"source": transcript.source, "text": transcript.text,
                           "segments": [asdict(s) for s in segments]}, ensure_ascii=False) + "\n"
    if output_format == "srt":
        return "\n".join(f"{i}\n{_timestamp(s.start_s, ',')} --> {_timestamp(s.end_s, ',')}\n{s.text.strip()}\n"
                         for i, s in enumerate(segments, start=1))
    if output_format == "vtt":
        return "WEBVTT\n\n" + "\n".join(f"{_timestamp(s.start_s, '.')} --> {_timestamp(s.end_s, '.')}\n{s.text.strip()}\n"
                                        for s in segments)
    raise ValueError(f"output format {output_format!r} is not supported; allowed: {', '.join(OUTPUT_FORMATS)}")


def run_config_of(checkpoint_dir: str | PathLike) -> Path | None:
    """RUN/config.yaml of a checkpoint RUN/checkpoints/X that a training run wrote, else None."""
    path = Path(checkpoint_dir).resolve().parent.parent / "config.yaml"
    return path if path.is_file() else None


def lexicon_for(decoder: str, model: Whisper, tokenizer: Tokenizer, checkpoint_dir: str | PathLike,
                word_lm: str | PathLike | None = None, search: LexiconSearch = LexiconSearch()) -> LexiconDecoder | None:
    """The word LM and lexicon that --decoder needs (the *_lm decoders), by default the one the training
    run saved (eval.ctc_lm); None for the others. Fails where the model has no CTC head to decode."""
    from ..config import ConfigError
    from .ctc_lm import WORD_LM_FILE, WordNgramLM

    if decoder != "attention" and model.ctc is None:
        raise ConfigError(f"--decoder {decoder}: {checkpoint_dir} has no CTC head (it was trained with "
                          f"model.ctc_weight 0); use --decoder attention")
    if decoder not in LM_DECODERS:
        return None
    # A run saves its LM in the run directory, two levels above its checkpoints/<name> directories.
    candidates = [Path(word_lm)] if word_lm else [Path(checkpoint_dir) / WORD_LM_FILE,
                                                  Path(checkpoint_dir).parent.parent / WORD_LM_FILE]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        raise ConfigError(f"--decoder {decoder}: no word LM at {' or '.join(map(str, candidates))}; pass --word-lm "
                          f"FILE (a training run with eval.ctc_lm saves {WORD_LM_FILE} in its directory)")
    try:
        lm = WordNgramLM.load(found)
    except (ValueError, KeyError) as error:
        raise ConfigError(f"--word-lm {found}: {error}") from error
    return LexiconDecoder(lm, tokenizer, search)


# Flags that set an eval.* field of the same name (their default: the run's value, else EvalConfig's),
# and those that set the joint_decoding.DecoderOptions field of the same name.
EVAL_FLAGS = ("beam_size", "ctc_beam_size", "ctc_lm_weight", "ctc_word_bonus")
DECODER_FLAGS = ("ctc_weight", "joint_beam_size", "rescore_beam_size")


def _flag_error(error: ValueError):
    """A config error ('eval.ctc_beam_size: ...', 'DecoderOptions.ctc_weight: ...') named by its flag."""
    from ..config import ConfigError

    field, _, reason = str(error).partition(": ")
    flag = "--" + field.rsplit(".", 1)[-1].replace("_", "-")
    return ConfigError(f"{flag}: {reason}")


def _eval_config(args: argparse.Namespace, base):
    """`base` (an EvalConfig) with the flags given, checked as the config checks its fields."""
    import dataclasses

    given = {name: getattr(args, name) for name in EVAL_FLAGS if getattr(args, name) is not None}
    try:
        return dataclasses.replace(base, **given)
    except ValueError as error:
        raise _flag_error(error) from error


def _decoder_options(args: argparse.Namespace, eval_config, **overrides) -> DecoderOptions:
    from .evaluation import decoder_options

    try:
        return decoder_options(eval_config, **{name: getattr(args, name) for name in DECODER_FLAGS}, **overrides)
    except ValueError as error:
        raise _flag_error(error) from error


def _options_from_args(args: argparse.Namespace, model: Whisper, tokenizer: Tokenizer, **kwargs) -> TranscribeOptions:
    from ..config import EvalConfig
    from .evaluation import lexicon_search

    eval_config = _eval_config(args, EvalConfig())
    options = options_for(model, eval_config.beam_size, sample_len=args.max_new_tokens, **kwargs)
    decoder_options = _decoder_options(args, eval_config, max_tokens=args.max_new_tokens)
    decoder = args.decoder or "attention"
    lexicon = lexicon_for(decoder, model, tokenizer, args.checkpoint, args.word_lm, lexicon_search(eval_config))
    return replace(options, decoder=decoder, decoder_options=decoder_options, lexicon=lexicon)


def _transcribe_command(args: argparse.Namespace) -> int:
    from .. import checkpoint

    model, tokenizer = checkpoint.load(args.checkpoint, device=args.device)
    options = _options_from_args(args, model, tokenizer, best_of=args.best_of, fallback=not args.no_fallback,
                                 timestamps=not args.without_timestamps)
    sources = expand_inputs(args.audio)
    output_dir = Path(args.output_dir) if args.output_dir else None
    if output_dir:
        output_dir.mkdir(parents=True, exist_ok=True)
    n_failed = 0
    results = transcribe_files(model, tokenizer, sources, options, args.batch_size, progress=len(sources) > 1)
    for source, result in zip(sources, results):
        if isinstance(result, AudioError):
            n_failed += 1
            print(f"smolwhisper transcribe: skipped {source}: {result.reason}", file=sys.stderr)
            continue
        text = format_transcript(result, args.output_format)
        if output_dir:
            (output_dir / f"{Path(source).stem}.{args.output_format}").write_text(text)
        else:
            sys.stdout.write(text if len(sources) == 1 else f"==> {source}\n{text}")
    if n_failed:
        print(f"smolwhisper transcribe: {n_failed} of {len(sources)} files failed", file=sys.stderr)
    return 1 if n_failed else 0


# ---------------------------------------------------------------------------------------------
# Evaluation: WER/CER of a checkpoint on a corpus.

def evaluate(model: Whisper, tokenizer: Tokenizer, dataset, options: TranscribeOptions | None = None,
             batch_size: int = 8, normalizer: str = "english", hypotheses_path: str | PathLike | None = None,
             limit: int | None = None, progress: bool = False) -> dict:
    """Corpus WER and CER (sclite counting, after `normalizer`) of a `SpeechDataset`; unreadable items
    are skipped and counted by reason. Writes one JSON line per utterance to `hypotheses_path`."""
    from ..data.base import Skipped
    from .metrics import error_counts, normalize_english, normalize_gigaspeech

    normalize = {"english": normalize_english, "gigaspeech": normalize_gigaspeech}[normalizer]
    indices = range(len(dataset) if limit is None else min(limit, len(dataset)))
    skipped: dict[str, int] = dict(getattr(dataset, "skipped", {}))

    def loader(index: int) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            item = dataset[index]
            if isinstance(item, Skipped):
                skipped[item.reason] = skipped.get(item.reason, 0) + 1
                raise AudioError(item.id, f"{item.reason}: {item.detail}")
            return item.audio
        return load

    items = [(dataset.entries[i].id, loader(i)) for i in indices]
    totals = {"word_errors": 0, "reference_words": 0, "char_errors": 0, "reference_chars": 0}
    lines = []
    for index, result in zip(indices, transcribe_stream(model, tokenizer, items, options, batch_size, progress)):
        if isinstance(result, AudioError):
            continue
        entry = dataset.entries[index]
        word_errors, n_words = error_counts(entry.text, result.text, normalize=normalize)
        char_errors, n_chars = error_counts(entry.text, result.text, normalize=normalize, unit="char")
        for key, value in zip(totals, (word_errors, n_words, char_errors, n_chars)):
            totals[key] += value
        lines.append(json.dumps({"id": entry.id, "reference": entry.text, "hypothesis": result.text,
                                 "word_errors": word_errors, "reference_words": n_words,
                                 "char_errors": char_errors, "reference_chars": n_chars}, ensure_ascii=False))
    if hypotheses_path:
        Path(hypotheses_path).parent.mkdir(parents=True, exist_ok=True)
        Path(hypotheses_path).write_text("".join(line + "\n" for line in lines))
    return {"wer": totals["word_errors"] / max(totals["reference_words"], 1),
            "cer": totals["char_errors"] / max(totals["reference_chars"], 1),
            "n_utterances": len(lines), **totals, "skipped": skipped}


def _evaluate_command(args: argparse.Namespace) -> int:
    from .. import checkpoint
    from ..config import ConfigError
    from ..data.manifest import open_source

    config_path = run_config_of(args.checkpoint)
    if config_path is not None:
        return _evaluate_run(args, config_path)
    if args.data is None:
        raise ConfigError(f"--data: required for {args.checkpoint}, which is not in a training run's directory "
                          f"(no config.yaml two levels above it)")
    if args.max_utterances is not None:
        raise ConfigError("--max-utterances: picks a training run's evaluation subset; use --limit N for the first N")
    model, tokenizer = checkpoint.load(args.checkpoint, device=args.device)
    splits = open_source(args.data, purpose="evaluate")
    split = args.split or next((name for name in ("test", "validation") if name in splits), None)
    if split is None and len(splits) == 1:
        split = next(iter(splits))
    if split not in splits:
        print(f"smolwhisper evaluate: --split {split!r} is not in {args.data}; it has {', '.join(sorted(splits))}",
              file=sys.stderr)
        return 2
    options = _options_from_args(args, model, tokenizer, fallback=args.fallback)
    report = evaluate(model, tokenizer, splits[split], options, args.batch_size, args.normalizer,
                      args.hypotheses, args.limit, progress=True)
    print(json.dumps({"checkpoint": str(args.checkpoint), "data": str(args.data), "split": split, **report}))
    return 0


def _evaluate_run(args: argparse.Namespace, config_path: Path) -> int:
    """Score a training run's checkpoint as the run scores itself: its config's data filters, decoder
    settings, eval.max_utterances subset, batches, features and precision (evaluation.evaluate)."""
    from .. import checkpoint
    from ..config import ConfigError, load_run_config
    from ..data.loader import Collator
    from .evaluation import evaluate as evaluate_split
    from .evaluation import evaluation_loader, lexicon_search, open_run_split
    from ..metric_names import cer_key, decoder_of, select_metric, wer_key

    if args.limit is not None:
        raise ConfigError("--limit: a training run's checkpoint is scored on its evaluation subset; "
                          "use --max-utterances N (0: the whole split)")
    cfg = load_run_config(str(config_path))
    # The decoder the run ranked itself by and picked checkpoints/best with, unless --decoder says otherwise.
    args.decoder = args.decoder or decoder_of(select_metric(cfg))
    cfg.eval = _eval_config(args, cfg.eval)
    options = _decoder_options(args, cfg.eval, max_tokens=args.max_new_tokens)
    model, tokenizer = checkpoint.load(args.checkpoint, device=args.device)
    lexicon = lexicon_for(args.decoder, model, tokenizer, args.checkpoint, args.word_lm, lexicon_search(cfg.eval))
    source, split, dataset = open_run_split(cfg, args.data, args.split)
    max_utterances = cfg.eval.max_utterances if args.max_utterances is None else args.max_utterances
    loader = evaluation_loader(dataset, max_utterances, cfg.eval.max_batch_s, Collator(tokenizer, cfg.model.n_text_ctx))
    device = next(model.parameters()).device
    bf16 = cfg.train.precision == "bf16" or (cfg.train.precision == "auto" and device.type == "cuda")
    metrics = evaluate_split(model, tokenizer, loader, cfg, device, bf16, args.hypotheses, lexicon, [args.decoder],
                             options)
    print(json.dumps({"checkpoint": str(args.checkpoint), "run_config": str(config_path), "data": str(source),
                      "split": split, "decoder": args.decoder, "max_utterances": max_utterances,
                      "wer": metrics[wer_key(args.decoder)], "cer": metrics[cer_key(args.decoder)],
                      "loss": metrics["val/loss"], "n_utterances": int(metrics["val/utterances"])}))
    return 0


def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("transcribe", help="transcribe audio files with a checkpoint")
    p.add_argument("audio", nargs="+", help="audio files, directories or glob patterns")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (see `smolwhisper import`)")
    p.add_argument("--beam-size", type=int, default=None, help="beams at temperature 0 (default 1: greedy)")
    p.add_argument("--best-of", type=int, default=None, help="samples per window at temperature > 0")
    p.add_argument("--batch-size", type=int, default=8, help="windows decoded together (one per file)")
    p.add_argument("--output-format", choices=OUTPUT_FORMATS, default="txt")
    p.add_argument("--output-dir", help="write <stem>.<format> per file here (default: standard output)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="tokens per 30 s window (default n_text_ctx/2)")
    p.add_argument("--without-timestamps", action="store_true", help="fixed 30 s windows even if the model "
                                                                     "predicts timestamps")
    p.add_argument("--no-fallback", action="store_true", help="decode at temperature 0 only")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    _add_decoder_arguments(p)
    p.set_defaults(func=_transcribe_command)

    p = subparsers.add_parser("evaluate", help="WER/CER of a checkpoint on a corpus, with per-utterance JSONL")
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint directory; one of a training run (RUN/checkpoints/X) is scored as the run "
                        "scores itself, with the defaults of RUN/config.yaml")
    p.add_argument("--data", help="manifest file, audiofolder or manifest directory, or gigaspeech:SUBSET "
                                  "(default for a run's checkpoint: the run's data.source)")
    p.add_argument("--split", help="split to score (default: the run's validation split; else test, else "
                                   "validation, else the only one)")
    p.add_argument("--normalizer", choices=["english", "gigaspeech"], default="english")
    p.add_argument("--hypotheses", help="write one JSON line per utterance here")
    p.add_argument("--beam-size", type=int, default=None, help="attention beam (as eval.beam_size; default 1)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="score only the first N utterances")
    p.add_argument("--max-utterances", type=int, default=None,
                   help="a run's checkpoint: score the subset of N utterances the run scores (default: the run's "
                        "eval.max_utterances; 0: the whole split)")
    p.add_argument("--fallback", action="store_true", help="Whisper's temperature fallback (default: greedy only)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    _add_decoder_arguments(p)
    p.set_defaults(func=_evaluate_command)


def _add_decoder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", choices=DECODERS, default=None,
                   help="default: for a training run's checkpoint, the decoder of the run's eval.select_metric (the "
                        "one its sweep ranked it by); else attention. attention: Whisper's decoder; ctc: best path of the encoder's CTC head; ctc_lm: the CTC "
                        "head searched over a lexicon with a word LM; rescore(_lm): the CTC n-best (with the LM) "
                        "reordered by the attention decoder; joint(_lm): one beam search scored by both (with the "
                        "LM). As training scores val/wer_<decoder>. All but attention need a model trained with "
                        "model.ctc_weight > 0 and decode fixed 30 s windows")
    p.add_argument("--word-lm", help="word LM of the *_lm decoders (default: the training run's word_lm.json)")
    p.add_argument("--ctc-beam-size", type=int, default=None,
                   help="beam of the lexicon search (as eval.ctc_beam_size)")
    p.add_argument("--ctc-lm-weight", type=float, default=None, help="LM weight (as eval.ctc_lm_weight)")
    p.add_argument("--ctc-word-bonus", type=float, default=None, help="per-word bonus (as eval.ctc_word_bonus)")
    defaults = DecoderOptions()
    p.add_argument("--ctc-weight", type=float, default=None,
                   help=f"share of the CTC head in the joint and rescore scores (default {defaults.ctc_weight})")
    p.add_argument("--joint-beam-size", type=int, default=None,
                   help=f"beam of the joint decoders (default {defaults.joint_beam_size})")
    p.add_argument("--rescore-beam-size", type=int, default=None,
                   help=f"n-best that the rescore decoders reorder (default {defaults.rescore_beam_size})")
