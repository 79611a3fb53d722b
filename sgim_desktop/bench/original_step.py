"""The original edit step's computation, re-implemented here as the benchmark's baseline.

This is NOT the original repository's code (that cannot run here: its ops need compiling, and no
code of it is copied). It is our own re-implementation of how ``run_optimization.py`` computes one
step, so the benchmark can compare against the original's cost on the same machine in the same run:

- per-sample weight modulation and demodulation, then a grouped convolution (``groups=batch``);
- up-sampling convs as a transposed convolution followed by the FIR blur, and the ToRGB skip
  up-sampled the same way, both through upfirdn2d written as the reference's CPU path does it
  (zero-insert by reshape and pad, permute every channel into the batch, a one-channel conv2d,
  permute back);
- CLIP's input by nearest x7 up-sampling then average pooling to 224 px;
- the audio encoder run again every step;
- every parameter of the generator, CLIP and the audio encoder left trainable, as the original
  leaves them, so each backward pass also computes (and accumulates) their weight gradients;
- ``loss.backward(retain_graph=True)`` with the original's variable lifetimes, so the previous
  step's graph stays alive while the next one is built;
- a no-grad re-render for the intermediate image every 20 steps; CLIP in half precision on CUDA
  (``clip.load`` keeps fp16 weights there).

It reads the parameters of our own modules (one state dict, shared), and the tests check that it
computes the same image and latent gradient as the engine's exact mode.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sgim_desktop.engine.clip_space import ClipSpace
from sgim_desktop.engine.edit import COS_SCALE, get_lr, to_uint8
from sgim_desktop.engine.stylegan2 import ModulatedConv2d, StyledConv, StyleGAN2Generator, ToRGB

ORIGINAL_PREVIEW_EVERY = 20
_LRELU_GAIN = math.sqrt(2.0)


def upfirdn2d_reference_layout(x: torch.Tensor, kernel: torch.Tensor, up: int = 1,
                               pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Zero-insert up-sampling, padding and FIR filtering, laid out as the reference's CPU path does it.

    Every channel becomes a batch entry of a one-channel convolution, with the zero insertion done
    by reshaping and padding: the same values as ``engine.stylegan2.upfirdn2d``, at its cost.
    """
    _, channels, in_h, in_w = x.shape
    kh, kw = kernel.shape
    out = x.reshape(-1, in_h, 1, in_w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1])
    out = out.reshape(-1, in_h * up, in_w * up, 1)
    out = F.pad(out, [0, 0, pad[0], pad[1], pad[0], pad[1]])
    out = out.permute(0, 3, 1, 2)
    padded_h, padded_w = in_h * up + pad[0] + pad[1], in_w * up + pad[0] + pad[1]
    out = out.reshape(-1, 1, padded_h, padded_w)
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, kh, kw).to(out.dtype))
    out_h, out_w = padded_h - kh + 1, padded_w - kw + 1
    out = out.reshape(-1, 1, out_h, out_w).permute(0, 2, 3, 1)
    return out.reshape(-1, channels, out_h, out_w)


