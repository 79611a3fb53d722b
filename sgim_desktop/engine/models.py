"""Load the models an edit needs from checkpoint files, once, onto one device."""

from __future__ import annotations

from pathlib import Path

import torch

from sgim_desktop.engine.audio_encoder import load_audio_encoder
from sgim_desktop.engine.clip_space import ClipSpace, load_clip
from sgim_desktop.engine.edit import EditModels
from sgim_desktop.engine.stylegan2 import load_generator


def load_edit_models(
    generator: str | Path,
    audio_encoder: str | Path | None = None,
    clip: str | Path | None = None,
    identity: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> EditModels:
    """The generator alone renders; CLIP and the audio encoder are needed to edit; ArcFace for faces."""
    g = load_generator(generator, device=device)
    space = None
    if audio_encoder is not None and clip is not None:
        space = ClipSpace(load_clip(clip, device), load_audio_encoder(audio_encoder, device), device)
    ident = None
    if identity is not None:
        from sgim_desktop.engine.identity import IdentityLoss, load_arcface

        ident = IdentityLoss(load_arcface(identity, device=device)).to(device)
    return EditModels(generator=g, space=space, identity=ident)
