"""The paper's audio encoder: a 1 -> 3 channel 3x3 conv in front of a ResNet-18 with a 512-d head.

It loads the public ``resnet18_57.pth`` layout (``conv.*`` + ``feature_extractor.<resnet18>``,
optionally every key under ``module.``) strictly, and never fetches anything when built.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sgim_desktop.checkpoints.safe_load import layout_problem, load_checkpoint, state_dict_of
from sgim_desktop.engine.resnet18 import ResNet18
from sgim_desktop.errors import CheckpointError


class AudioEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, (3, 3))
        self.feature_extractor = ResNet18(num_classes=512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_extractor(self.conv(x))


def strip_module_prefix(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The original's ``copyStateDict``: when the first key starts with 'module', drop every key's first part."""
    keys = list(sd)
    if keys and keys[0].startswith("module"):
        return {k.split(".", 1)[1] if "." in k else k: v for k, v in sd.items()}
    return dict(sd)


def load_audio_encoder(path_or_state: str | Path | dict, device: str | torch.device = "cpu") -> AudioEncoder:
    obj = path_or_state if isinstance(path_or_state, dict) else load_checkpoint(path_or_state)
    name = "state dict" if isinstance(path_or_state, dict) else str(path_or_state)
    try:
        sd = strip_module_prefix(state_dict_of(obj))
    except CheckpointError as exc:
        raise CheckpointError(f"{name} is not an audio encoder checkpoint: {exc}") from exc
    model = AudioEncoder()
    problem = layout_problem(sd, model.state_dict())
    if problem:
        raise CheckpointError(f"{name} is not the audio encoder layout (resnet18_57.pth): {problem}")
    model.load_state_dict(sd, strict=True)
    return model.eval().requires_grad_(False).to(device)


def rule_weighted_audio_encoder() -> AudioEncoder:
    from sgim_desktop.synthetic_weights import fill_

    encoder = AudioEncoder()
    fill_(encoder, "generic")
    return encoder.eval().requires_grad_(False)
