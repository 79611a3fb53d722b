"""Autograd functions that keep less for the backward pass, computing the same values.

An edit back-propagates through a frozen generator to its latent. Autograd's convolution keeps
its input for a weight gradient that a frozen weight never needs, and the leaky ReLU keeps its
input where its output (which the next layer keeps anyway) says the same. Without those the
generator's saved activations halve (1024 px: 2245 -> 1120 MB), and what the allocator's kept blocks
add on top shrinks with them (``speed.keep_freed_memory``; about 2.9 -> 1.8 GB).
``scaled_leaky_relu_`` also works in place, so a layer's noise, bias and activation allocate
nothing new.

All run the forward with the same kernels and the backward with the ones autograd calls, so the
image and the gradient are bit-for-bit those of the plain ops (tests/engine/test_lean_autograd.py).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def _wants_lean(x: torch.Tensor, weight: torch.Tensor | None = None) -> bool:
    return torch.is_grad_enabled() and x.requires_grad and (weight is None or not weight.requires_grad)


class _FrozenConv(torch.autograd.Function):
    """A convolution (or transposed one) whose weight needs no gradient: keeps the weight only."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int, groups: int,
                transposed: bool) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.geometry = (tuple(x.shape), x.dtype, x.device, stride, padding, groups, transposed)
        if transposed:
            return F.conv_transpose2d(x, weight, stride=stride, padding=padding, groups=groups)
        return F.conv2d(x, weight, stride=stride, padding=padding, groups=groups)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        shape, dtype, device, stride, padding, groups, transposed = ctx.geometry
        # The input's values are not read for the input gradient, only its shape and layout; a
        # zero-stride stand-in made oneDNN pick a slower kernel, so it gets a plain empty tensor.
        like = torch.empty(shape, dtype=dtype, device=device)
        grad_input = torch.ops.aten.convolution_backward(
            grad, like, weight, None, [stride, stride], [padding, padding], [1, 1],
            transposed, [0, 0], groups, [True, False, False],
        )[0]
        return grad_input, None, None, None, None, None


def conv2d(x: torch.Tensor, weight: torch.Tensor, *, stride: int = 1, padding: int = 0, groups: int = 1) -> torch.Tensor:
    """``F.conv2d``; when only the input needs a gradient, without keeping the input for backward."""
    if _wants_lean(x, weight):
        return _FrozenConv.apply(x, weight, stride, padding, groups, False)
    return F.conv2d(x, weight, stride=stride, padding=padding, groups=groups)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, *, stride: int = 1) -> torch.Tensor:
    """``F.conv_transpose2d`` (no padding); when only the input needs a gradient, without keeping it."""
    if _wants_lean(x, weight):
        return _FrozenConv.apply(x, weight, stride, 0, 1, True)
    return F.conv_transpose2d(x, weight, stride=stride)


class _ScaledLeakyReLU(torch.autograd.Function):
    """``leaky_relu(x) * gain`` that keeps its output: with a positive slope and gain the output has
    the input's sign, which is all the gradient needs."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float, gain: float) -> torch.Tensor:
        out = F.leaky_relu(x, negative_slope=slope)
        out.mul_(gain)
        ctx.save_for_backward(out)
        ctx.slope, ctx.gain = slope, gain
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (out,) = ctx.saved_tensors
        return torch.ops.aten.leaky_relu_backward(grad * ctx.gain, out, ctx.slope, False), None, None


class _ScaledLeakyReLUInPlace(torch.autograd.Function):
    """``_ScaledLeakyReLU`` over its input's own memory: one activation-sized block fewer a layer."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float, gain: float) -> torch.Tensor:
        F.leaky_relu_(x, negative_slope=slope)
        x.mul_(gain)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        ctx.slope, ctx.gain = slope, gain
        return x

    backward = _ScaledLeakyReLU.backward


def scaled_leaky_relu_(x: torch.Tensor, slope: float, gain: float) -> torch.Tensor:
    """In place ``x = F.leaky_relu(x, slope) * gain`` (same values), for a tensor nothing else keeps."""
    if slope > 0 and gain > 0 and _wants_lean(x):
        return _ScaledLeakyReLUInPlace.apply(x, slope, gain)
    if x.requires_grad and torch.is_grad_enabled():
        return F.leaky_relu(x, negative_slope=slope) * gain
    return F.leaky_relu_(x, negative_slope=slope).mul_(gain)


def scaled_leaky_relu(x: torch.Tensor, slope: float, gain: float) -> torch.Tensor:
    """``F.leaky_relu(x, slope) * gain``, keeping the output rather than the input for backward."""
    if slope > 0 and gain > 0 and _wants_lean(x):
        return _ScaledLeakyReLU.apply(x, slope, gain)
    return F.leaky_relu(x, negative_slope=slope) * gain
