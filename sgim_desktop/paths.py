"""Where the app's own files are, in a checkout, an installed package and a frozen build alike."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources/`` folder: beside the frozen executable's data, or at the checkout's root."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[1] / "resources"


def resource(name: str) -> Path:
    return resources_dir() / name
