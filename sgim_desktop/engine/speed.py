"""What makes an edit step cheap without changing what it computes, and what the fast mode trades.

Exact (the default, the parity reference) and fast share these:
- the allocator keeps freed memory (``keep_freed_memory``): a step frees and re-allocates the same
  large activations every time, and glibc hands each one back to the kernel, so every new one paid
  page faults that cost more than the arithmetic of a memory-bound op (5x on a 33 MB multiply);
- CLIP's 224 px view as two small matrix products (``original_clip_view``): the same linear map as
  the original's nearest x7 up-sampling and average pooling, without the 7x image (616 MB at 1024 px);
- ToRGB's 1x1 convolutions as plain matrix products, and the frozen weights' derived tensors
  (scaled weight, transpose, tap energies) computed once (``stylegan2.ModulatedConv2d``);
- targets and the source image's identity features computed once per edit (``edit.py``).

Fast mode (``EditRequest.speed = "fast"``) runs the generator's convolutions in bfloat16 where the
hardware does them natively (AVX-512 BF16 or AMX CPUs, recent GPUs: about twice float32's rate)
and where that pays (generators up to 256 px), with everything else in float32 and the original's
whole schedule; elsewhere it runs the exact computation with the original's schedule in 60% of the
steps (``fast_steps``). Either way the result image is rendered the exact way from the latent
reached. Three more trades are written and measured but off
(``FAST_KERNELS``, ``FAST_LAND_EARLY``, ``FAST_LOW_RESOLUTION``): NNPACK's Winograd / the backend's
direct 3x3 kernels with less accurate sums, a schedule that starts its ramp-down when the loss
stalls (``FastSchedule``), and running the generator while optimising only up to the smallest
resolution CLIP's 224 px view can use (256 px), with previews and the result rendered at full size.
``sgim-desktop bench`` measures what each costs and the objective each reaches (docs/speed.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import sys
from functools import lru_cache

import torch

from sgim_desktop.engine.schedule import RAMPDOWN, RAMPUP, get_lr

CLIP_SIZE = 224
_NEAREST_FACTOR = 7
# Fast mode renders at least this size while optimising: the smallest generator size >= CLIP_SIZE.
FAST_MIN_RESOLUTION = 256

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30
_kept = False
KEEP_FREED_ENV = "SGIM_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse instead of returning each to the kernel.

    Only on Linux with glibc (elsewhere the allocators already cache); idempotent. The resident
    size then stays near the step's peak between steps, which it reaches every step anyway, plus
    what fragmentation strands: at 1024 px 1.5-1.8 GB over a live peak of 3.5 GB, against steps
    three times slower (5.6 s instead of 1.9, docs/speed.md) when every block goes back.
    ``SGIM_KEEP_FREED_MEMORY=0`` chooses the smaller footprint.
    """
    global _kept
    if _kept:
        return True
    if not sys.platform.startswith("linux") or os.environ.get(KEEP_FREED_ENV, "1").strip() == "0":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * _KEEP_BYTES))
    _kept = ok
    return ok


@lru_cache(maxsize=16)
def clip_view_matrix(size: int, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(224, size): row j averages the source pixels that the j-th pooling window of the x7 image covers."""
    k = size // 32
    up = torch.arange(CLIP_SIZE * k)
    matrix = torch.zeros(CLIP_SIZE, size, dtype=torch.float64)
    matrix.index_put_((up // k, up // _NEAREST_FACTOR), torch.ones(up.numel(), dtype=torch.float64), accumulate=True)
    return (matrix / k).to(device=device, dtype=dtype)


def original_clip_view(image: torch.Tensor) -> torch.Tensor:
    """The original's 224 px CLIP input (nearest x7, then average pooling by size // 32) as A @ X @ A^T.

    The weights are counts over 7 and size // 32, exact in float32; only the order of the sums
    differs from pooling the 7x image, at float rounding.
    """
    size = image.shape[-1]
    a = clip_view_matrix(size, image.device, image.dtype)
    return torch.matmul(torch.matmul(a, image), a.t())


def optimisation_resolution(size: int, speed: str) -> int:
    """The resolution the generator runs to while optimising: full size unless ``FAST_LOW_RESOLUTION``."""
    if speed == "fast" and FAST_LOW_RESOLUTION:
        return min(size, FAST_MIN_RESOLUTION)
    return size


# Measured (docs/speed.md): at 256 px, 180 of 300 steps reach the full edit's objective within 0.3%;
# 120 steps fall 3.9% short. Landing early on a stalled loss (FastSchedule) stopped a 300-step edit
# at 64 steps, 10% short, and the fast kernels were slower than the exact ones on AVX-512 (NNPACK
# does not run there): both stay available but off. Optimising a 1024 px generator only up to
# 256 px (FAST_LOW_RESOLUTION) costs 1.46 s a step instead of 2.59, but a whole 180-step edit
# reached 0.8975 where the exact 300-step one reached 0.8126, 10.4% worse: the 512 and 1024 px
# layers add what CLIP sees and their latents get no gradient. So it is off too.
FAST_STEP_FRACTION = 0.6
# With bfloat16 convolutions (where they are native) fast mode keeps the whole schedule. At 256 px
# 300 such steps reached a lower objective than 300 exact ones at 0.63 of the time; at 1024 px,
# where the layers are narrow and memory-bound, a step was only 1.3x faster and 300 of them landed
# 1.7% above exact, worse in time and objective than 60% of the exact steps (docs/speed.md). So
# bfloat16 is used up to FAST_BFLOAT16_MAX_SIZE (512 px is unmeasured and stays float32).
FAST_BFLOAT16 = True
FAST_BFLOAT16_MAX_SIZE = 256
FAST_BFLOAT16_STEP_FRACTION = 1.0
FAST_LOW_RESOLUTION = False
FAST_LAND_EARLY = False
FAST_KERNELS = False


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether bfloat16 convolutions run at full speed here: a CPU with AVX-512 BF16 or AMX, a CUDA
    GPU that has them. Elsewhere oneDNN emulates them, more slowly than float32."""
    device = torch.device(device)
    try:
        if device.type == "cuda":
            return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        if device.type == "cpu":
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError, TypeError):
        return False
    return False


