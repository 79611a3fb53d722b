"""Autograd functions that keep and make less for the backward pass, computing the same values.

An edit back-propagates through a frozen generator to its latent. Autograd's convolution keeps
its input for a weight gradient that a frozen weight never needs, and the leaky ReLU keeps its
input where its output (which the next layer keeps anyway) says the same. Without those the
generator's saved activations halve (1024 px: 2245 -> 1120 MB). ``scaled_leaky_relu_`` also works
in place, so a layer's noise, bias and activation allocate nothing new.

The backward pass also makes fewer blocks: the channel scalings (``channel_scale``: the style,
the demodulation) and a styled convolution's demodulate-noise-bias-activation step
(``demodulate_activate``) scale the incoming gradient in place and sum their factor's gradient a
few channels at a time, and a convolution's input gradient gets an untouched mapping as its shape
stand-in (``untouched``). With memory kept for reuse (``speed.keep_freed_memory``) the resident
size follows the heap's high-water mark, and every full-size temporary, more so one of a slightly
different size (1024, 1025, 1027 px), leaves holes the next ones may not fit. At 1024 px the peak
resident size over 10-20 steps went from 4.4-5.3 GB to 4.0-4.3 GB (3.1-3.3 GB after the first step;
where the heap settles varies from run to run), against about 3.1 GB when nothing is kept.

All run the forward with the same kernels and the backward with the same products and sums as
autograd's, so the image and the gradient are bit-for-bit those of the plain ops
(tests/engine/test_lean_autograd.py). ``convolutions_in`` is the exception on purpose: fast mode's
bfloat16 convolutions.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F


def _wants_lean(x: torch.Tensor, weight: torch.Tensor | None = None) -> bool:
    return torch.is_grad_enabled() and x.requires_grad and (weight is None or not weight.requires_grad)


_conv_dtype: ContextVar[torch.dtype | None] = ContextVar("sgim_conv_dtype", default=None)


@contextlib.contextmanager
def convolutions_in(dtype: torch.dtype | None) -> Iterator[None]:
    """Run the frozen-weight convolutions started inside in ``dtype`` (their sums stay float32 in
    oneDNN and cuDNN), forward and backward; everything else keeps its own precision. None: as is."""
    token = _conv_dtype.set(dtype)
    try:
        yield
    finally:
        _conv_dtype.reset(token)


def convolution_dtype() -> torch.dtype | None:
    """The dtype ``convolutions_in`` set here, if any."""
    return _conv_dtype.get()


class _FrozenConv(torch.autograd.Function):
    """A convolution (or transposed one) whose weight needs no gradient: keeps the weight only."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int, groups: int,
                transposed: bool) -> torch.Tensor:
        dtype = _conv_dtype.get()
        if dtype is not None and dtype != x.dtype:
            x, weight = x.to(dtype), weight.to(dtype)
        ctx.save_for_backward(weight)
        ctx.geometry = (tuple(x.shape), x.dtype, x.device, stride, padding, groups, transposed)
        if transposed:
            return F.conv_transpose2d(x, weight, stride=stride, padding=padding, groups=groups)
        return F.conv2d(x, weight, stride=stride, padding=padding, groups=groups)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        shape, dtype, device, stride, padding, groups, transposed = ctx.geometry
        grad = grad.to(dtype)
        # The input's values are not read for the input gradient, only its shape and layout; a
        # zero-stride stand-in made oneDNN pick a slower kernel, so it gets a plain contiguous one.
        like = untouched(shape, dtype, device)
        grad_input = torch.ops.aten.convolution_backward(
            grad, like, weight, None, [stride, stride], [padding, padding], [1, 1],
            transposed, [0, 0], groups, [True, False, False],
        )[0]
        return grad_input, None, None, None, None, None


_untouched_lock = threading.Lock()
_untouched_maps: dict[torch.dtype, tuple[mmap.mmap, torch.Tensor]] = {}


