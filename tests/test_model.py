"""Our from-scratch Whisper against the reference implementations, and its own invariants."""

import dataclasses

import pytest
import torch

from smolwhisper.interop import weights as interop
from smolwhisper.config import ConfigError, model_preset
from smolwhisper.model import KVCache, Whisper

from helpers import randomize


@pytest.fixture(scope="module")
def inputs():
    generator = torch.Generator().manual_seed(1)
    mel = torch.randn(2, 80, 3000, generator=generator)
    tokens = torch.randint(0, 51864, (2, 24), generator=generator)
    tokens[:, 0] = 50257
    return mel, tokens


@torch.no_grad()
def test_same_logits_as_transformers(tiny_en, inputs):
    transformers = pytest.importorskip("transformers")
    hf = transformers.WhisperForConditionalGeneration(
        transformers.WhisperConfig(**interop.hf_config(tiny_en.config))).eval()
    missing, unexpected = hf.load_state_dict(interop.to_hf(tiny_en.state_dict()), strict=False)
    assert not unexpected and not missing
    mel, tokens = inputs
    ours = tiny_en(mel, tokens).logits
    theirs = hf(input_features=mel, decoder_input_ids=tokens).logits
    assert (ours - theirs).abs().max() < 1e-4
    # and back again
    back = Whisper(tiny_en.config).eval()
    back.load_state_dict(interop.from_hf(hf.state_dict()))
    assert torch.equal(back(mel, tokens).logits, ours)


@torch.no_grad()
def test_same_logits_as_openai_whisper(tiny_en, inputs):
    whisper = pytest.importorskip("whisper")
    reference = whisper.model.Whisper(whisper.model.ModelDimensions(**interop.openai_dims(tiny_en.config))).eval()
    reference.load_state_dict(interop.to_openai(tiny_en.state_dict()))
    mel, tokens = inputs
    assert (tiny_en(mel, tokens).logits - reference(mel, tokens)).abs().max() < 1e-4
    back = Whisper(tiny_en.config).eval()
    back.load_state_dict(interop.from_openai(reference.state_dict()))
    assert torch.equal(back(mel, tokens).logits, tiny_en(mel, tokens).logits)


def test_moe_decoder_is_refused_by_name_on_export():
    with pytest.raises(interop.InteropError, match=r"decoder\.blocks\.0\.mlp\.w1.*MoE decoders cannot be exported"):
        interop.to_hf(Whisper(model_preset("test", decoder_ffn="moe", n_experts=2, top_k=1)).state_dict())


@torch.no_grad()
def test_padding_mask_makes_padded_and_unpadded_utterances_agree(tiny_en):
    """Zero-padded mel frames + mask give the unpadded result on every real frame."""
    generator = torch.Generator().manual_seed(2)
    lengths = [801, 1200]  # an odd length exercises the stride-2 convolution's edge
    utterances = [torch.randn(80, n, generator=generator) for n in lengths]
    tokens = torch.tensor([[50257, 50362, 440, 2068, 7586]])

    batch = torch.randn(2, 80, 3000, generator=generator) * 5  # junk where the mask says padding
    mask = torch.zeros(2, 3000, dtype=torch.bool)
    for row, (utterance, n) in enumerate(zip(utterances, lengths)):
        batch[row, :, :n], mask[row, :n] = utterance, True
    padded_features, audio_mask = tiny_en.encoder(batch, mask)
    padded_logits = tiny_en(batch, tokens.expand(2, -1), mel_mask=mask).logits

    for row, (utterance, n) in enumerate(zip(utterances, lengths)):
        alone, _ = tiny_en.encoder(utterance[None])
        n_out = (n + 1) // 2
        assert audio_mask[row].sum() == n_out == alone.shape[1]
        assert (padded_features[row, :n_out] - alone[0]).abs().max() < 1e-4
        assert (padded_logits[row] - tiny_en(utterance[None], tokens).logits[0]).abs().max() < 1e-4


@torch.no_grad()
def test_flash_on_and_off_agree(inputs):
    torch.manual_seed(3)
    fused = randomize(Whisper(model_preset("test", flash=True))).eval()
    math = Whisper(model_preset("test", flash=False)).eval()
    math.load_state_dict(fused.state_dict())
    mel = inputs[0][:, :, :600]
    tokens = inputs[1] % 300
    mask = torch.ones(2, 600, dtype=torch.bool)
    mask[1, 450:] = False
    assert (fused(mel, tokens, mask).logits - math(mel, tokens, mask).logits).abs().max() < 1e-4


