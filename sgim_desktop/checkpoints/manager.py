"""Turn a checkpoint id into a verified file on disk, fetching it once when needed.

Layout of the models folder: the checkpoints under their catalog file names, ``NAME.part`` beside
each one while it downloads, ``NAME.mismatch-<hash>`` for a downloaded file that is not the published
one (kept for the person to look at, never used), and a ``.sgim/`` folder with verification records,
resume hints and lock files. A file becomes ``NAME`` only by an atomic rename after it passed
verification, so a failed or cancelled download never replaces or deletes a good file.
"""

from __future__ import annotations

import builtins
import os
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sgim_desktop.checkpoints import local_caches
from sgim_desktop.checkpoints.catalog import Catalog, CheckpointSpec, Source, load_catalog
from sgim_desktop.checkpoints.disk import check_free_space, copy_hashing, fsync_dir, set_aside, sha256_file, unlink
from sgim_desktop.checkpoints.download import DownloadError, DownloadOptions, download_url
from sgim_desktop.checkpoints.lock import FileLock, LockUnavailable
from sgim_desktop.checkpoints.meter import DownloadProgress, ProgressCallback
from sgim_desktop.checkpoints.records import Records
from sgim_desktop.checkpoints.settings import Settings, resolve_mirror, resolve_models_dir
from sgim_desktop.checkpoints.user_models import forget, load_user_specs, user_catalog_path
from sgim_desktop.checkpoints.verify import HashMismatch, check_file
from sgim_desktop.errors import Cancelled, CheckpointError

__all__ = [
    "ModelManager",
    "ModelStatus",
    "checkpoint_help",
    "resolve_checkpoint",
    "sha256_file",
]


