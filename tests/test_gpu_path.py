"""The CUDA path, checked on a CPU: what would crash, sync or fall off the fast kernels on a GPU.

No GPU runs these tests: CUDA is mocked where the code asks for it, torch.compile traces on the CPU
(fullgraph, so that any graph break fails), and the packed-attention layout runs through a reference
kernel in place of FlashAttention's varlen kernel. bench/gpu_check.py runs the real thing on a GPU.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from smolwhisper import checkpoint
from smolwhisper.train.accelerator import attention_kernels, peak_flops, resolve_device
from smolwhisper.config import ConfigError, load_run_config, model_preset
from smolwhisper.model import PackedRows, Whisper
from smolwhisper.model import whisper as model_module
from smolwhisper.model.moe import MoEFeedForward
from smolwhisper.train import Distributed, Trainer

from helpers import randomize, write_tone_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_tone_corpus(tmp_path_factory.mktemp("corpus"))


def run_args(corpus: Path, out_dir: Path, **extra) -> list[str]:
    values = {"model.preset": "test", "model.n_text_ctx": 32, "data.source": str(corpus), "data.vocab_size": 300,
              "data.max_batch_s": 4, "data.max_duration_s": 2, "data.num_workers": 0, "train.max_steps": 100,
              "train.out_dir": str(out_dir), "train.progress": False, "train.log_every": 1,
              "optim.warmup_steps": 2, "eval.every_steps": 1000}
    values.update(extra)
    return [f"{k}={v}" for k, v in values.items()]


@pytest.fixture
def fake_cuda(monkeypatch):
    """Two CUDA devices as far as device resolution can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


# --- device resolution -------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["auto", "cuda"])
def test_one_rank_takes_an_indexed_gpu_that_set_device_accepts(fake_cuda, monkeypatch, device):
    from smolwhisper import train

    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: chosen.append(torch._utils._get_device_index(d)))
    monkeypatch.setenv("WORLD_SIZE", "1")
    env = train.setup_distributed(device)
    assert env.device == torch.device("cuda", 0) and chosen == [0]


def test_each_of_two_ranks_takes_its_local_gpu_and_one_named_gpu_is_refused(fake_cuda):
    assert [resolve_device("auto", rank, 2) for rank in (0, 1)] == [torch.device("cuda", 0), torch.device("cuda", 1)]
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"train.device: 'cuda:1' names one GPU, but 2 ranks share this run"):
        resolve_device("cuda:1", 1, 2)
    with pytest.raises(ConfigError, match=r"train.device: 'cuda:2' does not exist; this machine shows 2 GPU"):
        resolve_device("cuda:2")


def test_peak_flops_match_whole_words_of_the_device_name():
    assert peak_flops("NVIDIA L4") == 121e12
    assert peak_flops("NVIDIA L40S") == 362e12
    assert peak_flops("NVIDIA H100 80GB HBM3") == peak_flops("NVIDIA H200") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12 and peak_flops("NVIDIA H100 NVL") == 835e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("NVIDIA GeForce RTX 4090") is None


def test_attention_kernels_are_named_from_what_the_profiler_saw():
    assert attention_kernels(["void pytorch_flash::flash_fwd_kernel<...>", "ampere_sgemm"]) == "flash"
    assert attention_kernels(["fmha_cutlassF_bf16_aligned_64x64_rf_sm80", "gemm"]) == "memory_efficient"
    assert attention_kernels(["ampere_bf16_s16816gemm", "softmax_warp_forward"]) == "math"


# --- packed attention --------------------------------------------------------------------------

def per_sequence_attention(q, k, v, cu_q, cu_k, max_q, max_k, **_):
    """Attention of each packed sequence alone, in place of FlashAttention's varlen kernel."""
    rows = []
    for i in range(len(cu_q) - 1):
        qs, ks, vs = (t[a:b].transpose(0, 1) for t, a, b in
                      ((q, cu_q[i], cu_q[i + 1]), (k, cu_k[i], cu_k[i + 1]), (v, cu_k[i], cu_k[i + 1])))
        rows.append(F.scaled_dot_product_attention(qs, ks, vs).transpose(0, 1))
    return torch.cat(rows)


