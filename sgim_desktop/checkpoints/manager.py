"""Turn a checkpoint id into a verified file on disk, fetching it once when needed.

Layout of the models folder: the checkpoints under their catalog file names, ``NAME.part`` beside
each one while it downloads, and a ``.sgim/`` folder with verification records (the sha256 taken
when a file was first found good), resume hints and lock files. A file becomes ``NAME`` only by an
atomic rename after it passed verification, so a failed or cancelled download never replaces or
deletes a good file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sgim_desktop.checkpoints.catalog import Catalog, CheckpointSpec, load_catalog
from sgim_desktop.checkpoints.download import (
    DownloadError,
    DownloadOptions,
    DownloadProgress,
    ProgressCallback,
    check_free_space,
    download_url,
)
from sgim_desktop.checkpoints.layout import check_layout, sniff_format
from sgim_desktop.checkpoints.lock import FileLock, LockUnavailable
from sgim_desktop.checkpoints.settings import Settings, resolve_mirror, resolve_models_dir
from sgim_desktop.errors import Cancelled, CheckpointError

_META_DIR = ".sgim"
_HASH_CHUNK = 1024 * 1024


@dataclass
class ModelStatus:
    """What is on disk for one catalog entry."""

    spec: CheckpointSpec
    path: Path
    present: bool
    verified: bool  # a verification record matches the file as it is now (size and modification time)
    size_on_disk: int | None
    partial_bytes: int
    sha256: str | None  # published, or recorded at verification

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def state(self) -> str:
        if self.present:
            return "verified" if self.verified else "present"
        return "partial" if self.partial_bytes else "missing"


class ModelManager:
    """The one place that knows where checkpoints live and how they get there."""

    def __init__(
        self,
        models_dir: str | Path | None = None,
        mirror: str | None = None,
        catalog: Catalog | str | Path | None = None,
        *,
        options: DownloadOptions | None = None,
        settings: Settings | None = None,
        lock_timeout: float | None = None,
        before_download: Callable[[CheckpointSpec], None] | None = None,
    ):
        """``before_download(spec)`` runs before any byte is fetched (show the licence; raise Cancelled to decline)."""
        self.catalog = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
        self.models_dir = resolve_models_dir(models_dir, settings)
        self.mirror = resolve_mirror(mirror, settings)
        if self.mirror and not self.mirror.startswith(("http://", "https://")):
            raise CheckpointError(f"the mirror must be an http(s) address, got '{self.mirror}'")
        self.options = options or DownloadOptions()
        self.lock_timeout = lock_timeout
        self.before_download = before_download

    # -- where things are ------------------------------------------------------------------------

    def spec(self, spec_id: str) -> CheckpointSpec:
        return self.catalog.get(spec_id)

    def path_for(self, spec_id: str) -> Path:
        return self.models_dir / self.spec(spec_id).filename

    def _part(self, spec: CheckpointSpec) -> Path:
        return self.models_dir / (spec.filename + ".part")

    def _record_path(self, spec: CheckpointSpec) -> Path:
        return self.models_dir / _META_DIR / "verified" / (spec.filename + ".json")

    def _resume_path(self, spec: CheckpointSpec) -> Path:
        return self.models_dir / _META_DIR / "partial" / (spec.filename + ".json")

    def _lock(self, spec: CheckpointSpec, progress: ProgressCallback | None, cancel: threading.Event | None) -> FileLock:
        def waiting() -> None:
            if progress is not None:
                progress(DownloadProgress(spec.id, 0, spec.size, 0.0, None, stage="waiting"))

        path = self.models_dir / _META_DIR / "locks" / (spec.filename + ".lock")
        return FileLock(path, cancel=cancel, timeout=self.lock_timeout, on_wait=waiting)

    def urls_for(self, spec: CheckpointSpec) -> list[str]:
        """The mirror first (``MIRROR/filename``), then the catalog's URLs in order."""
        urls = []
        if self.mirror:
            urls.append(self.mirror.rstrip("/") + "/" + urllib.parse.quote(spec.filename))
        urls.extend(u for u in spec.urls if u not in urls)
        return urls

    def _prepare_dir(self) -> None:
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(
                f"cannot create the models folder {self.models_dir} ({exc.strerror or exc}); "
                "choose another one (setting 'models_dir' or SGIM_MODELS_DIR)"
            ) from None

    # -- status ----------------------------------------------------------------------------------

    def is_present(self, spec_id: str) -> bool:
        path = self.path_for(spec_id)
        return path.is_file() and path.stat().st_size > 0

    def status(self, spec_id: str) -> ModelStatus:
        spec = self.spec(spec_id)
        path = self.models_dir / spec.filename
        present = path.is_file()
        part = self._part(spec)
        record = self._read_record(spec)
        return ModelStatus(
            spec=spec,
            path=path,
            present=present,
            verified=present and self._trusted(spec, path),
            size_on_disk=path.stat().st_size if present else None,
            partial_bytes=part.stat().st_size if part.is_file() else 0,
            sha256=spec.sha256 or (record.get("sha256") if record else None),
        )

    def list(self) -> list[ModelStatus]:
        return [self.status(spec.id) for spec in self.catalog]

    # -- verification records --------------------------------------------------------------------

    def _read_record(self, spec: CheckpointSpec) -> dict[str, Any] | None:
        try:
            data = json.loads(self._record_path(spec).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_record(self, spec: CheckpointSpec, path: Path, sha: str, source: str) -> None:
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
        target = self._record_path(spec)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".record-", dir=target.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1)
            os.replace(tmp, target)
        except OSError:
            pass  # without a record the file is simply verified again next time

    def _trusted(self, spec: CheckpointSpec, path: Path) -> bool:
        """Verified before and unchanged since (same size and time), without reading the file."""
        record = self._read_record(spec)
        if not record or not path.is_file():
            return False
        st = path.stat()
        if record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
            return False
        return spec.sha256 is None or record.get("sha256") == spec.sha256

    # -- checking a file -------------------------------------------------------------------------

    def check_file(
        self,
        spec: CheckpointSpec,
        path: Path,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> str:
        """Verify ``path`` as ``spec`` and return its sha256; CheckpointError saying what is wrong.

        With a published sha256 the hash decides. Without one: the expected size, the file format
        (never a web page), a safe test load and the key layout of the role.
        """
        name = spec.filename
        size = path.stat().st_size
        if spec.size is not None and size != spec.size:
            raise CheckpointError(f"{name} is {size:,} bytes, expected {spec.size:,} (incomplete or a different file)")
        try:
            sniff_format(path)
        except CheckpointError as exc:
            raise CheckpointError(_named(str(exc), path, name)) from None
        sha = sha256_file(path, spec.id, progress, cancel)
        if spec.sha256 is not None:
            if sha != spec.sha256:
                raise CheckpointError(
                    f"{name} is damaged or a different file: sha256 {sha[:16]}... is not the published {spec.sha256[:16]}..."
                )
            return sha
        self._test_load(spec, path)
        return sha

    @staticmethod
    def _test_load(spec: CheckpointSpec, path: Path) -> None:
        from sgim_desktop.checkpoints.safe_load import load_checkpoint

        try:
            obj = load_checkpoint(path)
        except CheckpointError as exc:
            raise CheckpointError(_named(str(exc), path, spec.filename)) from None
        try:
            check_layout(obj, spec.role, spec.resolution)
        except CheckpointError as exc:
            raise CheckpointError(f"{spec.filename} does not fit '{spec.id}': {exc}") from None
        finally:
            del obj

    def _check_against_record(self, spec: CheckpointSpec, sha: str) -> None:
        record = self._read_record(spec)
        if spec.sha256 is None and record and record.get("sha256") and record["sha256"] != sha:
            raise CheckpointError(
                f"{spec.filename} has changed since it was verified on {record.get('verified_at', '?')} "
                f"(sha256 {sha[:16]}... was {str(record['sha256'])[:16]}...): it is damaged; "
                f"run 'sgim-desktop models download {spec.id}' or import a good copy"
            )

    def verify(
        self, spec_id: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> ModelStatus:
        """Read the whole file again and check it; the first good result is recorded."""
        spec = self.spec(spec_id)
        path = self.models_dir / spec.filename
        if not path.is_file():
            raise CheckpointError(f"{spec.id} is not downloaded ({path}); run: sgim-desktop models download {spec.id}")
        with self._lock(spec, progress, cancel):
            sha = self.check_file(spec, path, progress, cancel)
            self._check_against_record(spec, sha)
            if not self._trusted(spec, path):
                self._write_record(spec, path, sha, source=(self._read_record(spec) or {}).get("source", "verified"))
        return self.status(spec_id)

    # -- getting a file --------------------------------------------------------------------------

    def ensure(
        self, spec_id: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> Path:
        """The verified local file for ``spec_id``, downloading it first if needed."""
        spec = self.spec(spec_id)
        path = self.models_dir / spec.filename
        if self._trusted(spec, path):
            return path
        try:
            return self.download(spec_id, progress=progress, cancel=cancel)
        except LockUnavailable:
            if not path.is_file():
                raise CheckpointError(
                    f"the models folder {self.models_dir} is read-only and has no {spec.filename}; "
                    "choose another one (setting 'models_dir' or SGIM_MODELS_DIR)"
                ) from None
            self.check_file(spec, path, progress, cancel)  # a shared read-only folder: check, cannot record
            return path

    def download(
        self,
        spec_id: str,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        force: bool = False,
    ) -> Path:
        """Fetch, verify and install ``spec_id``. A good file already there is kept unless ``force``."""
        spec = self.spec(spec_id)
        path = self.models_dir / spec.filename
        self._prepare_dir()
        with self._lock(spec, progress, cancel):
            damaged = ""
            if not force and path.is_file():
                if self._trusted(spec, path):
                    return path
                try:
                    sha = self.check_file(spec, path, progress, cancel)
                    self._check_against_record(spec, sha)
                    self._write_record(spec, path, sha, source="found in the models folder")
                    return path
                except Cancelled:
                    raise
                except CheckpointError as exc:
                    damaged = str(exc)
            return self._fetch(spec, path, progress, cancel, damaged)

    def _fetch(
        self,
        spec: CheckpointSpec,
        path: Path,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        damaged: str,
    ) -> Path:
        urls = self.urls_for(spec)
        if not urls:
            raise self._offline_error(spec, ["the catalog lists no address for it"], damaged)
        part = self._part(spec)
        resume = self._resume_path(spec)
        if spec.size is not None:
            have = part.stat().st_size if part.is_file() else 0
            check_free_space(self.models_dir, max(0, spec.size - have), self.options.free_space_margin)
        if self.before_download is not None:
            self.before_download(spec)
        errors: list[str] = []
        for url in urls:
            for fresh_try in (False, True):
                resumed = part.is_file() and part.stat().st_size > 0
                try:
                    download_url(
                        url,
                        part,
                        spec_id=spec.id,
                        expected_size=spec.size,
                        meta_path=resume,
                        options=self.options,
                        progress=progress,
                        cancel=cancel,
                    )
                except DownloadError as exc:
                    errors.append(str(exc))
                    break
                try:
                    sha = self.check_file(spec, part, progress, cancel)
                except Cancelled:
                    raise
                except CheckpointError as exc:
                    _unlink(part)
                    _unlink(resume)
                    if resumed and not fresh_try:
                        continue  # the kept partial may have come from another file: once more from zero
                    errors.append(f"{url}: the downloaded file failed verification ({exc})")
                    break
                self._install(spec, part, path, sha, source=url)
                _unlink(resume)
                return path
        raise self._offline_error(spec, errors, damaged)

    def _install(self, spec: CheckpointSpec, src: Path, path: Path, sha: str, source: str) -> None:
        try:
            os.replace(src, path)
        except OSError as exc:
            raise CheckpointError(f"cannot move the verified file into place at {path} ({exc.strerror or exc})") from None
        _fsync_dir(path.parent)
        self._write_record(spec, path, sha, source)

    def _offline_error(self, spec: CheckpointSpec, errors: list[str], damaged: str) -> CheckpointError:
        reasons = "; ".join(_shorten(e) for e in errors) or "no address worked"
        urls = " or ".join(self.urls_for(spec)) or "(no address known)"
        found = f" The file in place is not usable ({_shorten(damaged)})." if damaged else ""
        return CheckpointError(
            f"cannot download {spec.filename} ({spec.display_name}): {reasons}.{found} "
            f"Download it by hand from {urls} and run: sgim-desktop models import {spec.id} FILE"
        )

    # -- import and remove -----------------------------------------------------------------------

    def import_file(
        self,
        spec_id: str,
        source: str | Path,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Check a file the user fetched by hand exactly like a download, then copy it into place."""
        spec = self.spec(spec_id)
        src = Path(source).expanduser()
        if not src.is_file():
            raise CheckpointError(f"cannot import {src}: no such file")
        path = self.models_dir / spec.filename
        self._prepare_dir()
        with self._lock(spec, progress, cancel):
            sha = self.check_file(spec, src, progress, cancel)
            if path.exists() and os.path.samefile(src, path):
                self._write_record(spec, path, sha, source="imported in place")
                return path
            size = src.stat().st_size
            check_free_space(self.models_dir, size, self.options.free_space_margin)
            tmp = self.models_dir / (spec.filename + ".import")
            try:
                copied = _copy_hashing(src, tmp, spec.id, progress, cancel)
                if copied != sha:
                    raise CheckpointError(f"copying {src} to {self.models_dir} changed its bytes; check the disk")
                self._install(spec, tmp, path, sha, source=f"import:{src.resolve()}")
            finally:
                _unlink(tmp)
        return path

    def remove(self, spec_id: str) -> bool:
        """Delete the file, its partial download and its records; True if there was anything."""
        spec = self.spec(spec_id)
        removed = False
        with self._lock(spec, None, None):
            for p in (self.models_dir / spec.filename, self._part(spec), self._record_path(spec), self._resume_path(spec)):
                if p.exists():
                    try:
                        p.unlink()
                    except OSError as exc:
                        raise CheckpointError(f"cannot remove {p} ({exc.strerror or exc})") from None
                    removed = True
        return removed


# -------------------------------------------------------------------------------------------------


def resolve_checkpoint(
    value: str | os.PathLike[str] | None,
    role: str,
    *,
    manager: ModelManager | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    domain: str | None = None,
) -> Path:
    """A checkpoint flag's value -> a local file: an existing path as is, a catalog id ensured, None the default."""
    if value is not None and not os.fspath(value).strip():
        value = None
    if value is not None:
        candidate = Path(os.fspath(value)).expanduser()
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise CheckpointError(f"{candidate} is not a file")
    manager = manager or ModelManager()
    if value is None:
        spec = manager.catalog.default_for(role, domain)
    else:
        text = os.fspath(value)
        if text not in manager.catalog:
            known = ", ".join(s.id for s in manager.catalog.by_role(role)) or "none"
            if _looks_like_path(text):
                raise CheckpointError(f"checkpoint file not found: {text}")
            raise CheckpointError(f"'{text}' is neither a file nor a known {role} checkpoint id (known: {known})")
        spec = manager.catalog.get(text)
        if spec.role != role:
            raise CheckpointError(f"'{spec.id}' is a checkpoint for {spec.role}, not for {role}")
    return manager.ensure(spec.id, progress=progress, cancel=cancel)


def checkpoint_help(role: str) -> str:
    """Help text for a CLI flag taking a ``role`` checkpoint: the ids it accepts and the default."""
    try:
        catalog = load_catalog()
        ids = ", ".join(s.id for s in catalog.by_role(role))
        default = catalog.default_for(role).id
    except CheckpointError:
        return "a checkpoint file or catalog id"
    return f"a checkpoint file, or a catalog id ({ids}); default {default}, downloaded on first use"


def sha256_file(
    path: Path,
    spec_id: str = "",
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> str:
    total = path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    last = 0.0
    start = time.monotonic()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"checking {path.name} cancelled")
            now = time.monotonic()
            if progress is not None and (now - last >= 0.2 or done == total):
                last = now
                speed = done / (now - start) if now > start else 0.0
                eta = (total - done) / speed if speed > 0 else None
                progress(DownloadProgress(spec_id, done, total, speed, eta, stage="verify"))
    return digest.hexdigest()


def _copy_hashing(
    src: Path, dst: Path, spec_id: str, progress: ProgressCallback | None, cancel: threading.Event | None
) -> str:
    digest = hashlib.sha256()
    total = src.stat().st_size
    done = 0
    start = time.monotonic()
    try:
        with src.open("rb") as fin, dst.open("wb") as fout:
            while chunk := fin.read(_HASH_CHUNK):
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"import of {spec_id} cancelled")
                fout.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    elapsed = time.monotonic() - start
                    speed = done / elapsed if elapsed > 0 else 0.0
                    eta = (total - done) / speed if speed > 0 else None
                    progress(DownloadProgress(spec_id, done, total, speed, eta, stage="import"))
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        raise CheckpointError(f"cannot copy {src} to {dst} ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
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


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", "\\", os.sep)) or text.lower().endswith((".pt", ".pth", ".safetensors", ".ckpt"))


def _named(message: str, path: Path, name: str) -> str:
    """A lower-level message about ``path`` (maybe a ``.part`` file) told about the catalog file name."""
    message = message.split("; re-download it", 1)[0]
    text = str(path)
    if message.startswith(text):
        return name + message[len(text):]
    return f"{name}: {message.replace(text, name)}"


def _shorten(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
