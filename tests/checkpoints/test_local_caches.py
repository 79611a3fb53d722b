"""A checkpoint the person already has in the Hugging Face or torch hub cache is checked and used, not fetched.

The caches are built in a temporary folder with the layouts huggingface_hub and torch.hub write
(``models--org--name/snapshots/<rev>/<file>`` linking to ``blobs/<sha256>``; ``hub/checkpoints/<file>``).
The catalog's addresses point at a loopback server whose request log proves nothing was downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sgim_desktop.checkpoints import local_caches
from sgim_desktop.checkpoints.manager import ModelManager
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import entry, generator_bytes, sha256, write_catalog

REV = "5fde0cdb3664b04e8126dc6b0cab010e7813c18b"


def hf_cache(hub: Path, repo: str, file: str, data: bytes, rev: str = REV) -> Path:
    """A file as huggingface_hub stores it: the blob named by its sha256, the snapshot a relative symlink."""
    folder = hub / f"models--{repo.replace('/', '--')}"
    blob = folder / "blobs" / sha256(data)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    link = folder / "snapshots" / rev / file
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(rev)
    return blob


def manager_for(tmp_path: Path, server, data: bytes, hf_repo: str = "ZeqiangLai/StyleGAN2", **kw) -> ModelManager:
    """One generator entry: a Hugging Face address (never reached) and a loopback one (logged)."""
    urls = [f"https://huggingface.co/{hf_repo}/resolve/{REV[:7]}/gen%2Bffhq.pt", server.add("/gen.pt", data)]
    kw = {"size": len(data), "sha256": sha256(data), **kw}
    catalog = write_catalog(tmp_path / "catalog.json", [entry("gen", "generator", "gen+ffhq.pt", urls, **kw)])
    return ModelManager(catalog=catalog, options=FAST)


@pytest.fixture
def data() -> bytes:
    return generator_bytes(seed=4)


def test_a_file_in_the_hugging_face_cache_is_verified_and_linked_not_downloaded(server, tmp_path, monkeypatch, data):
    hub = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    blob = hf_cache(hub, "ZeqiangLai/StyleGAN2", "gen+ffhq.pt", data)
    manager = manager_for(tmp_path, server, data)
    path = manager.ensure("gen")
    assert path.read_bytes() == data and server.requests_for("/gen.pt") == []
    assert path.stat().st_ino == blob.stat().st_ino  # a hard link: no second copy of the bytes
    record = manager.records.read(manager.spec("gen"))
    assert record["source"].startswith("linked from the Hugging Face cache") and str(blob) in record["source"]
    assert manager.status("gen").state == "verified"
    path.unlink()
    assert blob.read_bytes() == data  # removing ours leaves the cache alone


def test_hf_home_and_the_default_cache_folder_are_searched_too(server, tmp_path, monkeypatch, data):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    hf_cache(tmp_path / "hf-home" / "hub", "ZeqiangLai/StyleGAN2", "gen+ffhq.pt", data)
    assert manager_for(tmp_path, server, data).ensure("gen").read_bytes() == data
    monkeypatch.delenv("HF_HOME")
    assert local_caches.hf_hub_dir() == Path(os.environ["XDG_CACHE_HOME"]) / "huggingface" / "hub"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert local_caches.hf_hub_dir() == tmp_path / "home" / ".cache" / "huggingface" / "hub"
    assert local_caches.torch_hub_checkpoints_dir() == tmp_path / "home" / ".cache" / "torch" / "hub" / "checkpoints"
    assert server.requests_for("/gen.pt") == []


def test_the_same_bytes_under_another_repository_are_found_by_their_hash(server, tmp_path, monkeypatch, data):
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    hf_cache(hub, "someone/a-mirror", "weights/other-name.pt", data, rev="0" * 40)
    assert manager_for(tmp_path, server, data).ensure("gen").read_bytes() == data
    assert server.requests_for("/gen.pt") == []


def test_a_file_in_torchs_hub_cache_is_used(server, tmp_path, monkeypatch, data):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "gen.pt"  # named as in its URL, as torch.hub names it
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    manager = manager_for(tmp_path, server, data)
    assert manager.ensure("gen").read_bytes() == data and server.requests_for("/gen.pt") == []
    assert "torch's hub cache" in manager.records.read(manager.spec("gen"))["source"]


def test_across_file_systems_the_file_is_copied(server, tmp_path, monkeypatch, data):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "gen.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)

    def no_link(src, dst):
        raise OSError(18, "Invalid cross-device link")  # EXDEV: what another file system answers

    monkeypatch.setattr(local_caches.os, "link", no_link)
    manager = manager_for(tmp_path, server, data)
    path = manager.ensure("gen")
    assert path.read_bytes() == data and path.stat().st_ino != cached.stat().st_ino
    assert manager.records.read(manager.spec("gen"))["source"].startswith("copied from torch's hub cache")
    assert server.requests_for("/gen.pt") == []


def test_a_cached_file_that_is_not_the_published_one_is_left_alone_and_the_file_downloaded(
        server, tmp_path, monkeypatch, data):
    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    other = generator_bytes(seed=5)
    assert len(other) == len(data)
    folder = hub / "models--ZeqiangLai--StyleGAN2" / "snapshots" / REV
    folder.mkdir(parents=True)
    (folder / "gen+ffhq.pt").write_bytes(other)
    manager = manager_for(tmp_path, server, data)
    assert manager.ensure("gen").read_bytes() == data
    assert [r.status for r in server.requests_for("/gen.pt")] == [200]
    assert (folder / "gen+ffhq.pt").read_bytes() == other
    assert not list(manager.models_dir.glob("*.mismatch-*"))  # the cache's file is not ours to move


def test_files_with_no_published_hash_are_never_taken_from_a_cache(server, tmp_path, monkeypatch, data):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "gen.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(generator_bytes(seed=6))
    manager = manager_for(tmp_path, server, data, size=None, sha256=None)
    assert local_caches.candidates(manager.spec("gen")) == []
    assert manager.ensure("gen").read_bytes() == data
    assert len(server.requests_for("/gen.pt")) == 1