def test_attention_over_packed_sequences_equals_the_masked_path_on_real_frames(monkeypatch):
    torch.manual_seed(0)
    model = randomize(Whisper(model_preset("test", conv_kernel=3, ctc_weight=0.3))).eval()
    lengths = [160, 97, 40]
    mel = torch.randn(3, 80, 160)
    mask = torch.arange(160)[None, :] < torch.tensor(lengths)[:, None]
    tokens = torch.randint(0, 250, (3, 7))
    with torch.no_grad():
        masked = model(mel, tokens, mel_mask=mask)
        masked_features, audio_mask = model.encoder(mel, mask)
        monkeypatch.setattr(model_module, "varlen_attn", per_sequence_attention)
        monkeypatch.setattr(model_module, "varlen_kernel_runs", lambda q: True)
        packed = model.packed_frames(lengths, 160, "cpu")
        packed_out = model(mel, tokens, mel_mask=mask, packed=packed)
        packed_features, _ = model.encoder(mel, mask, packed)
    assert torch.allclose(packed_features[audio_mask], masked_features[audio_mask], atol=1e-5)
    assert torch.allclose(packed_out.logits, masked.logits, atol=1e-5)
    assert torch.allclose(packed_out.ctc_log_probs[audio_mask], masked.ctc_log_probs[audio_mask], atol=1e-5)


def test_packed_rows_index_the_real_frames_and_no_padding_means_no_packing():
    model = Whisper(model_preset("test", audio_stride=4))
    packed = model.packed_frames([16, 9, 4], 16, "cpu")  # encoder frames: 4, 3, 1 of 4
    assert packed.index.tolist() == [0, 1, 2, 3, 4, 5, 6, 8] and packed.cu_seqlens.tolist() == [0, 4, 7, 8]
    x = torch.arange(12.0).view(3, 4, 1)
    assert torch.equal(packed.unpack(packed.pack(x), 3, 4)[:, :, 0],
                       torch.tensor([[0, 1, 2, 3], [4, 5, 6, 0], [8, 0, 0, 0.]]))
    assert model.packed_frames([16, 15, 13], 16, "cpu") is None


# --- torch.compile -----------------------------------------------------------------------------

def compiled(fn):
    """fullgraph=True: a graph break is an error. aot_eager traces forward and backward as inductor
    would, without generating code (seconds on a CPU instead of minutes)."""
    torch._dynamo.reset()
    return torch.compile(fn, fullgraph=True, backend="aot_eager")