def fast_convolution_dtype(device: torch.device | str, size: int) -> torch.dtype | None:
    """The convolution dtype of a ``size`` px generator in fast mode: bfloat16 where it is native
    and pays (up to ``FAST_BFLOAT16_MAX_SIZE``), else unchanged."""
    if FAST_BFLOAT16 and size <= FAST_BFLOAT16_MAX_SIZE and native_bfloat16(device):
        return torch.bfloat16
    return None


def fast_steps(steps: int, conv_dtype: torch.dtype | None = None) -> int:
    """Fast mode runs the original's schedule shape (ramp-up, plateau, cosine ramp-down) in fewer
    steps, or in all of them when its convolutions run in bfloat16 (``fast_convolution_dtype``)."""
    fraction = FAST_BFLOAT16_STEP_FRACTION if conv_dtype is not None else FAST_STEP_FRACTION
    return max(1, round(steps * fraction))


class FastSchedule:
    """The original's learning-rate schedule over ``steps``, that lands early when the loss stalls.

    The loss of a latent optimised with Adam at a constant rate jitters around a level; most of the
    final gain comes in the cosine ramp-down that ends the schedule. So instead of stopping where
    the loss stalls (measured: a worse result), the ramp-down starts there: once the mean loss of
    the last ``window`` steps is no lower than the window before by ``rel_tol``, the schedule ends
    one ramp-down length later.
    """

    def __init__(self, steps: int, lr: float, rel_tol: float = 1e-3, land_early: bool = True):
        self.steps, self.lr0, self.rel_tol, self.land_early = steps, lr, rel_tol, land_early
        self.end = steps
        self.landing = max(1, round(RAMPDOWN * steps))
        self.window = max(5, steps // 10)
        self.losses: list[float] = []

    def lr(self, i: int) -> float:
        if self.end == self.steps:
            return get_lr(i / self.steps, self.lr0)
        ramp = min(1.0, (self.end - i) / self.landing)
        return self.lr0 * (0.5 - 0.5 * math.cos(ramp * math.pi))

    def done(self, i: int) -> bool:
        return i >= self.end

    def observe(self, i: int, loss: float) -> None:
        """Record step i's loss; may move the end earlier (only while the rate is still at its plateau)."""
        self.losses.append(loss)
        w = self.window
        if not self.land_early or self.end != self.steps or len(self.losses) < 2 * w:
            return
        if i < RAMPUP * self.steps + 2 * w or i + 1 + self.landing >= self.steps - self.landing:
            return
        recent = sum(self.losses[-w:]) / w
        before = sum(self.losses[-2 * w:-w]) / w
        if before - recent < self.rel_tol * abs(before):
            self.end = i + 1 + self.landing


@lru_cache(maxsize=1)
def winograd_available() -> bool:
    """Whether torch has NNPACK here (x86 and ARM builds on Linux and macOS), initialising it if so.

    torch sizes NNPACK's thread pool once, at its first convolution. It is given one thread fewer
    than torch's own (at least one): that pool spin-waits for its threads, so it needs a core to
    spare for everything else that runs (the window, the audio, other programs). On a shared
    2-core machine a convolution took 190 ms with two threads and 80-140 ms with one.
    """
    try:
        if not torch._nnpack_available():
            return False
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, threads - 1))
        try:
            torch._nnpack_spatial_convolution(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), torch.zeros(1), [1, 1])
        finally:
            torch.set_num_threads(threads)
        return True
    except (AttributeError, RuntimeError):
        return False


# NNPACK's Winograd kernels beat oneDNN's direct ones by 2-3x on wide layers, and lose on narrow
# high-resolution ones and on small images (measured on AVX2: 512ch@64px 3x, 128ch@256px 2x,
# 32ch@1024px 0.8x, 512ch@16px 1x).
_WINOGRAD_MIN_CHANNELS = 128
_WINOGRAD_MIN_PIXELS = 32 * 32


def use_winograd(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.shape[-1] == 3
        and min(weight.shape[0], weight.shape[1]) >= _WINOGRAD_MIN_CHANNELS
        and x.shape[-2] * x.shape[-1] >= _WINOGRAD_MIN_PIXELS
        and winograd_available()
    )


class _Winograd3x3(torch.autograd.Function):
    """A 3x3 'same' convolution with a constant weight, forward and input gradient both by NNPACK.

    The input gradient of a stride-1 'same' convolution is another one, with the weight's in and
    out channels swapped and its taps flipped, so both directions use the fast kernel.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        zeros = torch.zeros(weight.shape[0], dtype=x.dtype)
        return torch._nnpack_spatial_convolution(x.contiguous(), weight.contiguous(), zeros, [1, 1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (weight,) = ctx.saved_tensors
        flipped = weight.transpose(0, 1).flip(2, 3).contiguous()
        zeros = torch.zeros(flipped.shape[0], dtype=grad.dtype)
        return torch._nnpack_spatial_convolution(grad.contiguous(), flipped, zeros, [1, 1]), None


def winograd_conv3x3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fast mode's 3x3 convolution (the weight must not need a gradient)."""
    return _Winograd3x3.apply(x, weight.detach())
