"""The arithmetic of the rosinality StyleGAN2, as plain differentiable torch ops.

The FIR filter is an ordinary depthwise convolution and the modulated convolutions are matrix
products or stock convolutions, so nothing needs compiling and the same code runs on CPU and CUDA.
Wide layers sum as GEMMs because the latent's gradient needs accurate sums (see ``conv2d``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.engine.speed import use_winograd, winograd_conv3x3

BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
EPS = 1e-8


def fir_kernel(gain: float) -> torch.Tensor:
    """The separable [1,3,3,1] filter normalised to sum ``gain`` (4 when it also up-samples by 2)."""
    taps = torch.tensor(BLUR_TAPS)
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


def fast_gemm(x: torch.Tensor, kernel_size: int) -> bool:
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
        gemm = fast_gemm(x, weight.shape[-1])
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
    return lean.scaled_leaky_relu(x + bias.view(shape), LRELU_SLOPE, LRELU_GAIN)
