"""What a front end asks the engine for, as plain data: no torch at import.

The session, the window's controllers and the CLI describe work with these; only the engine API
(engine/api.py) turns them into tensors and requests, so no front end assembles an EditRequest.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import torch

    from sgim_desktop.engine.audio import Prepared
    from sgim_desktop.engine.sound import Sound

MixMode = Literal["joint", "splice"]
SpeedMode = Literal["exact", "fast"]
ClipInput = Literal["original", "normalized"]


@dataclass(frozen=True)
class ModelFiles:
    """The checkpoint files one set of edit models is loaded from (None: that model is not needed)."""

    generator: Path
    audio_encoder: Path | None = None
    clip: Path | None = None
    identity: Path | None = None


@dataclass(frozen=True, eq=False)
class Picture:
    """Where an edit starts: a seed of the generator (with truncation) or a W+ latent."""

    seed: int | None = 0
    truncation: float = 0.7
    latent: "torch.Tensor | None" = None


@dataclass(frozen=True)
class EditPlan:
    """The knobs of one optimisation; the defaults are the original's settings."""

    steps: int = 300
    lr: float = 0.1
    lambda_sim: float = 0.008
    lambda_id: float = 0.0
    layer_masking: bool = False
    mix_mode: MixMode = "joint"
    split_layer: int = 8
    preview_every: int = 10
    clip_input: ClipInput = "original"
    speed: SpeedMode = "exact"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, eq=False)
class OpenedSound:
    """A sound ready for the encoder: decoded, resampled and analysed once, with its loudest window."""

    sound: "Sound"
    prepared: "Prepared"
    loudest_start_s: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class SoundPick:
    """One sound of a target: which ~10 s window is heard (or the average of all), and its weight."""

    prepared: "Prepared"
    start_s: float = 0.0
    weight: float = 1.0
    label: str = "sound"
    average: bool = False


@dataclass(frozen=True, eq=False)
class PhotoPlan:
    """How to turn a photo into a latent: which face (or the whole picture), and how long to invert."""

    photo: "np.ndarray"
    domain: Literal["face", "scene"] = "face"
    face: int | None = None
    whole: bool = False
    steps: int = 500
    preview_every: int = 10
