"""The trainer: exact resume, DDP equal to one process, kill-safe checkpoints, summary and errors."""

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from smolwhisper import checkpoint, run_files
from smolwhisper.config import ConfigError, load_run_config, model_preset, to_dict
from smolwhisper.model import Whisper
from smolwhisper.train import Distributed, Trainer, main

from helpers import randomize, write_tone_corpus

@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("corpus"))


def overrides(corpus: Path, out_dir: Path, **extra) -> list[str]:
    values = {"model.preset": "test", "model.n_text_ctx": 32, "data.source": str(corpus), "data.vocab_size": 300,
              "data.max_batch_s": 30, "data.max_duration_s": 2, "data.num_workers": 0,
              "train.max_steps": 6, "train.out_dir": str(out_dir), "train.checkpoint_every": 3,
              "train.progress": False, "optim.warmup_steps": 2, "optim.lr": 3e-3, "eval.every_steps": 6,
              "eval.max_tokens": 8, "train.log_every": 1}
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


def losses(trainer: Trainer, n: int) -> list[float]:
    return [trainer.train_step()["train/loss"] for _ in range(n)]


def test_resumed_run_continues_exactly(corpus, tmp_path):
    # SpecAugment and noisy MoE routing both draw random numbers: resume must restore them too.
    extra = {"model.decoder_ffn": "moe", "model.n_experts": 2, "model.top_k": 1, "model.noisy_topk": True,
             "data.spec_augment": True}
    straight = Trainer(load_run_config(None, overrides(corpus, tmp_path / "a", **extra)), Distributed())
    expected = losses(straight, 6)

    first = Trainer(load_run_config(None, overrides(corpus, tmp_path / "b", **extra)), Distributed())
    before = losses(first, 3)
    first.save_checkpoint()
    del first
    resumed = Trainer(load_run_config(None, overrides(corpus, tmp_path / "b", **extra)), Distributed())
    assert resumed.step == 3
    after = losses(resumed, 3)
    assert before + after == pytest.approx(expected, abs=1e-6)
    assert len(set(expected)) == 6  # the losses really change from step to step


