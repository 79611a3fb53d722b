"""A perceptual distance (LPIPS with VGG16, Zhang et al. 2018) for inverting photos.

A pixel loss alone makes the generator's picture a blurred average of the photo; comparing VGG16
activations (unit-normalised per position, weighted per channel by LPIPS' learned 1 x 1 layers)
measures what people notice: edges, textures, features. The VGG16 convolutions come from
torchvision's ImageNet file and the channel weights from LPIPS v0.1, both through the model
manager (catalog ids ``vgg16-imagenet`` and ``lpips-vgg-v0.1``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgim_desktop.errors import CheckpointError

VGG_ID = "vgg16-imagenet"
LPIPS_ID = "lpips-vgg-v0.1"

# VGG16 'features' indices after which LPIPS reads activations: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
_TAPS = (3, 8, 15, 22, 29)
_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS' input scaling, for images in [-1, 1]
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
MAX_SIDE = 256
"""Pictures are compared at most this large, as StyleGAN projectors do: detail above it costs time, not quality."""


_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _vgg16_features() -> nn.Sequential:
    """torchvision's ``vgg16().features`` up to relu5_3, same indices, without building the classifier."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _VGG16:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        conv = nn.Conv2d(channels, int(item), 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU()]
        channels = int(item)
    return nn.Sequential(*layers)


class Perceptual(nn.Module):
    """LPIPS-VGG distance between two image batches in [-1, 1] (B x 3 x H x W) -> one value per pair."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.features = _vgg16_features()
        self.lins = nn.ParameterList([nn.Parameter(torch.ones(1, c, 1, 1) / c) for c in _CHANNELS])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                out.append(x)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape[-1] > MAX_SIDE:
            a = F.interpolate(a, size=(MAX_SIDE, MAX_SIDE), mode="area")
            b = F.interpolate(b, size=(MAX_SIDE, MAX_SIDE), mode="area")
        total = a.new_zeros(a.shape[0])
        for fa, fb, w in zip(self._taps(a), self._taps(b), self.lins):
            fa = fa / (fa.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            fb = fb / (fb.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + ((fa - fb).pow(2) * w).sum(dim=1).mean(dim=(1, 2))
        return total

    def features_of(self, target: torch.Tensor) -> "CachedTarget":
        """The target's activations computed once: an inversion compares against them every step."""
        with torch.no_grad():
            if target.shape[-1] > MAX_SIDE:
                target = F.interpolate(target, size=(MAX_SIDE, MAX_SIDE), mode="area")
            taps = [f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in self._taps(target)]
        return CachedTarget(self, taps)


class CachedTarget:
    """``distance(image)``: LPIPS from a fixed target whose features are kept."""

    def __init__(self, net: Perceptual, taps: list[torch.Tensor]):
        self.net, self.taps = net, taps

    def distance(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-1] > MAX_SIDE:
            image = F.interpolate(image, size=(MAX_SIDE, MAX_SIDE), mode="area")
        total = image.new_zeros(image.shape[0])
        for f, t, w in zip(self.net._taps(image), self.taps, self.net.lins):
            f = f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + ((f - t).pow(2) * w).sum(dim=1).mean(dim=(1, 2))
        return total


def _frozen(net: Perceptual, device: str | torch.device) -> Perceptual:
    return net.to(device).eval().requires_grad_(False)


def load_perceptual(vgg_path: str | Path, lpips_path: str | Path, device: str | torch.device = "cpu") -> Perceptual:
    """The distance from torchvision's VGG16 file and LPIPS' linear-layer file (both loaded weights-only)."""
    from sgim_desktop.checkpoints.safe_load import load_checkpoint, state_dict_of

    net = Perceptual()
    vgg = state_dict_of(load_checkpoint(vgg_path))
    features = {k[len("features."):]: v for k, v in vgg.items()
                if k.startswith("features.") and int(k.split(".")[1]) <= _TAPS[-1]}
    try:
        net.features.load_state_dict(features, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(vgg_path).name} is not torchvision's VGG16 ({str(exc).splitlines()[0][:120]})") from None
    lin = state_dict_of(load_checkpoint(lpips_path))
    for i, param in enumerate(net.lins):
        key = f"lin{i}.model.1.weight"
        value = lin.get(key)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(param.shape):
            raise CheckpointError(
                f"{Path(lpips_path).name} is not LPIPS' VGG layer file (no {key} of shape {tuple(param.shape)})")
        param.data.copy_(value.float())
    return _frozen(net, device)


def seeded_perceptual(seed: int = 0, device: str | torch.device = "cpu") -> Perceptual:
    """VGG16 with torchvision's initialisation rule under a fixed seed: for tests, no download."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Perceptual()
    return _frozen(net, device)


def perceptual_from_manager(manager=None, download: bool = False, device: str | torch.device = "cpu",
                            progress=None, cancel=None) -> Perceptual | None:
    """The LPIPS network if both files are in the models folder (fetched first when ``download``), else None."""
    from sgim_desktop.checkpoints.manager import ModelManager

    manager = manager or ModelManager()
    if not download and not (manager.is_present(VGG_ID) and manager.is_present(LPIPS_ID)):
        return None
    vgg = manager.ensure(VGG_ID, progress=progress, cancel=cancel)
    lpips = manager.ensure(LPIPS_ID, progress=progress, cancel=cancel)
    return load_perceptual(vgg, lpips, device)
