"""Files in the models folder: free space, hashing, copying, durable renames, setting a file aside."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

from sgim_desktop.checkpoints.meter import Meter, ProgressCallback
from sgim_desktop.checkpoints.units import human_bytes
from sgim_desktop.errors import Cancelled, CheckpointError

HASH_CHUNK = 1024 * 1024


def free_bytes(folder: Path) -> int | None:
    """Free space where ``folder`` is (or would be created); None when the system cannot say."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def check_free_space(folder: Path, needed: int, margin: int = 0) -> None:
    """CheckpointError before writing ``needed`` bytes into a folder that cannot hold them."""
    free = free_bytes(folder)
    if free is not None and needed + margin > free:
        raise CheckpointError(
            f"not enough free space in {folder}: {human_bytes(needed)} needed, {human_bytes(free)} free; "
            "free some space or move the models folder (setting 'models_dir' or SGIM_MODELS_DIR)"
        )


def sha256_file(
    path: Path,
    spec_id: str = "",
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """The file's sha256, reported as stage 'verify'; Cancelled between chunks when asked."""
    meter = Meter(spec_id, progress, 0.2, stage="verify")
    meter.reset(0, path.stat().st_size)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"checking {path.name} cancelled")
            meter.add(len(chunk))
    return digest.hexdigest()


def copy_hashing(
    src: Path, dst: Path, spec_id: str, progress: ProgressCallback | None, cancel: threading.Event | None
) -> str:
    """Copy ``src`` to ``dst`` (synced to disk) and return the sha256 of the bytes written."""
    meter = Meter(spec_id, progress, 0.2, stage="import")
    meter.reset(0, src.stat().st_size)
    digest = hashlib.sha256()
    try:
        with src.open("rb") as fin, dst.open("wb") as fout:
            while chunk := fin.read(HASH_CHUNK):
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"import of {spec_id} cancelled")
                fout.write(chunk)
                digest.update(chunk)
                meter.add(len(chunk))
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        raise CheckpointError(f"cannot copy {src} to {dst} ({exc.strerror or exc})") from None
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut (POSIX; elsewhere a no-op)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def set_aside(path: Path, folder: Path, filename: str, sha: str) -> Path:
    """Move a file that is not the published one to ``<filename>.mismatch-<first 12 of its sha256>``.

    Kept, not deleted: the person may want to look at what the server sent. The same bytes set aside
    twice end up in one file.
    """
    target = folder / f"{filename}.mismatch-{sha[:12]}"
    try:
        os.replace(path, target)
    except OSError as exc:
        raise CheckpointError(f"cannot set {path} aside as {target.name} ({exc.strerror or exc})") from None
    return target
