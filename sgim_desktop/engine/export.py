"""Writing results: pictures in the format their name says, latents, before | after; atomically.

A picture is PNG for ``.png`` and JPEG for ``.jpg``/``.jpeg`` (quality 95 by default, the highest
Pillow recommends: above it the file grows with no gain); any other ending is refused before anything is
written, so no file ever holds a format its name does not say. Each file appears whole or not at
all: it is written to a hidden neighbour and renamed. numpy and Pillow only at import (torch is
imported for a latent when one is written).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sgim_desktop.errors import BadInputError

if TYPE_CHECKING:
    import torch

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
JPEG_QUALITY = 95


def check_folder(path: str | Path) -> Path:
    """The path, once its folder is known to exist (so a long task does not fail at its very end)."""
    path = Path(path)
    if not path.parent.exists():
        raise BadInputError(f"cannot write {path}: the folder {path.parent} does not exist")
    return path


def image_format(path: str | Path) -> str:
    """PIL's format name for a picture path, or a one-line refusal of the ending."""
    path = Path(path)
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        ending = f"'{path.suffix}'" if path.suffix else "no ending"
        raise BadInputError(f"cannot write {path} as a picture ({ending}): name it .png, .jpg or .jpeg")
    return fmt


def check_image_path(path: str | Path) -> Path:
    """Refuse an unusable picture path before the work that would fill it."""
    image_format(path)
    return check_folder(path)


def write_image(image: np.ndarray, path: str | Path, quality: int = JPEG_QUALITY) -> Path:
    """An RGB (or RGBA, grey) uint8 picture as PNG or JPEG, by the path's ending."""
    from PIL import Image

    path = check_image_path(path)
    fmt = image_format(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        picture = Image.fromarray(np.ascontiguousarray(image))
        if fmt == "JPEG":
            picture.convert("RGB").save(tmp, format="JPEG", quality=int(quality))
        else:
            picture.save(tmp, format="PNG")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_latent(latent: torch.Tensor, path: str | Path) -> Path:
    """A W+ latent as a plain tensor file (loads with weights_only=True)."""
    from sgim_desktop.engine.edit import save_latent

    path = check_folder(path)
    try:
        save_latent(latent, path)
    except OSError as exc:
        path.with_name(path.name + ".part").unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8, background: int = 255) -> np.ndarray:
    """Two pictures next to each other (before | after) with a gap, the smaller centred vertically."""
    h = max(left.shape[0], right.shape[0])
    w = left.shape[1] + gap + right.shape[1]
    out = np.full((h, w, 3), background, dtype=np.uint8)
    for img, x0 in ((left, 0), (right, left.shape[1] + gap)):
        y0 = (h - img.shape[0]) // 2
        out[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img[..., :3]
    return out