@pytest.mark.parametrize("bf16", [False, True])
def test_the_moe_ffn_compiles_without_graph_breaks(bf16):
    moe = MoEFeedForward(64, 128, 8, 2, noisy_topk=True).train()
    x = torch.randn(2, 9, 64, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out, stats = compiled(moe)(x, torch.ones(2, 9, dtype=torch.bool))
        loss = out.float().square().mean() + stats["load_balance_loss"] + stats["router_z_loss"]
    loss.backward()
    assert moe.w1.grad is not None and moe.router.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("bf16", [False, True])
def test_a_tiny_moe_training_step_compiles_without_graph_breaks(bf16):
    torch.manual_seed(0)
    model = Whisper(model_preset("tiny-moe", n_vocab=300, n_text_ctx=32, ctc_weight=0.3, noisy_topk=True,
                                 activation_checkpointing=True)).train()

    def step(mel, tokens, mel_mask, targets, packed):
        out = model(mel, tokens, mel_mask=mel_mask, targets=targets, ctc_targets=targets, packed=packed)
        return out.loss + 0.01 * out.load_balance_loss + 0.001 * out.router_z_loss + 0.3 * out.ctc_loss

    mel = torch.randn(2, 80, 128)
    mask = torch.arange(128)[None, :] < torch.tensor([128, 77])[:, None]
    tokens = torch.randint(0, 290, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = compiled(step)(mel, tokens, mask, tokens, model.packed_frames([128, 77], 128, "cpu"))
    loss.backward()
    assert torch.isfinite(loss) and model.decoder.blocks[0].mlp.w1.grad is not None


def test_a_compiled_run_over_variable_length_batches_compiles_a_bounded_number_of_graphs(corpus, tmp_path, monkeypatch):
    from torch._dynamo.utils import counters

    from smolwhisper.train import recipe

    compile_ = torch.compile
    monkeypatch.setattr(recipe.torch, "compile", lambda model, **kw: compile_(model, backend="aot_eager", **kw))
    torch._dynamo.reset()
    counters.clear()
    trainer = Trainer(load_run_config(None, run_args(corpus, tmp_path / "run", **{
        "train.compile": True, "model.decoder_ffn": "moe", "model.n_experts": 2, "model.top_k": 1,
        "model.ctc_weight": 0.3})), Distributed())
    shapes = set()
    for _ in range(8):
        batch = trainer.next_batch()
        shapes.add((max(batch.n_frames), batch.tokens.shape[1]))
        trainer.batches = iter([batch])  # the step trains on the batch just looked at
        trainer.train_step()
    assert len(shapes) >= 4  # the corpus's batches do differ in length
    assert counters["stats"]["unique_graphs"] <= 3


# --- distributed and checkpoints ---------------------------------------------------------------

def test_two_ranks_stay_equal_when_one_rank_has_an_empty_micro_batch(corpus, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(
        "import json, sys, torch\n"
        "import torch.distributed as dist\n"
        "from smolwhisper.config import load_run_config\n"
        "from smolwhisper.train import Trainer, end_distributed, setup_distributed\n"
        "cfg = load_run_config(None, sys.argv[2:])\n"
        "env = setup_distributed('cpu')\n"
        "t = Trainer(cfg, env)\n"
        "next_batch = t.next_batch\n"
        "def empty_first(calls=[0]):\n"  # rank 1's first micro-batch: every utterance skipped
        "    calls[0] += 1\n"
        "    batch = next_batch()\n"
        "    return t.collate([]) if env.rank == 1 and calls[0] == 1 else batch\n"
        "t.next_batch = empty_first\n"
        "for _ in range(3): t.train_step()\n"
        "flat = torch.cat([p.detach().flatten() for p in t.model.parameters()])\n"
        "both = [torch.empty_like(flat) for _ in range(2)]\n"
        "dist.all_gather(both, flat)\n"
        "if env.rank == 0: open(sys.argv[1], 'w').write(json.dumps([t.step, (both[0] - both[1]).abs().max().item()]))\n"
        "dist.barrier()\n"
        # as main() does: the trainer goes before its process group
        "del t, next_batch, empty_first\n"
        "end_distributed(env)\n")
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           str(script), str(out), *run_args(corpus, tmp_path / "two", **{"optim.grad_accum": 2})],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    step, difference = json.loads(out.read_text())
    assert step == 3 and difference == 0.0


def test_a_checkpoint_trained_with_liger_loads_transcribes_and_exports_without_cuda(tmp_path):
    from smolwhisper.interop.convert import export_model
    from smolwhisper.inference.decoding import DecodingOptions, decode
    from smolwhisper.tokenizer import train_bpe

    tokenizer = train_bpe(["the cat sat on the mat"] * 20, vocab_size=300)
    saved = checkpoint.save(randomize(Whisper(model_preset("test", n_vocab=tokenizer.n_vocab))), tokenizer,
                            tmp_path / "ckpt")
    config = json.loads((saved / "config.json").read_text())
    config["model"]["liger"] = True  # as a run trained with model.liger: true on a GPU saves it
    (saved / "config.json").write_text(json.dumps(config))
    model, tokenizer = checkpoint.load(saved)
    assert not model.config.liger
    results = decode(model, tokenizer, torch.randn(1, 80, 200), options=DecodingOptions(sample_len=5))
    assert len(results) == 1
    assert (export_model(saved, "openai", tmp_path / "openai.pt")).exists()


# --- host synchronisations ---------------------------------------------------------------------

READ_BACKS = [(torch.Tensor, name) for name in ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__",
                                                  "__float__", "__index__")] + [(torch, "nonzero")]


def test_a_tiny_moe_training_step_reads_from_the_device_once_per_log_window(corpus, tmp_path, monkeypatch):
    trainer = Trainer(load_run_config(None, run_args(corpus, tmp_path / "run", **{
        "model.preset": "tiny-moe", "model.n_text_ctx": 32, "model.ctc_weight": 0.3, "model.noisy_topk": True,
        "data.spec_augment": True, "train.log_every": 4})), Distributed())
    trainer.train_step()  # the first step closes its own window
    calls = []
    for owner, name in READ_BACKS:
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, _original=original, _name=name, **k: (
            calls.append(_name), _original(*a, **k))[1])
    results = [trainer.train_step() for _ in range(4)]  # steps 2-5: the window closes at step 4
    monkeypatch.undo()
    assert [r is not None for r in results] == [False, False, True, False]
    assert calls == ["tolist"], calls