@dataclass
class ModelStatus:
    """What is on disk for one catalog entry."""

    spec: CheckpointSpec
    path: Path
    present: bool
    verified: bool  # a verification record matches the file as it is now (size and modification time)
    size_on_disk: int | None
    partial_bytes: int
    sha256: str | None  # the hash of the file in place when recorded, else the entry's published one
    recorded_sha256: str | None = None  # taken when the file was first found good
    set_aside: list[Path] = field(default_factory=list)  # downloads that were not the published file

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def published(self) -> bool:
        """A published hash decides; otherwise the file is trusted on first use and its hash recorded."""
        return self.spec.published

    @property
    def state(self) -> str:
        if self.present:
            return "verified" if self.verified else "present"
        return "partial" if self.partial_bytes else "missing"

    @property
    def trust(self) -> str:
        """One phrase on how this file is checked, for the list and the window."""
        if self.published:
            return "published sha256"
        if self.recorded_sha256:
            return f"no published hash: trusted on first use, sha256 {self.recorded_sha256}"
        return "no published hash: trusted on first use (hash recorded when first checked)"


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
        self.add_specs(load_user_specs(self.models_dir))
        self.mirror = resolve_mirror(mirror, settings)
        if self.mirror and not self.mirror.startswith(("http://", "https://")):
            raise CheckpointError(f"the mirror must be an http(s) address, got '{self.mirror}'")
        self.options = options or DownloadOptions()
        self.lock_timeout = lock_timeout
        self.before_download = before_download
        self.records = Records(self.models_dir)

    def add_specs(self, specs: list[CheckpointSpec]) -> None:
        """Entries the person added (their own generators), listed and loaded like the catalog's own.

        One that clashes with a catalog id or file name is left out: the catalog's entry wins.
        """
        ids, files = set(self.catalog.ids), {s.filename.lower() for s in self.catalog}
        extra = [s for s in specs if s.id not in ids and s.filename.lower() not in files]
        if extra:
            self.catalog = self.catalog.with_specs(extra, user_catalog_path(self.models_dir))

    # -- where things are ------------------------------------------------------------------------

    def spec(self, spec_id: str) -> CheckpointSpec:
        return self.catalog.get(spec_id)

    def path_for(self, spec_id: str) -> Path:
        return self.models_dir / self.spec(spec_id).filename

    def _part(self, spec: CheckpointSpec) -> Path:
        return self.models_dir / (spec.filename + ".part")

    def _lock(self, spec: CheckpointSpec, progress: ProgressCallback | None, cancel: threading.Event | None) -> FileLock:
        def waiting() -> None:
            if progress is not None:
                progress(DownloadProgress(spec.id, 0, spec.download_size(), 0.0, None, stage="waiting"))

        return FileLock(self.records.lock_path(spec), cancel=cancel, timeout=self.lock_timeout, on_wait=waiting)

    def sources_for(self, spec: CheckpointSpec) -> list[Source]:
        """The mirror first (``MIRROR/filename``, any published file of the entry), then the catalog's URLs."""
        sources: list[Source] = []
        if self.mirror:
            url = self.mirror.rstrip("/") + "/" + urllib.parse.quote(spec.filename)
            sizes = {s.size for s in spec.sources} | ({spec.size} if not spec.sources else set())
            sources.append(Source(url, sizes.pop() if len(sizes) == 1 else None, None))
        sources.extend(s for s in spec.sources if s.url not in {m.url for m in sources})
        return sources

    def urls_for(self, spec: CheckpointSpec) -> list[str]:
        return [s.url for s in self.sources_for(spec)]

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
        recorded = self.records.recorded_sha256(spec)
        verified = present and self.records.trusted(spec, path)
        return ModelStatus(
            spec=spec,
            path=path,
            present=present,
            verified=verified,
            size_on_disk=path.stat().st_size if present else None,
            partial_bytes=part.stat().st_size if part.is_file() else 0,
            sha256=recorded if verified and recorded else (spec.sha256 or recorded),
            recorded_sha256=recorded,
            set_aside=sorted(self.models_dir.glob(spec.filename + ".mismatch-*")) if self.models_dir.is_dir() else [],
        )

    def list(self) -> list[ModelStatus]:
        return [self.status(spec.id) for spec in self.catalog]

    # -- checking a file -------------------------------------------------------------------------

    def check_file(
        self,
        spec: CheckpointSpec,
        path: Path,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        shown: str | None = None,
    ) -> str:
        """Verify ``path`` as ``spec`` and return its sha256 (see ``verify.check_file``)."""
        return check_file(spec, path, progress, cancel, shown)

    def _check_against_record(self, spec: CheckpointSpec, sha: str) -> None:
        record = self.records.read(spec)
        if not spec.published and record and record.get("sha256") and record["sha256"] != sha:
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
            if not self.records.trusted(spec, path):
                self.records.write(spec, path, sha, source=(self.records.read(spec) or {}).get("source", "verified"))
        return self.status(spec_id)

    # -- getting a file --------------------------------------------------------------------------

    def ensure(
        self, spec_id: str, progress: ProgressCallback | None = None, cancel: threading.Event | None = None
    ) -> Path:
        """The verified local file for ``spec_id``, downloading it first if needed."""
        spec = self.spec(spec_id)
        path = self.models_dir / spec.filename
        if self.records.trusted(spec, path):
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
                if self.records.trusted(spec, path):
                    return path
                try:
                    sha = self.check_file(spec, path, progress, cancel)
                    self._check_against_record(spec, sha)
                    self.records.write(spec, path, sha, source="found in the models folder")
                    return path
                except Cancelled:
                    raise
                except HashMismatch as exc:
                    kept = set_aside(path, self.models_dir, spec.filename, exc.sha256)
                    damaged = f"{exc}; kept aside as {kept.name}"
                except CheckpointError as exc:
                    damaged = str(exc)
            if not force and self._adopt_cached(spec, path, progress, cancel):
                return path
            return self._fetch(spec, path, progress, cancel, damaged)

    def _adopt_cached(
        self, spec: CheckpointSpec, path: Path, progress: ProgressCallback | None, cancel: threading.Event | None
    ) -> bool:
        """Take a published file from the Hugging Face or torch hub cache instead of downloading it."""
        tmp = self.models_dir / (spec.filename + ".cached")
        try:
            found = local_caches.adopt(spec, tmp, progress, cancel, self.options.free_space_margin)
            if found is not None:
                self._install(spec, tmp, path, found[0], source=found[1])
        finally:
            unlink(tmp)
        return found is not None

    def _fetch(
        self,
        spec: CheckpointSpec,
        path: Path,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        damaged: str,
    ) -> Path:
        sources = self.sources_for(spec)
        if not sources:
            raise self._offline_error(spec, ["the catalog lists no address for it"], damaged)
        part = self._part(spec)
        resume = self.records.resume_path(spec)
        size = spec.download_size()
        if size is not None:
            have = part.stat().st_size if part.is_file() else 0
            check_free_space(self.models_dir, max(0, size - have), self.options.free_space_margin)
        if self.before_download is not None:
            self.before_download(spec)
        errors: builtins.list[str] = []
        for source in sources:
            for fresh_try in (False, True):
                resumed = part.is_file() and part.stat().st_size > 0
                try:
                    download_url(source.url, part, spec_id=spec.id, expected_size=source.size, meta_path=resume,
                                 options=self.options, progress=progress, cancel=cancel)
                except DownloadError as exc:
                    errors.append(str(exc))
                    break
                try:
                    sha = self.check_file(spec, part, progress, cancel)
                except Cancelled:
                    raise
                except CheckpointError as exc:
                    unlink(resume)
                    if resumed and not fresh_try:
                        unlink(part)
                        continue  # the kept partial may have come from another file: once more from zero
                    errors.append(f"{source.url}: the downloaded file failed verification ({self._refuse(spec, part, exc)})")
                    break
                self._install(spec, part, path, sha, source=source.url)
                unlink(resume)
                return path
        raise self._offline_error(spec, errors, damaged)

    def _refuse(self, spec: CheckpointSpec, part: Path, exc: CheckpointError) -> str:
        """Drop a download that failed its checks; one that is whole but not the published file is kept aside."""
        if isinstance(exc, HashMismatch):
            kept = set_aside(part, self.models_dir, spec.filename, exc.sha256)
            return f"sha256 {exc.sha256[:12]}... is not the published file; kept aside as {kept.name}, not used"
        unlink(part)
        return str(exc)

    def _install(self, spec: CheckpointSpec, src: Path, path: Path, sha: str, source: str) -> None:
        try:
            os.replace(src, path)
        except OSError as exc:
            raise CheckpointError(f"cannot move the verified file into place at {path} ({exc.strerror or exc})") from None
        fsync_dir(path.parent)
        self.records.write(spec, path, sha, source)

    def _offline_error(self, spec: CheckpointSpec, errors: Sequence[str], damaged: str) -> CheckpointError:
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
        """Check a file the user fetched by hand exactly like a download, then copy it into place.

        Every message names the person's file, never the copy already installed.
        """
        spec = self.spec(spec_id)
        src = Path(source).expanduser()
        if not src.is_file():
            raise CheckpointError(f"cannot import {src}: no such file")
        path = self.models_dir / spec.filename
        self._prepare_dir()
        with self._lock(spec, progress, cancel):
            sha = self.check_file(spec, src, progress, cancel, shown=str(src))
            if path.exists() and os.path.samefile(src, path):
                self.records.write(spec, path, sha, source="imported in place")
                return path
            check_free_space(self.models_dir, src.stat().st_size, self.options.free_space_margin)
            tmp = self.models_dir / (spec.filename + ".import")
            try:
                copied = copy_hashing(src, tmp, spec.id, progress, cancel)
                if copied != sha:
                    raise CheckpointError(f"copying {src} to {self.models_dir} changed its bytes; check the disk")
                self._install(spec, tmp, path, sha, source=f"import:{src.resolve()}")
            finally:
                unlink(tmp)
        return path

    def remove(self, spec_id: str) -> bool:
        """Delete the file, its partial download and its records; True if there was anything.

        Files set aside as not the published one stay: they are the person's to look at and delete. A model the
        person added leaves their list too.
        """
        spec = self.spec(spec_id)
        removed = False
        records = self.records
        with self._lock(spec, None, None):
            for p in (self.models_dir / spec.filename, self._part(spec), records.record_path(spec), records.resume_path(spec)):
                if p.exists():
                    try:
                        p.unlink()
                    except OSError as exc:
                        raise CheckpointError(f"cannot remove {p} ({exc.strerror or exc})") from None
                    removed = True
            if forget(self.models_dir, spec.id):
                self.catalog, removed = self.catalog.without(spec.id), True
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


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", "\\", os.sep)) or text.lower().endswith((".pt", ".pth", ".safetensors", ".ckpt"))


def _shorten(text: str, limit: int = 320) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
