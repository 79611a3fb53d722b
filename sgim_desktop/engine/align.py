"""Where the generator's square sits in a photo, and back: FFHQ face alignment, centre crops, paste-back.

A face generator only draws faces placed as in its training set: FFHQ cropped each face to an
oriented square derived from the eyes and the mouth. ``align_face`` reproduces that square from five
landmarks; ``centre_crop`` is the square for other domains (scenes, churches, cars). Both return an
``Alignment``, the affine map from the square to the photo, so ``paste_back`` can put the edited
square back where it came from, at the photo's own size.

Coordinates are continuous: a pixel (i, j) covers [i, i + 1) x [j, j + 1), so its centre is at
(i + 0.5, j + 0.5). Landmarks from a detector are pixel indices and get that half-pixel added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sgim_desktop.errors import BadInputError

_SUPERSAMPLE = 2


@dataclass(frozen=True)
class Alignment:
    """The square crop's place in the photo.

    ``matrix`` (2 x 3) maps a point of the crop, in crop pixels at ``size``, to the photo:
    ``photo = matrix @ (u, v, 1)``. ``quad`` is the crop's corners in the photo (top-left,
    bottom-left, bottom-right, top-right). ``kind`` says how the crop was chosen, which decides
    the paste-back mask: an ellipse around a face, or the whole square for a centre crop.
    """

    matrix: np.ndarray
    size: int
    photo_size: tuple[int, int]
    kind: Literal["face", "centre"]

    @property
    def quad(self) -> np.ndarray:
        s = self.size
        corners = np.array([[0, 0, 1], [0, s, 1], [s, s, 1], [s, 0, 1]], dtype=np.float64)
        return corners @ self.matrix.T

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop coordinates (N x 2) -> photo coordinates."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo coordinates (N x 2) -> crop coordinates."""
        inv = _invert(self.matrix)
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return p @ inv[:, :2].T + inv[:, 2]


@dataclass
class Aligned:
    """A square crop ready for the generator, and where it came from."""

    image: np.ndarray
    alignment: Alignment


def _rot90(v: np.ndarray) -> np.ndarray:
    """Rotate a 2-vector by 90 degrees: (x, y) -> (-y, x)."""
    return np.array([-v[1], v[0]], dtype=np.float64)


def ffhq_quad(eye_left, eye_right, mouth_left, mouth_right) -> np.ndarray:
    """FFHQ's oriented square (4 x 2: top-left, bottom-left, bottom-right, top-right) from eyes and mouth.

    The square is centred a little below the eyes, turned so the eyes are level, and sized by the
    larger of twice the eye distance and 1.8 times the eye-to-mouth distance.
    """
    eye_left, eye_right = np.asarray(eye_left, np.float64), np.asarray(eye_right, np.float64)
    mouth_left, mouth_right = np.asarray(mouth_left, np.float64), np.asarray(mouth_right, np.float64)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - _rot90(eye_to_mouth)
    norm = math.hypot(*x)
    if not math.isfinite(norm) or norm < 1e-6:
        raise BadInputError("the face landmarks are degenerate (eyes and mouth coincide)")
    x = x / norm * max(math.hypot(*eye_to_eye) * 2.0, math.hypot(*eye_to_mouth) * 1.8)
    y = _rot90(x)
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_alignment(quad: np.ndarray, size: int, photo_size: tuple[int, int], kind: Literal["face", "centre"]) -> Alignment:
    """The Alignment whose crop corners are ``quad`` (a parallelogram, in continuous photo coordinates)."""
    quad = np.asarray(quad, dtype=np.float64)
    ex = (quad[3] - quad[0]) / size
    ey = (quad[1] - quad[0]) / size
    matrix = np.array([[ex[0], ey[0], quad[0, 0]], [ex[1], ey[1], quad[0, 1]]], dtype=np.float64)
    return Alignment(matrix=matrix, size=int(size), photo_size=(int(photo_size[0]), int(photo_size[1])), kind=kind)