# --- the CUDA defects, each where a CPU can catch it -----------------------------------------------

class RecordOps(torch.utils._python_dispatch.TorchDispatchMode):
    """The aten ops run inside the block."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def test_the_log_window_adds_its_sums_without_indexing_them():
    """Indexing the sums with a list of positions builds an index tensor on the host and copies it to
    the GPU (a stream sync per call)."""
    from types import SimpleNamespace

    from smolwhisper.train.recipe import LogWindow

    window = LogWindow(torch.device("cpu"), expert_shape=(2, 4))
    out = SimpleNamespace(loss=torch.tensor(2.0), ctc_loss=None, load_balance_loss=torch.tensor(1.0),
                          router_z_loss=torch.tensor(0.5), expert_counts=torch.ones(2, 4))
    batch = SimpleNamespace(n_target_tokens=7, duration_s=3.0, ids=["a", "b"])
    grad_norm, finite = torch.tensor(3.0), torch.tensor(True)
    with RecordOps() as recorded:
        window.add_micro_batch(batch, out, flops=1e9)
        window.add_step(grad_norm, finite, 1e-3, 0.1)
    assert not [op for op in recorded.ops if "index" in op or "lift_fresh" in op], recorded.ops
    stats = window.read(1)
    assert (stats.loss, stats.grad_norm, stats.load_balance_loss, stats.flops) == (2.0, 3.0, 1.0, 1e9)
    assert stats.expert_fractions == [[0.25] * 4] * 2


def test_a_moe_window_all_reduces_one_length_when_one_rank_saw_no_tokens(tmp_path):
    """Rank 1's window holds only an empty micro-batch: its expert counts are zeros of the same
    shape, so both ranks all-reduce vectors of one length (a shorter one aborted gloo and would hang NCCL)."""
    script = tmp_path / "window.py"
    script.write_text(
        "import json, sys, torch\n"
        "import torch.distributed as dist\n"
        "from types import SimpleNamespace\n"
        "from smolwhisper.train.recipe import LogWindow\n"
        "dist.init_process_group('gloo')\n"
        "rank = dist.get_rank()\n"
        "window = LogWindow(torch.device('cpu'), expert_shape=(2, 3))\n"
        "batch = SimpleNamespace(n_target_tokens=4, duration_s=1.0, ids=['a'])\n"
        "out = SimpleNamespace(loss=torch.tensor(1.0), ctc_loss=None, load_balance_loss=torch.tensor(1.0),\n"
        "                      router_z_loss=torch.tensor(0.0), expert_counts=torch.tensor([[1., 2, 3], [3, 2, 1]]))\n"
        "window.add_micro_batch(batch, out if rank == 0 else None)\n"
        "window.add_step(torch.tensor(1.0), torch.tensor(True), 1e-3, 0.1)\n"
        "stats = window.read(2)\n"
        "if rank == 1: open(sys.argv[1], 'w').write(json.dumps([stats.tokens, stats.expert_fractions]))\n"
        "dist.destroy_process_group()\n")
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           str(script), str(out)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=120)  # a hang fails here
    assert done.returncode == 0, done.stderr[-4000:]
    tokens, fractions = json.loads(out.read_text())
    assert tokens == 4 and fractions == [[1 / 6, 2 / 6, 3 / 6], [3 / 6, 2 / 6, 1 / 6]]


def test_training_computes_the_log_mel_in_fp32_outside_autocast_and_ctc_lengths_on_the_host(
        corpus, tmp_path):
    from smolwhisper.data.loader import features
    from smolwhisper.model import CTCTargets

    trainer = Trainer(load_run_config(None, run_args(corpus, tmp_path / "run", **{
        "train.precision": "bf16", "model.ctc_weight": 0.3})), Distributed())
    seen = {}
    forward = trainer.forward

    def spy(mel, tokens, **kwargs):
        seen.update(mel=mel, autocast=torch.is_autocast_enabled("cpu"), ctc=kwargs["ctc_targets"])
        return forward(mel, tokens, **kwargs)

    trainer.forward = spy
    batch = trainer.next_batch()
    trainer.batches = iter([batch])
    trainer.train_step()
    expected, _ = features(batch, 80)
    assert seen["autocast"] and seen["mel"].dtype == torch.float32
    assert torch.equal(seen["mel"], expected)
    ctc = seen["ctc"]
    assert isinstance(ctc, CTCTargets) and ctc.frame_lengths.device.type == ctc.label_lengths.device.type == "cpu"
    assert ctc.frame_lengths.tolist() == [-(-n // 2) for n in batch.n_frames]


def test_the_ctc_loss_with_host_lengths_equals_torchs_ctc_loss():
    from smolwhisper.model import CTCTargets
    from smolwhisper.model.whisper import ctc_loss_per_token

    torch.manual_seed(0)
    log_probs = torch.randn(3, 20, 11).log_softmax(-1).requires_grad_()
    targets = torch.tensor([[1, 2, 3, -100], [-100, 4, 4, 5], [6, -100, -100, -100]])
    frames = [20, 14, 9]
    loss = ctc_loss_per_token(log_probs, CTCTargets.from_targets(targets, frames))
    labels = [row[row != -100] for row in targets]
    expected = F.ctc_loss(log_probs.transpose(0, 1), torch.cat(labels), torch.tensor(frames),
                          torch.tensor([len(r) for r in labels]), blank=10, reduction="sum") / 7
    assert torch.allclose(loss, expected)
    grad, = torch.autograd.grad(loss, log_probs)
    expected_grad, = torch.autograd.grad(expected, log_probs)
    assert torch.allclose(grad, expected_grad, atol=1e-6)


def reference_liger_forward(hidden, weight, targets, label_smoothing):
    """What Liger's forward returns (the mean loss and its gradients, written out), in place of its
    Triton kernels."""
    logits = hidden @ weight.T
    loss = F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=label_smoothing)
    kept = targets != -100
    smoothed = F.one_hot(targets.clamp(min=0), logits.shape[1]) * (1 - label_smoothing) + label_smoothing / logits.shape[1]
    grad_logits = (logits.softmax(-1) - smoothed) * kept[:, None] / kept.sum()
    return loss, grad_logits @ weight, grad_logits.T @ hidden


def test_the_fused_cross_entropy_op_compiles_whole_and_gives_the_gradients_of_cross_entropy(monkeypatch):
    from smolwhisper.model import fused_loss

    monkeypatch.setattr(fused_loss, "liger_forward", reference_liger_forward)
    torch.manual_seed(0)
    hidden = torch.randn(12, 16, requires_grad=True)
    weight = torch.randn(30, 16, requires_grad=True)
    targets = torch.randint(0, 30, (12,))
    targets[[2, 7]] = -100
    loss = compiled(lambda w, h, t: fused_loss.linear_cross_entropy(w, h, t, 0.1) * 3)(weight, hidden, targets)
    grads = torch.autograd.grad(loss, (hidden, weight))
    expected = 3 * F.cross_entropy(hidden @ weight.T, targets, ignore_index=-100, label_smoothing=0.1)
    expected_grads = torch.autograd.grad(expected, (hidden, weight))
    assert torch.allclose(loss, expected)
    assert all(torch.allclose(g, e, atol=1e-6) for g, e in zip(grads, expected_grads))


@pytest.mark.parametrize("dtype, capability, path", [
    (torch.bfloat16, (9, 0), "grouped_mm"), (torch.bfloat16, (8, 0), "expert loop"),
    (torch.float32, (9, 0), "expert loop")])
def test_grouped_matmul_off_its_fast_kernel_is_an_explicit_expert_loop(monkeypatch, dtype, capability, path):
    from smolwhisper.model import moe

    moe.grouped_mm_path.cache_clear()
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    try:
        assert moe.grouped_mm_path(torch.device("cuda", 0), dtype).startswith(path)
    finally:
        moe.grouped_mm_path.cache_clear()


def test_gpus_older_than_ampere_take_sdpa_with_the_mask_instead_of_flash_attention(monkeypatch):
    model_module.flash_attention_capable.cache_clear()
    monkeypatch.setattr(model_module, "varlen_attn", per_sequence_attention)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    q = torch.empty(1, 1, 2, 8, dtype=torch.bfloat16)
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))
    try:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
        assert not model_module.varlen_kernel_runs(q)
        model_module.flash_attention_capable.cache_clear()
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
        assert model_module.varlen_kernel_runs(q)
    finally:
        model_module.flash_attention_capable.cache_clear()


def test_mfu_divides_the_flops_model_counts_by_the_exact_peak_of_the_card(monkeypatch):
    from smolwhisper.model.flops import batch_training_flops, training_flops
    from smolwhisper.train.recipe import mfu_metrics

    cfg = model_preset("tiny.en")
    flops = batch_training_flops(cfg, [3000, 1500], [100, 40])
    assert flops == training_flops(cfg, 3000, 100) + training_flops(cfg, 1500, 40)
    stats = type("Stats", (), {"flops": flops, "seconds": 0.5})()
    for name, peak in (("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12)):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None, _n=name: _n)
        assert mfu_metrics(stats, Distributed(world_size=2))["gpu/mfu"] == pytest.approx(flops / 0.5 / (2 * peak))


def test_ray_gives_each_gpu_trial_its_own_device_which_the_trainer_takes_as_cuda_0(tmp_path):
    """As the orchestrator's Tune trainable asks for {"gpu": 1}: with two (pretend) GPUs, two concurrent
    trials each see one CUDA_VISIBLE_DEVICES id of their own, under which the trainer takes cuda:0."""
    import ray
    from ray import tune

    def trial(config):
        from unittest import mock

        from smolwhisper.train.accelerator import resolve_device

        visible = os.environ["CUDA_VISIBLE_DEVICES"]
        with mock.patch.object(torch.cuda, "is_available", lambda: True), \
                mock.patch.object(torch.cuda, "device_count", lambda: len(visible.split(","))):
            device = str(resolve_device("auto", local_rank=0, world_size=1))
        tune.report({"visible": int(visible), "cuda_0": int(device == "cuda:0")})

    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}})
    try:
        results = tune.Tuner(tune.with_resources(trial, {"cpu": 1, "gpu": 1}),
                             param_space={"trial": tune.grid_search([0, 1])},
                             tune_config=tune.TuneConfig(max_concurrent_trials=2),
                             run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0)).fit()
    finally:
        ray.shutdown()
    seen = sorted((r.metrics["visible"], r.metrics["cuda_0"]) for r in results)
    assert seen == [(0, 1), (1, 1)]
