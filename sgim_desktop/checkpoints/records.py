"""What the models folder remembers about its files, under ``.sgim/``: verification records and resume hints.

A verification record holds the sha256 taken when a file was first found good, with the size and
modification time it had then: a file unchanged since is trusted without being read again, and a file
with no published hash is checked against the hash recorded on first use.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sgim_desktop.checkpoints.catalog import CheckpointSpec

META_DIR = ".sgim"


class Records:
    """The ``.sgim/`` folder of one models folder."""

    def __init__(self, models_dir: Path):
        self.models_dir = models_dir

    def record_path(self, spec: CheckpointSpec) -> Path:
        return self.models_dir / META_DIR / "verified" / (spec.filename + ".json")

    def resume_path(self, spec: CheckpointSpec) -> Path:
        return self.models_dir / META_DIR / "partial" / (spec.filename + ".json")

    def lock_path(self, spec: CheckpointSpec) -> Path:
        return self.models_dir / META_DIR / "locks" / (spec.filename + ".lock")

    def read(self, spec: CheckpointSpec) -> dict[str, Any] | None:
        try:
            data = json.loads(self.record_path(spec).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def recorded_sha256(self, spec: CheckpointSpec) -> str | None:
        record = self.read(spec)
        sha = record.get("sha256") if record else None
        return sha if isinstance(sha, str) else None

    def write(self, spec: CheckpointSpec, path: Path, sha: str, source: str) -> None:
        st = path.stat()
        record = {
            "id": spec.id,
            "filename": spec.filename,
            "sha256": sha,
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "verified_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "source": source,
        }
        target = self.record_path(spec)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".record-", dir=target.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1)
            os.replace(tmp, target)
        except OSError:
            pass  # without a record the file is simply verified again next time

    def trusted(self, spec: CheckpointSpec, path: Path) -> bool:
        """Verified before and unchanged since (same size and time), without reading the file."""
        record = self.read(spec)
        if not record or not path.is_file():
            return False
        st = path.stat()
        if record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
            return False
        return not spec.published or record.get("sha256") in spec.known_hashes
