"""The catalog: the shipped list covers what the method needs, and a bad list is refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgim_desktop.checkpoints.catalog import ROLES, load_catalog
from sgim_desktop.errors import CheckpointError
from sgim_desktop.paths import resource
from tests.checkpoints.helpers import entry, write_catalog


def test_shipped_catalog_seeds_every_checkpoint_the_method_needs():
    catalog = load_catalog(resource("catalog.json"))
    assert catalog.default_for("clip").urls == (
        "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/open_clip_model.safetensors",
    )
    assert catalog.default_for("audio_encoder").urls[0] == "https://kr.object.ncloudstorage.com/cvpr2022/resnet18_57.pth"
    landscape = catalog.default_for("generator")
    assert (landscape.domain, landscape.resolution) == ("landscape", 256)
    assert landscape.urls[0] == "https://kr.object.ncloudstorage.com/cvpr2022/landscape.pt"
    expected = {"face": 1024, "church": 256, "car": 512, "cat": 256, "horse": 256}
    for domain, resolution in expected.items():
        spec = catalog.default_for("generator", domain)
        assert spec.resolution == resolution
        assert spec.urls
    assert catalog.default_for("identity").filename == "model_ir_se50.pth"


def test_shipped_catalog_entries_are_complete_and_say_where_they_came_from():
    catalog = load_catalog(resource("catalog.json"))
    for spec in catalog:
        assert spec.role in ROLES
        assert spec.license and spec.license_summary and spec.notes, spec.id
        assert all(u.startswith("https://") for u in spec.urls), spec.id
    non_commercial = [s.id for s in catalog if "non-commercial" in s.license_summary.lower()]
    assert len(non_commercial) >= 3


def test_default_catalog_is_the_shipped_one_unless_sgim_catalog_names_another(tmp_path, monkeypatch):
    assert "stylegan2-landscape-256" in load_catalog()
    own = write_catalog(tmp_path / "org.json", [entry("our-gen", "generator", "our.pt", ["https://example.org/our.pt"])])
    monkeypatch.setenv("SGIM_CATALOG", str(own))
    catalog = load_catalog()
    assert catalog.ids == ("our-gen",)
    assert catalog.source == own


def test_lookups_by_id_role_and_domain(tmp_path):
    path = write_catalog(
        tmp_path / "c.json",
        [
            entry("a", "generator", "a.pt", [], domain="face"),
            entry("b", "generator", "b.pt", [], domain="face", default=True),
            entry("c", "identity", "c.pth", []),
        ],
    )
    catalog = load_catalog(path)
    assert catalog.get("c").role == "identity"
    assert [s.id for s in catalog.by_role("generator")] == ["a", "b"]
    assert catalog.default_for("generator", "face").id == "b"
    assert catalog.default_for("identity").id == "c"
    with pytest.raises(CheckpointError, match="unknown checkpoint id 'zzz'"):
        catalog.get("zzz")
    with pytest.raises(CheckpointError, match="no clip checkpoint"):
        catalog.default_for("clip")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"role": "vocoder"}, "role 'vocoder'"),
        ({"filename": "../evil.pt"}, "plain file name"),
        ({"filename": ".hidden"}, "plain file name"),
        ({"sha256": "abc"}, "64 hex digits"),
        ({"size": -5}, "positive number"),
        ({"urls": ["ftp://x/y.pt"]}, "http"),
        ({"resolution": 100}, "power of two"),
        ({"license": ""}, "'license'"),
    ],
)
def test_a_bad_entry_is_refused_with_one_line(tmp_path, change, message):
    bad = entry("x", "generator", "x.pt", ["https://example.org/x.pt"])
    bad.update(change)
    path = write_catalog(tmp_path / "c.json", [bad])
    with pytest.raises(CheckpointError, match=message) as info:
        load_catalog(path)
    assert "\n" not in str(info.value)


def test_duplicates_and_broken_files_are_refused(tmp_path):
    twice = write_catalog(tmp_path / "twice.json", [entry("x", "identity", "a.pth", []), entry("x", "identity", "b.pth", [])])
    with pytest.raises(CheckpointError, match="appears twice"):
        load_catalog(twice)
    shared = write_catalog(tmp_path / "shared.json", [entry("x", "identity", "a.pth", []), entry("y", "identity", "A.pth", [])])
    with pytest.raises(CheckpointError, match="share the file name"):
        load_catalog(shared)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_catalog(broken)
    with pytest.raises(CheckpointError, match="not found"):
        load_catalog(tmp_path / "missing.json")
    (tmp_path / "empty.json").write_text(json.dumps({"items": []}), encoding="utf-8")
    with pytest.raises(CheckpointError, match="'checkpoints' list"):
        load_catalog(tmp_path / "empty.json")


def test_a_generator_needs_domain_and_resolution(tmp_path):
    e = entry("g", "generator", "g.pt", [])
    del e["resolution"]
    with pytest.raises(CheckpointError, match="domain' and 'resolution"):
        load_catalog(write_catalog(tmp_path / "c.json", [e]))


def test_catalog_file_is_plain_json_readable_without_the_app():
    data = json.loads(Path(resource("catalog.json")).read_text(encoding="utf-8"))
    assert {e["id"] for e in data["checkpoints"]} >= {
        "clip-vit-b-32-openai",
        "audio-encoder-resnet18",
        "stylegan2-landscape-256",
        "stylegan2-ffhq-1024",
        "arcface-ir-se50",
    }
