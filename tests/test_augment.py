"""Each augmentation does what its name says, and the corpus's augmentation is a function of the
utterance's seed."""

import numpy as np
import pytest

from smolwhisper.data.synth.augment import (active_speech_power, babble, mu_law, speed_perturb, telephone_band,
                                            vocal_tract_length_perturb, vorbis, vtlp_warp)
from smolwhisper.data.synth.corpus import Augmentation, augment

RATE = 16000


def tone(hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return 0.5 * np.sin(2 * np.pi * hz * t)


def peak_hz(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * RATE / len(audio))


def band_energy(audio: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    frequencies = np.fft.rfftfreq(len(audio), 1 / RATE)
    return float(spectrum[(frequencies >= low) & (frequencies < high)].sum())


def test_speed_perturbation_changes_tempo_and_pitch_together():
    out = speed_perturb(tone(1000.0), 1.1)
    assert len(out) == pytest.approx(RATE / 1.1, abs=2)
    assert peak_hz(out) == pytest.approx(1100.0, abs=5)
    assert speed_perturb(tone(1000.0), 1.0) is not None and len(speed_perturb(tone(1000.0), 0.9)) == pytest.approx(RATE / 0.9, abs=2)


def test_vocal_tract_length_perturbation_moves_a_formant_and_keeps_the_length():
    rng = np.random.default_rng(0)
    from scipy import signal
    b, a = signal.iirpeak(1000, 4, fs=RATE)  # a resonance at 1 kHz: a formant
    voiced = signal.lfilter(b, a, rng.standard_normal(RATE))
    up = vocal_tract_length_perturb(voiced, 1.1)
    assert len(up) == len(voiced)
    smooth = lambda x: np.convolve(np.abs(np.fft.rfft(x)) ** 2, np.ones(200) / 200, mode="same")
    frequencies = np.fft.rfftfreq(RATE, 1 / RATE)
    assert frequencies[np.argmax(smooth(up))] == pytest.approx(1100, abs=40)
    assert frequencies[np.argmax(smooth(voiced))] == pytest.approx(1000, abs=40)
    # Jaitly & Hinton's warp: linear below the boundary, Nyquist maps onto itself.
    assert vtlp_warp(np.array([1000.0, 8000.0]), 0.9).tolist() == pytest.approx([900.0, 8000.0])


def test_telephone_band_removes_energy_above_3400_and_below_300_hz():
    rng = np.random.default_rng(1)
    white = rng.standard_normal(2 * RATE) * 0.1
    out = telephone_band(white)
    in_band = band_energy(out, 500, 3000) / band_energy(white, 500, 3000)
    above = band_energy(out, 3600, 8000) / band_energy(white, 3600, 8000)
    below = band_energy(out, 20, 200) / band_energy(white, 20, 200)
    assert in_band > 0.8 and above < 1e-3 and below < 1e-2, (in_band, above, below)


def test_mu_law_keeps_256_levels_and_the_signal():
    audio = tone(440.0)
    out = mu_law(audio)
    assert len(np.unique(np.round(out, 9))) <= 256
    assert np.corrcoef(audio, out)[0, 1] > 0.999


def test_vorbis_round_trip_keeps_length_and_signal():
    audio = tone(440.0)
    out = vorbis(audio)
    assert len(out) == len(audio) and np.corrcoef(audio[2000:-2000], out[2000:-2000])[0, 1] > 0.95


def test_babble_sits_at_the_asked_ratio_below_the_speech():
    rng = np.random.default_rng(2)
    speech = tone(300.0, 2.0)
    talkers = [tone(700.0, 1.3), tone(1300.0, 0.7)]
    out = babble(speech, talkers, 15.0, rng)
    added = out - speech
    assert 10 * np.log10(active_speech_power(speech) / active_speech_power(added)) == pytest.approx(15.0, abs=0.5)
    assert np.array_equal(babble(speech, [], 15.0, rng), speech)


def test_the_corpus_augmentation_is_a_function_of_the_utterance_seed():
    rng = np.random.default_rng(3)
    speech = (tone(220.0, 1.5) * np.hanning(int(1.5 * RATE))).astype(np.float32)
    others = [tone(500.0, 1.0), tone(900.0, 0.8)]
    everything = Augmentation(gain_db=-6.0, noise="pink", snr_db=30.0, reverb_rt60_s=0.3, reverb_drr_db=5.0, speed=0.9,
                              vtlp_alpha=1.05, babble_snr_db=20.0, telephone=True, codec="mulaw")
    first = augment(speech, everything, np.random.default_rng([7, 42, 2]), others)
    again = augment(speech, everything, np.random.default_rng([7, 42, 2]), others)
    other_seed = augment(speech, everything, np.random.default_rng([7, 43, 2]), others)
    assert np.array_equal(first, again) and not np.array_equal(first, other_seed)
    assert len(first) == pytest.approx(len(speech) / 0.9, abs=2) and np.max(np.abs(first)) <= 0.99
    assert band_energy(first, 3600, 8000) < 1e-3 * band_energy(first, 300, 3400)
    del rng
