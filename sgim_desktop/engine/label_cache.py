"""CLIP text embeddings of a label list, kept on disk, so "what it hears" skips ~500 text-tower passes.

Without it `sgim-desktop hear` spends most of its time encoding the same ~500 VGGSound labels on every
call, and the window pays that once per session. The embeddings depend on the CLIP weights and the
exact label texts only, so a file is keyed by the CLIP file (its resolved path, size and modification
time: another CLIP file, or the same one replaced, never reuses them), a hash of the texts (template
applied) and a format version. Files are safetensors (never a pickle), written to a temporary name and
renamed, and checked when read (shape, dtype, count, finite values); anything odd is recomputed. Only
the most recently used few are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import platformdirs
import torch

from sgim_desktop.engine.clip_space import ClipSpace, Heard

FORMAT_VERSION = 1
CACHE_ENV = "SGIM_CACHE_DIR"
KEEP = 8
_DIM = 512


def cache_dir() -> Path:
    """``SGIM_CACHE_DIR`` or the platform's cache folder for the app, then ``label-embeddings``."""
    env = os.environ.get(CACHE_ENV)
    base = Path(env).expanduser() if env else platformdirs.user_cache_path("sgim-desktop", appauthor=False)
    return base / "label-embeddings"


def _texts_sha(texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode("utf-8")).hexdigest()


def cache_key(clip_file: str | Path, texts: Sequence[str]) -> str:
    """Changes with the CLIP file (path, size, modification time), the texts and the format version."""
    path = Path(clip_file).resolve()
    st = path.stat()
    parts = [FORMAT_VERSION, str(path), st.st_size, st.st_mtime_ns, _texts_sha(texts)]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:40]


def _read(path: Path, texts: Sequence[str]) -> torch.Tensor | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            emb = fh.get_tensor("embeddings")
    except (OSError, SafetensorError, KeyError, ValueError, RuntimeError):
        return None
    good = (meta.get("format") == str(FORMAT_VERSION) and meta.get("texts_sha256") == _texts_sha(texts)
            and emb.dtype == torch.float32 and tuple(emb.shape) == (len(texts), _DIM) and bool(torch.isfinite(emb).all()))
    return emb if good else None


def _write(path: Path, emb: torch.Tensor, texts: Sequence[str]) -> None:
    from safetensors.torch import save_file

    meta = {"format": str(FORMAT_VERSION), "texts_sha256": _texts_sha(texts), "count": str(len(texts))}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".labels-", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            save_file({"embeddings": emb.contiguous()}, tmp, metadata=meta)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        return  # a read-only or full cache folder costs time next call, never a failure
    _prune(path.parent)


def _prune(folder: Path) -> None:
    """Keep the ``KEEP`` most recently used files (each label list of each CLIP file is one)."""
    try:
        files = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in files[KEEP:]:
            old.unlink()
    except OSError:
        pass


def text_embeddings(space: ClipSpace, clip_file: str | Path, texts: Sequence[str], folder: Path | None = None) -> torch.Tensor:
    """Unit embeddings of ``texts`` (N x 512) by the CLIP loaded from ``clip_file``: read from the cache or
    computed once and saved. Either way ``space`` holds them afterwards, so its ``hear`` encodes nothing."""
    texts = list(texts)
    emb = cached_embeddings(clip_file, texts, folder)
    if emb is None:
        emb = space.encode_text(texts)
        _write(_path(clip_file, texts, folder), emb, texts)
    else:
        space._text_cache.update(zip(texts, emb))
    return emb


def _path(clip_file: str | Path, texts: Sequence[str], folder: Path | None) -> Path:
    return (folder or cache_dir()) / f"{cache_key(clip_file, texts)}.safetensors"


def cached_embeddings(clip_file: str | Path, texts: Sequence[str], folder: Path | None = None) -> torch.Tensor | None:
    """The saved embeddings of ``texts`` by this CLIP file, or None: what lets ``hear`` skip loading CLIP."""
    texts = list(texts)
    path = _path(clip_file, texts, folder)
    emb = _read(path, texts) if path.is_file() else None
    if emb is not None:
        try:
            os.utime(path)  # recently used: kept by the pruning
        except OSError:
            pass
    return emb


def hear_cached(
    space: ClipSpace,
    clip_file: str | Path,
    sound_embedding: torch.Tensor,
    labels: Sequence[str],
    top_k: int = 5,
    template: str = "{}",
    folder: Path | None = None,
) -> list[Heard]:
    """``space.hear`` with the label embeddings from the on-disk cache (the first call fills it)."""
    if labels:
        text_embeddings(space, clip_file, [template.format(label) for label in labels], folder)
    return space.hear(sound_embedding, labels, top_k=top_k, template=template)
