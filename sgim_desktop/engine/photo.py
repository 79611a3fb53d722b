"""Small pictures of a photo's faces, so a person can say which face to edit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sgim_desktop.engine.faces import Face

THUMBNAIL_PX = 96
MARGIN = 0.3
"""Room kept around the detector's box on each side, as a share of its size: hair and chin show."""


def face_thumbnails(photo: np.ndarray, faces: list["Face"], size: int = THUMBNAIL_PX) -> list[np.ndarray]:
    """One ``size`` x ``size`` RGB square per face, centred on its box (outside the photo is black)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(photo))
    thumbs = []
    for face in faces:
        x0, y0, x1, y1 = face.box
        side = max(x1 - x0, y1 - y0, 1.0) * (1.0 + 2.0 * MARGIN)
        cx, cy = face.centre
        box = (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
        square = image.crop(box).resize((size, size), Image.Resampling.LANCZOS)
        thumbs.append(np.ascontiguousarray(np.asarray(square.convert("RGB"), dtype=np.uint8)))
    return thumbs