@torch.no_grad()
@pytest.mark.parametrize("preset", ["test", "test-moe", "test-qk-norm"])
def test_kv_cached_decoding_equals_full_forward(preset):
    torch.manual_seed(4)
    overrides = {"test-moe": {"decoder_ffn": "moe", "n_experts": 4, "top_k": 2},
                 "test-qk-norm": {"qk_norm": True}}.get(preset, {})
    model = randomize(Whisper(model_preset("test", **overrides))).eval()
    mel = torch.randn(2, 80, 400)
    tokens = torch.randint(0, 300, (2, 12))
    features, _ = model.encoder(mel)
    full = model.decoder(tokens, features).logits

    cache = KVCache.empty(len(model.decoder.blocks))
    # a prompt of 3, one token at a time, then a chunk of 2 (the offset causal mask), then the rest
    pieces = [tokens[:, :3], tokens[:, 3:4], tokens[:, 4:5], tokens[:, 5:7], tokens[:, 7:]]
    incremental = torch.cat([model.decoder(piece, features, kv_cache=cache).logits for piece in pieces], dim=1)
    assert cache.length == tokens.shape[1]
    assert (incremental - full).abs().max() < 1e-4


@torch.no_grad()
def test_kv_cache_reorder_follows_the_selected_rows():
    torch.manual_seed(5)
    model = randomize(Whisper(model_preset("test"))).eval()
    features, _ = model.encoder(torch.randn(2, 80, 200))
    tokens = torch.randint(0, 300, (2, 6))
    cache = KVCache.empty(len(model.decoder.blocks))
    model.decoder(tokens[:, :5], features, kv_cache=cache)
    cache.reorder(torch.tensor([1, 1]))
    step = model.decoder(tokens[[1, 1], 5:], features[[1, 1]], kv_cache=cache).logits
    full = model.decoder(tokens[1:], features[1:]).logits[:, -1]
    assert (step[:, -1] - full).abs().max() < 1e-4


def test_training_step_reaches_every_parameter():
    torch.manual_seed(6)
    model = Whisper(model_preset("test", decoder_ffn="moe", n_experts=2, top_k=1, moe_layers="every_other",
                                 activation_checkpointing=True)).train()
    mel = torch.randn(2, 80, 300)
    tokens = torch.randint(0, 300, (2, 10))
    out = model(mel, tokens[:, :-1], targets=tokens[:, 1:])
    (out.loss + 0.01 * out.load_balance_loss + 0.001 * out.router_z_loss).backward()
    unreached = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unreached == []
    assert out.expert_counts.shape == (1, 2)  # every_other: one MoE layer of the two


def test_rejects_audio_longer_than_30_seconds():
    with pytest.raises(ValueError, match="3002 frames; at most 3000"):
        Whisper(model_preset("test")).encoder(torch.randn(1, 80, 3002))


def test_ctc_head_is_absent_by_default_and_its_loss_is_ctc_per_target_token():
    assert Whisper(model_preset("test")).ctc is None  # ctc_weight 0: plain Whisper, nothing extra
    torch.manual_seed(7)
    model = Whisper(model_preset("test", ctc_weight=0.3))
    mel = torch.randn(2, 80, 200)
    mel_mask = torch.ones(2, 200, dtype=torch.bool)
    mel_mask[1, 120:] = False  # the second utterance is 60 encoder frames long, not 100
    tokens = torch.randint(0, 250, (2, 6))
    ctc_targets = torch.tensor([[5, 6, 6, 7, -100], [-100, 9, 10, -100, -100]])  # labels may sit anywhere
    out = model(mel, tokens, mel_mask=mel_mask, targets=tokens, ctc_targets=ctc_targets)

    assert out.ctc_log_probs.shape == (2, 100, 301) and out.ctc_lengths.tolist() == [100, 60]
    by_hand = [torch.nn.functional.ctc_loss(out.ctc_log_probs[i, :n, None], torch.tensor([labels]), (n,),
                                            (len(labels),), blank=300, reduction="sum")
               for i, (n, labels) in enumerate([(100, [5, 6, 6, 7]), (60, [9, 10])])]
    assert out.ctc_loss.item() == pytest.approx((sum(by_hand) / 6).item(), rel=1e-5)
    out.ctc_loss.backward()
    assert model.ctc.weight.grad.abs().sum() > 0 and model.encoder.conv1.weight.grad.abs().sum() > 0


