"""A person's own generators: a file added to the models folder with its own catalog entry and hash.

The entries live in ``user-catalog.json`` beside the models (same format as the shipped catalog) and
the manager merges them in, so an added generator is listed, chosen and loaded by id like any other.
Its file is copied in under its own name (the person's copy stays where it was) and held to the
sha256 taken when it was added. What the file is (a generator, its size) is told by the caller: the
engine reads it (``engine/add_generator.py``), the checkpoints layer only files it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sgim_desktop.checkpoints.catalog import CheckpointSpec, spec_from
from sgim_desktop.checkpoints.disk import check_free_space, copy_hashing, fsync_dir, unlink
from sgim_desktop.checkpoints.lock import FileLock
from sgim_desktop.checkpoints.meter import ProgressCallback
from sgim_desktop.checkpoints.records import META_DIR
from sgim_desktop.errors import CheckpointError

if TYPE_CHECKING:
    from sgim_desktop.checkpoints.manager import ModelManager

USER_CATALOG = "user-catalog.json"
USER_PREFIX = "user-"


@dataclass(frozen=True)
class GeneratorShape:
    """What the engine read from a generator file."""

    resolution: int
    channel_multiplier: int


def user_catalog_path(models_dir: Path) -> Path:
    return models_dir / USER_CATALOG


def _read_entries(path: Path) -> list[dict]:
    if not path.is_file():
        return []  # nothing added yet (or no models folder at all: that is said when it is needed)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"your models list {path} cannot be read ({exc}); fix or delete it") from None
    entries = data.get("checkpoints") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise CheckpointError(f"your models list {path} has no 'checkpoints' list; fix or delete it")
    return entries


def load_user_specs(models_dir: Path) -> list[CheckpointSpec]:
    """The entries a person added to this models folder (none when there is no list yet)."""
    path = user_catalog_path(models_dir)
    return [spec_from(entry, path, i) for i, entry in enumerate(_read_entries(path))]


def slug(name: str) -> str:
    """'My Beaches (v2)' -> 'my-beaches-v2': the id and file name of an added generator."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:60].strip("-") or "generator"


def register_generator(
    manager: "ModelManager",
    source: str | Path,
    shape: GeneratorShape,
    name: str | None = None,
    domain: str = "custom",
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> CheckpointSpec:
    """Copy a checked generator file into the models folder and add its entry to the person's list."""
    src = Path(source).expanduser()
    if not src.is_file():
        raise CheckpointError(f"cannot add {src}: no such file")
    name = (name or src.stem).strip() or src.stem
    spec_id = USER_PREFIX + slug(name)
    filename = spec_id + src.suffix.lower() if src.suffix.lower() in (".pt", ".pth") else spec_id + ".pt"
    if spec_id in manager.catalog or any(s.filename.lower() == filename for s in manager.catalog):
        raise CheckpointError(f"a model called '{spec_id}' is already there; give this one another name (--name)")
    models_dir = manager.models_dir
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create the models folder {models_dir} ({exc.strerror or exc})") from None
    check_free_space(models_dir, src.stat().st_size, manager.options.free_space_margin)
    target, tmp = models_dir / filename, models_dir / (filename + ".import")
    with FileLock(models_dir / META_DIR / "locks" / (USER_CATALOG + ".lock"), cancel=cancel):
        try:
            sha = copy_hashing(src, tmp, spec_id, progress, cancel)
            entry = {
                "id": spec_id,
                "role": "generator",
                "display_name": f"{name} (added by you)",
                "filename": filename,
                "urls": [],
                "size": tmp.stat().st_size,
                "sha256": sha,
                "license": "the licence that came with the file (added by you)",
                "license_summary": "Check the terms of the file you added",
                "domain": domain,
                "resolution": shape.resolution,
                "notes": f"Added from {src.resolve()} on {time.strftime('%Y-%m-%d')}; rosinality StyleGAN2, "
                         f"{shape.resolution} px, channel multiplier {shape.channel_multiplier}.",
            }
            spec = spec_from(entry, user_catalog_path(models_dir), 0)
            os.replace(tmp, target)
            fsync_dir(models_dir)
        finally:
            unlink(tmp)
        try:
            _append_entry(user_catalog_path(models_dir), entry)
        except CheckpointError:
            unlink(target)
            raise
    manager.add_specs([spec])
    manager.records.write(spec, target, sha, source=f"added:{src.resolve()}")
    return spec


def forget(models_dir: Path, spec_id: str) -> bool:
    """Drop an added model's entry from the person's list; True if it was there."""
    path = user_catalog_path(models_dir)
    entries = _read_entries(path)
    kept = [e for e in entries if not (isinstance(e, dict) and e.get("id") == spec_id)]
    if len(kept) == len(entries):
        return False
    _write_entries(path, kept)
    return True


def _append_entry(path: Path, entry: dict) -> None:
    entries = [e for e in _read_entries(path) if not (isinstance(e, dict) and e.get("id") == entry["id"])]
    _write_entries(path, entries + [entry])


def _write_entries(path: Path, entries: list) -> None:
    """The person's list, written to a temporary name and renamed (never half-written)."""
    data = {"schema": 1, "about": "Models you added to this folder (sgim-desktop models add-generator).",
            "checkpoints": entries}
    try:
        fd, tmp = tempfile.mkstemp(prefix=".user-catalog-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError as exc:
        raise CheckpointError(f"cannot write your models list {path} ({exc.strerror or exc})") from None
