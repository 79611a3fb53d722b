"""File ▸ Add generator…: a person's own StyleGAN2 file is checked and copied into the models folder with its
own entry and hash (on the task thread), joins the generator list, is chosen, and edits; a file that is
not a generator is refused in one line in the message bar and leaves nothing behind.

The window here reads a catalog in a temporary folder whose CLIP, audio encoder and landscape generator
are the tests' rule-weighted checkpoint files, as in a real install.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.checkpoints.helpers import entry, sha256, write_catalog
from tests.ui.conftest import make_window


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    models = tmp_path / "catalog-models"
    models.mkdir()
    monkeypatch.setenv("SGIM_MODELS_DIR", str(models))
    return models


@pytest.fixture
def catalog_window(qtbot, checkpoint_files, generator_files, models_dir, tmp_path, monkeypatch):
    models = models_dir
    for source, name in ((checkpoint_files["clip"], "clip.safetensors"),
                         (checkpoint_files["audio_encoder"], "resnet18_57.pth"),
                         (generator_files[64], "landscape-64.pt")):
        os.symlink(source, models / name)
    catalog = write_catalog(tmp_path / "catalog.json", [
        entry("clip", "clip", "clip.safetensors", [], default=True),
        entry("audio", "audio_encoder", "resnet18_57.pth", [], default=True),
        entry("landscape-64", "generator", "landscape-64.pt", [], domain="landscape", default=True),
    ])
    monkeypatch.setenv("SGIM_CATALOG", str(catalog))
    window = make_window()
    qtbot.addWidget(window)
    yield window
    window.close()


def listed(window) -> list[str]:
    combo = window.source_panel.generator
    return [combo.itemData(i) for i in range(combo.count())]


def test_the_file_menu_offers_add_generator(bare_window):
    file_menu = bare_window.menuBar().actions()[0].menu()
    assert bare_window.add_generator_action in file_menu.actions()
    assert bare_window.add_generator_action.text().replace("&", "") == "Add Generator…"


@pytest.mark.slow
def test_an_added_generator_is_listed_chosen_and_edits(catalog_window, generator_files, models_dir, tmp_path, qtbot):
    window = catalog_window
    mine = tmp_path / "Downloads" / "My Dunes.pt"
    mine.parent.mkdir()
    shutil.copyfile(generator_files[64], mine)
    assert listed(window) == ["landscape-64"]
    window.files.add_generator(str(mine))
    qtbot.waitUntil(lambda: "user-my-dunes" in listed(window), timeout=120000)
    assert window.source_panel.generator_id() == "user-my-dunes"
    assert window.session.state.source.generator_id == "user-my-dunes"
    assert "Added My Dunes (added by you) (64 px)" in window.message_bar.text()
    added = models_dir / "user-my-dunes.pt"
    assert added.read_bytes() == mine.read_bytes() and mine.is_file()
    entries = json.loads((models_dir / "user-catalog.json").read_text())["checkpoints"]
    assert [(e["id"], e["sha256"]) for e in entries] == [("user-my-dunes", sha256(mine.read_bytes()))]

    qtbot.waitUntil(window.canvas.has_source, timeout=180000)
    window.mixer.steps.setValue(1)
    window.mixer.text.setText("dunes at night")
    window.run_edit()
    qtbot.waitUntil(lambda: window.session.state.edit is not None, timeout=240000)
    record = window.session.state.edit
    assert record.source.generator_id == "user-my-dunes" and record.image.shape == (64, 64, 3)


def test_a_generator_said_to_draw_faces_gets_the_face_tools(catalog_window, generator_files, models_dir, tmp_path,
                                                             qtbot):
    window = catalog_window
    mine = tmp_path / "portraits.pt"
    shutil.copyfile(generator_files[64], mine)
    window.files.add_generator(str(mine), faces=True)
    qtbot.waitUntil(lambda: "user-portraits" in listed(window), timeout=120000)
    entries = json.loads((models_dir / "user-catalog.json").read_text())["checkpoints"]
    assert [(e["id"], e["domain"]) for e in entries] == [("user-portraits", "face")]
    assert window.source_panel.generator_id() == "user-portraits" and window.mixer.keep_identity.isVisibleTo(window)


def test_a_file_that_is_not_a_generator_is_refused_in_one_line(catalog_window, checkpoint_files, models_dir, tmp_path,
                                                              qtbot):
    window = catalog_window
    failures = []
    window.worker.failed.connect(lambda task, message: failures.append(message))
    notes = tmp_path / "notes.pt"
    notes.write_text("not a checkpoint at all", encoding="utf-8")
    for bad in (checkpoint_files["audio_encoder"], notes):
        before = len(failures)
        window.files.add_generator(str(bad))
        qtbot.waitUntil(lambda n=before: len(failures) > n, timeout=60000)
        text = window.message_bar.text()
        assert text.startswith(f"Could not add {bad.name}: ") and "\n" not in text, text
    assert "generator" in failures[0]
    assert listed(window) == ["landscape-64"] and window.source_panel.generator_id() == "landscape-64"
    assert not list(models_dir.glob("user-*")) and not (models_dir / "user-catalog.json").exists()


def test_the_same_file_added_twice_gets_a_name_of_its_own(catalog_window, generator_files, qtbot):
    window = catalog_window
    for _ in range(2):
        count = len(listed(window))
        window.files.add_generator(str(generator_files[64]))
        qtbot.waitUntil(lambda n=count: len(listed(window)) > n, timeout=120000)
    assert listed(window) == ["landscape-64", "user-stylegan2-64", "user-stylegan2-64-2"]
    assert window.source_panel.generator_id() == "user-stylegan2-64-2"