def modulated_conv_reference(conv: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The original's modulated convolution: a weight per sample, one grouped convolution."""
    batch, in_channel, height, width = x.shape
    k, out_channel = conv.kernel_size, conv.out_channel
    s = conv.modulation(style).view(batch, 1, in_channel, 1, 1)
    weight = conv.scale * conv.weight * s
    if conv.demodulate:
        demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
        weight = weight * demod.view(batch, out_channel, 1, 1, 1)
    if conv.upsample:
        weight = weight.transpose(1, 2).reshape(batch * in_channel, out_channel, k, k)
        out = F.conv_transpose2d(x.reshape(1, batch * in_channel, height, width), weight, padding=0,
                                 stride=2, groups=batch)
        out = out.reshape(batch, out_channel, out.shape[-2], out.shape[-1])
        return upfirdn2d_reference_layout(out, conv.blur.kernel, pad=conv.blur.pad)
    weight = weight.reshape(batch * out_channel, in_channel, k, k)
    out = F.conv2d(x.reshape(1, batch * in_channel, height, width), weight, padding=k // 2, groups=batch)
    return out.reshape(batch, out_channel, out.shape[-2], out.shape[-1])


def _styled_conv(layer: StyledConv, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    out = modulated_conv_reference(layer.conv, x, style)
    out = out + layer.noise.weight * noise
    bias = layer.activate.bias
    return F.leaky_relu(out + bias.view(1, -1, 1, 1), negative_slope=0.2) * _LRELU_GAIN


def _to_rgb(layer: ToRGB, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
    out = modulated_conv_reference(layer.conv, x, style) + layer.bias
    if skip is not None:
        out = out + upfirdn2d_reference_layout(skip, layer.upsample.kernel, up=layer.upsample.factor,
                                               pad=layer.upsample.pad)
    return out


def synthesis_reference(g: StyleGAN2Generator, w_plus: torch.Tensor) -> torch.Tensor:
    """G(W+) computed the original's way, with our generator's parameters and stored noise."""
    noise = [getattr(g.noises, f"noise_{i}") for i in range(g.num_layers)]
    out = g.input(w_plus.shape[0])
    out = _styled_conv(g.conv1, out, w_plus[:, 0], noise[0])
    skip = _to_rgb(g.to_rgb1, out, w_plus[:, 1], None)
    i = 1
    for up_conv, conv, to_rgb, noise1, noise2 in zip(g.convs[::2], g.convs[1::2], g.to_rgbs, noise[1::2], noise[2::2]):
        out = _styled_conv(up_conv, out, w_plus[:, i], noise1)
        out = _styled_conv(conv, out, w_plus[:, i + 1], noise2)
        skip = _to_rgb(to_rgb, out, w_plus[:, i + 2], skip)
        i += 2
    return skip


def clip_view_reference(image: torch.Tensor) -> torch.Tensor:
    """The original's CLIP input: ``Upsample(scale_factor=7)`` (nearest) then ``AvgPool2d(size // 32)``."""
    return F.avg_pool2d(F.interpolate(image, scale_factor=7, mode="nearest"), kernel_size=image.shape[-1] // 32)


@dataclass
class OriginalStep:
    """What one step of the original loop reports (losses before the update, as the original prints)."""

    step: int
    loss: float
    cos_loss: float
    elapsed_s: float
    preview: object | None = None
    grad: torch.Tensor | None = None


class OriginalRun:
    """One run of the original loop; ``latent`` holds the current W+ after each step."""

    def __init__(self, g: StyleGAN2Generator, space: ClipSpace, audio_input: torch.Tensor, w0: torch.Tensor,
                 steps: int, lr: float = 0.1, lambda_sim: float = 0.008, record: bool = False,
                 preview_every: int = ORIGINAL_PREVIEW_EVERY):
        self.g, self.space = g, space
        self.audio_input = audio_input.to(space.device)
        self.w0 = w0.detach().to(space.device)
        self.n_steps, self.lr, self.lambda_sim = steps, lr, lambda_sim
        self.record, self.preview_every = record, preview_every
        self.latent = self.w0.clone()
        self._half = space.device.type == "cuda"
        self._clip = copy.deepcopy(space.clip).half() if self._half else space.clip

    def _encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self._clip.encode_image(x.half() if self._half else x).float()

    def steps(self) -> Iterator[OriginalStep]:
        """The loop; the models are trainable while it runs (as in the original) and frozen after."""
        modules = [self.g, self._clip, self.space.audio_encoder]
        for m in modules:
            m.requires_grad_(True)
        try:
            yield from self._loop()
        finally:
            for m in modules:
                m.requires_grad_(False)
                m.zero_grad(set_to_none=True)

    def _loop(self) -> Iterator[OriginalStep]:
        latent = self.w0.detach().clone()
        latent.requires_grad = True
        self.latent = latent
        optimizer = torch.optim.Adam([latent], lr=self.lr)
        started = time.perf_counter()
        for i in range(self.n_steps):
            optimizer.param_groups[0]["lr"] = get_lr(i / self.n_steps, self.lr)
            img_gen = synthesis_reference(self.g, latent)
            image_features = normalize_exact(self._encode_image(clip_view_reference(img_gen)))
            audio_features = normalize_exact(self.space.audio_encoder(self.audio_input).float())
            cosine_distance_loss = 1 - (image_features @ audio_features.T)[0] * COS_SCALE
            similarity_loss = ((self.w0 - latent) ** 2).sum()
            loss = self.lambda_sim * similarity_loss + cosine_distance_loss
            optimizer.zero_grad()
            loss.backward(retain_graph=True)
            grad = latent.grad.detach().clone() if self.record else None
            optimizer.step()
            preview = None
            if self.preview_every > 0 and i % self.preview_every == 0:
                with torch.no_grad():
                    preview = to_uint8(synthesis_reference(self.g, latent))
            yield OriginalStep(step=i, loss=float(loss.detach()), cos_loss=float(cosine_distance_loss.detach()),
                               elapsed_s=time.perf_counter() - started, preview=preview, grad=grad)
        with torch.no_grad():  # the original renders the source again for its result pair
            self.source_image = to_uint8(synthesis_reference(self.g, self.w0))


def normalize_exact(x: torch.Tensor) -> torch.Tensor:
    """``x / x.norm(dim=-1, keepdim=True)``, as the original writes it (no clamp)."""
    return x / x.norm(dim=-1, keepdim=True)
