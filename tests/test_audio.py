"""The front-end matches openai/whisper's numerically, batched or not, on real speech."""

import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
import torch

from smolwhisper.audio import (
    HOP_LENGTH,
    N_FRAMES,
    N_FFT,
    N_SAMPLES,
    SAMPLE_RATE,
    AudioError,
    MissingAudioError,
    frame_lengths,
    load_audio,
    log_mel_spectrogram,
    mel_filters,
    pad_or_trim,
)

whisper_audio = pytest.importorskip("whisper.audio")

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "It is a quarter to four, and the meeting starts at five.",
    "Hello world.",
)


def espeak(text: str, path: Path) -> Path:
    """Real speech audio (22050 Hz mono WAV) from espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> list[tuple[Path, np.ndarray]]:
    """(wav path, 16 kHz float32 waveform resampled by soxr) for each sentence."""
    out = []
    for i, text in enumerate(SENTENCES):
        path = espeak(text, tmp_path_factory.mktemp("speech") / f"{i}.wav")
        audio, rate = soundfile.read(path, dtype="float32")
        assert rate == 22050  # so load_audio has to resample
        out.append((path, soxr.resample(audio, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)))
    return out


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filters_equal_whisper_asset(n_mels):
    asset = Path(whisper_audio.__file__).parent / "assets" / "mel_filters.npz"
    with np.load(asset) as f:
        expected = f[f"mel_{n_mels}"]
    ours = mel_filters(n_mels)
    assert ours.shape == (n_mels, N_FFT // 2 + 1) and ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-6)
    assert mel_filters(n_mels) is ours  # cached


def test_load_audio_resamples_to_16khz(speech):
    path, expected = speech[0]
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    np.testing.assert_array_equal(audio, expected)


@pytest.mark.parametrize("pad_to_30s", [False, True], ids=["raw", "padded-30s"])
def test_log_mel_equals_whisper(speech, pad_to_30s):
    audio = speech[0][1]
    if pad_to_30s:
        audio = whisper_audio.pad_or_trim(audio)
    expected = whisper_audio.log_mel_spectrogram(audio)
    ours = log_mel_spectrogram(audio)
    assert ours.shape == expected.shape == (80, frame_lengths(len(audio)))
    assert (ours - expected).abs().max() < 1e-4
    if pad_to_30s:
        assert ours.shape[-1] == N_FRAMES


def test_log_mel_padding_argument_equals_whisper(speech):
    audio = speech[1][1]
    expected = whisper_audio.log_mel_spectrogram(audio, padding=N_SAMPLES)
    assert (log_mel_spectrogram(torch.from_numpy(audio), padding=N_SAMPLES) - expected).abs().max() < 1e-4


def test_batch_rows_equal_single_utterances(speech):
    utterances = [audio for _, audio in speech]
    lengths = torch.tensor([len(u) for u in utterances])
    assert len(set(lengths.tolist())) == 3
    batch = torch.stack([torch.from_numpy(pad_or_trim(u, int(lengths.max()))) for u in utterances])

    mels = log_mel_spectrogram(batch)
    n_frames = frame_lengths(lengths)
    assert mels.shape == (3, 80, frame_lengths(int(lengths.max())))
    for row, audio, frames in zip(mels, utterances, n_frames.tolist()):
        # zero-padding a batch is the same as Whisper's `padding` zeros after one utterance
        padded = log_mel_spectrogram(audio, padding=int(lengths.max()) - len(audio))
        assert (row[:, :frames] - padded[:, :frames]).abs().max() < 1e-5
        # and equals the unpadded utterance wherever the STFT window lies inside it
        single = log_mel_spectrogram(audio)
        assert single.shape[-1] == frames
        inside = (len(audio) - N_FFT // 2) // HOP_LENGTH + 1
        assert (row[:, :inside] - single[:, :inside]).abs().max() < 1e-4


def test_stereo_44k_loads_as_mono_16k(tmp_path):
    duration_s, rate = 1.5, 44100
    t = np.arange(int(duration_s * rate)) / rate
    left = 0.8 * np.sin(2 * np.pi * 440.0 * t)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, np.zeros_like(left)], axis=1), rate, subtype="FLOAT")

    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - duration_s * SAMPLE_RATE) <= 1
    middle = audio[SAMPLE_RATE // 4 : -SAMPLE_RATE // 4]
    assert np.abs(middle).max() == pytest.approx(0.4, abs=0.01)  # the channel mean: (0.8 + 0) / 2
    spectrum = np.abs(np.fft.rfft(middle))
    assert np.fft.rfftfreq(len(middle), 1 / SAMPLE_RATE)[spectrum.argmax()] == pytest.approx(440.0, abs=2.0)


def test_missing_and_corrupt_files_raise_audio_error(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioError, match="missing.wav") as error:
        load_audio(missing)
    assert error.value.path == str(missing) and isinstance(error.value, ValueError)
    assert isinstance(error.value, MissingAudioError) and isinstance(error.value, FileNotFoundError)
    assert str(pickle.loads(pickle.dumps(error.value))) == str(error.value)  # crosses worker processes

    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" + bytes(range(256)))
    with pytest.raises(AudioError, match="corrupt.wav") as error:
        load_audio(corrupt)
    assert not isinstance(error.value, FileNotFoundError)


def test_pad_or_trim_matches_whisper():
    x = np.random.default_rng(0).standard_normal((3, 1000)).astype(np.float32)
    for axis in (0, -1):
        for length in (2, 1000, 1200):
            expected = whisper_audio.pad_or_trim(x, length, axis=axis)
            np.testing.assert_array_equal(pad_or_trim(x, length, axis=axis), expected)
            ours = pad_or_trim(torch.from_numpy(x), length, axis=axis)
            assert torch.equal(ours, torch.from_numpy(expected))


def _write(path, samples, rate, subtype="FLOAT"):
    soundfile.write(path, np.asarray(samples, dtype=np.float32), rate, subtype=subtype)
    return path


@pytest.mark.parametrize("samples, rate, message", [
    (np.r_[np.zeros(800), np.nan, np.zeros(800)], 16000, "contains NaN or infinite samples"),
    (np.r_[np.zeros(800), np.inf, np.zeros(800)], 16000, "contains NaN or infinite samples"),
    (np.full(1600, 1e30), 16000, "peaks at 1e\\+30, not a waveform near full scale"),
    (np.zeros(0), 16000, "contains no samples"),
    (np.zeros(1600), 100, "sample rate 100 Hz is outside 1000-768000 Hz"),
    (np.zeros(1600), 2_000_000, "sample rate 2000000 Hz is outside"),
])
def test_audio_that_is_not_a_finite_waveform_at_a_plausible_rate_is_refused(tmp_path, samples, rate, message):
    with pytest.raises(AudioError, match=message):
        load_audio(_write(tmp_path / "x.wav", samples, rate))


def test_a_file_over_the_duration_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    from smolwhisper.audio import AudioTooLongError

    # 2 hours at 1 kHz, 8-bit: 7 MB on disk; decoding it (to 115 M samples at 16 kHz) would take a while
    path = _write(tmp_path / "long.wav", np.zeros(2 * 3600 * 1000), 1000, subtype="PCM_U8")
    monkeypatch.setattr(soundfile.SoundFile, "read", lambda *a, **k: pytest.fail("decoded a file it should refuse"))
    with pytest.raises(AudioTooLongError, match=r"long.wav.*7200.0 s long, over the 30 s allowed"):
        load_audio(path, max_duration_s=30)


@pytest.mark.parametrize("suffix, subtype", [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS")])
def test_truncated_files_raise_audio_error_or_decode_what_is_there(tmp_path, suffix, subtype):
    path = _write(tmp_path / f"x.{suffix}", 0.3 * np.sin(np.arange(32000) / 7), 16000, subtype)
    data = path.read_bytes()
    for keep in (0, 10, 44, len(data) // 2):
        path.write_bytes(data[:keep])
        try:
            audio = load_audio(path)
        except AudioError as error:
            assert "x." + suffix in str(error)
        else:  # libsndfile reads a cut WAV up to its end: what is left, never more
            assert suffix == "wav" and 0 < len(audio) < 32000
