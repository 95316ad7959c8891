"""Whisper's audio front-end: load, pad, and turn waveforms into log-Mel spectrograms.

Follows openai/whisper's `audio.py` numerically, with two changes: the Mel filterbank is
computed here (Slaney-style, as librosa builds it) instead of read from a bundled asset,
and `log_mel_spectrogram` takes a batch [batch, samples] with one dynamic-range floor per row.
"""

from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr
import torch
import torch.nn.functional as F

# hard-coded audio hyperparameters, as in Whisper
SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
CHUNK_LENGTH = 30
N_MELS = 80
N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE  # 480000 samples in a 30-second chunk
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 frames in a mel spectrogram input

# What a file must be to count as audio: a sample rate from telephone speech to the highest any
# recorder writes, and float samples near full scale (1.0). A float file peaking 60 dB over full scale
# holds something other than a waveform, and squared in the STFT it would overflow float32 to inf.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768_000
MAX_ABS_SAMPLE = 1e3

# log-Mel scaling: clamp before log10, keep 8 decades (80 dB) below the peak, then (x + 4) / 4
LOG_FLOOR = 1e-10
DYNAMIC_RANGE = 8.0

# Slaney's Auditory Toolbox Mel scale (librosa's htk=False): linear below 1 kHz, logarithmic above
MEL_LINEAR_HZ = 200.0 / 3  # Hz per Mel in the linear region
MEL_LOG_START_HZ = 1000.0
MEL_LOG_START = MEL_LOG_START_HZ / MEL_LINEAR_HZ  # 15 Mel
MEL_LOG_STEP = np.log(6.4) / 27  # log-Hz per Mel above 1 kHz


class AudioError(ValueError):
    """A file that cannot be read as audio; data loaders catch it to skip and count bad files."""

    def __init__(self, path: str | PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"cannot load audio {self.path!r}: {reason}")

    def __reduce__(self):  # picklable, so errors cross data-loader worker processes intact
        return type(self), (self.path, self.reason)


class MissingAudioError(AudioError, FileNotFoundError):
    """No file at the path; also a FileNotFoundError, so loaders can count missing files apart."""


class AudioTooLongError(AudioError):
    """Longer than the caller allows, seen from the header: the file is never decoded."""


def load_audio(path: str | PathLike, sample_rate: int = SAMPLE_RATE, max_duration_s: float | None = None) -> np.ndarray:
    """Read an audio file as a mono float32 waveform at `sample_rate`, averaging channels."""
    if not Path(path).is_file():
        raise MissingAudioError(path, "no such file")
    return decode_audio(path, str(path), sample_rate, max_duration_s)


def decode_audio(source: str | PathLike | BinaryIO, name: str, sample_rate: int = SAMPLE_RATE,
                 max_duration_s: float | None = None) -> np.ndarray:
    """Decode a file or file-like object (e.g. io.BytesIO of a dataset's audio bytes); errors name `name`.

    Raises AudioError for anything that is not a finite waveform at a plausible sample rate, and
    AudioTooLongError, before decoding, for a file over `max_duration_s`."""
    try:
        with soundfile.SoundFile(source) as file:
            _check_header(name, file.samplerate, file.frames, max_duration_s)
            file_rate, audio = file.samplerate, file.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (RuntimeError, OSError, ValueError) as error:  # libsndfile errors are RuntimeErrors
        raise AudioError(name, str(error)) from error
    except MemoryError:  # a damaged header that claims more frames than memory holds
        raise AudioError(name, "its header claims more samples than fit in memory") from None
    return _to_mono(audio, file_rate, name, sample_rate)


def load_segment(path: str | PathLike, start_s: float, duration_s: float, sample_rate: int = SAMPLE_RATE,
                 speed: float = 1.0, channel: int | None = None) -> np.ndarray:
    """`duration_s` seconds from `start_s` of a (long) recording, read by seeking, not decoding what
    comes before; `speed` then plays it that many times faster (speed perturbation); `channel` picks
    one, else channels are averaged."""
    if not Path(path).is_file():
        raise MissingAudioError(path, "no such file")
    try:
        with soundfile.SoundFile(path) as file:
            _check_header(str(path), file.samplerate, file.frames, None)
            file.seek(min(file.frames, round(start_s * file.samplerate)))
            file_rate, audio = file.samplerate, file.read(round(duration_s * file.samplerate), dtype="float32",
                                                          always_2d=True)
    except AudioError:
        raise
    except (RuntimeError, OSError, ValueError) as error:
        raise AudioError(path, str(error)) from error
    if channel is not None:
        if channel >= audio.shape[1]:
            raise AudioError(path, f"has {audio.shape[1]} channel(s), not channel {channel}")
        audio = audio[:, channel: channel + 1]
    return _to_mono(audio, file_rate * speed, str(path), sample_rate)


