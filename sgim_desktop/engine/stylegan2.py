"""StyleGAN2 generator in plain PyTorch that loads rosinality checkpoints unchanged.

The paper edits images by optimising a W+ latent through a rosinality-format StyleGAN2
(``torch.load(ckpt)['g_ema']``). Module and buffer names here follow that layout exactly, so those
files load with strict=True, and the maths (equalised learning rate, modulated convolution with
demodulation, [1,3,3,1] FIR up-sampling, fused leaky ReLU, skip ToRGB) reproduces the original's.
Nothing needs compiling: the FIR filter is an ordinary depthwise convolution and the modulated
convolutions are matrix products or stock convolutions, so the same code runs on CPU and CUDA and
gradients flow back to the latent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.checkpoints.safe_load import load_checkpoint
from sgim_desktop.engine.speed import use_winograd, winograd_conv3x3
from sgim_desktop.errors import BadInputError, CheckpointError

_BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)
_LRELU_SLOPE = 0.2
_LRELU_GAIN = math.sqrt(2.0)
_MAPPING_LR_MUL = 0.01
_EPS = 1e-8
_MAX_SIZE = 1024


def _fir_kernel(gain: float) -> torch.Tensor:
    """The separable [1,3,3,1] filter normalised to sum ``gain`` (4 when it also up-samples by 2)."""
    taps = torch.tensor(_BLUR_TAPS)
    kernel = taps[None, :] * taps[:, None]
    return kernel / kernel.sum() * gain


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Zero-insert up-sampling by ``up``, pad both axes by ``pad``, then convolve each channel with ``kernel``.

    This is the true convolution (flipped kernel) of the original upfirdn2d, without down-sampling.
    """
    batch, channels, height, width = x.shape
    if up > 1:
        x = F.pad(x.reshape(batch, channels, height, 1, width, 1), (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(batch, channels, height * up, width * up)
    weight = torch.flip(kernel, (0, 1)).to(x.dtype)[None, None].expand(channels, 1, -1, -1)
    if pad[0] == pad[1]:
        # The convolution's own zero padding: no padded copy of the image (1027 px, an odd size
        # for the heap, at 1024 px) and no copy of its gradient back.
        return lean.conv2d(x, weight, padding=pad[0], groups=channels)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    return lean.conv2d(x, weight, groups=channels)


# On the CPU, oneDNN's direct convolution beats a GEMM only at high resolution, where layers are
# narrow and its sums short enough to stay accurate; below this many pixels the GEMM is used.
_CPU_GEMM_MAX_PIXELS = 64 * 64
# Fast mode drops the accurate sums where they cost time: oneDNN's direct kernels beat the GEMM from
# 64 x 64 up and lose below (forward + input gradient, AVX-512, 2 threads: 512ch@16px 95 vs 56 ms,
# 512ch@64px 313 vs 458 ms, 128ch@256px 689 vs 2295 ms).
_FAST_CPU_GEMM_MAX_PIXELS = 32 * 32


def _fast_gemm(x: torch.Tensor, kernel_size: int) -> bool:
    """Fast mode's choice: a GEMM for 1x1 and for small CPU images, the backend's kernels elsewhere."""
    if kernel_size == 1:
        return True
    return x.device.type == "cpu" and x.shape[-2] * x.shape[-1] <= _FAST_CPU_GEMM_MAX_PIXELS


def _use_gemm(x: torch.Tensor, gemm: bool | None, kernel_size: int = 3) -> bool:
    """Whether to run a convolution as a matrix product (see ``conv2d``); ``gemm`` forces the choice.

    A 1x1 convolution is a plain matrix product with no unfolding, and oneDNN's kernels for the
    ToRGB shape (3 outputs) are several times slower than it, so 1x1 always runs as one.
    """
    if gemm is not None:
        return gemm
    if kernel_size == 1:
        return True
    if lean.convolution_dtype() is not None:
        return False  # reduced precision: the backend's kernels, which sum in float32 anyway
    return x.device.type != "cpu" or x.shape[-2] * x.shape[-1] <= _CPU_GEMM_MAX_PIXELS


def conv2d(x: torch.Tensor, weight: torch.Tensor, *, gemm: bool | None = None, fast: bool = False) -> torch.Tensor:
    """Stride-1 'same' convolution with an odd square kernel, summed accurately.

    The gradient with respect to the latent is a small difference of large terms (demodulation
    makes each layer blind to the scale of its style), so it needs accurate sums. oneDNN's direct
    CPU kernels add the 512*9 products of a wide layer in an order that loses about ten times more
    than a GEMM, which made float32 gradients 1000 times less accurate at 64px. So wide layers run
    as a matrix product over unfolded patches. That is also the path on CUDA, where a matmul stays
    full float32 by default while cuDNN convolutions may use TF32; no global backend flag is touched.

    ``fast`` (the fast speed mode) trades those accurate sums for speed: NNPACK's Winograd kernels
    where they pay (wide CPU layers, see ``speed.use_winograd``), else the backend's direct ones.
    """
    if fast:
        if use_winograd(x, weight) and not weight.requires_grad:
            return winograd_conv3x3(x, weight)
        gemm = _fast_gemm(x, weight.shape[-1])
    if not _use_gemm(x, gemm, weight.shape[-1]):
        return lean.conv2d(x, weight, padding=weight.shape[-1] // 2)
    batch, channels, height, width = x.shape
    out_channels, k = weight.shape[0], weight.shape[-1]
    if k == 1:
        # Kept (out x in) @ (in x pixels): matmul would fold a batched product into (pixels x in) @ (in x 3),
        # a shape BLAS runs tens of times slower for ToRGB's three outputs.
        w = weight.reshape(out_channels, channels)
        if batch == 1:
            # A reshape (a view here), not cols[0]: a selected slice's gradient is a new zeroed block.
            out = torch.mm(w, x.reshape(channels, height * width))[None]
        else:
            out = torch.bmm(w.expand(batch, -1, -1), x.reshape(batch, channels, height * width))
        return out.view(batch, out_channels, height, width)
    cols = F.unfold(x, k, padding=k // 2)
    out = torch.matmul(weight.reshape(out_channels, channels * k * k), cols)
    return out.view(batch, out_channels, height, width)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, stride: int = 2, *, gemm: bool | None = None) -> torch.Tensor:
    """Transposed convolution without padding (``weight`` is (in, out, k, k)); a matrix product and a fold."""
    if not _use_gemm(x, gemm):
        return lean.conv_transpose2d(x, weight, stride=stride)
    batch, channels, height, width = x.shape
    out_channels, k = weight.shape[1], weight.shape[-1]
    cols = torch.matmul(weight.reshape(channels, out_channels * k * k).t(), x.reshape(batch, channels, height * width))
    return F.fold(cols, ((height - 1) * stride + k, (width - 1) * stride + k), k, stride=stride)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Add a per-channel bias, leaky ReLU (0.2), and rescale by sqrt(2) to keep the variance."""
    shape = (1, bias.shape[0]) + (1,) * (x.ndim - 2)
    return lean.scaled_leaky_relu(x + bias.view(shape), _LRELU_SLOPE, _LRELU_GAIN)


class PixelNorm(nn.Module):
    """Normalise each latent vector to unit root-mean-square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + _EPS)


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

    def __init__(self, pad: tuple[int, int], gain: float):
        super().__init__()
        self.register_buffer("kernel", _fir_kernel(gain))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=1, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR up-sampling of the RGB skip branch."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.register_buffer("kernel", _fir_kernel(factor**2))
        self.factor = factor
        p = len(_BLUR_TAPS) - factor
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
            p = (len(_BLUR_TAPS) - factor) - (kernel_size - 1)
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
            out = self.blur(conv_transpose2d(x, transposed, stride=2, gemm=_fast_gemm(x, 3) if fast else None))
        else:
            out = conv2d(x, weight, fast=fast)
        if not self.demodulate:
            return out, None
        # |W s|^2 per output channel (the original's demodulation), without per-sample weights.
        energy = s.square() @ tap_energy
        return out, torch.rsqrt(energy + _EPS)


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
                                            self.activate.bias.view(1, -1, 1, 1), _LRELU_SLOPE, _LRELU_GAIN)
        # The same maths in three passes over the activations instead of five: the sqrt(2) gain moves
        # inside the leaky ReLU (it is positively homogeneous) into the demodulation, bias and noise
        # factors, and the demodulation, bias and noise are applied in one fused multiply-add.
        out, demod = self.conv.undemodulated(x, style, fast=True)
        gain = _LRELU_GAIN
        z = torch.addcmul((self.activate.bias * gain).view(1, -1, 1, 1), out, (demod * gain)[:, :, None, None])
        z.add_(noise * (self.noise.weight * gain))
        return F.leaky_relu_(z, _LRELU_SLOPE)


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


@dataclass(frozen=True)
class StyleGAN2Config:
    """The architecture of a rosinality generator; ``load_generator`` infers it from a checkpoint."""

    size: int
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2

    def __post_init__(self) -> None:
        if self.size < 4 or self.size > _MAX_SIZE or self.size & (self.size - 1):
            raise ValueError(f"StyleGAN2 size must be a power of two from 4 to {_MAX_SIZE}, got {self.size}")
        if self.channel_multiplier < 1 or self.style_dim < 1 or self.n_mlp < 1:
            raise ValueError(f"invalid StyleGAN2 config {self}")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        """Number of W+ entries: one per styled conv and ToRGB, shared where they coincide."""
        return self.log_size * 2 - 2

    @property
    def num_layers(self) -> int:
        """Number of styled convs (and noise buffers)."""
        return (self.log_size - 2) * 2 + 1

    def channels(self, resolution: int) -> int:
        """Feature channels at one resolution (512 up to 32x32, then halving with the multiplier)."""
        return 512 if resolution <= 32 else (16384 // resolution) * self.channel_multiplier


class StyleGAN2Generator(nn.Module):
    """Mapping network plus synthesis network with the rosinality state-dict layout."""

    def __init__(self, config: StyleGAN2Config):
        super().__init__()
        self.config = config
        dim = config.style_dim
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(dim, dim, lr_mul=_MAPPING_LR_MUL, activate=True) for _ in range(config.n_mlp)],
        )
        c4 = config.channels(4)
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, dim)
        self.to_rgb1 = ToRGB(c4, dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer in range(config.num_layers):
            res = 2 ** ((layer + 5) // 2)
            self.noises.register_buffer(f"noise_{layer}", torch.zeros(1, 1, res, res))
        in_channel = c4
        for log_res in range(3, config.log_size + 1):
            out_channel = config.channels(2**log_res)
            self.convs.append(StyledConv(in_channel, out_channel, dim, upsample=True))
            self.convs.append(StyledConv(out_channel, out_channel, dim))
            self.to_rgbs.append(ToRGB(out_channel, dim))
            in_channel = out_channel

    @property
    def n_latent(self) -> int:
        return self.config.n_latent

    @property
    def num_layers(self) -> int:
        return self.config.num_layers

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, style_dim) -> w (B, style_dim)."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """The mean w of ``n`` random z (1, style_dim); z is drawn on the generator's device (CPU by default)."""
        ref = self.input.input
        z = torch.randn(n, self.config.style_dim, generator=generator,
                        device=generator.device if generator is not None else "cpu")
        return self.mapping(z.to(device=ref.device, dtype=ref.dtype)).mean(0, keepdim=True)

    @staticmethod
    def truncate(w: torch.Tensor, truncation: float, mean_latent: torch.Tensor) -> torch.Tensor:
        """Pull w (or W+) towards the mean latent: mean + truncation * (w - mean)."""
        return mean_latent + truncation * (w - mean_latent)

    def z_to_w_plus(self, z: torch.Tensor, truncation: float = 1.0,
                    mean_latent: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, style_dim) -> the W+ (B, n_latent, style_dim) the original returns with ``return_latents``.

        As in the original, truncation applies only when it is below 1.
        """
        w = self.mapping(z)
        if truncation < 1:
            if mean_latent is None:
                raise ValueError("truncation below 1 needs mean_latent (see StyleGAN2Generator.mean_latent)")
            w = self.truncate(w, truncation, mean_latent)
        return w.unsqueeze(1).repeat(1, self.n_latent, 1)

    def synthesis(self, w_plus: torch.Tensor, *, resolution: int | None = None, precise: bool = True) -> torch.Tensor:
        """W+ (B, n_latent, style_dim) -> image (B, 3, size, size), roughly in [-1, 1], with the stored noise.

        ``resolution`` stops at that size (a power of two up to ``size``) and returns the RGB image
        built so far: what the full image is before the higher layers add their detail. ``precise``
        False runs the 3x3 convolutions with faster kernels that sum less accurately (see ``conv2d``).
        """
        expected = (self.n_latent, self.config.style_dim)
        if w_plus.ndim != 3 or tuple(w_plus.shape[1:]) != expected:
            raise BadInputError(
                f"latent of shape {tuple(w_plus.shape)} does not fit this {self.config.size}px generator, "
                f"which needs (batch, {expected[0]}, {expected[1]})"
            )
        stop = self.config.size if resolution is None else int(resolution)
        if stop < 4 or stop > self.config.size or stop & (stop - 1):
            raise ValueError(f"resolution must be a power of two from 4 to {self.config.size}, got {resolution}")
        fast = not precise
        noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        out = self.input(w_plus.shape[0])
        out = self.conv1(out, w_plus[:, 0], noise[0], fast)
        skip = self.to_rgb1(out, w_plus[:, 1])
        i = 1
        for up_conv, conv, to_rgb, noise1, noise2 in zip(
            self.convs[::2], self.convs[1::2], self.to_rgbs, noise[1::2], noise[2::2]
        ):
            if skip.shape[-1] >= stop:
                break
            out = up_conv(out, w_plus[:, i], noise1, fast)
            out = conv(out, w_plus[:, i + 1], noise2, fast)
            skip = to_rgb(out, w_plus[:, i + 2], skip)
            i += 2
        return skip

    def forward(self, w_plus: torch.Tensor) -> torch.Tensor:
        return self.synthesis(w_plus)


def _freeze(g: StyleGAN2Generator) -> StyleGAN2Generator:
    g.eval()
    g.requires_grad_(False)
    return g


def rule_weighted_generator(size: int, channel_multiplier: int = 2) -> StyleGAN2Generator:
    """A frozen generator holding the reference fixtures' rule weights (for tests and self-tests)."""
    from sgim_desktop.synthetic_weights import fill_

    g = StyleGAN2Generator(StyleGAN2Config(size=size, channel_multiplier=channel_multiplier))
    fill_(g, "stylegan2")
    return _freeze(g)


_NOT_GENERATOR = "is not a rosinality StyleGAN2 generator"


def _describe(obj: Any) -> str:
    """A short account of what a checkpoint holds, for one-line error messages."""
    if isinstance(obj, Mapping):
        keys = list(obj.keys())
        shown = ", ".join(repr(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
        if keys and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return f"found a state dict of {len(keys)} tensors ({shown})"
        return f"found a dict with keys {shown}" if keys else "found an empty dict"
    return f"found a {type(obj).__name__}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _generator_state(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The g_ema state dict of a rosinality checkpoint, or a bare generator state dict."""
    if isinstance(obj, Mapping) and "g_ema" in obj:
        sd = obj["g_ema"]
        if not (isinstance(sd, Mapping) and sd and all(isinstance(v, torch.Tensor) for v in sd.values())):
            raise CheckpointError(f"{source} {_NOT_GENERATOR}: its 'g_ema' entry is not a state dict of tensors")
        return dict(sd)
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()) \
            and "style.1.weight" in obj:
        return dict(obj)
    raise CheckpointError(f"{source} {_NOT_GENERATOR} (no 'g_ema' entry; {_describe(obj)})")


def infer_config(sd: Mapping[str, torch.Tensor], source: str = "the checkpoint") -> StyleGAN2Config:
    """Size, channel multiplier, style size and mapping depth, read from the key names and shapes."""
    style_layers = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    conv_ids = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"convs\.(\d+)\..*", k))})
    if not style_layers or "input.input" not in sd or "conv1.conv.weight" not in sd:
        raise CheckpointError(f"{source} {_NOT_GENERATOR} ({_describe(sd)})")
    if style_layers != list(range(1, len(style_layers) + 1)) or conv_ids != list(range(len(conv_ids))) \
            or len(conv_ids) % 2:
        raise CheckpointError(
            f"{source} {_NOT_GENERATOR}: its mapping layers {style_layers[:10]} or its {len(conv_ids)} convs "
            "are not numbered as in one"
        )
    style_dim = sd["style.1.weight"].shape[-1]
    size = 2 ** (len(conv_ids) // 2 + 2)
    if size > _MAX_SIZE:
        raise CheckpointError(f"{source} {_NOT_GENERATOR}: {len(conv_ids)} convs means {size}px, above {_MAX_SIZE}px")
    multiplier = 2
    if size >= 64:
        last = sd.get(f"convs.{conv_ids[-1]}.conv.weight")
        base = 16384 // size
        if last is None or last.ndim != 5 or last.shape[1] % base:
            raise CheckpointError(f"{source} {_NOT_GENERATOR}: cannot read the channel widths ({_describe(sd)})")
        multiplier = last.shape[1] // base
    try:
        return StyleGAN2Config(size=size, style_dim=style_dim, n_mlp=len(style_layers), channel_multiplier=multiplier)
    except ValueError as exc:
        raise CheckpointError(f"{source} {_NOT_GENERATOR}: {exc}") from exc


def load_generator(path_or_state: str | Path | Mapping[str, Any], *, device: str | torch.device = "cpu") -> StyleGAN2Generator:
    """Build a frozen generator from a rosinality ``.pt`` (its ``g_ema``) or a bare state dict, strictly."""
    if isinstance(path_or_state, Mapping):
        source, obj = "the given state dict", path_or_state
    else:
        source, obj = str(path_or_state), load_checkpoint(path_or_state)
    sd = _generator_state(obj, source)
    config = infer_config(sd, source)
    g = StyleGAN2Generator(config)
    expected = g.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{_count(len(missing), 'entry', 'entries')} missing (e.g. {missing[0]!r})")
        if unexpected:
            parts.append(f"{_count(len(unexpected), 'unexpected entry', 'unexpected entries')} (e.g. {unexpected[0]!r})")
        raise CheckpointError(f"{source} {_NOT_GENERATOR} of size {config.size}: {'; '.join(parts)}")
    for key, value in expected.items():
        if tuple(sd[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{source} {_NOT_GENERATOR} of size {config.size}, channel multiplier {config.channel_multiplier}: "
                f"{key!r} has shape {tuple(sd[key].shape)}, expected {tuple(value.shape)}"
            )
    g.load_state_dict(sd, strict=True)
    return _freeze(g).to(device)
