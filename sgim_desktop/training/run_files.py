"""What a run writes to ``--out``: the encoder in the public layout, the resume file, the CSV logs.

Every file is written whole or not at all (a temporary name, then a rename), so a run stopped at
any moment leaves the last good copy in place.
"""

from __future__ import annotations

import csv
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sgim_desktop.errors import CheckpointError

RESUME_FORMAT = "sgim-desktop/train-encoder-resume/1"
RESUME_NAME = "resume.pt"
LAST_NAME = "audio_encoder_last.pth"
BEST_NAME = "audio_encoder_best.pth"
PROGRESS_COLUMNS = (
    "epoch", "step", "batch", "lr", "loss", "loss_text", "loss_audio", "loss_image",
    "scale_text", "scale_audio", "scale_image", "global_batch", "clips_per_s", "elapsed_s",
)
EPOCH_COLUMNS = (
    "epoch", "step", "train_loss", "val_loss", "val_loss_text", "val_loss_audio", "val_loss_image",
    "val_zero_shot", "elapsed_s",
)


def save_encoder(encoder: nn.Module, path: Path) -> Path:
    """The encoder in the public ``resnet18_57.pth`` layout (state dict under ``module.``), written atomically."""
    sd = {f"module.{k}": v.detach().cpu().clone() for k, v in encoder.state_dict().items()}
    atomic_save(sd, path)
    return path


def load_resume(path: Path) -> dict[str, Any]:
    """The resume file, unpickled as plain data only (``weights_only``).

    It is the run's own state, not a published model, so it does not go through
    ``safe_load.load_checkpoint``, whose checks that every tensor is a floating-point weight refuse
    the RNG states saved here (bytes).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        text = str(exc).strip()
        first = (text.splitlines() or [type(exc).__name__])[0][:160]
        if any(w in text.lower() for w in ("weights_only", "weights only", "trust the source", "torch.load")):
            first = "it holds more than plain data"  # never torch's advice to load it unsafely
        raise CheckpointError(f"{path} cannot be read as a train-encoder resume file ({first})") from None
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path} is not a train-encoder resume file")
    return state


def atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def append_row(path: Path, columns: tuple[str, ...], row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        if new:
            w.writeheader()
        w.writerow({k: _fmt(row.get(k)) for k in columns})


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def truncate_csv(path: Path, columns: tuple[str, ...], key: str, keep_upto: int) -> None:
    """Drop rows past a resumed position (steps done after the last save of a run that stopped)."""
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get(key, "").isdigit() and int(r[key]) <= keep_upto]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in columns} for r in rows)
    os.replace(tmp, path)


def as_tuple(v: Any) -> Any:
    """Lists back to tuples (Python's RNG state, after a round trip through the resume file)."""
    return tuple(as_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


def plain(v: Any) -> Any:
    """Paths as strings, for ``run.json``."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, Path):
        return str(v)
    return v
