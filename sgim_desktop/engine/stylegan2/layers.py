"""The generator's layers, named as in rosinality's ``model.py`` so its state dicts load unchanged."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.engine.stylegan2.ops import (
    BLUR_TAPS,
    EPS,
    LRELU_GAIN,
    LRELU_SLOPE,
    conv2d,
    conv_transpose2d,
    fast_gemm,
    fir_kernel,
    fused_leaky_relu,
    upfirdn2d,
)


class PixelNorm(nn.Module):
    """Normalise each latent vector to unit root-mean-square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + EPS)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: the stored weight is scaled at run time."""

    def __init__(self, in_dim: int, out_dim: int, *, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_dim, in_dim))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, bias=self.bias * self.lr_mul)


class Blur(nn.Module):
    """FIR low-pass after a transposed convolution (removes its checkerboard)."""

    kernel: torch.Tensor

    def __init__(self, pad: tuple[int, int], gain: float):
        super().__init__()
        self.register_buffer("kernel", fir_kernel(gain))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=1, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR up-sampling of the RGB skip branch."""

    kernel: torch.Tensor

    def __init__(self, factor: int = 2):
        super().__init__()
        self.register_buffer("kernel", fir_kernel(factor**2))
        self.factor = factor
        p = len(BLUR_TAPS) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per sample by the style (and optionally demodulated).

    Scaling a weight's input channels by the style equals scaling the input, and demodulation is a
    per-output-channel factor, so both are applied to activations around one shared convolution.
    The result is the original's per-sample-weight convolution, but the whole batch runs as one
    ordinary convolution and the backward pass needs no weight gradient.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, *,
                 demodulate: bool = True, upsample: bool = False):
        super().__init__()
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        # Attribute order matters: it is the order of the checkpoint's keys.
        self.weight = nn.Parameter(torch.zeros(1, out_channel, in_channel, kernel_size, kernel_size))
        if upsample:
            factor = 2
            p = (len(BLUR_TAPS) - factor) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + factor - 1, p // 2 + 1), gain=factor**2)
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self._frozen: tuple[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def _weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The scaled weight, its (in, out) transpose for up-sampling, and (in, out) tap energies.

        They depend only on the stored weight, so while it is frozen they are computed once, not at
        every step (the same ops, so the same values); a trainable weight gets them in the graph.
        """
        key = (self.weight._version, self.weight.device, self.weight.dtype)
        if self._frozen is not None and self._frozen[0] == key and not self.weight.requires_grad:
            return self._frozen[1]
        weight = self.scale * self.weight[0]
        transposed = weight.transpose(0, 1)
        energy = weight.square().sum((2, 3)).transpose(0, 1)
        if self.weight.requires_grad:
            self._frozen = None
            return weight, transposed, energy
        derived = (weight, transposed.contiguous() if self.upsample else transposed, energy)
        self._frozen = (key, derived)
        return derived

    def forward(self, x: torch.Tensor, style: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """``fast``: faster kernels with less accurate sums (see ``conv2d``)."""
        out, demod = self.undemodulated(x, style, fast)
        if demod is None:
            return out
        return lean.channel_scale(out, demod.view(x.shape[0], self.out_channel, 1, 1))

    def undemodulated(self, x: torch.Tensor, style: torch.Tensor, fast: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The convolution of the modulated input, and the (batch, out) demodulation factors still to apply."""
        batch = x.shape[0]
        s = self.modulation(style)
        weight, transposed, tap_energy = self._weights()
        x = lean.channel_scale(x, s.view(batch, self.in_channel, 1, 1))
        if self.upsample:
            out = self.blur(conv_transpose2d(x, transposed, stride=2, gemm=fast_gemm(x, 3) if fast else None))
        else:
            out = conv2d(x, weight, fast=fast)
        if not self.demodulate:
            return out, None
        # |W s|^2 per output channel (the original's demodulation), without per-sample weights.
        energy = s.square() @ tap_energy
        return out, torch.rsqrt(energy + EPS)


class NoiseInjection(nn.Module):
    """Adds a learned multiple of a fixed noise image."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU + sqrt(2) gain; holds the bias as ``activate.bias``."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    """Modulated 3x3 conv, then noise, then activation: one W+ entry drives it."""

    def __init__(self, in_channel: int, out_channel: int, style_dim: int, *, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor, fast: bool = False) -> torch.Tensor:
        if not fast:
            # activate(noise(conv(x))) with the demodulation, noise, bias and activation in one
            # autograd step: the same operations in the same order (so the same values), with
            # fewer blocks a layer kept for and made by the backward pass.
            out, demod = self.conv.undemodulated(x, style)
            assert demod is not None
            return lean.demodulate_activate(out, demod.view(x.shape[0], -1, 1, 1), self.noise.weight * noise,
                                            self.activate.bias.view(1, -1, 1, 1), LRELU_SLOPE, LRELU_GAIN)
        # The same maths in three passes over the activations instead of five: the sqrt(2) gain moves
        # inside the leaky ReLU (it is positively homogeneous) into the demodulation, bias and noise
        # factors, and the demodulation, bias and noise are applied in one fused multiply-add.
        out, demod = self.conv.undemodulated(x, style, fast=True)
        assert demod is not None
        gain = LRELU_GAIN
        z = torch.addcmul((self.activate.bias * gain).view(1, -1, 1, 1), out, (demod * gain)[:, :, None, None])
        z.add_(noise * (self.noise.weight * gain))
        return F.leaky_relu_(z, LRELU_SLOPE)


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB, added to the up-sampled previous RGB."""

    def __init__(self, in_channel: int, style_dim: int, *, upsample: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Module):
    """The learned 4x4 constant the synthesis starts from."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.zeros(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)
