"""Checkpoints the person already has: the Hugging Face hub cache and torch's hub cache.

open_clip downloads CLIP through the Hugging Face hub and torchvision keeps VGG16 in torch's hub
cache, so a user of either may already hold hundreds of MB the app needs. A file there is taken only
when its sha256 is one the catalog publishes (files with no published hash are never taken on trust).

It is hard-linked into the models folder where the file system allows: no second copy of up to
1.2 GB, and unlike a symbolic link it survives the cache being cleaned (``huggingface-cli
delete-cache``, ``rm -r ~/.cache``); the hub never rewrites a blob in place, and a change would be
caught by the verification record's size and time anyway. Across file systems it is copied.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from sgim_desktop.checkpoints.catalog import CheckpointSpec
from sgim_desktop.checkpoints.disk import check_free_space, copy_hashing, sha256_file, unlink
from sgim_desktop.checkpoints.meter import ProgressCallback
from sgim_desktop.errors import Cancelled, CheckpointError

_HF_PREFIX = "https://huggingface.co/"


@dataclass(frozen=True)
class Found:
    """A file in a local cache that may be the checkpoint; ``where`` says which cache, in words."""

    path: Path
    where: str


def _cache_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg).expanduser() if xdg else Path.home() / ".cache"


def hf_hub_dir() -> Path:
    """Where huggingface_hub keeps models: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return _cache_home() / "huggingface" / "hub"


def torch_hub_checkpoints_dir() -> Path:
    """Where torch.hub (and so torchvision) keeps weights: TORCH_HOME/hub/checkpoints, else ~/.cache/torch/..."""
    home = os.environ.get("TORCH_HOME")
    base = Path(home).expanduser() if home else _cache_home() / "torch"
    return base / "hub" / "checkpoints"


def _hf_parts(url: str) -> tuple[str, str, str] | None:
    """(repo folder name, revision, file path) of a Hugging Face ``resolve`` URL."""
    if not url.startswith(_HF_PREFIX):
        return None
    parts = urllib.parse.urlsplit(url).path.strip("/").split("/")
    if len(parts) < 5 or parts[2] != "resolve":
        return None
    org, name, rev = parts[0], parts[1], parts[3]
    return f"models--{org}--{name}", rev, urllib.parse.unquote("/".join(parts[4:]))


def _hf_candidates(spec: CheckpointSpec, hub: Path) -> list[Found]:
    found: list[Found] = []
    where = f"the Hugging Face cache ({hub})"
    for source in spec.sources:
        parts = _hf_parts(source.url)
        if parts is None:
            continue
        repo, rev, file = parts
        snapshots = hub / repo / "snapshots"
        if snapshots.is_dir():
            revisions = sorted(snapshots.iterdir(), key=lambda d: not d.name.startswith(rev))
            found += [Found(d / file, where) for d in revisions]
    # an LFS blob is named by its sha256, whichever repository (a mirror) holds it
    if hub.is_dir():
        for sha in spec.known_hashes:
            found += [Found(p, where) for p in hub.glob(f"models--*/blobs/{sha}")]
    return found


def _torch_candidates(spec: CheckpointSpec, folder: Path) -> list[Found]:
    names = [spec.filename] + [urllib.parse.unquote(urllib.parse.urlsplit(s.url).path.rsplit("/", 1)[-1]) for s in spec.sources]
    where = f"torch's hub cache ({folder})"
    return [Found(folder / name, where) for name in dict.fromkeys(n for n in names if n)]


def candidates(spec: CheckpointSpec) -> list[Found]:
    """Files in the local caches with the size of one of the entry's published files, best first."""
    if not spec.published:
        return []
    sizes = set(spec.known_hashes.values())
    seen: set[Path] = set()
    result = []
    for item in _hf_candidates(spec, hf_hub_dir()) + _torch_candidates(spec, torch_hub_checkpoints_dir()):
        try:
            real = item.path.resolve(strict=True)
            size = real.stat().st_size
        except (OSError, RuntimeError):
            continue
        if real in seen or not real.is_file() or (None not in sizes and size not in sizes):
            continue
        seen.add(real)
        result.append(Found(real, item.where))
    return result


def adopt(
    spec: CheckpointSpec,
    tmp: Path,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    margin: int = 0,
) -> tuple[str, str] | None:
    """Put the first cached file that is a published one at ``tmp``; (its sha256, where it came from) or None."""
    for item in candidates(spec):
        unlink(tmp)
        try:
            os.link(item.path, tmp)
            how = "linked"
            sha = sha256_file(tmp, spec.id, progress, cancel)
        except Cancelled:
            unlink(tmp)
            raise
        except OSError:
            unlink(tmp)
            try:
                check_free_space(tmp.parent, item.path.stat().st_size, margin)
                how = "copied"
                sha = copy_hashing(item.path, tmp, spec.id, progress, cancel)
            except Cancelled:
                unlink(tmp)
                raise
            except (OSError, CheckpointError):
                unlink(tmp)
                continue
        if sha in spec.known_hashes:
            return sha, f"{how} from {item.where}: {item.path}"
        unlink(tmp)
    return None