def face_alignment(landmarks: np.ndarray, size: int, photo_size: tuple[int, int]) -> Alignment:
    """The FFHQ crop for five landmarks (left eye, right eye, nose, mouth left, mouth right) in pixel indices."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2) + 0.5
    if lm.shape[0] != 5 or not np.isfinite(lm).all():
        raise BadInputError("face alignment needs five finite landmarks: eyes, nose, mouth corners")
    quad = ffhq_quad(lm[0], lm[1], lm[3], lm[4])
    return quad_alignment(quad, size, photo_size, "face")


def align_face(photo: np.ndarray, landmarks: np.ndarray, size: int) -> Aligned:
    """The FFHQ-aligned square of one face, ``size`` pixels wide, with the background filled as FFHQ did."""
    h, w = photo.shape[:2]
    alignment = face_alignment(landmarks, size, (w, h))
    return Aligned(image=warp_to_crop(photo, alignment), alignment=alignment)


def centre_crop(photo: np.ndarray, size: int) -> Aligned:
    """The largest centred square, resized to ``size``: the generator's view for scenes, churches, cars."""
    h, w = photo.shape[:2]
    side = float(min(w, h))
    x0, y0 = (w - side) / 2.0, (h - side) / 2.0
    quad = np.array([[x0, y0], [x0, y0 + side], [x0 + side, y0 + side], [x0 + side, y0]])
    alignment = quad_alignment(quad, size, (w, h), "centre")
    return Aligned(image=warp_to_crop(photo, alignment), alignment=alignment)


