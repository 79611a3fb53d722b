"""Rule weights: deterministic stand-ins for the public checkpoints.

Real weights cannot be downloaded here, so the tests, the self-test and the benchmarks fill each
model's state dict by the rule that produced ``shared/fixtures/reference`` (see its README). A tensor
depends only on its name and shape, so any layout (any generator size) gets weights whose outputs
stay in a sane range, and the original code given the same rule computed the fixtures.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping

import torch

_KERNEL = torch.tensor([1.0, 3.0, 3.0, 1.0])
_BLUR_KERNEL = (_KERNEL[None, :] * _KERNEL[:, None]) / (_KERNEL.sum() ** 2)


def _randn(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return torch.randn(shape, generator=gen)


def _affine(name: str, shape: tuple[int, ...], a: float, b: float = 0.0, src: str = "t") -> torch.Tensor:
    t = _randn(name, shape)
    if src == "abs":
        t = t.abs()
    return t * a + b


_STYLEGAN_RULES: list[tuple[str, float, float]] = [
    (r"style\.\d+\.weight", 100.0, 0.0),
    (r"style\.\d+\.bias", 10.0, 0.0),
    (r".*\.modulation\.weight", 1.0, 0.0),
    (r".*\.modulation\.bias", 0.1, 1.0),
    (r"(to_rgb1|to_rgbs\.\d+)\.conv\.weight", 0.2, 0.0),
    (r"(conv1|convs\.\d+)\.conv\.weight", 1.0, 0.0),
    (r".*\.noise\.weight", 0.1, 0.0),
    (r".*\.activate\.bias", 0.1, 0.0),
    (r"(to_rgb1|to_rgbs\.\d+)\.bias", 0.1, 0.0),
    (r"input\.input", 1.0, 0.0),
    (r"noises\.noise_\d+", 1.0, 0.0),
]


def stylegan2_value(name: str, like: torch.Tensor) -> torch.Tensor:
    """The rule value of one rosinality generator entry; FIR kernels keep the architecture's."""
    shape = tuple(like.shape)
    if re.fullmatch(r".*kernel", name):
        if shape == (4, 4):
            return (_BLUR_KERNEL * 4).clone() if "upsample" in name or ".blur." in name else _BLUR_KERNEL.clone()
        return like.detach().clone()
    for pattern, a, b in _STYLEGAN_RULES:
        if re.fullmatch(pattern, name):
            return _affine(name, shape, a, b)
    raise KeyError(f"no StyleGAN2 weight rule for {name!r}")


def generic_value(name: str, like: torch.Tensor, keys: set[str]) -> torch.Tensor:
    """The generic rule (ArcFace, audio encoder, CLIP); ``keys`` is the whole state dict's names."""
    shape = tuple(like.shape)
    if not like.dtype.is_floating_point:
        return torch.zeros(shape, dtype=like.dtype)
    prefix, _, leaf = name.rpartition(".")
    last = prefix.rpartition(".")[2]
    if leaf == "running_mean":
        return _affine(name, shape, 0.1)
    if leaf == "running_var":
        return _affine(name, shape, 1.0, 0.5, src="abs")
    if leaf in ("weight", "bias") and f"{prefix}.running_var" in keys:
        return _affine(name, shape, 0.1, 1.0) if leaf == "weight" else _affine(name, shape, 0.1)
    if leaf in ("weight", "bias") and re.fullmatch(r"ln_(pre|post|final|1|2)", last):
        return _affine(name, shape, 0.1, 1.0) if leaf == "weight" else _affine(name, shape, 0.1)
    if re.fullmatch(r"(input_layer\.2|body\.\d+\.res_layer\.2)\.weight", name):
        return _affine(name, shape, 0.05, 0.25)
    if name in ("visual.proj", "text_projection"):
        return _affine(name, shape, 1 / math.sqrt(shape[0]))
    if name in ("visual.class_embedding", "visual.positional_embedding", "positional_embedding"):
        return _affine(name, shape, 0.1)
    if name == "token_embedding.weight":
        return _affine(name, shape, 1.0)
    if name == "logit_scale":
        return _affine(name, shape, 0.1, math.log(1 / 0.07))
    if (leaf == "weight" or leaf.endswith("_weight")) and len(shape) >= 2:
        return _affine(name, shape, 1 / math.sqrt(math.prod(shape[1:])))
    if leaf == "bias" or leaf.endswith("_bias"):
        return _affine(name, shape, 0.1)
    raise KeyError(f"no generic weight rule for {name!r}")


def stylegan2_state_dict(template: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rule weights for every entry of a rosinality-layout generator state dict."""
    return {k: stylegan2_value(k, v) for k, v in template.items()}


def generic_state_dict(template: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rule weights for every entry of an ArcFace / audio-encoder / CLIP state dict."""
    keys = set(template)
    return {k: generic_value(k, v, keys) for k, v in template.items()}


def fill_(module: torch.nn.Module, rule: str = "generic") -> torch.nn.Module:
    """Load rule weights into ``module`` in place (``rule`` is 'generic' or 'stylegan2')."""
    sd = module.state_dict()
    values = stylegan2_state_dict(sd) if rule == "stylegan2" else generic_state_dict(sd)
    module.load_state_dict(values, strict=True)
    return module
