"""The model's FLOP count (smolwhisper/model/flops.py) against torch's own counter of the ops it runs."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from smolwhisper.config import model_preset
from smolwhisper.model import Whisper
from smolwhisper.model.flops import decoder_forward_flops, encoder_forward_flops, training_flops


@pytest.mark.parametrize("preset, overrides", [
    ("tiny.en", {}),
    ("cpu-small", {"audio_stride": 4, "conv_kernel": 15, "ctc_weight": 0.5}),
    ("cpu-small-moe", {"noisy_topk": True, "moe_layers": "every_other"}),
])
def test_forward_flops_equal_torch_count(preset, overrides):
    """The math backend runs attention as matmuls that torch's counter sees; it computes the whole
    causal square, of which the count keeps the lower half; experts run as a loop of matmuls."""
    cfg = model_preset(preset, flash=False, moe_grouped_mm=False, **overrides)
    model = Whisper(cfg).eval()
    n_frames, n_tokens = 1000, 40
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, cfg.n_mels, n_frames), torch.randint(0, 100, (1, n_tokens)))
    causal_upper_half = cfg.n_text_layer * 2 * n_tokens * cfg.n_text_state * (n_tokens - 1)
    counted = encoder_forward_flops(cfg, n_frames) + decoder_forward_flops(cfg, n_frames, n_tokens)
    assert counted + causal_upper_half == pytest.approx(counter.get_total_flops(), rel=2e-3)


def test_frozen_and_cached_encoders_cost_less():
    cfg = model_preset("tiny.en")
    trained, frozen, cached = (training_flops(cfg, 3000, 100, encoder) for encoder in ("trained", "frozen", "cached"))
    encoder = encoder_forward_flops(cfg, 3000)
    assert trained - frozen == pytest.approx(2 * encoder) and frozen - cached == pytest.approx(encoder)
