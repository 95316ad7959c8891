"""The MoE feed-forward: routing, dropless dispatch, auxiliary losses, gradients."""

import pytest
import torch
import torch.nn.functional as F

from smolwhisper.model.moe import HAS_GROUPED_MM, MoEFeedForward, routing_stats


def make_moe(n_experts=4, top_k=2, noisy=False, grouped=True, seed=0) -> MoEFeedForward:
    torch.manual_seed(seed)
    moe = MoEFeedForward(16, 32, n_experts, top_k, noisy_topk=noisy, grouped_mm=grouped)
    with torch.no_grad():
        for p in moe.parameters():
            p.normal_(std=0.3)
    return moe


def reference_moe(moe: MoEFeedForward, x: torch.Tensor) -> torch.Tensor:
    """Token by token: sum over the chosen experts of weight * expert(token)."""
    weights, experts, _, _ = moe.route(x.reshape(-1, x.shape[-1]))
    rows = []
    for token, ws, es in zip(x.reshape(-1, x.shape[-1]), weights, experts):
        rows.append(sum(w * (F.gelu(token @ moe.w1[e] + moe.b1[e]) @ moe.w2[e] + moe.b2[e]) for w, e in zip(ws, es)))
    return torch.stack(rows).view(x.shape)


def test_routing_weights_sum_to_one_over_distinct_top_k_experts():
    moe = make_moe(n_experts=8, top_k=3).eval()
    weights, experts, probs, _ = moe.route(torch.randn(50, 16))
    assert weights.shape == experts.shape == (50, 3)
    assert torch.allclose(weights.sum(-1), torch.ones(50))
    assert all(len(set(row.tolist())) == 3 for row in experts)
    # the chosen experts are the k most probable ones
    assert torch.equal(experts.sort(-1).values, probs.topk(3, dim=-1).indices.sort(-1).values)


@pytest.mark.parametrize("grouped", [True, False] if HAS_GROUPED_MM else [False])
def test_dropless_every_token_gets_all_its_experts(grouped):
    moe = make_moe(grouped=grouped).eval()
    x = torch.randn(3, 7, 16)
    out, stats = moe(x)
    assert torch.allclose(out, reference_moe(moe, x), atol=1e-5)
    assert stats["expert_counts"].sum() == 3 * 7 * 2


def test_grouped_matmul_and_expert_loop_agree_in_values_and_gradients():
    if not HAS_GROUPED_MM:
        pytest.skip("this torch has no grouped_mm")
    x = torch.randn(4, 9, 16)
    grads = []
    for grouped in (True, False):
        moe = make_moe(grouped=grouped).eval()
        out, _ = moe(x)
        out.pow(2).sum().backward()
        grads.append((out.detach(), moe.w1.grad, moe.w2.grad, moe.router.weight.grad))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_balance_loss_and_z_loss_match_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0], [0.5, 0.0]])
    probs = logits.softmax(-1)
    experts = torch.tensor([[0], [0], [1], [0]])  # top-1 choices
    stats = routing_stats(probs, logits, experts, n_experts=2)
    # f = (3/4, 1/4); P = column means of probs; loss = 2 * (f0*P0 + f1*P1)
    p0 = (0.8807971 + 0.5 + 0.0474259 + 0.6224593) / 4
    assert stats["load_balance_loss"].item() == pytest.approx(2 * (0.75 * p0 + 0.25 * (1 - p0)), abs=1e-6)
    z = torch.tensor([2.126928, 1.693147, 3.048587, 0.974077])  # log(e^a + e^b) per row
    assert stats["router_z_loss"].item() == pytest.approx((z ** 2).mean().item(), abs=1e-5)
    assert stats["expert_counts"].tolist() == [3, 1]
    # masked tokens leave the statistics
    masked = routing_stats(probs, logits, experts, 2, mask=torch.tensor([True, True, False, False]))
    assert masked["expert_counts"].tolist() == [2, 0]


def test_perfectly_even_routing_has_balance_loss_one():
    probs = torch.full((6, 3), 1 / 3)
    experts = torch.tensor([[0], [1], [2], [0], [1], [2]])
    assert routing_stats(probs, probs.log(), experts, 3)["load_balance_loss"].item() == pytest.approx(1.0)


def test_gradients_reach_router_noise_and_experts():
    moe = make_moe(n_experts=4, top_k=2, noisy=True).train()
    out, stats = moe(torch.randn(2, 20, 16))
    (out.pow(2).mean() + stats["load_balance_loss"] + stats["router_z_loss"]).backward()
    for name, p in moe.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_noise_only_in_training():
    moe = make_moe(noisy=True)
    x = torch.randn(30, 16)
    moe.eval()
    assert torch.equal(moe.route(x)[3], moe.route(x)[3])
    assert torch.equal(moe.route(x)[3], moe.router(x))
    moe.train()
    assert not torch.equal(moe.route(x)[3], moe.route(x)[3])


def test_one_expert_top_one_equals_the_dense_ffn_with_the_same_weights():
    moe = make_moe(n_experts=1, top_k=1).eval()
    dense = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 16))
    with torch.no_grad():
        dense[0].weight.copy_(moe.w1[0].T)
        dense[0].bias.copy_(moe.b1[0])
        dense[2].weight.copy_(moe.w2[0].T)
        dense[2].bias.copy_(moe.b2[0])
    x = torch.randn(2, 5, 16)
    assert torch.allclose(moe(x)[0], dense(x), atol=1e-6)


def test_the_grouped_matmul_op_that_compiles_in_fp32_matches_torch_in_values_and_gradients():
    if not HAS_GROUPED_MM:
        pytest.skip("this torch has no grouped_mm")
    torch.manual_seed(0)
    x, w = torch.randn(12, 16, requires_grad=True), torch.randn(3, 16, 8, requires_grad=True)
    offsets = torch.tensor([5, 5, 12], dtype=torch.int32)  # the middle group is empty
    grad = torch.randn(12, 8)
    results = []
    for matmul in (lambda: F.grouped_mm(x, w, offs=offsets), lambda: torch.ops.smolwhisper.grouped_mm(x, w, offsets)):
        x.grad = w.grad = None
        out = matmul()
        out.backward(grad)
        results.append((out.detach(), x.grad.clone(), w.grad.clone()))
    for ours, torch_s in zip(*results):
        assert torch.allclose(ours, torch_s, atol=1e-5)
