"""The catalog: the shipped list covers what the method needs, and a bad list is refused in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sgim_desktop.checkpoints.catalog import ROLES, load_catalog
from sgim_desktop.errors import CheckpointError
from sgim_desktop.paths import resource
from tests.checkpoints.helpers import entry, write_catalog


def test_shipped_catalog_seeds_every_checkpoint_the_method_needs():
    catalog = load_catalog(resource("catalog.json"))
    assert catalog.default_for("clip").urls == (
        "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/a6f597a30f7b82c51704746581f9a4e41421e878"
        "/open_clip_model.safetensors",
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


# the figures of ../shared/checkpoint-sources.md: (size, sha256) per catalog id; None where nothing is published
PUBLISHED = {
    "clip-vit-b-32-openai": [(605_143_284, "e6d1bd7789aa45192b3bf90570a789b478bae1b74ebcce7eddd908e83a2b7c31")],
    "audio-encoder-resnet18": None,
    "stylegan2-landscape-256": None,
    "stylegan2-ffhq-1024": [(132_717_355, "646c7e7c5e3fc4cf8e83dcfe5dce505cc74b61d8982c09563932aa15c4baf18c"),
                            (381_462_551, "bae494ef77e32a9cd1792a81a3c167692a0e64f6bcd8b06592ff42917e2ed46e")],
    "stylegan2-church-256": [(120_878_283, "596f59f0ab72d3d5e821846dbf53fff0406c0103ff4fa46ae0a2508d80b3a2d0")],
    "stylegan2-car-512": [(123_949_595, "c69f161fd576801027cbaa8b09142b5dd9f508034b2d0f4a2a0cdcbc1d587c9c")],
    "stylegan2-cat-256": [(120_878_283, "ff1036877c8964ba7c9e84316e67ea26bea64bbfcf6bd6c645f45589d248727f")],
    "stylegan2-horse-256": [(120_878_283, "894bc6a08a6bbe4c22bf91195dd4fdd4ee7f6859e06ce3517e7b3bfa9a8b2565")],
    "arcface-ir-se50": [(175_367_323, "a035c768259b98ab1ce0e646312f48b9e1e218197a0f80ac6765e88f8b6ddf28")],
    "vgg16-imagenet": [(553_433_881, "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0")],
    "lpips-vgg-v0.1": [(7_289, "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868")],
    "e4e-ffhq-encode": [(1_201_649_680, "2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999")],
}
# Hugging Face copies whose holders published no revision: their bytes are held by the published hash alone
UNPINNED_HF = {"https://huggingface.co/zhengchong/e4e/resolve/main/e4e_ffhq_encode.pt"}
_HF_URL = re.compile(r"https://huggingface\.co/[\w.-]+/[\w.-]+/resolve/(?P<rev>[^/]+)/.+")


def test_the_shipped_catalog_carries_every_published_size_and_hash_per_address():
    catalog = load_catalog(resource("catalog.json"))
    assert set(catalog.ids) == set(PUBLISHED)
    for spec in catalog:
        published = PUBLISHED[spec.id]
        pairs = {(s.size, s.sha256) for s in spec.sources}
        if published is None:
            assert pairs == {(None, None)} and not spec.published, spec.id  # trust on first use
        else:
            assert pairs <= set(published) and spec.known_hashes == {sha: size for size, sha in published}, spec.id
            assert (spec.size, spec.sha256) == published[0], spec.id  # the first address serves the entry's file
    ffhq = catalog.get("stylegan2-ffhq-1024")
    assert [s.size for s in ffhq.sources] == [132_717_355, 381_462_551, 381_462_551]
    assert "1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT" in ffhq.sources[1].url


def test_the_shipped_catalog_is_consistent_and_pinned():
    data = json.loads(Path(resource("catalog.json")).read_text(encoding="utf-8"))
    catalog = load_catalog(resource("catalog.json"))
    size_of: dict[str, int] = {}
    for entry_data, spec in zip(data["checkpoints"], catalog):
        if entry_data["sha256"] is not None:
            assert entry_data["size"] is not None, spec.id
        for source in spec.sources:
            if source.sha256 is not None:
                assert source.size is not None, (spec.id, source.url)
                assert size_of.setdefault(source.sha256, source.size) == source.size, (spec.id, source.url)
            assert source.url.startswith("https://") and "/master/" not in source.url, source.url
            hf = _HF_URL.fullmatch(source.url)
            if "huggingface.co" in source.url:
                assert hf, source.url
                if source.url in UNPINNED_HF:
                    assert source.sha256 is not None, source.url
                else:
                    assert re.fullmatch(r"[0-9a-f]{7,40}", hf["rev"]), f"{source.url} names no revision"
    assert catalog.get("lpips-vgg-v0.1").urls[0].startswith(
        "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/082bb24f84c091ea94de2867d34c4544f68e0963/")
    assert catalog.get("clip-vit-b-32-openai").license.startswith("MIT")
    for spec_id in ("audio-encoder-resnet18", "stylegan2-landscape-256"):
        assert "CC BY-NC-SA 4.0" in catalog.get(spec_id).license and "2022-11-04" in catalog.get(spec_id).license


def test_sets_name_the_files_each_task_needs():
    catalog = load_catalog(resource("catalog.json"))
    assert [(s.id, s.title) for s in catalog.sets] == [
        ("landscape", "Edit landscapes"), ("faces", "Edit faces and photos"), ("all", "More generators")]
    assert catalog.get_set("landscape").ids == ("clip-vit-b-32-openai", "audio-encoder-resnet18", "stylegan2-landscape-256")
    faces = set(catalog.get_set("faces").ids)
    assert {"stylegan2-ffhq-1024", "arcface-ir-se50", "e4e-ffhq-encode", "clip-vit-b-32-openai"} <= faces
    assert "stylegan2-landscape-256" not in faces
    assert set(catalog.get_set("all").ids) == set(catalog.ids)
    with pytest.raises(CheckpointError, match="unknown set 'cats' \\(known sets: landscape, faces, all\\)"):
        catalog.get_set("cats")


def test_a_set_naming_an_unknown_file_is_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"checkpoints": [entry("a", "identity", "a.pth", [])],
                                "sets": [{"id": "s", "title": "S", "summary": "s", "ids": ["a", "b"]}]}))
    with pytest.raises(CheckpointError, match="set 's' names unknown ids b"):
        load_catalog(path)


def test_an_address_may_carry_its_own_size_and_hash(tmp_path):
    own = {"url": "https://b.example/g.pt", "size": 9, "sha256": "b" * 64}
    e = entry("g", "generator", "g.pt", ["https://a.example/g.pt", own],
              size=5, sha256="a" * 64)
    spec = load_catalog(write_catalog(tmp_path / "c.json", [e])).get("g")
    assert [(s.url, s.size, s.sha256) for s in spec.sources] == [
        ("https://a.example/g.pt", 5, "a" * 64), ("https://b.example/g.pt", 9, "b" * 64)]
    assert spec.known_hashes == {"a" * 64: 5, "b" * 64: 9} and spec.urls[1] == "https://b.example/g.pt"
    e["urls"][1]["sha256"] = "xyz"
    with pytest.raises(CheckpointError, match="64 hex digits"):
        load_catalog(write_catalog(tmp_path / "c.json", [e]))


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
