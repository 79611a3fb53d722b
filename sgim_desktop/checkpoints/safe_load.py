"""Load checkpoint files without ever running code from them.

Public checkpoints come as torch zip/pickle files or safetensors. We only unpickle with
``weights_only=True``; rosinality generators also pickle the training ``argparse.Namespace``,
which is the one extra class allowed.
"""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sgim_desktop.errors import CheckpointError

_ALLOWED_GLOBALS = [argparse.Namespace]


class NotPlainWeightsError(CheckpointError):
    """The file pickles Python objects beyond tensors and plain containers: it is refused, never unpickled."""


def _what_to_do(path: Path) -> str:
    return f"re-download it (sgim-desktop models download) or import a good copy (sgim-desktop models import ID {path})"


def load_checkpoint(path: str | Path) -> Any:
    """Return the object stored in a checkpoint file, raising CheckpointError with one clear line."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"checkpoint path is a folder, not a file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint file is empty: {path}; {_what_to_do(path)}")
    with path.open("rb") as fh:
        head = fh.read(512)
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml", b"{\"error")):
        raise CheckpointError(
            f"{path} is a web page, not a checkpoint (the host probably refused the download); {_what_to_do(path)}"
        )
    if path.suffix == ".safetensors" or _looks_like_safetensors(head, size):
        return _load_safetensors(path)
    try:
        with torch.serialization.safe_globals(_ALLOWED_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "Unsupported global" in str(exc) or "weights_only" in str(exc):
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
            what = f"it pickles {found.group(1)}" if found else first[:160]
            raise NotPlainWeightsError(
                f"{path} holds Python objects that are not plain weights and will not be loaded ({what})"
            ) from exc
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({first[:160]}); {_what_to_do(path)}") from exc
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is damaged or truncated ({msg[:160]}); {_what_to_do(path)}") from exc


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 0 < n < size and head[8:9] == b"{"


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is a damaged safetensors file ({exc}); {_what_to_do(path)}") from exc


def state_dict_of(obj: Any, preferred_keys: tuple[str, ...] = ("state_dict", "model", "g_ema")) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint object (a bare state dict, or one under a known key)."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in preferred_keys:
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
    raise CheckpointError("the checkpoint holds no state dict of tensors")


def layout_problem(state: Mapping[str, Any], expected: Mapping[str, torch.Tensor]) -> str | None:
    """One line saying how ``state`` differs from the ``expected`` state dict (names, then shapes), or None."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing entries (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected entries (first: {unexpected[0]})")
        return ", ".join(parts)
    for key, ref in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            return f"entry {key} is not a tensor"
        if tuple(value.shape) != tuple(ref.shape):
            return f"entry {key} has shape {tuple(value.shape)}, expected {tuple(ref.shape)}"
    return None