def untouched(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A contiguous tensor of ``shape`` whose values are never read or written (a shape stand-in).

    On the CPU it is a view of one anonymous mapping that is never touched, so it costs address
    space but no resident memory, and it takes no block from the heap: a fresh 128 MB block a layer
    at 1024 px was one more size for glibc's heap to fit around, and the heap's high-water mark is
    what the resident size follows (``speed.keep_freed_memory``).
    """
    device = torch.device(device)
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    numel = 1
    for n in shape:
        numel *= n
    itemsize = dtype.itemsize
    with _untouched_lock:
        held = _untouched_maps.get(dtype)
        if held is None or held[1].numel() < numel:
            pages = max(1, -(-numel * itemsize // mmap.PAGESIZE))
            mapping = mmap.mmap(-1, pages * mmap.PAGESIZE)
            held = (mapping, torch.frombuffer(mapping, dtype=dtype, count=pages * mmap.PAGESIZE // itemsize))
            _untouched_maps[dtype] = held
        flat = held[1]
    return flat[:numel].view(shape)


def _in_conv_dtype(x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = _conv_dtype.get()
    if dtype is None or dtype == x.dtype:
        return x, weight
    return x.to(dtype), weight.to(dtype)


def conv2d(x: torch.Tensor, weight: torch.Tensor, *, stride: int = 1, padding: int = 0, groups: int = 1) -> torch.Tensor:
    """``F.conv2d``; when only the input needs a gradient, without keeping the input for backward."""
    if _wants_lean(x, weight):
        return _FrozenConv.apply(x, weight, stride, padding, groups, False)
    x, weight = _in_conv_dtype(x, weight)
    return F.conv2d(x, weight, stride=stride, padding=padding, groups=groups)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, *, stride: int = 1) -> torch.Tensor:
    """``F.conv_transpose2d`` (no padding); when only the input needs a gradient, without keeping it."""
    if _wants_lean(x, weight):
        return _FrozenConv.apply(x, weight, stride, 0, 1, True)
    x, weight = _in_conv_dtype(x, weight)
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


def _sum_to(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Autograd's reduction of a broadcast gradient to ``like``'s shape (the same sum, so the same bits)."""
    dims = [d for d in range(t.ndim) if like.shape[d] == 1 and t.shape[d] != 1]
    return t.sum(dims, keepdim=True) if dims else t


# The product whose per-channel sums a channel factor's gradient is, is made this many elements at
# a time (16 MB) rather than whole (128 MB a layer at 1024 px).
_PRODUCT_CHUNK = 1 << 22


def _product_sum_to(a: torch.Tensor, b: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``_sum_to(a * b, like)`` for a per-channel ``like`` (1, C, 1, 1), a few channels at a time.

    Each channel's sum runs over the same contiguous pixels in the same order either way, so the
    values are the same; only the temporary product is smaller.
    """
    if a.ndim != 4 or a.shape != b.shape or a.shape[0] != 1 or tuple(like.shape) != (1, a.shape[1], 1, 1) \
            or a.numel() <= _PRODUCT_CHUNK or not (a.is_contiguous() and b.is_contiguous()):
        return _sum_to(a * b, like)
    per = max(1, _PRODUCT_CHUNK // (a.shape[2] * a.shape[3]))
    out = torch.empty(like.shape, dtype=torch.result_type(a, b), device=a.device)
    for c in range(0, a.shape[1], per):
        out[:, c:c + per] = (a[:, c:c + per] * b[:, c:c + per]).sum((2, 3), keepdim=True)
    return out


class _ChannelScale(torch.autograd.Function):
    """``x * s`` with ``s`` broadcast over the pixels (a style or a demodulation), backward in place.

    Autograd's product keeps both factors and in backward holds the incoming gradient, the new
    gradient of ``x`` and the product summed for ``s`` at once. Here ``s``'s gradient is summed
    first (its product freed at once) and ``x``'s gradient is the incoming one scaled in place: at
    most one activation-sized block is added, not two. The same products and sums, so the same bits.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, s = ctx.saved_tensors
        grad_s = _product_sum_to(grad, x, s) if ctx.needs_input_grad[1] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad.mul_(s) if _owned(grad, x, s) else grad * s
        return grad_x, grad_s


def _owned(grad: torch.Tensor, like: torch.Tensor, factor: torch.Tensor | float) -> bool:
    """Whether ``grad * factor`` may overwrite ``grad``: a plain contiguous gradient of the full
    shape, whose dtype the product keeps (so in place gives the same bits)."""
    return (grad.shape == like.shape and grad.is_contiguous() and not grad.requires_grad
            and torch.result_type(grad, factor) == grad.dtype)


def _wants_fused(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def channel_scale(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``x * s`` (``s`` of shape (batch, channels, 1, 1)); a leaner backward when a gradient is wanted.

    The gradient that reaches it must be its own (not handed to another node too), as it is in the
    generator, where it comes from a convolution's backward.
    """
    if _wants_fused(x, s) and x.shape == torch.broadcast_shapes(x.shape, s.shape):
        return _ChannelScale.apply(x, s)
    return x * s


class _DemodulateActivate(torch.autograd.Function):
    """``leaky_relu(out * demod + noise + bias) * gain``: a styled convolution after its convolution.

    The same operations in the same order as the plain ones (so the same values, forward and
    back), keeping ``out``, ``demod`` and the result; its backward scales the incoming gradient in
    place through the activation and the demodulation instead of making four new blocks.
    """

    @staticmethod
    def forward(ctx: Any, out: torch.Tensor, demod: torch.Tensor, noise: torch.Tensor, bias: torch.Tensor,
                slope: float, gain: float) -> torch.Tensor:
        y = out * demod
        y.add_(noise)
        y.add_(bias)
        F.leaky_relu_(y, negative_slope=slope)
        y.mul_(gain)
        ctx.save_for_backward(out, demod, y)
        ctx.slope, ctx.gain = slope, gain
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        out, demod, y = ctx.saved_tensors
        g = grad.mul_(ctx.gain) if _owned(grad, y, ctx.gain) else grad * ctx.gain
        torch.ops.aten.leaky_relu_backward.grad_input(g, y, ctx.slope, False, grad_input=g)
        grad_demod = _product_sum_to(g, out, demod) if ctx.needs_input_grad[1] else None
        grad_out = None
        if ctx.needs_input_grad[0]:
            grad_out = g.mul_(demod) if torch.result_type(g, demod) == g.dtype else g * demod
        return grad_out, grad_demod, None, None, None, None


def demodulate_activate(out: torch.Tensor, demod: torch.Tensor, noise: torch.Tensor, bias: torch.Tensor,
                        slope: float, gain: float) -> torch.Tensor:
    """``F.leaky_relu(out * demod + noise + bias, slope) * gain`` for a frozen noise and bias.

    As for ``channel_scale``, the gradient that reaches it must be its own.
    """
    if slope > 0 and gain > 0 and _wants_fused(out, demod) and not noise.requires_grad and not bias.requires_grad:
        return _DemodulateActivate.apply(out, demod, noise, bias, slope, gain)
    y = out * demod
    y = y + noise if y.requires_grad and torch.is_grad_enabled() else y.add_(noise)
    y = y + bias if y.requires_grad and torch.is_grad_enabled() else y.add_(bias)
    return scaled_leaky_relu_(y, slope, gain)
