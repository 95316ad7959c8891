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
