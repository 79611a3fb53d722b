"""A person's own generator: copied into the models folder under its own entry and hash, listed like the rest.

What the file is comes from the engine (tests/commands/test_models.py runs the whole command); here
the checkpoints layer files it: copy, hash, the person's list beside the models, merge, removal.
"""

from __future__ import annotations

import json

import pytest

from sgim_desktop.checkpoints.manager import ModelManager, resolve_checkpoint
from sgim_desktop.checkpoints.user_models import GeneratorShape, register_generator, slug
from sgim_desktop.errors import CheckpointError
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import entry, generator_bytes, sha256, write_catalog

SHAPE = GeneratorShape(64, 2)


@pytest.fixture
def manager(tmp_path, models_dir):
    catalog = write_catalog(tmp_path / "catalog.json", [entry("user-taken", "generator", "taken.pt", [])])
    return ModelManager(catalog=catalog, options=FAST)


@pytest.fixture
def mine(tmp_path):
    path = tmp_path / "Downloads" / "My Beaches (v2).pt"
    path.parent.mkdir()
    path.write_bytes(generator_bytes(seed=9))
    return path


def test_an_added_generator_gets_its_own_file_entry_and_hash(manager, mine, models_dir):
    spec = register_generator(manager, mine, SHAPE, domain="beach")
    assert (spec.id, spec.filename, spec.resolution, spec.domain) == ("user-my-beaches-v2", "user-my-beaches-v2.pt", 64, "beach")
    assert spec.sha256 == sha256(mine.read_bytes()) and spec.size == mine.stat().st_size
    assert (models_dir / spec.filename).read_bytes() == mine.read_bytes() and mine.is_file()
    assert "channel multiplier 2" in spec.notes and spec.display_name == "My Beaches (v2) (added by you)"
    assert manager.status(spec.id).state == "verified" and manager.catalog.get(spec.id) == spec
    listed = json.loads((models_dir / "user-catalog.json").read_text())["checkpoints"]
    assert [e["id"] for e in listed] == [spec.id]
    again = ModelManager(catalog=manager.catalog.source, options=FAST)  # another run of the app
    assert again.catalog.get(spec.id) == spec and spec.id in [s.id for s in again.catalog.by_role("generator")]
    assert resolve_checkpoint(spec.id, "generator", manager=again) == models_dir / spec.filename


def test_its_hash_holds_it_like_a_published_one(manager, mine, models_dir):
    spec = register_generator(manager, mine, SHAPE, name="beach")
    path = models_dir / spec.filename
    path.write_bytes(generator_bytes(seed=10))
    with pytest.raises(CheckpointError, match="is not the published"):
        manager.verify(spec.id)


def test_a_name_already_taken_is_refused_in_one_line(manager, mine, models_dir):
    with pytest.raises(CheckpointError, match="a model called 'user-taken' is already there; give this one another name"):
        register_generator(manager, mine, SHAPE, name="Taken")
    register_generator(manager, mine, SHAPE, name="beach")
    with pytest.raises(CheckpointError, match="'user-beach' is already there"):
        register_generator(manager, mine, SHAPE, name="Beach!")
    assert sorted(p.name for p in models_dir.iterdir() if p.is_file()) == ["user-beach.pt", "user-catalog.json"]


def test_removing_it_forgets_its_entry(manager, mine, models_dir):
    spec = register_generator(manager, mine, SHAPE, name="beach")
    assert manager.remove(spec.id) is True
    assert spec.id not in manager.catalog and not (models_dir / spec.filename).exists()
    assert spec.id not in ModelManager(catalog=manager.catalog.source).catalog
    assert mine.is_file()


def test_a_broken_list_is_one_line_and_a_clashing_entry_gives_way(tmp_path, models_dir):
    catalog = write_catalog(tmp_path / "catalog.json", [entry("gen", "generator", "gen.pt", [])])
    models_dir.mkdir()
    (models_dir / "user-catalog.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="your models list .*user-catalog.json cannot be read.*fix or delete it"):
        ModelManager(catalog=catalog)
    write_catalog(models_dir / "user-catalog.json", [entry("gen", "generator", "other.pt", []),
                                                     entry("user-x", "generator", "user-x.pt", [])])
    manager = ModelManager(catalog=catalog)
    assert manager.catalog.ids == ("gen", "user-x") and manager.spec("gen").filename == "gen.pt"


def test_names_become_plain_ids():
    assert [slug(n) for n in ("My Beaches (v2)", "  ", "Ça va?", "a" * 80)] == [
        "my-beaches-v2", "generator", "a-va", "a" * 60]
