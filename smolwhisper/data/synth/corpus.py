"""Plan, synthesize, augment and write the synthetic corpus.

`plan_corpus(config)` fixes every utterance up front (split, sentence, engine, voice, rate, pitch,
augmentation) from per-utterance RNGs seeded by (seed, utterance index), so the corpus is the same
whatever the number of workers or the order they finish in, and tests can check a large corpus's
properties without synthesizing it. `synthesize_corpus(config, out_dir)` then speaks the plan in
batches (one engine per batch) over a process pool and writes

    out_dir/<split>/<id>.flac     16 kHz mono FLAC, PCM_16
    out_dir/<split>.jsonl         NeMo-style manifest: audio_filepath (relative to out_dir), text,
                                  duration, speaker, engine
    out_dir/corpus.json           config, plan fingerprint, counts, hours, missing engines, licences

A finished corpus with the same fingerprint is returned as is; an unfinished one resumes, skipping
the FLACs already written (each is written to a temporary name, then renamed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from ...config import ConfigError
from ...run_files import write_atomic
from .augment import (CODECS, active_speech_power, babble, coloured_noise, reverberate, speed_perturb,  # noqa: F401
                      telephone_band, vocal_tract_length_perturb)
from .engines import ENGINES, SAMPLE_RATE, SpeechRequest, available_engines, synthesize_batch
from .generator import SentenceGenerator

PLAN_VERSION = 7  # bump when the plan or the audio pipeline changes, so old corpora are not reused
# Splits with voices heard in training, then those with held-out voices (validation_unseen_voices is
# small, for the trainer to score every few hundred steps), then the held-out engine's (leave one
# engine out: only when SynthConfig.held_out_engine names one).
UNSEEN_VALIDATION_SPLIT = "validation_unseen_voices"
UNSEEN_SPLIT = "test_unseen_voices"
UNSEEN_ENGINE_SPLIT = "test_unseen_engine"
SPLITS = ("train", "validation", "test", UNSEEN_VALIDATION_SPLIT, UNSEEN_SPLIT)
UNSEEN_VOICE_SPLITS = (UNSEEN_VALIDATION_SPLIT, UNSEEN_SPLIT)
ALL_SPLITS = SPLITS + (UNSEEN_ENGINE_SPLIT,)
CORPUS_FILE = "corpus.json"
# Speaking time per character at rate 1, from the engines' output on the generated sentences;
# used only to decide how many utterances make the requested hours.
SECONDS_PER_CHARACTER = {"piper": 0.051, "pico": 0.069, "flite": 0.067, "festival": 0.065, "espeak": 0.080,
                         "hibari": 0.065}


def _default_shares() -> dict[str, float]:
    # The natural-sounding engines get most of the corpus (Whisper tiny.en WER: espeak-ng 24%, others 0-7%).
    return {"piper": 0.25, "pico": 0.15, "flite": 0.15, "festival": 0.15, "espeak": 0.1, "hibari": 0.2}


def _default_splits() -> dict[str, float]:
    return {"train": 0.89, "validation": 0.04, "test": 0.03, UNSEEN_VALIDATION_SPLIT: 0.01, UNSEEN_SPLIT: 0.03}


def _default_unseen_voices() -> list[str]:
    # One voice or more per engine that has several; Piper has a single voice, so it has none.
    return ["pico-en-GB", "flite-awb", "festival-ked_diphone", "espeak-en-gb-x-rp+m3",
            "espeak-en-gb-x-rp+f2", "espeak-en+m7"]


@dataclass
class SynthConfig:
    """Everything that decides the corpus's content; the output is a function of this alone."""

    hours: float = 1.0
    seed: int = 0
    engine_shares: dict[str, float] = field(default_factory=_default_shares)  # of the audio; renormalised over installed engines
    split_fractions: dict[str, float] = field(default_factory=_default_splits)
    unseen_voices: list[str] = field(default_factory=_default_unseen_voices)  # speaker ids only in the unseen-voice splits
    # Leave one engine out: "" for none, or an engine whose voices then speak only in test_unseen_engine,
    # which holds held_out_engine_fraction x hours of audio on top of `hours`.
    held_out_engine: str = ""
    held_out_engine_fraction: float = 0.03
    # Speaking-rate factor (> 1 is faster) and factor on the voice's usual F0 where the engine allows.
    # Whisper tiny.en misheard flite at rates above 1.05 about a quarter more often than below it.
    rate_range: tuple[float, float] = (0.8, 1.1)
    pitch_range: tuple[float, float] = (0.85, 1.15)
    augment: bool = True
    # Speed perturbation (Ko et al. 2015): one of these factors, uniformly.
    speed_factors: tuple[float, ...] = (0.9, 1.0, 1.1)
    # Vocal tract length perturbation (Jaitly & Hinton 2013): warp factor alpha, uniformly in the range.
    vtlp_probability: float = 0.5
    vtlp_alpha_range: tuple[float, float] = (0.9, 1.1)
    telephone_probability: float = 0.1  # 300-3400 Hz after 8 kHz
    codec_probability: float = 0.1  # mu-law or Vorbis
    babble_probability: float = 0.15  # other utterances of the batch behind the speech
    babble_snr_db_range: tuple[float, float] = (10.0, 25.0)
    noise_probability: float = 0.8
    # White or pink noise against active speech. At 15-40 dB Whisper tiny.en misheard SVOX Pico twice
    # as often as on clean audio (33% vs 16% WER on the same 25 sentences); at 25-45 dB, 19%.
    snr_db_range: tuple[float, float] = (25.0, 45.0)
    gain_db_range: tuple[float, float] = (-12.0, -1.0)  # peak level in dBFS
    reverb_probability: float = 0.25
    reverb_rt60_range_s: tuple[float, float] = (0.15, 0.6)
    batch_size: int = 32  # utterances per engine call; part of the plan (Piper's noise is seeded per batch)
    min_words: int = 4
    max_words: int = 24

    def __post_init__(self):
        for name in ("rate_range", "pitch_range", "snr_db_range", "gain_db_range", "reverb_rt60_range_s",
                     "speed_factors", "vtlp_alpha_range", "babble_snr_db_range"):
            setattr(self, name, tuple(float(v) for v in getattr(self, name)))
        self.validate()

    def validate(self) -> None:
        def fail(name, allowed):
            raise ConfigError(f"synth.{name}: {getattr(self, name)!r} is not allowed; {allowed}")

        if not self.hours > 0:
            fail("hours", "a positive number of hours")
        unknown = set(self.engine_shares) - set(ENGINES)
        if unknown or any(v < 0 for v in self.engine_shares.values()) or not sum(self.engine_shares.values()) > 0:
            fail("engine_shares", f"non-negative shares, not all zero, for engines among {sorted(ENGINES)}")
        if set(self.split_fractions) - set(SPLITS) or any(v < 0 for v in self.split_fractions.values()) \
                or abs(sum(self.split_fractions.values()) - 1) > 1e-6:
            fail("split_fractions", f"non-negative fractions of {list(SPLITS)} summing to 1")
        for name in ("rate_range", "pitch_range", "snr_db_range", "gain_db_range", "reverb_rt60_range_s",
                     "vtlp_alpha_range", "babble_snr_db_range"):
            if len(getattr(self, name)) != 2 or getattr(self, name)[0] > getattr(self, name)[1]:
                fail(name, "a pair (low, high) with low <= high")
        if not self.speed_factors or any(not 0.5 <= f <= 2.0 for f in self.speed_factors):
            fail("speed_factors", "one or more factors in [0.5, 2]")
        if not 0.5 <= self.vtlp_alpha_range[0] and self.vtlp_alpha_range[1] <= 2.0:
            fail("vtlp_alpha_range", "factors in [0.5, 2]")
        for name in ("vtlp_probability", "telephone_probability", "codec_probability", "babble_probability",
                     "noise_probability", "reverb_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(name, "a probability in [0, 1]")
        if self.held_out_engine and self.held_out_engine not in ENGINES:
            fail("held_out_engine", f'"" or one of {sorted(ENGINES)}')
        if self.held_out_engine and not self.held_out_engine_fraction > 0:
            fail("held_out_engine_fraction", "a positive fraction of `hours` when held_out_engine is set")
        if not 0 < self.rate_range[0] or not 0 < self.pitch_range[0]:
            fail("rate_range", "positive factors")
        if self.batch_size < 1:
            fail("batch_size", "a positive integer")
        if not 1 <= self.min_words <= self.max_words:
            fail("min_words", "1 <= min_words <= max_words")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "SynthConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"synth: unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class Augmentation:
    gain_db: float  # peak level of the clean speech, dBFS
    noise: str | None = None  # "white" or "pink"
    snr_db: float | None = None
    reverb_rt60_s: float | None = None  # decay time of a synthetic exponential impulse response
    reverb_drr_db: float | None = None  # direct-to-reverberant energy ratio
    speed: float = 1.0  # speed perturbation factor
    vtlp_alpha: float = 1.0  # vocal tract length warp factor
    babble_snr_db: float | None = None  # speech to babble ratio; None: no babble
    telephone: bool = False
    codec: str | None = None  # a key of augment.CODECS


@dataclass(frozen=True)
class PlannedUtterance:
    id: str
    index: int
    split: str
    text: str
    engine: str
    voice: str
    rate: float
    pitch: float | None
    options: dict
    augmentation: Augmentation
    estimated_duration_s: float

    @property
    def speaker(self) -> str:
        return speaker_id(self.engine, self.voice)

    @property
    def audio_filepath(self) -> str:
        return f"{self.split}/{self.id}.flac"

    def request(self) -> SpeechRequest:
        return SpeechRequest(self.text, self.voice, self.rate, self.pitch, self.options)


def speaker_id(engine: str, voice: str) -> str:
    return f"{engine}-{voice}"


@dataclass
class CorpusInfo:
    out_dir: Path
    manifests: dict[str, Path]
    hours: dict[str, float]
    engine_counts: dict[str, dict[str, int]]
    missing_engines: dict[str, str]
    n_failed: int
    cached: bool = False


# --- planning ---


def _split_voices(config: SynthConfig, engines: list[str]) -> dict[str, dict[str, list[str]]]:
    """split -> engine -> voices: the unseen-voice splits get exactly the held-out voices, the
    held-out engine speaks only in its own split, with all its voices."""
    held_out = set(config.unseen_voices)
    others = [e for e in engines if e != config.held_out_engine]
    seen = {e: [v for v in ENGINES[e].voices() if speaker_id(e, v) not in held_out] for e in others}
    unseen = {e: [v for v in ENGINES[e].voices() if speaker_id(e, v) in held_out] for e in others}
    voices = {split: {e: vs for e, vs in (unseen if split in UNSEEN_VOICE_SPLITS else seen).items() if vs}
              for split in SPLITS}
    if config.held_out_engine in engines:
        voices[UNSEEN_ENGINE_SPLIT] = {config.held_out_engine: list(ENGINES[config.held_out_engine].voices())}
    return voices


def split_hours(config: SynthConfig) -> dict[str, float]:
    """Planned hours of each split the config writes."""
    hours = {split: config.hours * config.split_fractions.get(split, 0.0) for split in SPLITS}
    if config.held_out_engine:
        hours[UNSEEN_ENGINE_SPLIT] = config.hours * config.held_out_engine_fraction
    return {split: h for split, h in hours.items() if h > 0}


def _next_engine(shares: dict[str, float], planned_s: Counter) -> str:
    """The engine furthest behind its share of the planned seconds so far (shares are of audio time,
    and engines speak at different speeds), so every prefix of a split keeps the proportions."""
    total_s = sum(planned_s.values())
    return max(shares, key=lambda e: (shares[e] * total_s - planned_s[e], shares[e], e))


def _draw_augmentation(config: SynthConfig, rng: random.Random) -> Augmentation:
    gain_db = round(rng.uniform(*config.gain_db_range), 2)
    if not config.augment:
        return Augmentation(gain_db=-1.0)
    noise = snr = rt60 = drr = babble_snr = codec = None
    if rng.random() < config.noise_probability:
        noise, snr = rng.choice(["white", "pink"]), round(rng.uniform(*config.snr_db_range), 2)
    if rng.random() < config.reverb_probability:
        rt60, drr = round(rng.uniform(*config.reverb_rt60_range_s), 3), round(rng.uniform(0.0, 10.0), 2)
    speed = rng.choice(config.speed_factors)
    alpha = round(rng.uniform(*config.vtlp_alpha_range), 3) if rng.random() < config.vtlp_probability else 1.0
    if rng.random() < config.babble_probability:
        babble_snr = round(rng.uniform(*config.babble_snr_db_range), 2)
    telephone = rng.random() < config.telephone_probability
    if rng.random() < config.codec_probability:
        codec = rng.choice(sorted(CODECS))
    return Augmentation(gain_db, noise, snr, rt60, drr, speed, alpha, babble_snr, telephone, codec)


def _usable_engines(config: SynthConfig, availability: dict[str, bool | str]) -> list[str]:
    return [e for e, share in config.engine_shares.items() if share > 0 and availability.get(e) is True]


def plan_corpus(config: SynthConfig, availability: dict[str, bool | str] | None = None) -> list[PlannedUtterance]:
    """Every utterance of the corpus, deterministic in (config, installed engines and voices)."""
    availability = available_engines() if availability is None else availability
    engines = _usable_engines(config, availability)
    if not engines:
        raise ConfigError(f"synth.engine_shares: none of {sorted(config.engine_shares)} is installed: {availability}")
    voices = _split_voices(config, engines)
    generator = SentenceGenerator(config.min_words, config.max_words)
    used_sentences: set[str] = set()
    plan: list[PlannedUtterance] = []
    for split, hours in split_hours(config).items():
        target_s = hours * 3600
        shares = {e: config.engine_shares[e] for e in voices.get(split, {})}
        if target_s <= 0 or not shares:
            continue
        planned_s: Counter = Counter()  # estimated seconds per engine
        while sum(planned_s.values()) < target_s:
            index = len(plan)
            rng = random.Random(f"smolwhisper-synth/{config.seed}/{index}")  # str seeds hash with SHA-512: stable
            explore = split == "train"  # new words go to training; the others draw words by frequency
            text = generator.sentence(rng, explore)
            while text in used_sentences:  # no sentence is spoken twice, so no split shares one
                text = generator.sentence(rng, explore)
            used_sentences.add(text)
            engine = _next_engine(shares, planned_s)
            voice = rng.choice(voices[split][engine])
            rate = round(rng.uniform(*config.rate_range), 3)
            pitch = round(rng.uniform(*config.pitch_range), 3) if ENGINES[engine].supports_pitch(voice) else None
            options = ENGINES[engine].draw_options(rng)
            augmentation = _draw_augmentation(config, rng)
            estimate = SECONDS_PER_CHARACTER[engine] * len(text) / rate / augmentation.speed
            plan.append(PlannedUtterance(f"{index:06d}", index, split, text, engine, voice, rate, pitch, options,
                                         augmentation, round(estimate, 3)))
            planned_s[engine] += estimate
    return plan


def plan_batches(plan: list[PlannedUtterance], batch_size: int) -> list[list[PlannedUtterance]]:
    """Consecutive utterances of one engine, `batch_size` at a time (fixed by the plan)."""
    by_engine: dict[str, list[PlannedUtterance]] = defaultdict(list)
    for utterance in plan:
        by_engine[utterance.engine].append(utterance)
    return [group[i:i + batch_size] for group in by_engine.values() for i in range(0, len(group), batch_size)]


def batch_seed(config_seed: int, batch: list[PlannedUtterance]) -> int:
    return int(np.random.SeedSequence([config_seed, batch[0].index, 1]).generate_state(1)[0])


# --- augmentation (every random draw from the utterance's own generator; see augment.py) ---


def augment(audio: np.ndarray, augmentation: Augmentation, rng: np.random.Generator,
            babble_sources: list[np.ndarray] = ()) -> np.ndarray:
    """The voice changed (speed, vocal tract), the room (reverberation), the level, other talkers,
    noise, then the channel (telephone band, codec); never clipped."""
    audio = speed_perturb(audio.astype(np.float64), augmentation.speed)
    audio = vocal_tract_length_perturb(audio, augmentation.vtlp_alpha)
    if augmentation.reverb_rt60_s:
        audio = reverberate(audio, augmentation.reverb_rt60_s, augmentation.reverb_drr_db or 0.0, rng)
    audio *= 10 ** (augmentation.gain_db / 20) / (np.max(np.abs(audio)) + 1e-12)
    if augmentation.babble_snr_db is not None:
        audio = babble(audio, list(babble_sources), augmentation.babble_snr_db, rng)
    if augmentation.noise:
        noise_power = active_speech_power(audio) * 10 ** (-augmentation.snr_db / 10)
        audio = audio + coloured_noise(len(audio), augmentation.noise, rng) * np.sqrt(noise_power)
    if augmentation.telephone:
        audio = telephone_band(audio)
    peak = np.max(np.abs(audio))
    if peak > 0.99:  # never clip: scale back
        audio *= 0.99 / peak
    if augmentation.codec:
        audio = CODECS[augmentation.codec](audio)
        audio *= min(1.0, 0.99 / (np.max(np.abs(audio)) + 1e-12))
    return audio.astype(np.float32)


# --- writing ---


def _write_flac_atomically(path: Path, audio: np.ndarray) -> None:
    temporary = path.with_name(f".{path.name}.partial")
    soundfile.write(temporary, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(temporary, path)


def _flac_duration_s(path: Path) -> float:
    return soundfile.info(str(path)).frames / SAMPLE_RATE


def synthesize_plan_batch(batch: list[PlannedUtterance], out_dir: str | Path, config_seed: int) -> list[tuple[int, float | None, str | None]]:
    """Speak, augment and write one batch; returns (index, duration_s, error) per utterance.

    Utterances whose FLAC exists are skipped. Piper's audio depends on the whole batch (its noise
    generator runs through the batch), so a Piper batch with anything missing is spoken whole."""
    out_dir = Path(out_dir)
    paths = [out_dir / u.audio_filepath for u in batch]
    todo = [i for i, path in enumerate(paths) if not path.exists()]
    # Piper's audio depends on the whole batch, and babble is made of the batch's other utterances:
    # either way, a batch with anything missing is spoken whole.
    if todo and (batch[0].engine == "piper" or any(batch[i].augmentation.babble_snr_db is not None for i in todo)):
        todo = list(range(len(batch)))
    results: dict[int, tuple[int, float | None, str | None]] = {}
    if todo:
        spoken = synthesize_batch(batch[0].engine, [batch[i].request() for i in todo], batch_seed(config_seed, batch))
        clean = [audio for audio in spoken if not isinstance(audio, str)]
        for i, audio in zip(todo, spoken):
            utterance, path = batch[i], paths[i]
            if isinstance(audio, str):
                results[i] = (utterance.index, None, audio)
                continue
            if not path.exists():
                rng = np.random.default_rng([config_seed, utterance.index, 2])
                sources = _babble_sources(utterance, audio, clean, config_seed)
                path.parent.mkdir(parents=True, exist_ok=True)
                _write_flac_atomically(path, augment(audio, utterance.augmentation, rng, sources))
            results[i] = (utterance.index, _flac_duration_s(path), None)
    for i, path in enumerate(paths):
        if i not in results:
            results[i] = (batch[i].index, _flac_duration_s(path), None)
    return [results[i] for i in range(len(batch))]


def _babble_sources(utterance: PlannedUtterance, audio: np.ndarray, spoken: list[np.ndarray],
                    config_seed: int) -> list[np.ndarray]:
    """2-4 other utterances of the batch, from a generator of their own, so that the utterance's
    other draws do not depend on how many were spoken (a resumed batch speaks only what is missing,
    unless an utterance needs babble: then it speaks the whole batch)."""
    if utterance.augmentation.babble_snr_db is None:
        return []
    rng = np.random.default_rng([config_seed, utterance.index, 3])
    others = [other for other in spoken if other is not audio]
    return [others[j] for j in rng.permutation(len(others))[: int(rng.integers(2, 5))]]


def plan_fingerprint(config: SynthConfig, availability: dict[str, bool | str]) -> str:
    """What the corpus's content depends on: the config, the installed engines and their voices."""
    engines = _usable_engines(config, availability)
    described = {"version": PLAN_VERSION, "config": config.to_dict(),
                 "voices": {e: list(ENGINES[e].voices()) for e in engines}}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def _info_from_record(out_dir: Path, record: dict, cached: bool) -> CorpusInfo:
    return CorpusInfo(out_dir, {s: out_dir / f"{s}.jsonl" for s in record["hours"]}, record["hours"],
                      record["engine_counts"], record["missing_engines"], record["n_failed"], cached)


def _cached_corpus(out_dir: Path, fingerprint: str) -> dict | None:
    """The corpus.json record when the corpus at out_dir is complete and matches, else None."""
    try:
        record = json.loads((out_dir / CORPUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fingerprint or record.get("status") != "complete" or record.get("n_failed"):
        return None
    for split in record["hours"]:
        try:
            lines = (out_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        if not all((out_dir / json.loads(line)["audio_filepath"]).exists() for line in lines):
            return None
    return record


def _clear_stale_audio(out_dir: Path, fingerprint: str, config: SynthConfig) -> None:
    """A corpus made from another plan reuses ids for other content: drop its FLACs before resuming,
    and say why, since remaking a large corpus takes a while."""
    try:
        record = json.loads((out_dir / CORPUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if record.get("fingerprint") != fingerprint:
        old, new = record.get("config", {}), config.to_dict()
        changed = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
        why = (f"its config differs in {', '.join(changed)}" if changed else
               "the same config, but this version's sentences, voices or installed engines differ")
        print(f"smolwhisper data synth: {out_dir} was made from another plan ({why}); making it anew")
        for split in ALL_SPLITS:
            for path in (out_dir / split).glob("*.flac"):
                path.unlink()


def synthesize_corpus(config: SynthConfig, out_dir: str | Path, workers: int | None = None,
                      progress: bool = True) -> CorpusInfo:
    """Make (or reuse, or resume) the corpus described by `config` in `out_dir`."""
    out_dir = Path(out_dir)
    availability = available_engines()
    missing = {e: reason for e, reason in availability.items() if reason is not True and config.engine_shares.get(e, 0) > 0}
    fingerprint = plan_fingerprint(config, availability)
    record = _cached_corpus(out_dir, fingerprint)
    if record is not None:
        return _info_from_record(out_dir, record, cached=True)
    for engine, reason in missing.items():
        print(f"smolwhisper data synth: engine {engine!r} is missing, its share goes to the others: {reason}")

    plan = plan_corpus(config, availability)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale_audio(out_dir, fingerprint, config)
    record = {"status": "incomplete", "fingerprint": fingerprint, "config": config.to_dict()}
    write_atomic(out_dir / CORPUS_FILE, json.dumps(record, indent=2) + "\n")

    durations, errors = _run_batches(plan_batches(plan, config.batch_size), out_dir, config.seed,
                                     workers or os.cpu_count() or 1, progress)
    record = _write_manifests(out_dir, plan, durations, errors, config, fingerprint, missing)
    write_atomic(out_dir / CORPUS_FILE, json.dumps(record, indent=2) + "\n")
    return _info_from_record(out_dir, record, cached=False)


def _run_batches(batches, out_dir: Path, seed: int, workers: int, progress: bool):
    durations: dict[int, float] = {}
    errors: dict[int, str] = {}
    bar = tqdm(total=sum(len(b) for b in batches), unit="utt", desc="synthesizing", disable=not progress)

    def collect(results):
        for index, duration_s, error in results:
            if error is None:
                durations[index] = duration_s
            else:
                errors[index] = error
        bar.update(len(results))
        bar.set_postfix(hours=f"{sum(durations.values()) / 3600:.2f}", failed=len(errors))

    # Piper batches are the slowest: start them first so the pool ends evenly.
    ordered = sorted(batches, key=lambda b: b[0].engine != "piper")
    if workers <= 1:
        for batch in ordered:
            collect(synthesize_plan_batch(batch, out_dir, seed))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(synthesize_plan_batch, batch, str(out_dir), seed) for batch in ordered]
            for future in as_completed(futures):
                collect(future.result())
    bar.close()
    return durations, errors


def _held_out_kind(split: str) -> str | None:
    """What a split holds out of training: None, "sentences" (new sentences, voices heard in
    training), "voices" or "engine"."""
    if split == "train":
        return None
    if split in UNSEEN_VOICE_SPLITS:
        return "voices"
    return "engine" if split == UNSEEN_ENGINE_SPLIT else "sentences"


def _write_manifests(out_dir: Path, plan, durations, errors, config: SynthConfig, fingerprint: str, missing) -> dict:
    lines: dict[str, list[str]] = defaultdict(list)
    hours: dict[str, float] = defaultdict(float)
    engine_counts: dict[str, Counter] = defaultdict(Counter)
    engine_hours: Counter = Counter()
    voices: dict[str, set[str]] = defaultdict(set)
    for u in plan:
        if u.index not in durations:
            continue
        duration = round(durations[u.index], 4)
        lines[u.split].append(json.dumps({"audio_filepath": u.audio_filepath, "text": u.text, "duration": duration,
                                          "speaker": u.speaker, "engine": u.engine}))
        hours[u.split] += duration / 3600
        engine_counts[u.split][u.engine] += 1
        engine_hours[u.engine] += duration / 3600
        voices[u.split].add(u.speaker)
    for split in sorted({u.split for u in plan}):
        write_atomic(out_dir / f"{split}.jsonl", "".join(line + "\n" for line in lines[split]))
    engine_of = {u.index: u.engine for u in plan}
    failures = Counter(engine_of[i] for i in errors)
    return {
        "status": "complete",
        "fingerprint": fingerprint,
        "config": config.to_dict(),
        "splits": {s: {"manifest": f"{s}.jsonl", "hours": round(hours[s], 4), "voices": sorted(voices[s]),
                       "held_out": _held_out_kind(s)} for s in sorted({u.split for u in plan}, key=ALL_SPLITS.index)},
        "hours": {s: round(h, 4) for s, h in hours.items()},
        "total_hours": round(sum(hours.values()), 4),
        "engine_counts": {s: dict(c) for s, c in engine_counts.items()},
        "engine_hours": {e: round(h, 4) for e, h in engine_hours.items()},
        "voices": {s: sorted(v) for s, v in voices.items()},
        "missing_engines": missing,
        "n_failed": len(errors),
        "failed_by_engine": dict(failures),
        "failure_examples": sorted(set(errors.values()))[:10],
        "licences": {name: engine.licence for name, engine in ENGINES.items()},
    }