def _to_mono(audio: np.ndarray, file_rate: float, name: str, sample_rate: int) -> np.ndarray:
    """[frames, channels] at `file_rate` to checked mono float32 at `sample_rate`."""
    if audio.shape[0] == 0:
        raise AudioError(name, "contains no samples")
    with np.errstate(invalid="ignore", over="ignore"):  # inf and -inf average to NaN, refused just below
        audio = audio.mean(axis=1)
    if not np.isfinite(audio).all():
        raise AudioError(name, "contains NaN or infinite samples")
    if np.abs(audio).max() > MAX_ABS_SAMPLE:
        raise AudioError(name, f"peaks at {np.abs(audio).max():.3g}, not a waveform near full scale (1.0)")
    if file_rate != sample_rate:
        audio = soxr.resample(audio, file_rate, sample_rate, quality="HQ")
        if audio.size == 0:
            raise AudioError(name, f"holds less than one sample at {sample_rate} Hz")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _check_header(name: str, file_rate: int, frames: int, max_duration_s: float | None) -> None:
    if not MIN_SAMPLE_RATE <= file_rate <= MAX_SAMPLE_RATE:
        raise AudioError(name, f"sample rate {file_rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if max_duration_s is not None and frames / file_rate > max_duration_s:
        raise AudioTooLongError(name, f"{frames / file_rate:.1f} s long, over the {max_duration_s:g} s allowed")


def pad_or_trim(array: np.ndarray | torch.Tensor, length: int = N_SAMPLES, *, axis: int = -1):
    """Zero-pad or cut `array` along `axis` to `length`, as the encoder's fixed 30 s input expects."""
    size = array.shape[axis]
    if torch.is_tensor(array):
        if size > length:
            return array.narrow(axis, 0, length)
        # F.pad lists (left, right) pairs from the last dimension backwards
        pad = [0, 0] * (array.ndim - axis % array.ndim - 1) + [0, length - size]
        return F.pad(array, pad) if size < length else array
    if size > length:
        return array.take(indices=range(length), axis=axis)
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, length - size)
    return np.pad(array, widths) if size < length else array


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    log_mel = MEL_LOG_START + np.log(np.maximum(hz, MEL_LOG_START_HZ) / MEL_LOG_START_HZ) / MEL_LOG_STEP
    return np.where(hz >= MEL_LOG_START_HZ, log_mel, hz / MEL_LINEAR_HZ)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    log_hz = MEL_LOG_START_HZ * np.exp(MEL_LOG_STEP * (mel - MEL_LOG_START))
    return np.where(mel >= MEL_LOG_START, log_hz, mel * MEL_LINEAR_HZ)


@lru_cache(maxsize=None)
def mel_filters(n_mels: int = N_MELS, device: str | torch.device | None = None) -> torch.Tensor:
    """Triangular Mel filterbank [n_mels, N_FFT // 2 + 1], area-normalised ("slaney").

    Same as `librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)`, which Whisper ships
    precomputed in `mel_filters.npz`; computing it keeps us free of that asset and of librosa.
    """
    fft_hz = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE)
    # n_mels triangles need n_mels + 2 edges, evenly spaced in Mel from 0 Hz (0 Mel) to Nyquist
    edges_hz = _mel_to_hz(np.linspace(0.0, _hz_to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2))
    widths_hz = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths_hz[:-1, None]
    falling = ramps[2:] / widths_hz[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per filter
    return torch.from_numpy(weights.astype(np.float32)).to(device)


def frame_lengths(n_samples: torch.Tensor | int) -> torch.Tensor | int:
    """Number of Mel frames `log_mel_spectrogram` yields for `n_samples` (the last STFT frame is dropped)."""
    return n_samples // HOP_LENGTH


def log_mel_spectrogram(
    audio: np.ndarray | torch.Tensor,
    n_mels: int = N_MELS,
    padding: int = 0,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Whisper's log-Mel spectrogram of 16 kHz audio.

    `audio` is [samples] (returns [n_mels, frames]) or [batch, samples] (returns
    [batch, n_mels, frames]); a batch is zero-padded on the right, which is also what Whisper
    does to every utterance (`padding=N_SAMPLES`), so rows equal per-utterance calls with that
    same padding. `padding` appends zeros; frames = frame_lengths(samples + padding).
    """
    audio = torch.as_tensor(audio, device=device, dtype=torch.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be [samples] or [batch, samples], got shape {tuple(audio.shape)}")
    if padding > 0:
        audio = F.pad(audio, (0, padding))
    window = torch.hann_window(N_FFT, device=audio.device)
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    power = stft.real.square() + stft.imag.square()  # |X|^2 without abs()'s square root
    # Whisper drops the last STFT frame, so 30 s of audio gives exactly N_FRAMES
    mel = mel_filters(n_mels, audio.device) @ power[..., :-1]

    log_spec = mel.clamp_(min=LOG_FLOOR).log10_()
    # the floor follows each utterance's own peak, so batching never changes a row
    peak = log_spec.amax(dim=(-2, -1), keepdim=True)
    return log_spec.clamp_(min=peak - DYNAMIC_RANGE).add_(4.0).div_(4.0)
