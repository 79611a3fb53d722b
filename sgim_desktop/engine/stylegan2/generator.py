"""The generator: mapping network, synthesis network, and its architecture (``StyleGAN2Config``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from sgim_desktop.engine.stylegan2.layers import ConstantInput, EqualLinear, PixelNorm, StyledConv, ToRGB
from sgim_desktop.errors import BadInputError

MAPPING_LR_MUL = 0.01
MAX_SIZE = 1024


@dataclass(frozen=True)
class StyleGAN2Config:
    """The architecture of a rosinality generator; ``load_generator`` infers it from a checkpoint."""

    size: int
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2

    def __post_init__(self) -> None:
        if self.size < 4 or self.size > MAX_SIZE or self.size & (self.size - 1):
            raise ValueError(f"StyleGAN2 size must be a power of two from 4 to {MAX_SIZE}, got {self.size}")
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
            *[EqualLinear(dim, dim, lr_mul=MAPPING_LR_MUL, activate=True) for _ in range(config.n_mlp)],
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


def freeze(g: StyleGAN2Generator) -> StyleGAN2Generator:
    g.eval()
    g.requires_grad_(False)
    return g


def rule_weighted_generator(size: int, channel_multiplier: int = 2) -> StyleGAN2Generator:
    """A frozen generator holding the reference fixtures' rule weights (for tests and self-tests)."""
    from sgim_desktop.synthetic_weights import fill_

    g = StyleGAN2Generator(StyleGAN2Config(size=size, channel_multiplier=channel_multiplier))
    fill_(g, "stylegan2")
    return freeze(g)
