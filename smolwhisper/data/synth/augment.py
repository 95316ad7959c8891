"""Audio augmentations that make one voice sound like many, numpy, scipy and soxr only.

- Speed perturbation (Ko et al. 2015, "Audio augmentation for speech recognition"): resample by
  0.9, 1.0 or 1.1, which changes tempo and pitch together.
- Vocal tract length perturbation (Jaitly & Hinton 2013): warp the frequency axis of the
  short-time spectrum by a factor alpha with their piecewise-linear warp, which moves the formants
  as a longer or shorter vocal tract would.
- Reverberation (Polack's statistical model: a direct path plus exponentially decaying noise).
- Telephone band: 300-3400 Hz (ITU-T G.712) after a round trip through 8 kHz.
- Codecs: G.711 mu-law at 8 bits, or Ogg Vorbis at a low quality (libsndfile).
- Babble: other utterances summed behind the speech at a given signal-to-babble ratio.

Every random draw comes from the generator passed in, which the corpus seeds per utterance.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile
import soxr
from scipy import signal

SAMPLE_RATE = 16000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
VTLP_BOUNDARY_HZ = 4800.0  # Jaitly & Hinton's F_hi: above it the warp bends back to Nyquist
STFT_SIZE, STFT_HOP = 512, 128
MU = 255  # G.711 mu-law


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (Kaldi's speed perturbation): resample from rate*factor to rate."""
    if factor == 1.0:
        return audio
    return soxr.resample(audio.astype(np.float32), SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ").astype(np.float64)


def vtlp_warp(frequencies: np.ndarray, alpha: float, nyquist: float = SAMPLE_RATE / 2) -> np.ndarray:
    """Jaitly & Hinton's warp: f -> alpha f up to a boundary, then linear to Nyquist (which stays)."""
    boundary = VTLP_BOUNDARY_HZ * min(alpha, 1.0) / alpha
    upper = nyquist - (nyquist - VTLP_BOUNDARY_HZ * min(alpha, 1.0)) / (nyquist - boundary) * (nyquist - frequencies)
    return np.where(frequencies <= boundary, frequencies * alpha, upper)


def vocal_tract_length_perturb(audio: np.ndarray, alpha: float) -> np.ndarray:
    """Move the spectral envelope by `alpha` (> 1: formants up, a shorter vocal tract): each frame's
    magnitude at warped frequency w(f) is the original's at f; the phase is kept."""
    if alpha == 1.0 or len(audio) < STFT_SIZE:
        return audio
    _, _, spectrum = signal.stft(audio, SAMPLE_RATE, nperseg=STFT_SIZE, noverlap=STFT_SIZE - STFT_HOP)
    frequencies = np.linspace(0, SAMPLE_RATE / 2, spectrum.shape[0])
    source = np.interp(frequencies, vtlp_warp(frequencies, alpha), frequencies)  # the inverse warp
    magnitude = np.abs(spectrum)
    warped = np.stack([np.interp(source, frequencies, frame) for frame in magnitude.T], axis=1)
    _, out = signal.istft(warped * np.exp(1j * np.angle(spectrum)), SAMPLE_RATE, nperseg=STFT_SIZE,
                          noverlap=STFT_SIZE - STFT_HOP)
    return out[: len(audio)]


def reverberate(audio: np.ndarray, rt60_s: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a direct path plus a Gaussian tail decaying 60 dB in `rt60_s` (Polack's model)."""
    t = np.arange(int(rt60_s * SAMPLE_RATE)) / SAMPLE_RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.908 * t / rt60_s)  # ln(1000) = 6.908: 60 dB of amplitude
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail ** 2) + 1e-12))
    response = np.concatenate([[1.0], tail[1:]])
    return signal.fftconvolve(audio, response)[: len(audio)]


def telephone_band(audio: np.ndarray) -> np.ndarray:
    """A narrowband telephone channel: down to 8 kHz and back, then 300-3400 Hz (8th-order Butterworth)."""
    narrow = soxr.resample(audio.astype(np.float32), SAMPLE_RATE, 8000, quality="HQ")
    wide = soxr.resample(narrow, 8000, SAMPLE_RATE, quality="HQ").astype(np.float64)[: len(audio)]
    wide = np.pad(wide, (0, len(audio) - len(wide)))
    sos = signal.butter(8, TELEPHONE_BAND_HZ, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return signal.sosfiltfilt(sos, wide)


def mu_law(audio: np.ndarray) -> np.ndarray:
    """G.711 mu-law companding quantized to 8 bits, and back."""
    clipped = np.clip(audio, -1.0, 1.0)
    compressed = np.sign(clipped) * np.log1p(MU * np.abs(clipped)) / np.log1p(MU)
    quantized = np.round((compressed + 1) / 2 * MU) / MU * 2 - 1
    return np.sign(quantized) * ((1 + MU) ** np.abs(quantized) - 1) / MU


def vorbis(audio: np.ndarray, quality: float = 0.1) -> np.ndarray:
    """Through Ogg Vorbis at a low quality (libsndfile's compression_level: 1 is the smallest file)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1, 1).astype(np.float32), SAMPLE_RATE, format="OGG", subtype="VORBIS",
                    compression_level=1.0 - quality)
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float64")
    return np.pad(decoded, (0, max(0, len(audio) - len(decoded))))[: len(audio)]


CODECS = {"mulaw": mu_law, "vorbis": vorbis}


def babble(audio: np.ndarray, others: list[np.ndarray], snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add the other utterances, each from a random start and looped to length, at `snr_db` below
    the speech's active level."""
    if not others:
        return audio
    mixture = np.zeros(len(audio))
    for other in others:
        if not len(other):
            continue
        start = int(rng.integers(len(other)))
        mixture += np.resize(np.roll(other.astype(np.float64), -start), len(audio))
    babble_power = active_speech_power(mixture)
    if babble_power <= 0:
        return audio
    gain = np.sqrt(active_speech_power(audio) * 10 ** (-snr_db / 10) / babble_power)
    return audio + gain * mixture


def active_speech_power(audio: np.ndarray, frame: int = 400, floor_db: float = 30.0) -> float:
    """Mean power of the 25 ms frames within `floor_db` of the loudest one (pauses do not count)."""
    n = max(1, len(audio) // frame)
    powers = np.mean(audio[: n * frame].reshape(n, -1) ** 2, axis=1) if len(audio) >= frame else np.mean(audio ** 2)[None]
    active = powers[powers >= powers.max() * 10 ** (-floor_db / 10)]
    return float(active.mean()) if active.size else 0.0


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power white noise, or pink (1/f power) noise shaped in the frequency domain."""
    white = rng.standard_normal(n)
    if colour == "pink":
        spectrum = np.fft.rfft(white)
        frequency = np.arange(len(spectrum), dtype=np.float64)
        frequency[0] = 1.0
        white = np.fft.irfft(spectrum / np.sqrt(frequency), n)
    return white / (np.sqrt(np.mean(white ** 2)) + 1e-12)
