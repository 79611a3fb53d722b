"""StyleGAN2 generator in plain PyTorch that loads rosinality checkpoints unchanged.

The paper edits images by optimising a W+ latent through a rosinality-format StyleGAN2
(``torch.load(ckpt)['g_ema']``). Module and buffer names here follow that layout exactly, so those
files load with strict=True, and the maths (equalised learning rate, modulated convolution with
demodulation, [1,3,3,1] FIR up-sampling, fused leaky ReLU, skip ToRGB) reproduces the original's.

One job a module: ``ops`` (the arithmetic), ``layers`` (the named modules), ``generator`` (the
network and its config), ``checkpoint`` (reading a file into one). This package exports them all.
"""

from __future__ import annotations

from sgim_desktop.engine.stylegan2.checkpoint import infer_config, load_generator
from sgim_desktop.engine.stylegan2.generator import StyleGAN2Config, StyleGAN2Generator, rule_weighted_generator
from sgim_desktop.engine.stylegan2.layers import (
    Blur,
    ConstantInput,
    EqualLinear,
    FusedLeakyReLU,
    ModulatedConv2d,
    NoiseInjection,
    PixelNorm,
    StyledConv,
    ToRGB,
    Upsample,
)
from sgim_desktop.engine.stylegan2.ops import conv2d, conv_transpose2d, fused_leaky_relu, upfirdn2d

__all__ = [
    "Blur", "ConstantInput", "EqualLinear", "FusedLeakyReLU", "ModulatedConv2d", "NoiseInjection", "PixelNorm",
    "StyleGAN2Config", "StyleGAN2Generator", "StyledConv", "ToRGB", "Upsample", "conv2d", "conv_transpose2d",
    "fused_leaky_relu", "infer_config", "load_generator", "rule_weighted_generator", "upfirdn2d",
]