@torch.no_grad()
def test_stride_4_encoder_gives_25_hz_frames_that_ignore_padding():
    """audio_stride 4 strides both convolutions: ceil(T/4) frames, and padding still changes nothing."""
    torch.manual_seed(3)
    model = Whisper(model_preset("test", audio_stride=4, ctc_weight=0.5)).eval()
    lengths = [401, 203]  # odd lengths exercise both strided convolutions' edges
    batch = torch.randn(2, 80, 401) * 5  # junk where the mask says padding
    mask = torch.zeros(2, 401, dtype=torch.bool)
    for row, n in enumerate(lengths):
        mask[row, :n] = True
    features, audio_mask = model.encoder(batch, mask)
    assert features.shape[1] == 101 and audio_mask.sum(dim=1).tolist() == [101, 51]
    alone, _ = model.encoder(batch[1:, :, :203])
    assert alone.shape[1] == 51 and (features[1, :51] - alone[0]).abs().max() < 1e-5
    assert model.ctc_log_probs(features, audio_mask)[1].tolist() == [101, 51]
    with pytest.raises(interop.InteropError, match="model.audio_stride"):
        interop.hf_config(model.config)
    with pytest.raises(interop.InteropError, match="model.audio_stride"):
        interop.openai_dims(model.config)


@torch.no_grad()
def test_conformer_conv_modules_see_only_real_frames_and_do_not_export():
    torch.manual_seed(4)
    model = randomize(Whisper(model_preset("test", audio_stride=4, conv_kernel=7)).eval())
    batch = torch.randn(2, 80, 400) * 5  # junk where the mask says padding
    mask = torch.zeros(2, 400, dtype=torch.bool)
    mask[0], mask[1, :203] = True, True
    features, _ = model.encoder(batch, mask)
    alone, _ = model.encoder(batch[1:, :, :203])
    assert (features[1, :51] - alone[0]).abs().max() < 1e-5
    plain = Whisper(model_preset("test", audio_stride=4))
    assert sum(p.numel() for p in model.parameters()) > sum(p.numel() for p in plain.parameters())
    with pytest.raises(interop.InteropError, match="model.conv_kernel"):
        interop.openai_dims(dataclasses.replace(model.config, audio_stride=2))
    with pytest.raises(ConfigError, match="model.conv_kernel: 8 is not allowed; must be 0 .* or an odd"):
        model_preset("test", conv_kernel=8)


@torch.no_grad()
def test_qk_norm_bounds_the_attention_logits_whatever_the_projections_scale():
    """Queries and keys 100x larger: with qk_norm the model's output does not move (each head's
    queries and keys are normalised), without it attention saturates and the output changes."""
    torch.manual_seed(4)
    mel, tokens = torch.randn(2, 80, 200), torch.randint(0, 300, (2, 8))
    for qk_norm, moved in ((True, False), (False, True)):
        model = randomize(Whisper(model_preset("test", qk_norm=qk_norm))).eval()
        before = model(mel, tokens).logits
        for module in model.modules():
            if hasattr(module, "k_norm"):
                module.query.weight.mul_(100), module.query.bias.mul_(100), module.key.weight.mul_(100)
        after = model(mel, tokens).logits
        assert ((after - before).abs().max() > 1e-2) == moved
    with pytest.raises(interop.InteropError, match="model.qk_norm"):
        interop.openai_dims(model_preset("test", qk_norm=True))


def test_ctc_head_is_left_out_of_exports():
    model = Whisper(model_preset("test", ctc_weight=0.5))
    assert "ctc.weight" in model.state_dict()
    assert not [name for name in interop.to_hf(model.state_dict()) if "ctc" in name]
    assert not [name for name in interop.to_openai(model.state_dict()) if "ctc" in name]


def test_label_smoothing_mixes_the_uniform_distribution_into_the_targets():
    torch.manual_seed(0)
    eps = 0.1
    smooth = randomize(Whisper(model_preset("test", label_smoothing=eps))).eval()
    plain = Whisper(model_preset("test"))
    plain.load_state_dict(smooth.state_dict())
    mel, tokens = torch.randn(2, 80, 100), torch.randint(0, 250, (2, 6))
    targets = tokens.roll(-1, dims=1)
    targets[1, 4:] = -100
    with torch.no_grad():
        out = smooth(mel, tokens, targets=targets)
        nll = plain(mel, tokens, targets=targets).loss
        log_probs = out.logits.log_softmax(-1)[targets != -100]
    assert torch.allclose(out.loss, (1 - eps) * nll - eps * log_probs.mean(-1).mean(), atol=1e-5)
    with pytest.raises(ConfigError, match="model.label_smoothing"):
        model_preset("test", label_smoothing=1.0)
