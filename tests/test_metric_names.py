"""metric_names says what the trainer logs: checked against what a short run really writes."""

import json

import pytest

from smolwhisper.config import load_run_config
from smolwhisper.metric_names import (AUDIO_GAIN, SKIPPED_PREFIX, TRAIN_NONFINITE_STEPS, cer_key, decoder_of,
                                      logged_metrics, wer_key)
from smolwhisper.train import Distributed, Trainer

from helpers import write_tone_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_tone_corpus(tmp_path_factory.mktemp("corpus"), n_train=16, n_validation=4)


@pytest.mark.parametrize("model", [
    {"decoder_ffn": "dense"},
    {"decoder_ffn": "moe", "n_experts": 2, "top_k": 1, "moe_layers": "every_other", "ctc_weight": 0.5},
])
def test_a_run_logs_exactly_the_metrics_metric_names_lists(corpus, tmp_path, model):
    overrides = {"model.preset": "test", "model.n_text_ctx": 32, "data.source": str(corpus), "data.vocab_size": 300,
                 "data.max_batch_s": 30, "data.max_duration_s": 2, "data.num_workers": 0, "train.max_steps": 2,
                 "train.out_dir": str(tmp_path / "run"), "train.progress": False, "train.log_every": 1,
                 "train.device": "cpu", "eval.every_steps": 2, "eval.max_tokens": 4,
                 "eval.ctc_lm": "ctc_weight" in model, **{f"model.{k}": v for k, v in model.items()}}
    cfg = load_run_config(None, [f"{key}={value}" for key, value in overrides.items()])
    Trainer(cfg, Distributed()).fit()
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = {key for line in lines for key in line if key not in ("step", "time")}
    sometimes = {key for key in logged if key.startswith(SKIPPED_PREFIX) or key == TRAIN_NONFINITE_STEPS
                 or key.endswith(f"/{AUDIO_GAIN}")}
    assert logged - sometimes == logged_metrics(cfg)


def test_decoder_keys_round_trip():
    for decoder in ("attention", "ctc", "ctc_lm"):
        assert decoder_of(wer_key(decoder)) == decoder_of(cer_key(decoder)) == decoder
    assert (wer_key(), cer_key("ctc_lm"), decoder_of("val/loss")) == ("val/wer", "val/cer_ctc_lm", "attention")
