"""Is this file the checkpoint a catalog entry describes? The hash decides where one is published.

Without a published hash: the expected size, the file format (never a web page), a safe test load and
the key layout of the role. Every message names the file as the person knows it (``shown``): the
catalog's file name for a download in progress, the person's own path for an import.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sgim_desktop.checkpoints.catalog import CheckpointSpec
from sgim_desktop.checkpoints.disk import sha256_file
from sgim_desktop.checkpoints.layout import check_layout, sniff_format
from sgim_desktop.checkpoints.meter import ProgressCallback
from sgim_desktop.errors import CheckpointError


class HashMismatch(CheckpointError):
    """The file is whole but is not the published one: ``sha256`` is what it hashes to."""

    def __init__(self, message: str, sha256: str):
        super().__init__(message)
        self.sha256 = sha256


def expected_sizes(spec: CheckpointSpec) -> set[int] | None:
    """The sizes a good file may have, or None when some good file's size is not published."""
    sizes = set(spec.known_hashes.values()) if spec.published else {spec.size}
    return None if None in sizes else {s for s in sizes if s is not None}


def check_file(
    spec: CheckpointSpec,
    path: Path,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    shown: str | None = None,
) -> str:
    """Verify ``path`` as ``spec`` and return its sha256; CheckpointError saying what is wrong."""
    name = shown or spec.filename
    size = path.stat().st_size
    sizes = expected_sizes(spec)
    if sizes is not None and size not in sizes:
        wanted = " or ".join(f"{n:,}" for n in sorted(sizes))
        raise CheckpointError(f"{name} is {size:,} bytes, expected {wanted} (incomplete or a different file)")
    try:
        sniff_format(path)
    except CheckpointError as exc:
        raise CheckpointError(named(str(exc), path, name)) from None
    sha = sha256_file(path, spec.id, progress, cancel)
    known = spec.known_hashes
    if known:
        if sha not in known:
            published = " or ".join(f"{h[:16]}..." for h in known)
            raise HashMismatch(
                f"{name} is damaged or a different file: sha256 {sha[:16]}... is not the published {published}", sha
            )
        return sha
    test_load(spec, path, name)
    return sha


def test_load(spec: CheckpointSpec, path: Path, name: str) -> None:
    """Load the file weights-only and check the role's key layout (files with no published hash)."""
    from sgim_desktop.checkpoints.safe_load import load_checkpoint

    try:
        obj = load_checkpoint(path)
    except CheckpointError as exc:
        raise CheckpointError(named(str(exc), path, name)) from None
    try:
        check_layout(obj, spec.role, spec.resolution)
    except CheckpointError as exc:
        raise CheckpointError(f"{name} does not fit '{spec.id}': {exc}") from None
    finally:
        del obj


def named(message: str, path: Path, name: str) -> str:
    """A lower-level message about ``path`` (maybe a ``.part`` file) told about the name the person knows."""
    message = message.split("; re-download it", 1)[0]
    text = str(path)
    if message.startswith(text):
        return name + message[len(text):]
    return f"{name}: {message.replace(text, name)}"
