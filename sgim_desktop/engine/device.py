"""The one device choice every front end and the trainer make: ``auto``, ``cpu`` or ``cuda``.

torch is imported only when a choice is made, so the argparse front ends and the window can hold
this function without loading torch at import.
"""

from __future__ import annotations

from sgim_desktop.errors import BadInputError

DEVICE_NAMES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto") -> str:
    """``cuda`` when asked or (for ``auto``) when a CUDA GPU is present, else ``cpu``; BadInputError otherwise."""
    if name not in DEVICE_NAMES:
        raise BadInputError(f"unknown device {name!r}: use auto, cpu or cuda")
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInputError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    return name
