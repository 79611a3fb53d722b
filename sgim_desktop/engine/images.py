"""Reading a person's picture: any file Pillow opens becomes an upright H x W x 3 uint8 RGB array.

Photos arrive in every shape a camera, a scanner or an editor writes: rotated by an EXIF tag,
16-bit, CMYK, with a palette or transparency. Each becomes the picture a viewer shows. Files that
cannot be used (not an image, cut short, or so large that decoding would exhaust memory, such as a
decompression bomb) raise a one-line BadInputError before any large allocation.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from sgim_desktop.errors import BadInputError

MAX_PIXELS = 100_000_000
"""Largest picture decoded (10 000 x 10 000): 300 MB as RGB, and far more than any face needs."""


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The picture in ``path`` as an upright H x W x 3 uint8 RGB array."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise BadInputError(f"image not found: {path}" if not path.exists() else f"{path} is not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(path) as im:
                _check_size(im.size, name, max_pixels)
                return from_pil(im, name=name, max_pixels=max_pixels)
    except UnidentifiedImageError:
        raise BadInputError(f"{name} is not a picture this app can read (PNG, JPEG, WebP, TIFF, BMP, GIF, ...)") from None
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f" ({int(found.group(1)) / 1e6:.0f} MP)" if found else ""
        raise BadInputError(
            f"{name} declares more pixels{count} than the {max_pixels / 1e6:.0f} MP this app decodes "
            "(a decompression bomb, or a picture to scale down first)"
        ) from None
    except OSError as exc:
        if exc.errno is not None:
            raise BadInputError(f"cannot read {name}: {exc.strerror or exc}") from None
        raise BadInputError(f"{name} is cut short or damaged ({exc})") from None
    except (ValueError, SyntaxError, EOFError) as exc:
        raise BadInputError(f"{name} is damaged: {exc}") from None
    except MemoryError:
        raise BadInputError(f"{name} is too large to decode with the memory available") from None


def from_pil(im, name: str = "the picture", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A Pillow image (opened lazily or not) as upright RGB uint8: EXIF rotation, bit depth, colour space, alpha."""
    from PIL import ImageOps

    _check_size(im.size, name, max_pixels)
    if getattr(im, "is_animated", False):
        im.seek(0)
    im.load()
    try:
        im = ImageOps.exif_transpose(im) or im
    except (ValueError, TypeError, KeyError, OSError):
        pass  # a damaged EXIF block: show the pixels as stored
    rgb = _to_rgb(im)
    array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise BadInputError(f"{name} could not be turned into an RGB picture (mode {im.mode})")
    return np.ascontiguousarray(array)


def from_array(array: np.ndarray, name: str = "the picture") -> np.ndarray:
    """Any H x W, H x W x 1/3/4 array (uint8, uint16 or float in [0, 1]) as RGB uint8, alpha over white."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise BadInputError(f"{name} is not a picture: array of shape {a.shape}")
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        x = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        x = np.nan_to_num(a.astype(np.float32)).clip(0.0, 1.0)
    else:
        raise BadInputError(f"{name} has pixels of type {a.dtype}, which this app does not read")
    if a.shape[2] in (2, 4):
        alpha = x[:, :, -1:]
        x = x[:, :, :-1] * alpha + (1.0 - alpha)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return np.ascontiguousarray((x * 255.0 + 0.5).clip(0, 255).astype(np.uint8))


def _check_size(size: tuple[int, int], name: str, max_pixels: int) -> None:
    w, h = size
    if w < 1 or h < 1:
        raise BadInputError(f"{name} has no pixels ({w} x {h})")
    if w * h > max_pixels:
        raise BadInputError(
            f"{name} is {w} x {h} pixels ({w * h / 1e6:.0f} MP), more than the {max_pixels / 1e6:.0f} MP this app "
            "decodes; scale it down first"
        )


def _to_rgb(im):
    """Pillow modes -> RGB, as a viewer would show them: transparent parts over white."""
    from PIL import Image

    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        data = np.asarray(im, dtype=np.float64)
        if mode == "F":
            top = 1.0 if np.nanmax(data, initial=0.0) <= 1.0 else 255.0
        else:
            top = 65535.0 if mode.startswith("I;16") or np.nanmax(data, initial=0.0) > 255 else 255.0
        gray = (np.nan_to_num(data) / top * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2), "RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "L" and "transparency" in im.info:
        return _to_rgb(im.convert("LA"))
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise BadInputError(f"pictures of mode {mode} cannot be read ({exc})") from None