def test_fit_writes_summary_checkpoints_and_hypotheses(corpus, tmp_path):
    assert main(["--config", "/dev/null", *overrides(corpus, tmp_path / "run", **{"train.keep_last": 1})]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["step"] == 6
    for key in ("train/loss", "val/loss", "val/wer", "val/cer"):
        assert key in summary["metrics"]
    assert [p.name for p in run_files.complete_checkpoints(tmp_path / "run")] == ["step_00000006"]
    model, tokenizer = checkpoint.load(tmp_path / "run" / "checkpoints" / "best")
    assert tokenizer.n_vocab == 300 == model.config.n_vocab
    hypotheses = (tmp_path / "run" / "hypotheses" / "step_00000006.jsonl").read_text().splitlines()
    assert len(hypotheses) == 6 and {"reference", "hypothesis", "word_errors"} <= set(json.loads(hypotheses[0]))
    resolved = (tmp_path / "run" / "config.yaml").read_text()
    assert "n_vocab: 300" in resolved and "max_steps: 6" in resolved


def test_joint_ctc_training_logs_ctc_loss_and_ctc_wer(corpus, tmp_path):
    assert main(["--config", "/dev/null", *overrides(corpus, tmp_path / "run", **{"model.ctc_weight": 0.3})]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("train/ctc_loss", "val/wer_ctc", "val/cer_ctc", "val/wer"):
        assert key in summary["metrics"]
    line = json.loads((tmp_path / "run" / "hypotheses" / "step_00000006.jsonl").read_text().splitlines()[0])
    assert {"hypothesis", "hypothesis_ctc", "word_errors_ctc"} <= set(line)
    model, _ = checkpoint.load(tmp_path / "run" / "checkpoints" / "best")
    assert model.ctc is not None  # the head travels with the checkpoint


def test_the_cli_decodes_the_ctc_head_as_training_scores_it(corpus, tmp_path, capsys):
    from smolwhisper import cli

    trainer = Trainer(load_run_config(None, overrides(corpus, tmp_path / "run", **{
        "model.ctc_weight": 0.3, "eval.ctc_lm": True})), Distributed())
    randomize(trainer.model)  # random weights spell random words, where an untrained head emits only blanks
    metrics = trainer.evaluate()  # and saves the run's word LM, which the CLI finds from the checkpoint
    best = checkpoint.save(trainer.model, trainer.tokenizer, tmp_path / "run" / "checkpoints" / "best")
    scored = [json.loads(line) for line in (tmp_path / "run" / "hypotheses" / "step_00000000.jsonl").read_text().splitlines()]
    for decoder in ("ctc", "ctc_lm"):
        assert cli.main(["evaluate", "--checkpoint", str(best), "--data", str(corpus), "--split", "validation",
                         "--decoder", decoder, "--hypotheses", str(tmp_path / f"{decoder}.jsonl")]) == 0
        report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert report["wer"] == pytest.approx(metrics[f"val/wer_{decoder}"]) and report["n_utterances"] == 6
        ours = {row["id"]: row["hypothesis"] for row in map(json.loads, (tmp_path / f"{decoder}.jsonl").open())}
        assert ours == {row["id"]: row[f"hypothesis_{decoder}"] for row in scored}
        assert any(ours.values())
    # Without --decoder, a run's checkpoint is scored by the decoder the run ranked itself by.
    ranked_by = dataclasses.replace(trainer.cfg, eval=dataclasses.replace(trainer.cfg.eval, select_metric="val/wer_ctc_lm"))
    run_files.write_config(tmp_path / "run", to_dict(ranked_by))
    assert cli.main(["evaluate", "--checkpoint", str(best)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["decoder"] == "ctc_lm" and report["wer"] == pytest.approx(metrics["val/wer_ctc_lm"])
    assert cli.main(["evaluate", "--checkpoint", str(best), "--data", str(corpus), "--decoder", "ctc_lm",
                     "--word-lm", str(tmp_path / "missing.json")]) == 2
    assert "--decoder ctc_lm: no word LM at" in capsys.readouterr().err
    assert cli.main(["evaluate", "--checkpoint", str(best), "--data", str(corpus), "--decoder", "ctc_lm",
                     "--ctc-beam-size", "0"]) == 2
    assert "--ctc-beam-size: 0 is not allowed; must be >= 1" in capsys.readouterr().err
    no_head = checkpoint.save(Whisper(model_preset("test", n_vocab=300)), trainer.tokenizer, tmp_path / "no_head")
    assert cli.main(["evaluate", "--checkpoint", str(no_head), "--data", str(corpus), "--decoder", "ctc"]) == 2
    assert "has no CTC head (it was trained with model.ctc_weight 0)" in capsys.readouterr().err


def test_ddp_on_two_cpu_ranks_matches_one_process_with_the_same_global_batch(corpus, tmp_path):
    """optim.global_batch_s fixes the batch whatever the number of processes: one process accumulates
    two 30 s micro-batches, two ranks take one each, and the losses agree. The two ranks also checkpoint
    on rank 0's clock (train.checkpoint_every_minutes) in step, which a disagreement would deadlock."""
    batch = {"optim.global_batch_s": 60, "train.max_steps": 4}
    single = Trainer(load_run_config(None, overrides(corpus, tmp_path / "one", **batch)), Distributed())
    assert (single.batch_plan.grad_accum, single.batch_plan.micro_batch_s) == (2, 30)
    expected = losses(single, 4)
    script = tmp_path / "ddp.py"
    script.write_text(
        "import sys\n"
        "from smolwhisper.config import load_run_config\n"
        "from smolwhisper.train import Trainer, end_distributed, setup_distributed\n"
        "cfg = load_run_config(None, sys.argv[1:])\n"
        "env = setup_distributed('cpu')\n"
        "t = Trainer(cfg, env)\n"
        "t.fit()\n"
        # as main() does: the trainer goes before its process group
        "del t\n"
        "end_distributed(env)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    timed = {**batch, "train.checkpoint_every": 1000, "train.checkpoint_every_minutes": 1e-6, "train.keep_last": 10,
             "train.max_minutes": 60}  # a time budget too, so that rank 0's clock is broadcast every step
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           str(script), *overrides(corpus, tmp_path / "two", **timed)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [row["train/loss"] for row in rows if "train/loss" in row] == pytest.approx(expected, abs=1e-4)
    assert [p.name for p in run_files.complete_checkpoints(tmp_path / "two")] == [
        f"step_0000000{step}" for step in (1, 2, 3, 4)]
    params = json.loads((tmp_path / "two" / run_files.PARAMS_FILE).read_text())
    assert (params["batch.global_s"], params["batch.processes"], params["batch.grad_accum"]) == (60, 2, 1)


def test_checkpoints_come_by_steps_and_by_minutes(corpus, tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 100))  # each look at the clock is 100 s later
    monkeypatch.setattr("smolwhisper.train.recipe.time.monotonic", lambda: next(clock))
    args = overrides(corpus, tmp_path / "run", **{"train.max_steps": 8, "train.checkpoint_every": 1000,
                                                   "train.checkpoint_every_minutes": 3, "train.log_every": 2,
                                                   "train.keep_last": 10})
    assert main(["--config", "/dev/null", *args]) == 0
    saved = [int(p.name.split("_")[1]) for p in run_files.complete_checkpoints(tmp_path / "run")]
    assert saved == [4, 8]  # looked at every 2 steps (log windows), due every other look; and the end


def test_a_global_batch_that_cannot_hold_an_utterance_is_refused():
    with pytest.raises(ConfigError, match=r"optim.global_batch_s: 70.0 .* raise it to at least 90"):
        load_run_config(None, ["optim.global_batch_s=70", "data.max_batch_s=30"])
    with pytest.raises(ConfigError, match=r"optim.grad_accum: 2 .* must stay 1 with optim.global_batch_s"):
        load_run_config(None, ["optim.global_batch_s=600", "optim.grad_accum=2"])
    plan = load_run_config(None, ["optim.global_batch_s=600", "data.max_batch_s=100"]).batch_plan(8)
    assert (plan.grad_accum, plan.micro_batch_s, plan.global_batch_s) == (1, 75, 600)
    with pytest.raises(ConfigError, match=r"over 32 process\(es\) it makes micro-batches of 18.75 s"):
        load_run_config(None, ["optim.global_batch_s=600"]).batch_plan(32)


def test_time_budget_ends_the_run_on_time_with_its_lr_schedule_run_down(corpus, tmp_path, monkeypatch):
    # Every step counts as half a second, so that the run is the same on a slow or busy machine.
    advance_clock = Trainer.advance_clock
    monkeypatch.setattr(Trainer, "advance_clock", lambda self, elapsed: advance_clock(self, 0.5))
    args = overrides(corpus, tmp_path / "run", **{"train.max_steps": 100_000, "train.max_minutes": 0.08,
                                                  "train.log_every": 1, "optim.min_lr": 3e-4})
    assert main(["--config", "/dev/null", *args]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["step"] == 10  # 10 x 0.5 s >= 0.08 minutes
    assert summary["train_seconds"] == 5.0 and "val/wer" in summary["metrics"]  # evaluated at the end
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    lrs = [row["train/lr"] for row in rows if "train/lr" in row]
    assert len(lrs) == 10 and lrs[2:] == sorted(lrs[2:], reverse=True)  # cosine after the two warmup steps
    assert lrs[-1] == pytest.approx(3e-4 + 0.5 * (1 + math.cos(math.pi * 4.5 / 4.8)) * (3e-3 - 3e-4))
    assert run_files.complete_checkpoints(tmp_path / "run")[-1].name == "step_00000010"
    resumed = Trainer(load_run_config(None, args), Distributed())
    assert resumed.train_seconds == 5.0 and resumed.finished()


def test_lr_follows_whichever_of_steps_and_time_is_further_along():
    from smolwhisper.config import OptimConfig
    from smolwhisper.train.optim import lr_at

    cfg = OptimConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10)
    assert lr_at(4, cfg, 1000, time_spent=0.9) == pytest.approx(5e-4)  # warmup counts steps
    assert lr_at(10, cfg, 1000, time_spent=0.0) == pytest.approx(1e-3)
    assert lr_at(10, cfg, 1000, time_spent=0.5) == pytest.approx(5.5e-4)
    assert lr_at(505, cfg, 1000, time_spent=0.1) == pytest.approx(5.5e-4)
    assert lr_at(20, cfg, 1000, time_spent=1.3) == pytest.approx(1e-4)


def test_killed_while_checkpointing_leaves_the_last_checkpoint_loadable(corpus, tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(
        "import sys\n"
        "from smolwhisper.config import load_run_config\n"
        "from smolwhisper.train import Distributed, Trainer\n"
        "t = Trainer(load_run_config(None, sys.argv[1:]), Distributed())\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    t.train_step()\n"
        "    t.save_checkpoint()\n")
    args = overrides(corpus, tmp_path / "run", **{"model.preset": "cpu-small", "model.n_text_ctx": 32,
                                                  "train.keep_last": 2, "train.max_steps": 1000})
    process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True)
    while process.stdout.readline().strip() != "ready":
        assert process.poll() is None, "the training process died before it was ready"
    deadline = time.time() + 120
    while len(run_files.complete_checkpoints(tmp_path / "run")) < 2 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere inside the next checkpoint write
    process.send_signal(signal.SIGKILL)
    process.wait()
    newest = run_files.complete_checkpoints(tmp_path / "run")[-1]
    model, _ = checkpoint.load(newest)
    assert model.config.n_text_state == 192
    resumed = Trainer(load_run_config(None, args), Distributed())
    assert resumed.step == int(newest.name.split("_")[1])


def test_nonfinite_loss_stops_naming_the_step(corpus, tmp_path):
    trainer = Trainer(load_run_config(None, overrides(corpus, tmp_path / "nan")), Distributed())
    with torch.no_grad():
        trainer.model.decoder.ln.weight.fill_(float("nan"))
    with pytest.raises(Exception, match=r"non-finite training loss \(nan\) or gradients in the last 10 steps, "
                                        r"up to step 10; last good checkpoint: none"):
        for _ in range(10):
            trainer.train_step()


def test_a_nonfinite_gradient_skips_its_step_counts_it_and_training_goes_on(corpus, tmp_path):
    trainer = Trainer(load_run_config(None, overrides(corpus, tmp_path / "run")), Distributed())
    trainer.train_step()
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    state_steps = {id(p): trainer.optimizer.state[p]["step"].item() for p in trainer.model.parameters()}
    poison = trainer.model.decoder.ln.weight.register_hook(lambda grad: grad * float("inf"))
    metrics = trainer.train_step()
    poison.remove()
    assert metrics["train/nonfinite_steps"] == 1 and trainer.step == 2
    assert all(torch.equal(p, before[name]) for name, p in trainer.model.named_parameters())  # no update
    assert all(trainer.optimizer.state[p]["step"].item() == state_steps[id(p)] for p in trainer.model.parameters())
    metrics = trainer.train_step()
    assert math.isfinite(metrics["train/loss"]) and metrics["train/nonfinite_steps"] == 1
    assert not torch.equal(trainer.model.decoder.ln.weight, before["decoder.ln.weight"])


def test_missing_split_and_unknown_keys_fail_before_training(corpus, tmp_path):
    with pytest.raises(ConfigError, match=r"data.validation_split: 'dev2' is not in .*; it has \['train', 'validation'\]"):
        Trainer(load_run_config(None, overrides(corpus, tmp_path / "x", **{"data.validation_split": "dev2"})),
                Distributed())
    with pytest.raises(ConfigError, match=r"optim.warmup: unknown field; did you mean 'warmup_steps'"):
        load_run_config(None, overrides(corpus, tmp_path / "x", **{"optim.warmup": 3}))


def test_mlflow_logs_params_metrics_and_artifacts_into_a_handed_down_run(corpus, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("sweep", artifact_location=str(tmp_path / "artifacts"))
    parent = client.create_run(experiment).info.run_id
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", child)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(overrides(corpus, tmp_path / "run", **{"train.log_every": 2, "optim.global_batch_s": 60})) == 0

    runs = client.search_runs([experiment])
    assert sorted(r.info.run_id for r in runs) == sorted([parent, child])  # joined, not duplicated
    run = client.get_run(child)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.n_text_state"] == "64" and run.data.params["params.total"]
    assert (run.data.params["batch.global_s"], run.data.params["batch.grad_accum"]) == ("60.0", "2")
    assert [m.step for m in client.get_metric_history(child, "train/loss")] == [1, 2, 4, 6]
    assert {"val/wer", "val/cer", "val/loss", "train/tokens_per_s", "train/audio_s_per_s"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(child)}
    assert {"summary.json", "config.yaml", "step_00000006.jsonl"} <= artifacts
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["mlflow_run_id"] == child


def test_a_run_that_fails_while_starting_is_marked_failed_in_mlflow(corpus, tmp_path, monkeypatch):
    # The MLflow writer starts before the data and model are built, so a failure there must close its run.
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    bad = overrides(corpus, tmp_path / "run", **{"data.validation_split": "dev2", "tracking.mlflow_uri": uri,
                                                 "tracking.experiment": "failing"})
    assert main(bad) == 2
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("failing").experiment_id])
    assert run.info.status == "FAILED"


@pytest.mark.parametrize("source, reason", [
    ("gigaspeech:xs:nowhere", "data.source 'gigaspeech:xs:nowhere': local GigaSpeech copy 'nowhere' does not exist"),
    ("gigaspeech:xxl", "data.source 'gigaspeech:xxl': GigaSpeech subset must be one of"),
])
def test_a_data_error_exits_with_the_not_retryable_status_one_line_and_its_reason_in_the_run(
        corpus, tmp_path, capsys, source, reason):
    from smolwhisper import run_files

    assert main(overrides(corpus, tmp_path / "run", **{"data.source": source})) == run_files.NOT_RETRYABLE_EXIT
    err = capsys.readouterr().err
    assert err.startswith(f"smolwhisper.train: error: {reason}") and err.count("\n") == 1, err
    assert run_files.read_failure(tmp_path / "run")["reason"].startswith(reason)
    assert run_files.read_failure(tmp_path / "run")["retryable"] is False


def test_ctc_lm_evaluation_scores_lexicon_decoding_with_an_lm_saved_in_the_run(corpus, tmp_path):
    extra = {"model.ctc_weight": 0.5, "eval.ctc_lm": True, "eval.ctc_beam_size": 4}
    trainer = Trainer(load_run_config(None, overrides(corpus, tmp_path / "run", **extra)), Distributed())
    summary = trainer.fit()
    assert {"val/wer_ctc_lm", "val/cer_ctc_lm", "val/wer_ctc"} <= set(summary["metrics"])
    lexicon = {word for entry in trainer.datasets["train"].entries for word in entry.text.split()}
    lines = [json.loads(line) for line in (tmp_path / "run" / "hypotheses" / "step_00000006.jsonl").open()]
    assert lines and all(set(line["hypothesis_ctc_lm"].split()) <= lexicon for line in lines)
    assert (tmp_path / "run" / "word_lm.json").exists()


def test_checkpoints_best_follows_eval_select_metric_where_decoders_disagree(corpus, tmp_path, monkeypatch):
    from smolwhisper.train import recipe

    # Two evaluations whose attention and CTC WERs disagree on the better step.
    scripted = iter([{"val/loss": 1.0, "val/wer": 0.5, "val/cer": 0.3, "val/wer_ctc": 0.9, "val/cer_ctc": 0.5},
                     {"val/loss": 1.0, "val/wer": 0.8, "val/cer": 0.4, "val/wer_ctc": 0.3, "val/cer_ctc": 0.2}] * 2)
    monkeypatch.setattr(recipe, "evaluate", lambda *args, **kwargs: dict(next(scripted)))
    for metric, best_step in (("val/wer", 3), ("val/wer_ctc", 6)):
        args = overrides(corpus, tmp_path / metric.replace("/", "_"), **{
            "model.ctc_weight": 0.3, "eval.every_steps": 3, "eval.select_metric": metric})
        assert main(["--config", "/dev/null", *args]) == 0
        best = json.loads((tmp_path / metric.replace("/", "_") / "checkpoints" / "best" / "metrics.json").read_text())
        assert (best["step"], best["select_metric"]) == (best_step, metric)


def test_select_metric_defaults_to_the_strongest_decoder_scored_and_refuses_one_not_logged(corpus, tmp_path):
    from smolwhisper.metric_names import select_metric

    cfg = load_run_config(None, overrides(corpus, tmp_path, **{"model.ctc_weight": 0.3, "eval.ctc_lm": True}))
    assert select_metric(cfg) == "val/wer_ctc_lm"
    cfg = load_run_config(None, overrides(corpus, tmp_path, **{"model.ctc_weight": 0.3,
                                                               "eval.decoders": "[attention, ctc, rescore]"}))
    assert select_metric(cfg) == "val/wer_rescore"
    with pytest.raises(ConfigError, match=r"eval.select_metric: 'val/wer_ctc' is not allowed; allowed: a metric"):
        Trainer(load_run_config(None, overrides(corpus, tmp_path, **{"eval.select_metric": "val/wer_ctc"})),
                Distributed())
    with pytest.raises(ConfigError, match=r"eval.decoders\[1\]: 'joint' is not allowed; reads the CTC head"):
        load_run_config(None, overrides(corpus, tmp_path, **{"eval.decoders": "[attention, joint]"}))


def test_the_unseen_voice_split_is_scored_beside_validation(corpus, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    shutil.copy(data / "validation.jsonl", data / "validation_unseen_voices.jsonl")
    shutil.copy(data / "validation.jsonl", data / "test_unseen_voices.jsonl")
    (data / "corpus.json").write_text(json.dumps({"splits": {"validation_unseen_voices": {}, "test_unseen_voices": {}}}))
    trainer = Trainer(load_run_config(None, overrides(data, tmp_path / "run", **{
        "data.source": str(data), "model.ctc_weight": 0.3})), Distributed())
    assert "test_unseen_voices" not in trainer.datasets  # test splits never reach a training job
    metrics = trainer.evaluate()
    for key in ("val_unseen/loss", "val_unseen/wer", "val_unseen/cer", "val_unseen/wer_ctc", "val/wer_ctc",
                "val/audio_gain", "val_unseen/audio_gain"):
        assert key in metrics
    assert metrics["val_unseen/wer"] == metrics["val/wer"]  # the same utterances, here
    assert (tmp_path / "run" / "hypotheses" / "val_unseen_step_00000000.jsonl").exists()


def test_audio_gain_is_what_the_decoder_loses_with_another_utterances_audio():
    from smolwhisper.inference.evaluation import loss_with_other_audio

    model = randomize(Whisper(model_preset("test")), seed=1).eval()
    mel = torch.randn(3, 80, 200, generator=torch.Generator().manual_seed(0))
    mask = torch.arange(200)[None] < torch.tensor([200, 120, 160])[:, None]
    tokens = torch.randint(0, 200, (3, 6), generator=torch.Generator().manual_seed(1))
    targets = tokens.roll(-1, 1)
    with torch.no_grad():
        own = model(mel, tokens, mel_mask=mask, targets=targets).loss
        other = loss_with_other_audio(model, mel, mask, tokens, targets)
        rolled = model(mel.roll(1, 0), tokens, mel_mask=mask.roll(1, 0), targets=targets).loss
        assert other == pytest.approx(rolled.item()) and other != pytest.approx(own.item())
        assert loss_with_other_audio(model, mel[:1], mask[:1], tokens[:1], targets[:1]) is None
        for block in model.decoder.blocks:  # a decoder deaf to the audio loses nothing without it
            block.cross_attn.out.weight.zero_()
            block.cross_attn.out.bias.zero_()
        deaf = model(mel, tokens, mel_mask=mask, targets=targets).loss
        assert loss_with_other_audio(model, mel, mask, tokens, targets) == pytest.approx(deaf.item(), abs=1e-6)


def test_a_decoder_that_cannot_hear_is_stopped_by_the_stop_rule(corpus, tmp_path):
    """Cross-attention output zeroed: the decoder's loss is the same with any audio (val/audio_gain 0), and
    the rule ends the run at its first evaluation from stop.after_steps on, as STOPPED, naming why."""
    cfg = load_run_config(None, overrides(corpus, tmp_path / "deaf", **{
        "eval.every_steps": 2, "stop.metric": "val/audio_gain", "stop.below": 0.05, "stop.after_steps": 4}))
    trainer = Trainer(cfg, Distributed())
    for block in trainer.model.decoder.blocks:
        block.cross_attn.register_forward_hook(lambda module, inputs, output: output * 0)
    summary = trainer.fit()
    assert summary["status"] == run_files.STOPPED and summary["step"] == 4  # evaluated at 2 too, not yet checked
    assert summary["metrics"]["val/audio_gain"] == 0.0
    assert summary["stop_reason"] == ("stop rule: val/audio_gain = 0 at step 4, below 0.05 (checked from step 4)")
    assert run_files.read_summary(tmp_path / "deaf")["status"] == "STOPPED"
    assert [p.name for p in run_files.complete_checkpoints(tmp_path / "deaf")][-1] == "step_00000004"


def test_a_stop_rule_on_a_metric_the_run_does_not_log_is_refused(corpus, tmp_path):
    with pytest.raises(ConfigError, match=r"stop.metric: 'val/wer_ctc' is not allowed; allowed: a metric this run "
                                          r"logs at each evaluation: val/audio_gain, val/cer"):
        Trainer(load_run_config(None, overrides(corpus, tmp_path / "r", **{"stop.metric": "val/wer_ctc"})),
                Distributed())


def test_a_rehearsal_takes_the_largest_batch_first_and_reads_its_first_checkpoint_back(corpus, tmp_path, capsys):
    cfg = load_run_config(None, overrides(corpus, tmp_path / "r", **{"train.max_steps": 3, "train.checkpoint_every": 2}))
    trainer = Trainer(cfg, Distributed(), rehearse=True)
    durations = trainer.sampler.durations_s
    padded = [len(batch) * max(durations[i] for i in batch) for batch in trainer.sampler.epoch_batches()]
    assert padded[0] == max(padded) and len(set(padded)) > 1
    summary = trainer.fit()
    assert summary["status"] == "FINISHED" and summary["step"] == 3
    assert f"resumed from {tmp_path / 'r' / 'checkpoints' / 'step_00000002'} at step 2" in capsys.readouterr().out
    assert summary["peak_memory_gb"] > 0.1  # this process's resident set, on CPU
