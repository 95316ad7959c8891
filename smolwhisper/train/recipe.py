"""Training: one recipe for one process or torchrun DDP.

    python -m smolwhisper.train --config FILE.yaml [section.key=value ...]
    torchrun --nproc_per_node=N -m smolwhisper.train --config FILE.yaml ...

The loop reads top to bottom in `Trainer.fit`: data, forward, backward (no gradient sync but on
the last micro-step), clip, step, log, evaluate, checkpoint. Distributed concerns (process group,
sampler shards, no_sync, rank-0 logging) live here and nowhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gc
import os
import signal
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .. import checkpoint, metric_names as names, run_files
from ..audio import SAMPLE_RATE
from ..config import ConfigError, InferenceConfig, RunConfig, load_run_config, to_dict
from ..data.encoder_states import CachedEncoderStates, ensure_encoder_cache
from ..data.encoder_states import cache_path as encoder_cache_path
from ..data.features import CachedFeatures, build_feature_cache, cache_path
from ..data.base import Utterance
from ..data.concat import ConcatenatedSplit
from ..data.loader import BucketBatchSampler, Collator, encoder_states, features, pad_frames, spec_augment
from ..data.manifest import open_source
from ..data.real_speech import REAL_SPEECH_SPLIT, real_speech_dataset
from ..inference.ctc_lm import LexiconDecoder
from ..inference.evaluation import evaluate, evaluation_loader, run_lexicon, save_word_lm
from ..metric_names import REAL, VAL, VAL_UNSEEN, needs_word_lm, select_metric
from ..model import CTCTargets, PackedRows, Whisper
from ..model.flops import batch_training_flops, encoder_mode
from ..model.whisper import encoder_frames
from ..tokenizer import Tokenizer, train_bpe
from .. import tracking
from ..tracking import RunMirror, TrackingError
from . import state as train_state
from .accelerator import attention_kernels, peak_flops, profile_cuda_kernels, resolve_device
from .freeze import freeze
from .optim import build_optimizer, fused_adamw_available, lr_at
from .pretrained import Pretrained, load_pretrained, read_pretrained


# Under train.compile, batch lengths are rounded up to these multiples (mel frames, decoder tokens).
COMPILE_FRAMES = 64
COMPILE_TOKENS = 16
# A step with a non-finite gradient is skipped; this many in a row and the run has diverged.
NONFINITE_STEPS_LIMIT = 10


class TrainingError(RuntimeError):
    """A run that cannot go on: out of memory, missing data."""


class RunStopped(TrainingError):
    """A run that ends early, as STOPPED: its stop rule (config.StopConfig) or a non-finite training loss.
    A result of the experiment (it cannot learn), not a crash: a sweep does not retry it."""


class DataError(TrainingError):
    """A data source that cannot be opened as configured: another attempt would fail the same way."""


@dataclasses.dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def setup_distributed(device: str) -> Distributed:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; NCCL on CUDA, gloo on CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank, world_size)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if world_size > 1:
        # Long timeout: rank 0 alone builds the tokenizer and evaluates while the others wait. On
        # CUDA, gloo still carries the small CPU tensors (step totals, RNG states, the clock).
        dist.init_process_group("cpu:gloo,cuda:nccl" if resolved.type == "cuda" else "gloo",
                                timeout=timedelta(hours=2))
    return Distributed(rank, world_size, resolved)


def end_distributed(env: Distributed) -> None:
    """Destroys the process group after the DDP wrapper that uses it: DDP keeps reference cycles, and a
    gloo group torn down under a live reducer can abort the process at exit (`terminate called`)."""
    if env.world_size > 1:
        gc.collect()
        dist.destroy_process_group()


@dataclasses.dataclass
class WindowStats:
    """Means over the steps of one log window (sums where named so), across all ranks."""

    steps: int
    seconds: float  # wall time of the window's steps, the final read-back included
    lr: float  # of the window's last step
    loss: float
    ctc_loss: float
    load_balance_loss: float
    router_z_loss: float
    grad_norm: float  # over the steps whose norm was finite
    nonfinite_steps: int  # sum: steps skipped for a non-finite gradient
    tokens: int  # sum: target tokens
    audio_s: float  # sum: seconds of audio
    utterances: int  # sum
    flops: float  # sum: training FLOPs of the window's utterances (model/flops.py)
    expert_fractions: list[list[float]]  # [MoE layer][expert] share of the routed tokens


class LogWindow:
    """Step statistics summed on the training device over one log window and read back once at its
    end: reading a GPU value stalls the host until the GPU has caught up (nanoGPT's note on loss.item)."""

    DEVICE_SUMS = ("loss", "ctc_loss", "load_balance_loss", "router_z_loss", "finite_losses", "grad_norm",
                   "nonfinite_steps")

    def __init__(self, device: torch.device, expert_shape: tuple[int, int] | None = None):
        """expert_shape: [MoE layers, experts] of a MoE model. Its counts start as zeros of that shape, so
        that every rank all-reduces a vector of one length even when its window saw no token."""
        self.device = device
        self.sums = torch.zeros(len(self.DEVICE_SUMS), device=device)
        self.zero = torch.zeros((), device=device)
        self.expert_counts = None if expert_shape is None else torch.zeros(expert_shape, device=device)
        self.steps, self.micro_batches, self.seconds, self.lr = 0, 0, 0.0, 0.0
        self.tokens, self.audio_s, self.utterances, self.flops = 0, 0.0, 0, 0.0

    def add_micro_batch(self, batch, out, flops: float = 0.0) -> None:
        """`out` None: an empty micro-batch, which counts with a zero loss."""
        self.micro_batches += 1
        if out is None:
            return
        self.flops += flops
        self.tokens += batch.n_target_tokens
        self.audio_s += batch.duration_s
        self.utterances += len(batch.ids)
        # Losses of micro-batches whose loss is not finite (their step is skipped) are left out of the means.
        finite = torch.isfinite(out.loss.detach())
        kept = {"loss": out.loss, "ctc_loss": out.ctc_loss if out.ctc_loss is not None else out.loss.new_zeros(()),
                "load_balance_loss": out.load_balance_loss, "router_z_loss": out.router_z_loss}
        self._add(finite_losses=finite.float(), **{name: torch.where(finite, value.detach().float(), 0.0)
                                                   for name, value in kept.items()})
        if out.expert_counts is not None:
            self.expert_counts += out.expert_counts.detach().float()

    def add_step(self, grad_norm: torch.Tensor, finite: torch.Tensor, lr: float, seconds: float) -> None:
        self._add(grad_norm=torch.where(finite, grad_norm, 0.0), nonfinite_steps=(~finite).float())
        self.steps, self.lr, self.seconds = self.steps + 1, lr, self.seconds + seconds

    def _add(self, **values: torch.Tensor) -> None:
        """One stack over every sum (zeros where not given) added in place: indexing the sums with a
        Python list would build the index tensor on the GPU with a blocking copy."""
        self.sums += torch.stack([values[name].detach().float().reshape(()) if name in values else self.zero
                                  for name in self.DEVICE_SUMS])

    def read(self, world_size: int) -> WindowStats:
        start = time.perf_counter()
        host = torch.tensor([self.micro_batches, self.tokens, self.audio_s, self.utterances, self.flops],
                            dtype=torch.float32)
        parts = [self.sums, host.to(self.device, non_blocking=True)]
        if self.expert_counts is not None:
            parts.append(self.expert_counts.flatten())
        flat = torch.cat(parts)
        if world_size > 1:
            dist.all_reduce(flat)
        values = flat.tolist()  # the window's one read-back
        sums = dict(zip(self.DEVICE_SUMS, values))
        n_host = len(self.DEVICE_SUMS) + 5
        _, tokens, audio_s, utterances, flops = values[len(self.DEVICE_SUMS): n_host]
        fractions = []
        if self.expert_counts is not None:
            n_experts = self.expert_counts.shape[1]
            counts = values[n_host:]
            rows = [counts[i: i + n_experts] for i in range(0, len(counts), n_experts)]
            fractions = [[count / max(sum(row), 1) for count in row] for row in rows]
        nonfinite = round(sums["nonfinite_steps"] / world_size)  # every rank skips the same steps
        finite_steps = max(self.steps - nonfinite, 1)
        finite_losses = sums["finite_losses"] or float("nan")
        return WindowStats(
            steps=self.steps, seconds=self.seconds + time.perf_counter() - start, lr=self.lr,
            loss=sums["loss"] / finite_losses, ctc_loss=sums["ctc_loss"] / finite_losses,
            load_balance_loss=sums["load_balance_loss"] / finite_losses,
            router_z_loss=sums["router_z_loss"] / finite_losses,
            grad_norm=sums["grad_norm"] / world_size / finite_steps, nonfinite_steps=nonfinite,
            tokens=round(tokens), audio_s=audio_s, utterances=round(utterances), flops=flops,
            expert_fractions=fractions)


class Trainer:
    def __init__(self, cfg: RunConfig, env: Distributed, resume: str = "auto", rehearse: bool = False):
        # rehearse (run.py --fast-dev-run): the largest batch first, and the first checkpoint read back
        # at once, so that a few steps show the peak memory and a save and resume that work.
        self.cfg, self.env, self.rehearse = cfg, env, rehearse
        self.run_dir = Path(cfg.train.out_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if env.is_main:
            try:
                self.lock = run_files.lock(self.run_dir)
            except run_files.RunDirBusy as error:
                raise TrainingError(str(error)) from None
        self.start_time = time.time()
        self.mirror = self.open_mirror() if env.is_main else None
        try:
            self.build(resume)
        except BaseException as error:
            if self.mirror:
                with contextlib.suppress(TrackingError):  # the error that stopped the build comes first
                    self.mirror.finish("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            raise

    def open_mirror(self) -> RunMirror | None:
        """The MLflow run this directory is mirrored into, when the trainer tracks its own run:
        tracking.mlflow_uri or MLFLOW_TRACKING_URI names a store (MLFLOW_RUN_ID a run to join). Under
        run.py neither is set: the trial's Ray actor mirrors the directory."""
        uri = self.cfg.tracking.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri:
            return None
        return tracking.mirror(uri, self.run_dir, self.cfg.tracking.experiment, self.cfg.tracking.run_name,
                               os.environ.pop("MLFLOW_RUN_ID", ""))

    def build(self, resume: str) -> None:
        cfg, env = self.cfg, self.env
        names.check_select_metric(cfg)
        names.check_stop_metric(cfg)
        torch.manual_seed(cfg.train.seed + env.rank)
        self.datasets = self.open_data()
        pretrained = read_pretrained(cfg.model.init_from) if cfg.model.init_from else None
        self.tokenizer = self.build_tokenizer(pretrained)
        cfg.model = dataclasses.replace(cfg.model, n_vocab=self.tokenizer.n_vocab)
        for note in cfg.model.check_device(str(env.device)):
            self.log(f"note: {note}")

        self.model = Whisper(cfg.model)
        if pretrained is not None:
            fresh = load_pretrained(self.model, pretrained, cfg.model.upcycle, cfg.model.upcycle_noise, cfg.train.seed)
            self.log(f"initialised from {pretrained.source}" + (" (decoder FFNs upcycled)" if cfg.model.upcycle else "")
                     + (f"; new: {', '.join(fresh)}" if fresh else ""))
        self.model.to(env.device)
        if cfg.train.freeze:
            try:
                n_frozen = freeze(self.model, cfg.train.freeze)
            except ValueError as error:
                raise ConfigError(str(error)) from None
            self.log(f"frozen: {', '.join(cfg.train.freeze)} ({n_frozen / 1e6:.2f}M parameters)")
        self.model.inference_config = InferenceConfig(pad_to_30s=cfg.data.pad_to_30s)  # how checkpoints decode
        if cfg.data.encoder_cache:
            self.datasets = self.cache_encoder_states(self.datasets)
        self.fused_optimizer = fused_adamw_available(env.device.type)
        if not self.fused_optimizer:
            self.log(f"note: this torch has no fused AdamW for {env.device.type}: foreach AdamW, and a step "
                     f"with a non-finite gradient is skipped after reading the verdict back (one sync a step)")
        self.optimizer = build_optimizer(self.model, cfg.optim, fused=self.fused_optimizer)
        # From cached encoder states a step starts at the decoder: that is what DDP and compile wrap then.
        step_model = DecodeFromStates(self.model) if cfg.data.encoder_cache else self.model
        # broadcast_buffers off: the only buffer is the fixed positional table, the same on every rank.
        self.ddp_model = (DistributedDataParallel(step_model, device_ids=[env.device] if env.device.type == "cuda" else None,
                                                  broadcast_buffers=False)
                          if env.world_size > 1 else step_model)
        # Dynamic shapes from the start, and batch lengths rounded up (COMPILE_FRAMES, COMPILE_TOKENS):
        # variable-length batches then reuse one graph instead of recompiling per length.
        self.forward = torch.compile(self.ddp_model, dynamic=True) if cfg.train.compile else self.ddp_model
        self.bf16 = cfg.train.precision == "bf16" or (cfg.train.precision == "auto" and env.device.type == "cuda")

        train_set = self.datasets[cfg.data.train_split]
        self.batch_plan = cfg.batch_plan(env.world_size)
        self.sampler = BucketBatchSampler(train_set.durations_s, self.batch_plan.micro_batch_s, seed=cfg.train.seed,
                                          num_replicas=env.world_size, rank=env.rank,
                                          grad_accum=self.batch_plan.grad_accum, largest_first=self.rehearse)
        self.collate = Collator(self.tokenizer, cfg.model.n_text_ctx,
                                tokens_multiple=COMPILE_TOKENS if cfg.train.compile else 1)
        self.loader = DataLoader(train_set, batch_sampler=self.sampler, collate_fn=self.collate,
                                 num_workers=cfg.data.num_workers,
                                 generator=torch.Generator(),  # keeps the global RNG untouched, so resume is exact
                                 pin_memory=env.device.type == "cuda", persistent_workers=cfg.data.num_workers > 0)
        self.step, self.epoch, self.batches_done, self.best_metric = 0, 0, 0, float("inf")
        self.train_seconds = 0.0  # wall time spent in training steps, for train.max_minutes
        self.nonfinite_steps = 0  # steps skipped for a non-finite gradient
        self.nonfinite_streak = 0  # consecutive ones, as far as the log windows tell
        self.skipped: Counter = Counter(train_set.skipped)
        self.last_metrics: dict[str, float] = {}
        self.window = self.new_window()
        self.last_checkpoint_time = time.monotonic()
        self.attention_kernel: str | None = None  # recorded at the first step on CUDA
        self.stop_reason = ""  # why the run stopped early (status STOPPED)
        self.peak_gpu_memory_gb = 0.0  # the highest of the log windows' peaks
        if resume != "never":
            self.resume(resume)
        self.batches = self.epoch_batches()

    # ----------------------------------------------------------------------------------- set-up

    def open_data(self) -> dict:
        data = self.cfg.data
        source = data.source
        if source == "synthetic":
            source = self.ensure_synthetic_corpus()
        try:
            datasets = open_source(source, purpose="train", min_duration_s=data.min_duration_s,
                                   max_duration_s=data.max_duration_s)
        except (OSError, ValueError, RuntimeError) as error:  # GigaSpeechUnavailable is a RuntimeError
            raise DataError(f"data.source {data.source!r}: {error}") from None
        revision = getattr(datasets.get(data.train_split), "revision", None)
        if revision and self.env.is_main:  # the Hub commit the data was read at
            run_files.update_params(self.run_dir, {"data.revision": revision})
        if data.concat_s and data.train_split in datasets:
            datasets[data.train_split] = ConcatenatedSplit(datasets[data.train_split], data.concat_s)
        if self.cfg.eval.real_speech:
            datasets[REAL_SPEECH_SPLIT] = real_speech_dataset()
        for field, split in (("data.train_split", data.train_split), ("data.validation_split", data.validation_split)):
            if split not in datasets:
                raise ConfigError(f"{field}: {split!r} is not in {data.source!r}; it has {sorted(datasets)}")
            if len(datasets[split]) == 0:
                raise ConfigError(f"{field}: split {split!r} of {data.source!r} holds no usable utterance "
                                  f"(skipped: {dict(datasets[split].skipped)})")
        return self.cache_features(datasets) if data.feature_cache else datasets

    def cache_encoder_states(self, datasets: dict) -> dict:
        """The splits the run reads (train, validation, the unseen-voice and real-speech ones) as cached
        encoder states of the frozen encoder; rank 0 builds what is missing (trials wait for each other)."""
        data = self.cfg.data
        splits = [split for split in dict.fromkeys((data.train_split, data.validation_split, data.unseen_split,
                                                    REAL_SPEECH_SPLIT)) if split in datasets]
        paths = {}
        for split in splits:
            if self.env.is_main:
                ensure_encoder_cache(datasets[split], self.cfg.model, data.pad_to_30s, self.model.encoder,
                                     data.cache_dir, data.num_workers, log=self.log)
            self.env.barrier()
            paths[split] = encoder_cache_path(datasets[split], self.cfg.model, data.pad_to_30s, self.model.encoder,
                                              data.cache_dir)
        return {**datasets, **{split: CachedEncoderStates(datasets[split], path) for split, path in paths.items()}}

    def cache_features(self, datasets: dict) -> dict:
        """The train and validation splits read from their log-mel caches; rank 0 builds what is missing."""
        data, n_mels = self.cfg.data, self.cfg.model.n_mels
        paths = {split: cache_path(datasets[split], n_mels, data.cache_dir)
                 for split in dict.fromkeys((data.train_split, data.validation_split))}
        for split, path in paths.items():
            if self.env.is_main and path.exists():  # a sweep builds it before its trials start
                self.log(f"feature cache: {split}: reading {path}, built before this run (read-only memory map)")
            elif self.env.is_main:
                build_feature_cache(datasets[split], n_mels, path, data.num_workers, log=self.log)
        self.env.barrier()
        return {**datasets, **{split: CachedFeatures(datasets[split], path) for split, path in paths.items()}}

    def ensure_synthetic_corpus(self) -> str:
        from ..data.synth import SynthConfig, synthesize_corpus

        out = Path(self.cfg.data.synth_dir)
        if self.env.is_main:
            synthesize_corpus(SynthConfig(hours=self.cfg.data.synth_hours, seed=self.cfg.data.synth_seed), out)
        self.env.barrier()
        return str(out)

    def build_tokenizer(self, pretrained: Pretrained | None = None) -> Tokenizer:
        data, saved = self.cfg.data, self.run_dir / "tokenizer.json"
        if pretrained is not None:
            return pretrained.tokenizer
        if data.tokenizer != "bpe":
            return Tokenizer.from_file(data.tokenizer)
        if self.env.is_main and not saved.exists():  # a resumed run keeps the tokenizer it began with
            texts = [entry.text for entry in self.datasets[data.train_split].entries]
            train_bpe(texts, vocab_size=data.vocab_size).save(saved)
        self.env.barrier()
        return Tokenizer.from_file(saved)

    def resume(self, resume: str) -> None:
        if resume == "auto":
            found = run_files.complete_checkpoints(self.run_dir)
            if not found:
                return
            path = found[-1]
        else:
            path = Path(resume)
        state = train_state.load_trainer_state(path)
        self.model.load_state_dict(checkpoint.load_weights(path, self.env.device))  # hash and shapes checked
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.step, self.epoch, self.batches_done = state["step"], state["sampler"]["epoch"], state["sampler"]["batches_done"]
        self.best_metric, self.skipped = state.get("best_metric", float("inf")), Counter(state["skipped"])
        self.train_seconds = state.get("train_seconds", 0.0)
        self.nonfinite_steps = state.get("nonfinite_steps", 0)
        train_state.set_rng_state(state["rng"][self.env.rank])
        self.log(f"resumed from {path} at step {self.step}")

    def epoch_batches(self):
        self.sampler.set_epoch(self.epoch, self.batches_done)
        return iter(self.loader)  # persistent workers start once, not every epoch

    def next_batch(self):
        while True:
            try:
                batch = next(self.batches)
                self.batches_done += 1
                return batch
            except StopIteration:
                self.epoch, self.batches_done = self.epoch + 1, 0
                self.batches = self.epoch_batches()

    # ------------------------------------------------------------------------------------- loop

    def fit(self) -> dict:
        cfg = self.cfg
        if self.env.is_main:
            run_files.write_config(self.run_dir, to_dict(cfg))
            run_files.update_params(self.run_dir, {f"params.{k}": v for k, v in self.model.param_counts().items()})
            plan = self.batch_plan
            run_files.update_params(self.run_dir, {
                "batch.global_s": plan.global_batch_s, "batch.processes": plan.world_size,
                "batch.micro_s": plan.micro_batch_s, "batch.grad_accum": plan.grad_accum})
        progress = self.progress_bar()
        status = "FAILED"
        try:
            while not self.finished():
                metrics = self.train_step()
                progress.update(1)
                if metrics is not None:
                    progress.set_postfix(loss=f"{metrics['train/loss']:.3f}", lr=f"{metrics['train/lr']:.2e}",
                                         audio_x=f"{metrics['train/audio_s_per_s']:.1f}")
                    self.record(metrics)
                stopping = ""
                if self.step % cfg.eval.every_steps == 0 or self.finished():
                    self.evaluate()
                    stopping = self.stop_rule_reason()
                if stopping or self.checkpoint_due():
                    self.save_checkpoint()
                    if self.rehearse and not self.finished():
                        self.rehearse = False  # once: read the checkpoint just written back, and go on from it
                        self.resume("auto")
                        self.batches = self.epoch_batches()
                if stopping:
                    raise RunStopped(stopping)
            status = "FINISHED"
        except RunStopped as stopped:
            status, self.stop_reason = run_files.STOPPED, str(stopped)
            self.log(f"stopped: {stopped}")
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            progress.close()
            try:
                summary = self.write_summary(status)
            except checkpoint.WriteError as error:  # a full disk: the error that stopped the run comes first
                self.log(f"summary.json not written: {error}")
                summary = {"status": status}
            if self.mirror:
                self.mirror.finish(status)
        return summary

    def checkpoint_due(self) -> bool:
        """Every train.checkpoint_every steps, at the end, and once train.checkpoint_every_minutes have
        passed since the last one (looked at when a log window closes; under DDP on rank 0's clock, so
        that every rank saves together)."""
        train = self.cfg.train
        if self.step % train.checkpoint_every == 0 or self.finished():
            return True
        if not train.checkpoint_every_minutes or self.step % train.log_every:
            return False
        due = time.monotonic() - self.last_checkpoint_time >= 60 * train.checkpoint_every_minutes
        if self.env.world_size > 1:
            flag = torch.tensor([due])  # a CPU tensor: gloo carries it, the device is not waited on
            dist.broadcast(flag, src=0)
            due = bool(flag.item())
        return due

    def finished(self) -> bool:
        return self.step >= self.cfg.train.max_steps or self.time_spent() >= 1.0

    def stop_rule_reason(self) -> str:
        """Why the run stops after this evaluation by its stop rule ("" if it goes on): decided on rank 0,
        which evaluates, and told to every rank."""
        rule, reason = self.cfg.stop, ""
        value = self.last_metrics.get(rule.metric)
        if rule.metric and self.step >= rule.after_steps and value is not None and value < rule.below:
            reason = (f"stop rule: {rule.metric} = {value:.4g} at step {self.step}, below {rule.below:g} "
                      f"(checked from step {rule.after_steps})")
        if self.env.world_size > 1:
            told = [reason]
            dist.broadcast_object_list(told, src=0)
            reason = told[0]
        return reason

    def time_spent(self) -> float:
        """The share of train.max_minutes already spent in training steps (0 without a budget)."""
        budget_s = 60 * self.cfg.train.max_minutes
        return self.train_seconds / budget_s if budget_s else 0.0

    def train_step(self) -> dict[str, float] | None:
        """One optimizer step. Its statistics stay on the device; the step that closes a log window
        (train.log_every, the first and the last step) reads the window back and returns its metrics."""
        cfg, env = self.cfg, self.env
        lr = lr_at(self.step, cfg.optim, cfg.train.max_steps, self.time_spent())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start = time.perf_counter()
        for micro in range(self.batch_plan.grad_accum):
            batch = self.next_batch()
            self.skipped.update(batch.skipped)
            last = micro == self.batch_plan.grad_accum - 1
            sync = contextlib.nullcontext() if last or env.world_size == 1 else self.ddp_model.no_sync()
            with sync:
                if self.attention_kernel is None and env.device.type == "cuda":
                    out = self.forward_backward_recording_attention_kernels(batch)
                else:
                    out = self.forward_backward(batch)
            self.window.add_micro_batch(batch, out, self.batch_flops(batch))
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        # A non-finite gradient skips the update on the device, as torch.amp.GradScaler has the fused
        # optimizer do, without reading the norm back; the window counts the skipped steps.
        finite = torch.isfinite(grad_norm)
        if self.fused_optimizer:
            self.optimizer.found_inf = (~finite).float()
            self.optimizer.step()
        elif finite.item():
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        elapsed = time.perf_counter() - start
        self.window.add_step(grad_norm, finite, lr, elapsed)
        self.advance_clock(elapsed)
        if self.step % cfg.train.log_every and self.step != 1 and not self.finished():
            return None
        return self.read_window()

    def read_window(self) -> dict[str, float]:
        """The log window's metrics: one read-back from the device (and one all-reduce under DDP)."""
        cfg, env = self.cfg, self.env
        window, self.window = self.window, self.new_window()
        stats = window.read(env.world_size)
        self.nonfinite_steps += stats.nonfinite_steps
        self.nonfinite_streak = self.nonfinite_streak + stats.steps if stats.nonfinite_steps == stats.steps else 0
        if self.nonfinite_streak >= NONFINITE_STEPS_LIMIT:
            found = run_files.complete_checkpoints(self.run_dir)
            raise RunStopped(f"non-finite training loss ({stats.loss}) or gradients in the last {self.nonfinite_streak} "
                             f"steps, up to step {self.step}; last good checkpoint: {found[-1] if found else 'none yet'}")
        metrics = {names.TRAIN_LOSS: stats.loss, names.TRAIN_LR: stats.lr, names.TRAIN_GRAD_NORM: stats.grad_norm,
                   names.TRAIN_TOKENS_PER_S: stats.tokens / stats.seconds,
                   names.TRAIN_AUDIO_S_PER_S: stats.audio_s / stats.seconds,
                   names.TRAIN_UTTERANCES: stats.utterances / stats.steps,
                   names.TRAIN_STEP_S: stats.seconds / stats.steps}
        if self.nonfinite_steps:
            metrics[names.TRAIN_NONFINITE_STEPS] = self.nonfinite_steps
        if cfg.model.ctc_weight > 0:
            metrics[names.TRAIN_CTC_LOSS] = stats.ctc_loss
        metrics.update({names.skipped_key(reason): count for reason, count in self.skipped.items()})
        if cfg.model.is_moe:
            metrics[names.MOE_LOAD_BALANCE_LOSS] = stats.load_balance_loss
            metrics[names.MOE_ROUTER_Z_LOSS] = stats.router_z_loss
            for layer, row in enumerate(stats.expert_fractions):
                metrics.update({names.moe_load_key(layer, e): f for e, f in enumerate(row)})
        if env.device.type == "cuda":
            metrics[names.GPU_PEAK_MEMORY_GB] = torch.cuda.max_memory_allocated(env.device) / 1e9
            self.peak_gpu_memory_gb = max(self.peak_gpu_memory_gb, metrics[names.GPU_PEAK_MEMORY_GB])
            torch.cuda.reset_peak_memory_stats(env.device)  # a peak per window, not since start-up
            metrics.update(mfu_metrics(stats, env))
        self.last_metrics.update(metrics)
        return metrics

    def new_window(self) -> LogWindow:
        model = self.cfg.model
        n_moe_layers = sum(model.is_moe_layer(i) for i in range(model.n_text_layer))
        return LogWindow(self.env.device, (n_moe_layers, model.n_experts) if n_moe_layers else None)

    def forward_backward_recording_attention_kernels(self, batch):
        """forward_backward under the profiler, once per process on CUDA: which attention kernels
        really ran (SDPA picks its backend without a word) is what the flash switch did. A parameter."""
        out, kernel_names = profile_cuda_kernels(lambda: self.forward_backward(batch))
        self.attention_kernel = attention_kernels(kernel_names)
        self.log(f"attention kernels: {self.attention_kernel}")
        run_files.update_params(self.run_dir, {"gpu.attention_kernel": self.attention_kernel})
        return out

    def advance_clock(self, elapsed: float) -> None:
        self.train_seconds += elapsed
        if self.cfg.train.max_minutes and self.env.world_size > 1:  # every rank stops on rank 0's clock
            clock = torch.tensor([self.train_seconds], dtype=torch.float64)
            dist.broadcast(clock, src=0)
            self.train_seconds = clock.item()

    def forward_backward(self, batch):
        """One micro-batch through the (DDP) model and back; returns the model output. An empty batch
        (every item skipped) runs a stand-in through the same wrapper with a zero loss, so that this
        rank still joins the gradient all-reduce that the other ranks enter."""
        cfg = self.cfg
        scale = 1.0
        if not batch.ids:
            scale, batch = 0.0, self.stand_in_batch()
        host_batch, batch = batch, batch.to(self.env.device)
        try:
            with torch.autocast(self.env.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                if batch.audio_features is not None:
                    out = self.decode_cached(batch, host_batch)
                else:
                    out = self.forward_full(batch, host_batch)
                loss = (out.loss + cfg.model.load_balance_coef * out.load_balance_loss
                        + cfg.model.router_z_coef * out.router_z_loss)
                if out.ctc_loss is not None:
                    loss = loss + cfg.model.ctc_weight * (out.ctc_loss - out.loss)
            if loss.requires_grad:  # not when train.freeze holds every part: the model is scored as it came
                (loss * (scale / self.batch_plan.grad_accum)).backward()
        except torch.cuda.OutOfMemoryError:
            keep = ("optim.global_batch_s keeps the batch by accumulating more" if cfg.optim.global_batch_s
                    else "set optim.global_batch_s to keep the batch")
            raise TrainingError(
                f"CUDA out of memory at step {self.step + 1} with micro-batches of {self.batch_plan.micro_batch_s:g} s "
                f"({len(batch.ids)} utterances, {batch.duration_s:.0f} s of audio); lower data.max_batch_s "
                f"(e.g. to {self.batch_plan.micro_batch_s / 2:g}): {keep}") from None
        return out if scale else None

    def decode_cached(self, batch, host_batch):
        """The step from cached encoder states (data.encoder_cache): the frozen encoder is not run."""
        audio_features, audio_mask = encoder_states(batch)
        packed = (None if audio_mask is None else
                  PackedRows.from_lengths(batch.n_feature_frames, audio_features.shape[1], self.env.device))
        frames = batch.n_feature_frames if audio_mask is not None else [audio_features.shape[1]] * len(batch.ids)
        return self.forward(audio_features, audio_mask, batch.tokens, targets=batch.targets,
                            ctc_targets=self.ctc_targets(host_batch, frames), packed=packed)

    def forward_full(self, batch, host_batch):
        """The step from the log-mel: encoder and decoder through the (DDP, compiled) model."""
        cfg = self.cfg
        # The log-mel in fp32 with autocast off, as the feature cache and transcribe compute it.
        with torch.autocast(self.env.device.type, enabled=False):
            mel, mel_mask = features(batch, cfg.model.n_mels, cfg.data.pad_to_30s)
        if cfg.train.compile:
            mel, mel_mask = pad_frames(mel, mel_mask, COMPILE_FRAMES)
        n_frames = batch.n_frames if not cfg.data.pad_to_30s else [mel.shape[-1]] * len(batch.ids)
        if cfg.data.spec_augment:
            mel = spec_augment(mel, n_frames, generator=torch.Generator().manual_seed(
                cfg.train.seed * 1_000_003 + self.step * 101 + self.env.rank))
        packed = self.model.packed_frames(n_frames, mel.shape[-1], self.env.device)
        frames = encoder_frames(n_frames if packed is not None else [mel.shape[-1]] * len(batch.ids),
                                self.model.config.audio_stride)
        return self.forward(mel, batch.tokens, mel_mask=None if packed is None else mel_mask,
                            targets=batch.targets, ctc_targets=self.ctc_targets(host_batch, frames), packed=packed)

    def batch_flops(self, batch) -> float:
        """Training FLOPs of a (host) batch's utterances at their real lengths, for MFU."""
        return batch_training_flops(self.model.config, batch.n_frames, batch.row_target_tokens, encoder_mode(self.cfg))

    def stand_in_batch(self):
        """One second of silence and an empty transcript: a forward pass through every parameter."""
        if self.cfg.data.encoder_cache:  # encoder states of that second's length (all of Whisper's 30 s when padded)
            frames = self.cfg.model.n_audio_ctx if self.cfg.data.pad_to_30s else -(-100 // self.cfg.model.audio_stride)
            states = np.zeros((frames, self.cfg.model.n_audio_state), dtype=np.float32)
            return self.collate([Utterance("stand-in", np.zeros(0, np.float32), "", 1.0, encoder_states=states)])
        return self.collate([Utterance("stand-in", np.zeros(SAMPLE_RATE, dtype=np.float32), "", 1.0)])

    def ctc_targets(self, host_batch, frames: list[int]) -> CTCTargets | None:
        """The CTC head's labels (the text tokens of each target row: no specials, no end-of-text) with
        their lengths and each row's valid encoder frames, built on the host from the batch before it
        moved: CUDA's CTC would otherwise copy the length tensors back to the host."""
        if self.cfg.model.ctc_weight == 0:
            return None
        targets = host_batch.targets.masked_fill(host_batch.targets >= self.tokenizer.eot, -100)
        return CTCTargets.from_targets(targets, frames).to(self.env.device)

    # ------------------------------------------------------------------------------- evaluation

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Score the validation split (and the unseen-voice split) with each decoder of the run; a new
        best eval.select_metric saves checkpoints/best."""
        if self.env.is_main:
            metrics = {}
            for prefix, split in self.evaluation_splits.items():
                hypotheses = run_files.hypotheses_path(self.run_dir, self.step, prefix)
                metrics.update(evaluate(self.model, self.tokenizer, self.evaluation_loader(split), self.cfg,
                                        self.env.device, self.bf16, hypotheses, self.lexicon, prefix=prefix))
            self.last_metrics.update(metrics)
            self.record(metrics)
            selected = metrics[select_metric(self.cfg)]
            if selected < self.best_metric:
                self.best_metric = selected
                checkpoint.save(self.model, self.tokenizer, run_files.best_dir(self.run_dir))
                run_files.write_json(run_files.best_dir(self.run_dir) / "metrics.json",
                                       {"step": self.step, "select_metric": select_metric(self.cfg), **metrics})
            if self.env.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.env.device)  # evaluation's peak is not training's
        self.env.barrier()
        return self.last_metrics

    @functools.cached_property
    def evaluation_splits(self) -> dict[str, str]:
        """Metric prefix -> split: validation, data.unseen_split where the source has it, and the
        real recordings with eval.real_speech."""
        data = self.cfg.data
        splits = {VAL: data.validation_split}
        if data.unseen_split and data.unseen_split in self.datasets:
            splits[VAL_UNSEEN] = data.unseen_split
        elif data.unseen_split:
            self.log(f"note: data.unseen_split {data.unseen_split!r} is not in {data.source!r}; "
                     f"only {data.validation_split!r} is scored")
        if self.cfg.eval.real_speech:
            splits[REAL] = REAL_SPEECH_SPLIT
        return splits

    @functools.cached_property
    def lexicon(self) -> LexiconDecoder | None:
        """The *_lm decoders' lexicon and word LM, learnt from the training transcripts once and
        saved in the run directory, so that a resumed run scores with the same LM."""
        if not needs_word_lm(self.cfg):
            return None
        texts = (entry.text for entry in self.datasets[self.cfg.data.train_split].entries)
        save_word_lm(self.cfg.eval, texts, self.run_dir)
        return run_lexicon(self.cfg.eval, self.tokenizer, self.run_dir)

    def evaluation_loader(self, split: str) -> DataLoader:
        return evaluation_loader(self.datasets[split], self.cfg.eval.max_utterances, self.cfg.eval.max_batch_s,
                                 self.collate, self.cfg.data.num_workers)

    # ------------------------------------------------------------------------------ persistence

    def save_checkpoint(self) -> None:
        rng = [train_state.rng_state()]
        if self.env.world_size > 1:
            rng = [None] * self.env.world_size
            dist.all_gather_object(rng, train_state.rng_state())
        if self.env.is_main:
            if self.mirror:
                self.mirror.flush()  # a crash after this checkpoint loses no logged step it will not redo
            state = {"step": self.step, "optimizer": self.optimizer.state_dict(),
                     "sampler": self.sampler.state_dict(batches_done=self.batches_done),
                     "rng": rng, "best_metric": self.best_metric, "skipped": dict(self.skipped),
                     "train_seconds": self.train_seconds, "nonfinite_steps": self.nonfinite_steps}
            path = train_state.save_checkpoint(self.run_dir, self.step, self.model, self.tokenizer, state,
                                               self.cfg.train.keep_last)
            self.log(f"checkpoint: {path}")
        self.env.barrier()
        self.last_checkpoint_time = time.monotonic()

    def write_summary(self, status: str) -> dict:
        summary = {"status": status, "step": self.step, "max_steps": self.cfg.train.max_steps,
                   "wall_time_s": time.time() - self.start_time, "train_seconds": self.train_seconds,
                   "select_metric": select_metric(self.cfg),
                   "best_metric": None if self.best_metric == float("inf") else self.best_metric,
                   "metrics": self.last_metrics, "params": self.model.param_counts(),
                   "skipped": dict(self.skipped), "mlflow_run_id": self.mirror.run_id if self.mirror else None,
                   "config": to_dict(self.cfg), "peak_memory_gb": self.peak_memory_gb(),
                   **({"stop_reason": self.stop_reason} if self.stop_reason else {})}
        if self.env.is_main:
            run_files.write_json(self.run_dir / run_files.SUMMARY_FILE, summary)
        return summary

    def peak_memory_gb(self) -> float:
        """On a GPU the highest allocated memory of any log window; on a CPU this process's peak resident set."""
        if self.env.device.type == "cuda":
            return self.peak_gpu_memory_gb
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kilobytes on Linux

    # ---------------------------------------------------------------------------------- console

    def record(self, metrics: dict[str, float]) -> None:
        """To metrics.jsonl (which the MLflow mirror and the orchestrator read) and the console."""
        if not self.env.is_main:
            return
        run_files.append_metrics(self.run_dir, self.step, metrics)
        if self.mirror:
            self.mirror.sync()
        self.log_line(metrics)

    def log(self, message: str) -> None:
        if self.env.is_main:
            print(f"[smolwhisper.train] {message}", flush=True)

    def log_line(self, metrics: dict[str, float]) -> None:
        shown = {k: v for k, v in metrics.items() if not k.startswith(("moe/load_", "data/"))}
        self.log(f"step {self.step}: " + " ".join(f"{k}={v:.4g}" for k, v in shown.items()))

    def progress_bar(self):
        from tqdm import tqdm

        interactive = self.env.is_main and self.cfg.train.progress and sys.stderr.isatty()
        total = None if self.cfg.train.max_minutes else self.cfg.train.max_steps  # a time budget: steps unknown
        return tqdm(total=total, initial=self.step, disable=not interactive, unit="step")


class DecodeFromStates(torch.nn.Module):
    """Whisper.decode as a module's forward, for DDP and torch.compile to wrap where steps start from
    cached encoder states; the frozen encoder's parameters take no gradient, so DDP leaves them alone."""

    def __init__(self, model: Whisper):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.decode(*args, **kwargs)


def mfu_metrics(stats: WindowStats, env: Distributed) -> dict[str, float]:
    """Model FLOPs utilisation: the window's training FLOPs (model/flops.py: every matmul and the
    attention scores, at the utterances' real lengths) over its seconds and the dense bf16 peak of
    the GPU, where known."""
    peak = peak_flops(torch.cuda.get_device_name(env.device))
    if peak is None:
        return {}
    return {names.GPU_MFU: stats.flops / stats.seconds / (peak * env.world_size)}


def _interrupt(signum, frame) -> None:
    # Once is enough: a second SIGTERM (torchrun's, then the death signal when torchrun exits) would
    # cut short the clean-up that writes summary.json and marks the run KILLED. SIGKILL still works.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def die_with_torchrun() -> None:
    """torchrun starts its ranks in sessions of their own: if torchrun itself is killed hard (say the
    orchestrator was SIGKILLed and Ray took its workers down), have the kernel SIGTERM each rank
    rather than leave it training as an orphan."""
    if "TORCHELASTIC_RUN_ID" not in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # torchrun died before the request took effect
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smolwhisper.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML file with sections model, data, optim, train, eval, tracking")
    parser.add_argument("--resume", default="auto",
                        help="auto (default): continue from the newest complete checkpoint in train.out_dir; "
                             "never: start over; or the path of a step_* checkpoint directory")
    parser.add_argument("--rehearse", action="store_true",
                        help="run.py --fast-dev-run: largest batch first, the first checkpoint read back at once")
    parser.add_argument("overrides", nargs="*", help="section.key=value, e.g. optim.lr=3e-4 model.top_k=1")
    args = parser.parse_args(argv)
    # torchrun and Ray stop runs with SIGTERM: end like Ctrl-C, so the run is marked KILLED, not left RUNNING.
    signal.signal(signal.SIGTERM, _interrupt)
    cfg = None
    try:
        die_with_torchrun()
        cfg = load_run_config(args.config, args.overrides)
        env = setup_distributed(cfg.train.device)
        try:
            summary = Trainer(cfg, env, resume=args.resume, rehearse=args.rehearse).fit()
        finally:
            end_distributed(env)
        if summary.get("status") == run_files.STOPPED:
            print(f"smolwhisper.train: stopped early: {summary.get('stop_reason', '')}", file=sys.stderr)
            return run_files.STOPPED_EXIT
    except (ConfigError, TrainingError, TrackingError, FileNotFoundError, checkpoint.WriteError,
            checkpoint.CheckpointError) as error:
        retryable = not isinstance(error, (ConfigError, DataError))
        reason = " ".join(str(error).split())  # one line, whatever the library's message held
        print(f"smolwhisper.train: error: {reason}", file=sys.stderr)
        if cfg is not None:
            with contextlib.suppress(OSError):
                run_files.write_failure(Path(cfg.train.out_dir), reason, retryable)
        return 1 if retryable else run_files.NOT_RETRYABLE_EXIT
    except KeyboardInterrupt:
        print("smolwhisper.train: stopped", file=sys.stderr)
        return 130
    return 0

