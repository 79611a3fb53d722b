"""Bring your own generator: any rosinality-format StyleGAN2 file becomes a model the app lists and edits with.

The one function the CLI (``sgim-desktop models add-generator``) and the window (File > Add generator...)
call. The file is loaded weights-only and built as a generator, strictly, so its size and channel
multiplier come from its own shapes and anything else (an audio encoder, a damaged or NaN file) is
refused in one line before it is copied in.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sgim_desktop.checkpoints.catalog import CheckpointSpec
from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.meter import ProgressCallback
from sgim_desktop.checkpoints.user_models import GeneratorShape, register_generator
from sgim_desktop.engine.stylegan2 import load_generator
from sgim_desktop.errors import CheckpointError


def inspect_generator(path: str | Path) -> GeneratorShape:
    """Size and channel multiplier of a generator file; CheckpointError (naming the file) if it is not one."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"cannot add {path}: no such file")
    config = load_generator(path).config
    return GeneratorShape(config.size, config.channel_multiplier)


def add_generator(
    path: str | Path,
    name: str | None = None,
    domain: str = "custom",
    manager: ModelManager | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> CheckpointSpec:
    """Check ``path``, copy it into the models folder under its own entry, and return that entry.

    ``domain`` 'face' turns on the face tools (identity term, face alignment of photos) for it.
    """
    shape = inspect_generator(path)
    return register_generator(manager or ModelManager(), path, shape, name, domain, progress, cancel)