def warp_to_crop(photo: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Resample the photo into the crop square: shrink first when the face is large (no aliasing),
    fill what lies outside the photo by mirroring and blurring (FFHQ's padding), then sample."""
    from PIL import Image

    _check_photo(photo)
    size = alignment.size
    quad = alignment.quad
    side = float(np.linalg.norm(quad[3] - quad[0]))
    img = Image.fromarray(photo)
    shrink = int(math.floor(side / size * 0.5))
    if shrink > 1:
        small = (max(1, round(img.width / shrink)), max(1, round(img.height / shrink)))
        scale = np.array([small[0] / img.width, small[1] / img.height])
        img = img.resize(small, Image.Resampling.BOX)
        quad = quad * scale
        side *= float(scale.mean())
    border = max(int(round(side * 0.1)), 3)
    lo = np.floor(quad.min(axis=0)).astype(int) - border
    hi = np.ceil(quad.max(axis=0)).astype(int) + border
    crop_lo = np.maximum(lo, 0)
    crop_hi = np.minimum(hi, [img.width, img.height])
    if (crop_hi <= crop_lo).any():
        crop_lo = np.minimum(np.maximum(lo, 0), [img.width - 1, img.height - 1])
        crop_hi = crop_lo + 1
    region = np.asarray(img)[crop_lo[1]:crop_hi[1], crop_lo[0]:crop_hi[0]]
    inside = (quad.min(axis=0) >= -0.01).all() and (quad.max(axis=0) <= np.array([img.width, img.height]) + 0.01).all()
    pad_before = np.zeros(2, int) if inside else np.maximum(crop_lo - lo, 0)
    pad_after = np.zeros(2, int) if inside else np.maximum(hi - crop_hi, 0)
    if (pad_before > 0).any() or (pad_after > 0).any():
        region = _fill_outside(region, pad_before, pad_after, side)
    origin = crop_lo - pad_before
    quad = quad - origin
    render = size * _SUPERSAMPLE
    ex = (quad[3] - quad[0]) / render
    ey = (quad[1] - quad[0]) / render
    data = (ex[0], ey[0], quad[0, 0], ex[1], ey[1], quad[0, 1])
    out = Image.fromarray(region).transform((render, render), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
    out = out.resize((size, size), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(out, dtype=np.uint8))


def _fill_outside(region: np.ndarray, before: np.ndarray, after: np.ndarray, side: float) -> np.ndarray:
    """Mirror the picture into the margin, then fade the margin to a blur and to the median colour."""
    from PIL import Image, ImageFilter

    (bx, by), (ax, ay) = before.tolist(), after.tolist()
    padded = np.pad(region.astype(np.float32), ((by, ay), (bx, ax), (0, 0)), mode="symmetric")
    h, w = padded.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    fx = np.minimum(xx / bx if bx else np.inf, (w - 1 - xx) / ax if ax else np.inf)
    fy = np.minimum(yy / by if by else np.inf, (h - 1 - yy) / ay if ay else np.inf)
    # 1 at the outer rim, 0 at the photo's edge, negative inside it (where nothing changes)
    mask = (1.0 - np.minimum(fx, fy)).astype(np.float32)[:, :, None]
    radius = max(side * 0.02, 1.0)
    blurred = np.asarray(
        Image.fromarray(padded.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)), np.float32
    )
    padded += (blurred - padded) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    padded += (np.median(region.reshape(-1, 3), axis=0) - padded) * np.clip(mask, 0.0, 1.0)
    return padded.round().clip(0, 255).astype(np.uint8)


def face_mask(size: int, feather: float = 0.08) -> np.ndarray:
    """Where an edited FFHQ crop replaces the photo: an ellipse over face and hair, soft at its rim.

    In an FFHQ crop the face sits a little below the centre and the background fills the corners,
    which the generator redraws only roughly; the ellipse keeps the photo's own background there.
    """
    v, u = (np.mgrid[:size, :size] + 0.5) / size
    r = np.sqrt(((u - 0.5) / 0.40) ** 2 + ((v - 0.52) / 0.46) ** 2)
    t = np.clip((1.0 - r) / max(feather, 1e-6) * 0.5, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def paste_back(photo: np.ndarray, crop: np.ndarray, alignment: Alignment, feather: float = 0.08) -> np.ndarray:
    """The photo with ``crop`` (the edited square, any size) warped back in place through a soft mask.

    The result has the photo's size; pixels outside the mask are the photo's, unchanged.
    """
    from PIL import Image

    _check_photo(photo)
    h, w = photo.shape[:2]
    if (w, h) != alignment.photo_size:
        raise BadInputError(
            f"the photo is {w} x {h} but the crop was aligned on a {alignment.photo_size[0]} x {alignment.photo_size[1]} one"
        )
    crop = np.asarray(crop, dtype=np.uint8)
    if crop.ndim != 3 or crop.shape[0] != crop.shape[1] or crop.shape[2] != 3:
        raise BadInputError(f"the edited crop must be a square RGB picture, got shape {crop.shape}")
    quad = alignment.quad
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out = photo.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    n = crop.shape[0]
    # photo -> crop (in edited-crop pixels), for a region whose origin is (x0, y0)
    inv = _invert(alignment.matrix) * (n / alignment.size)
    data = (inv[0, 0], inv[0, 1], inv[0, 2] + inv[0, 0] * x0 + inv[0, 1] * y0,
            inv[1, 0], inv[1, 1], inv[1, 2] + inv[1, 0] * x0 + inv[1, 1] * y0)
    region_size = (x1 - x0, y1 - y0)
    resample = Image.Resampling.BICUBIC
    warped = np.asarray(Image.fromarray(crop).transform(region_size, Image.Transform.AFFINE, data, resample), np.float32)
    if alignment.kind == "face":
        mask_img = Image.fromarray(face_mask(n, feather), mode="F")
        mask = np.asarray(mask_img.transform(region_size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR))
    else:
        mask = _rect_mask(alignment, (x0, y0, x1, y1), feather)
    mask = np.clip(mask, 0.0, 1.0).astype(np.float32)[:, :, None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    blended = region + (warped.clip(0, 255) - region) * mask
    out[y0:y1, x0:x1] = np.where(mask > 0, blended.round().clip(0, 255), region).astype(np.uint8)
    return out


def _rect_mask(alignment: Alignment, box: tuple[int, int, int, int], feather: float) -> np.ndarray:
    """A centre crop's mask: the whole square, fading only along sides that lie inside the photo."""
    x0, y0, x1, y1 = box
    w, h = alignment.photo_size
    quad = alignment.quad
    qx0, qy0 = quad.min(axis=0)
    qx1, qy1 = quad.max(axis=0)
    ramp = max(feather * 0.5 * (qx1 - qx0), 1e-6)
    ys, xs = np.mgrid[y0:y1, x0:x1] + 0.5
    m = np.ones((y1 - y0, x1 - x0), dtype=np.float32)
    for dist, on_border in (
        (xs - qx0, qx0 <= 0.5), (qx1 - xs, qx1 >= w - 0.5), (ys - qy0, qy0 <= 0.5), (qy1 - ys, qy1 >= h - 0.5),
    ):
        if not on_border:
            m = np.minimum(m, np.clip(dist / ramp, 0.0, 1.0))
    return m


def _invert(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _check_photo(photo: np.ndarray) -> None:
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise BadInputError("expected an RGB picture (H x W x 3, uint8); load it with engine.images.load_image")
    if photo.shape[0] < 1 or photo.shape[1] < 1:
        raise BadInputError("the picture has no pixels")
