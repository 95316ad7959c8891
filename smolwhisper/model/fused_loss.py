"""Liger's fused linear cross-entropy (the logits are never materialised) as one torch op.

Called through its autograd.Function, Liger's loss breaks the graph under torch.compile and syncs
with the host in backward (`torch.equal(grad_output, 1.0)`). As a custom op with the gradients
computed in the forward pass (as Liger itself does) and scaled on the device in backward, it
compiles as one opaque node and its backward reads nothing back. One read-back stays inside Liger's
forward: it counts the non-ignored targets with `.item()` to average the loss.
"""

from __future__ import annotations

import torch
from torch import Tensor


def liger_forward(hidden: Tensor, weight: Tensor, targets: Tensor, label_smoothing: float):
    """Liger's forward: (mean loss, grad of hidden, grad of weight), the weight's in fp32."""
    from liger_kernel.ops.fused_linear_cross_entropy import fused_linear_cross_entropy_forward

    loss, *_, grad_hidden, grad_weight, _ = fused_linear_cross_entropy_forward(
        hidden, weight, targets, ignore_index=-100, label_smoothing=label_smoothing, reduction="mean",
        accum_dtype=torch.float32, compute_gradients=True, weight_requires_grad=True)
    return loss, grad_hidden, grad_weight


@torch.library.custom_op("smolwhisper::linear_cross_entropy", mutates_args=())
def _linear_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor,
                          label_smoothing: float) -> tuple[Tensor, Tensor, Tensor]:
    with torch.autocast(hidden.device.type, enabled=False):  # the caller chose the dtype
        loss, grad_hidden, grad_weight = liger_forward(hidden, weight, targets, label_smoothing)
    return loss.float(), grad_hidden, grad_weight.float()


@_linear_cross_entropy.register_fake
def _(hidden: Tensor, weight: Tensor, targets: Tensor, label_smoothing: float) -> tuple[Tensor, Tensor, Tensor]:
    return (hidden.new_empty((), dtype=torch.float32), torch.empty_like(hidden),
            torch.empty_like(weight, dtype=torch.float32))


def _setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1], output[2])
    ctx.weight_dtype = inputs[1].dtype


def _backward(ctx, grad_loss: Tensor, _grad_hidden_grad: Tensor, _grad_weight_grad: Tensor):
    grad_hidden, grad_weight = ctx.saved_tensors
    return (grad_hidden * grad_loss.to(grad_hidden.dtype), (grad_weight * grad_loss).to(ctx.weight_dtype),
            None, None)


_linear_cross_entropy.register_autograd(_backward, setup_context=_setup)


def linear_cross_entropy(weight: Tensor, hidden: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy of `hidden [N, C] @ weight[V, C].T` against targets [N] (-100 ignored), in
    autocast's dtype where autocast is on, accumulated in fp32."""
    device = hidden.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
    loss, _, _ = torch.ops.smolwhisper.linear_cross_entropy(hidden.to(dtype), weight.to(dtype), targets,
                                                             label_smoothing)
    return loss
