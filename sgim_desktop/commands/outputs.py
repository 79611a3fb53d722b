"""Writing results: atomically, so a failure or a cancel never leaves half a file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sgim_desktop.errors import BadInputError


def _check_folder(path: Path) -> None:
    if not path.parent.exists():
        raise BadInputError(f"cannot write {path}: the folder {path.parent} does not exist")


def write_png(image: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    _check_folder(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_latent(latent, path: str | Path) -> Path:
    from sgim_desktop.engine.edit import save_latent

    path = Path(path)
    _check_folder(path)
    try:
        save_latent(latent, path)
    except OSError as exc:
        path.with_name(path.name + ".part").unlink(missing_ok=True)
        raise BadInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
