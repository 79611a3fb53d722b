"""The catalog of known checkpoints: what each file is, where it lives, how to check it, its licence.

The app ships ``resources/catalog.json``; an organisation can point ``SGIM_CATALOG`` at its own list
(which then replaces the shipped one), so nothing about the files is hard-coded in the code.

An entry's ``size`` and ``sha256`` hold for each of its URLs written as plain text. Where addresses
serve different files (one host has the whole training checkpoint, another only the weights the app
uses), a URL is written as ``{"url": ..., "size": ..., "sha256": ...}`` with its own figures: a file
is good when it is one of the entry's published files. ``sets`` name the files a task needs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sgim_desktop.errors import CheckpointError
from sgim_desktop.paths import resource

ROLES: tuple[str, ...] = ("clip", "audio_encoder", "generator", "identity", "inversion", "encoder")
CATALOG_ENV = "SGIM_CATALOG"

_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_SHA_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Source:
    """One address and the file it serves: its size and sha256 where published, else None."""

    url: str
    size: int | None
    sha256: str | None
    note: str = ""


@dataclass(frozen=True)
class CheckpointSpec:
    """One known checkpoint file. ``size``/``sha256`` (the entry's own) are None where nobody published them."""

    id: str
    role: str
    display_name: str
    filename: str
    sources: tuple[Source, ...]
    size: int | None
    sha256: str | None
    license: str
    license_summary: str
    domain: str | None = None
    resolution: int | None = None
    default: bool = False
    notes: str = ""

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(s.url for s in self.sources)

    @property
    def known_hashes(self) -> dict[str, int | None]:
        """Every published sha256 of this entry (the entry's and its URLs'), with the size that goes with it."""
        found: dict[str, int | None] = {}
        for sha, size in [(self.sha256, self.size)] + [(s.sha256, s.size) for s in self.sources]:
            if sha is not None:
                found[sha] = size if size is not None else found.get(sha)
        return found

    @property
    def published(self) -> bool:
        """True when a hash decides; False for trust on first use (checked by layout, hash recorded)."""
        return bool(self.known_hashes)

    def download_size(self) -> int | None:
        """The size of the file the first address serves (what a download will most likely fetch)."""
        return self.sources[0].size if self.sources else self.size


@dataclass(frozen=True)
class SetSpec:
    """The files one task needs ("Edit landscapes"): a first run downloads a set, not every file."""

    id: str
    title: str
    summary: str
    ids: tuple[str, ...]


class Catalog:
    """An ordered, read-only set of specs with the look-ups the app needs."""

    def __init__(self, specs: tuple[CheckpointSpec, ...] | list[CheckpointSpec], source: Path | None = None,
                 sets: tuple[SetSpec, ...] | list[SetSpec] = ()):
        self.specs: tuple[CheckpointSpec, ...] = tuple(specs)
        self.source = source
        self.sets: tuple[SetSpec, ...] = tuple(sets)
        self._by_id = {s.id: s for s in self.specs}

    def __iter__(self) -> Iterator[CheckpointSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, spec_id: object) -> bool:
        return spec_id in self._by_id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def get(self, spec_id: str) -> CheckpointSpec:
        try:
            return self._by_id[spec_id]
        except KeyError:
            known = ", ".join(self.ids) or "none"
            raise CheckpointError(f"unknown checkpoint id '{spec_id}' (known ids: {known})") from None

    def get_set(self, set_id: str) -> SetSpec:
        for found in self.sets:
            if found.id == set_id:
                return found
        known = ", ".join(s.id for s in self.sets) or "none"
        raise CheckpointError(f"unknown set '{set_id}' (known sets: {known})")

    def with_specs(self, extra: list[CheckpointSpec] | tuple[CheckpointSpec, ...], where: Path | str) -> "Catalog":
        """This catalog plus ``extra`` entries (a person's own files), refusing clashing ids or names."""
        specs = list(self.specs) + list(extra)
        _check_unique(specs, Path(where))
        return Catalog(specs, source=self.source, sets=self.sets)

    def without(self, spec_id: str) -> "Catalog":
        return Catalog([s for s in self.specs if s.id != spec_id], source=self.source, sets=self.sets)

    def by_role(self, role: str) -> tuple[CheckpointSpec, ...]:
        return tuple(s for s in self.specs if s.role == role)

    def default_for(self, role: str, domain: str | None = None) -> CheckpointSpec:
        """The catalog's choice for a role (and generator domain): the one marked default, else the first."""
        candidates = [s for s in self.by_role(role) if domain is None or s.domain == domain]
        if not candidates:
            where = f" for domain '{domain}'" if domain else ""
            raise CheckpointError(f"the catalog has no {role} checkpoint{where}")
        for spec in candidates:
            if spec.default:
                return spec
        return candidates[0]


def default_catalog_path() -> Path:
    env = os.environ.get(CATALOG_ENV)
    return Path(env).expanduser() if env else resource("catalog.json")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and check a catalog file (default: ``SGIM_CATALOG`` or the shipped one)."""
    path = Path(path) if path is not None else default_catalog_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint catalog not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint catalog {path} cannot be read ({exc})") from None
    entries = data.get("checkpoints") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise CheckpointError(f"checkpoint catalog {path} has no 'checkpoints' list")
    specs = [spec_from(entry, path, i) for i, entry in enumerate(entries)]
    _check_unique(specs, path)
    sets = _sets_from(data.get("sets", []), path, {s.id for s in specs})
    return Catalog(specs, source=path, sets=sets)


def _sets_from(entries: object, path: Path, ids: set[str]) -> list[SetSpec]:
    if not isinstance(entries, list):
        raise CheckpointError(f"checkpoint catalog {path}: 'sets' must be a list")
    sets = []
    for entry in entries:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("id", "title", "summary")):
            raise CheckpointError(f"checkpoint catalog {path}: each set needs a text 'id', 'title' and 'summary'")
        members = entry.get("ids")
        if not isinstance(members, list) or not members or not all(isinstance(i, str) for i in members):
            raise CheckpointError(f"checkpoint catalog {path}: set '{entry['id']}' needs a list of checkpoint 'ids'")
        unknown = [i for i in members if i not in ids]
        if unknown:
            raise CheckpointError(f"checkpoint catalog {path}: set '{entry['id']}' names unknown ids {', '.join(unknown)}")
        sets.append(SetSpec(entry["id"], entry["title"], entry["summary"], tuple(dict.fromkeys(members))))
    return sets


def _size(value: object, where: str) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
        raise CheckpointError(f"{where}: 'size' must be a positive number of bytes or null")
    return value


def _sha(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA_RE.fullmatch(value.lower()):
        raise CheckpointError(f"{where}: 'sha256' must be 64 hex digits or null")
    return value.lower()


def _sources(urls: object, size: int | None, sha: str | None, where: str) -> tuple[Source, ...]:
    """Plain URLs take the entry's size and hash; ``{"url", "size", "sha256"}`` objects carry their own."""
    if not isinstance(urls, list):
        raise CheckpointError(f"{where}: 'urls' must be a list of http(s) addresses")
    sources = []
    for item in urls:
        if isinstance(item, dict):
            url = item.get("url")
            own_size, own_sha = _size(item.get("size"), where), _sha(item.get("sha256"), where)
            note = item.get("note", "")
        else:
            url, own_size, own_sha, note = item, size, sha, ""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(note, str):
            raise CheckpointError(f"{where}: 'urls' must be a list of http(s) addresses")
        sources.append(Source(url, own_size, own_sha, note))
    return tuple(sources)


def spec_from(entry: object, path: Path, index: int) -> CheckpointSpec:
    """One catalog entry, checked; CheckpointError naming the entry and the field that is wrong."""
    if not isinstance(entry, dict):
        raise CheckpointError(f"checkpoint catalog {path}: entry {index} is not an object")
    where = f"checkpoint catalog {path}: entry '{entry.get('id', index)}'"

    def text(key: str, required: bool = True) -> str:
        value = entry.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise CheckpointError(f"{where} needs a text '{key}'")
        return value

    spec_id = text("id")
    if not _ID_RE.fullmatch(spec_id):
        raise CheckpointError(f"{where}: id must be lower-case letters, digits, '.', '_' or '-'")
    role = text("role")
    if role not in ROLES:
        raise CheckpointError(f"{where}: role '{role}' is not one of {', '.join(ROLES)}")
    filename = text("filename")
    if Path(filename).name != filename or filename in {".", ".."} or "\\" in filename or filename.startswith("."):
        raise CheckpointError(f"{where}: filename must be a plain file name, got '{filename}'")
    size = _size(entry.get("size"), where)
    sha = _sha(entry.get("sha256"), where)
    sources = _sources(entry.get("urls", []), size, sha, where)
    resolution = entry.get("resolution")
    if resolution is not None and (not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1)):
        raise CheckpointError(f"{where}: 'resolution' must be a power of two or null")
    domain = entry.get("domain")
    if domain is not None and not isinstance(domain, str):
        raise CheckpointError(f"{where}: 'domain' must be text or null")
    if role == "generator" and (domain is None or resolution is None):
        raise CheckpointError(f"{where}: a generator needs 'domain' and 'resolution'")
    return CheckpointSpec(
        id=spec_id,
        role=role,
        display_name=text("display_name"),
        filename=filename,
        sources=sources,
        size=size,
        sha256=sha,
        license=text("license"),
        license_summary=text("license_summary"),
        domain=domain,
        resolution=resolution,
        default=bool(entry.get("default", False)),
        notes=text("notes", required=False),
    )


def _check_unique(specs: list[CheckpointSpec], path: Path) -> None:
    seen_ids: set[str] = set()
    seen_files: dict[str, str] = {}
    for spec in specs:
        if spec.id in seen_ids:
            raise CheckpointError(f"checkpoint catalog {path}: id '{spec.id}' appears twice")
        seen_ids.add(spec.id)
        key = spec.filename.lower()
        if key in seen_files:
            raise CheckpointError(
                f"checkpoint catalog {path}: '{spec.id}' and '{seen_files[key]}' share the file name {spec.filename}"
            )
        seen_files[key] = spec.id
