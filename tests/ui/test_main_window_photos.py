"""Real photos in the real window: a dropped portrait is found, aligned, inverted and edited, and its export
is the person's own photo back; no face, two faces, a scene generator, Stop, and damaged files.

The photos are scikit-image's (``skimage.data``: Eileen Collins' NASA portrait, a cup of coffee); the
models are the rule-weighted ones, so inversions and edits run a step or two each.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sgim_desktop.engine.images import load_image
from tests.ui.conftest import LABELS, drop_files, make_window, wait_until
from tests.ui.test_main_window_edits import qimage_array, set_steps

pytestmark = pytest.mark.slow

SKIMAGE_DATA = Path(importlib.util.find_spec("skimage").submodule_search_locations[0]) / "data"
ASTRONAUT = SKIMAGE_DATA / "astronaut.png"
COFFEE = SKIMAGE_DATA / "coffee.png"


@dataclass
class Opened:
    window: object
    photo: np.ndarray
    source: object = None
    stages: list = field(default_factory=list)
    progress: list = field(default_factory=list)
    previews: list = field(default_factory=list)


def photo_window(qtbot, models, labels_file, domain: str | None = "face", invert_steps: int = 1, perceptual=None,
                 encoder=None):
    from sgim_desktop.ui.main_window import MainWindow
    from sgim_desktop.ui.providers import PrebuiltModels

    provider = PrebuiltModels(models, "rule-64", "Rule-weighted 64 px", domain, perceptual, encoder)
    window = MainWindow(models=provider, labels=str(labels_file))
    window.show()
    qtbot.addWidget(window)
    window.mixer.invert_steps.setValue(invert_steps)
    window.session.update_settings(preview_every=1)
    qtbot.waitUntil(window.canvas.has_source, timeout=60000)
    return window


@pytest.fixture(scope="module")
def opened(qapp, rule_models, tmp_path_factory):
    """A face-domain window that opened the portrait (2 inversion steps) and edited it once (1 step)."""
    folder = tmp_path_factory.mktemp("photo")
    mp = pytest.MonkeyPatch()
    mp.setenv("SGIM_CONFIG_DIR", str(folder / "config"))
    mp.setenv("SGIM_MODELS_DIR", str(folder / "models"))
    labels = folder / "labels.txt"
    labels.write_text("\n".join(LABELS), encoding="utf-8")
    window = make_window(rule_models, str(labels), domain="face")
    state = Opened(window, load_image(ASTRONAUT))
    try:
        window.mixer.invert_steps.setValue(2)
        window.session.update_settings(preview_every=1)
        wait_until(window.canvas.has_source, 60)
        window.photos.stage.connect(lambda request, text: state.stages.append(text))
        window.photos.progress.connect(lambda request, step, total, psnr: state.progress.append((step, total)))
        window.photos.preview.connect(lambda request, image: state.previews.append(image))
        assert drop_files(window, [ASTRONAUT])
        assert window.is_opening_photo() and window.stop_button.isEnabled()
        wait_until(lambda: window.session.state.source.kind == "photo", 120)
        state.source = window.session.state.source
        set_steps(window, 1)
        window.mixer.text.setText("a smiling face")
        window.edit_button.click()
        wait_until(lambda: window.session.state.edit is not None, 300)
        yield state
    finally:
        window.close()
        mp.undo()


def test_a_dropped_portrait_is_found_aligned_inverted_and_becomes_the_source(opened):
    w, source = opened.window, opened.source
    origin = source.photo
    assert source.generator_id == "rule-64" and source.seed is None and source.latent.shape == (1, 10, 512)
    assert (origin.face, origin.faces, origin.path) == (0, 1, str(ASTRONAUT))
    assert np.array_equal(origin.photo, opened.photo)
    alignment = origin.aligned.alignment
    assert alignment.kind == "face" and alignment.photo_size == (512, 512) and origin.aligned.image.shape == (64, 64, 3)
    centre = alignment.quad.mean(axis=0)
    assert 190 < centre[0] < 260 and 90 < centre[1] < 160, "the square sits on her face"
    assert any("Looking for faces" in s for s in opened.stages) and any("Aligning" in s for s in opened.stages)
    assert opened.progress == [(1, 2), (2, 2)]
    assert len(opened.previews) == 2 and opened.previews[0].shape == (64, 64, 3)
    assert "photo astronaut.png" in w.windowTitle() and "astronaut.png" in w.source_panel.description.text()
    assert str(ASTRONAUT) in w.prefs.recent_files()


def test_an_edit_of_the_photo_starts_from_its_latent(opened):
    w, source = opened.window, opened.source
    record = w.session.state.edit
    assert record.source is source and record.steps == 1
    assert torch.equal(record.source_latent, source.latent)
    assert np.array_equal(qimage_array(w.canvas.source_image()), record.source_image)
    assert np.array_equal(qimage_array(w.canvas.edit_image()), record.image)
    assert w.export_photo_action.isEnabled() and not w.is_opening_photo() and not w.progress.isVisible()


def test_export_photo_gives_the_whole_photo_back_with_the_edit_pasted_in(opened, qtbot, tmp_path):
    w = opened.window
    record = w.session.state.edit
    for kind, name in (("photo", "me.png"), ("png", "square.png")):
        with qtbot.waitSignal(w.files.exported, timeout=60000):
            w.export(kind, str(tmp_path / name))
    back = np.asarray(Image.open(tmp_path / "me.png"))
    assert back.shape == opened.photo.shape == (512, 512, 3)
    x0, y0 = np.floor(opened.source.photo.aligned.alignment.quad.min(axis=0)).astype(int)
    assert np.array_equal(back[:y0, :], opened.photo[:y0, :]) and np.array_equal(back[:, :x0], opened.photo[:, :x0])
    assert np.abs(back.astype(int) - opened.photo).max() > 30, "the edited face is in the photo"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "square.png")), record.image)
    assert not list(tmp_path.glob("*.part"))


def test_undo_goes_back_through_the_edit_and_the_photo_and_redo_returns(opened):
    w, source = opened.window, opened.source
    record = w.session.state.edit
    while w.session.state.source.kind == "photo":
        assert w.session.undo()
    assert w.session.state.source.kind == "seed" and not w.export_photo_action.isEnabled()
    while w.session.state.edit is not record:
        assert w.session.redo()
    assert w.session.state.source is source and w.export_photo_action.isEnabled()


# -- windows of their own ----------------------------------------------------------------------------


def test_a_photo_without_a_face_offers_the_whole_picture(qtbot, rule_models, labels_file):
    window = photo_window(qtbot, rule_models, labels_file)
    before = window.session.state.source
    drop_files(window, [COFFEE])
    qtbot.waitUntil(lambda: "No face was found in coffee.png" in window.message_bar.text(), timeout=60000)
    assert window.session.state.source is before and not window.is_opening_photo()
    assert window.message_bar.action.isVisible() and window.message_bar.action.text() == "Use the whole picture"
    window.message_bar.action.click()
    assert window.message_bar.text() == "", "the offer is taken"
    qtbot.waitUntil(lambda: window.session.state.source.kind == "photo", timeout=120000)
    origin = window.session.state.source.photo
    assert origin.face is None and origin.aligned.alignment.kind == "centre"
    assert origin.aligned.alignment.photo_size == (600, 400)
    assert "coffee.png (whole picture)" in window.session.state.source.describe()


def test_without_the_face_detector_the_whole_picture_is_still_offered(qtbot, rule_models, labels_file,
                                                                     monkeypatch):
    monkeypatch.setattr("sgim_desktop.engine.faces.weights_dir", lambda: None)  # facenet-pytorch not installed
    window = photo_window(qtbot, rule_models, labels_file)
    drop_files(window, [ASTRONAUT])
    qtbot.waitUntil(lambda: "Faces cannot be looked for in astronaut.png" in window.message_bar.text(),
                    timeout=60000)
    assert "MTCNN weights" in window.message_bar.text() and window.message_bar.level == "warning"
    window.message_bar.action.click()
    qtbot.waitUntil(lambda: window.session.state.source.kind == "photo", timeout=120000)
    assert window.session.state.source.photo.aligned.alignment.kind == "centre"


def test_a_scene_generator_takes_the_centre_square_without_looking_for_faces(qtbot, rule_models, labels_file):
    from sgim_desktop.engine.perceptual import seeded_perceptual

    window = photo_window(qtbot, rule_models, labels_file, domain=None, perceptual=seeded_perceptual())
    stages = []
    window.photos.stage.connect(lambda request, text: stages.append(text))
    window.open_paths([str(ASTRONAUT)])
    qtbot.waitUntil(lambda: window.session.state.source.kind == "photo", timeout=120000)
    origin = window.session.state.source.photo
    assert origin.aligned.alignment.kind == "centre" and origin.faces == 0
    assert origin.perceptual, "the provider's LPIPS network was used"
    assert not any("faces" in s for s in stages) and any("centre square" in s for s in stages)


def test_a_face_is_inverted_from_the_e4e_encoders_latent_when_there_is_one(qtbot, rule_models, labels_file):
    from sgim_desktop.engine.e4e import encode, rule_weighted_e4e

    encoder = rule_weighted_e4e(rule_models.generator.config.n_latent)
    window = photo_window(qtbot, rule_models, labels_file, encoder=encoder)
    stages = []
    window.photos.stage.connect(lambda request, text: stages.append(text))
    window.open_paths([str(ASTRONAUT)])
    qtbot.waitUntil(lambda: window.session.state.source.kind == "photo", timeout=120000)
    source = window.session.state.source
    assert any("e4e" in s for s in stages)
    # one inversion step moves nothing (the schedule's first rate is 0): the source is the encoder's latent
    want = encode(encoder, source.photo.aligned.image, generator=rule_models.generator)
    torch.testing.assert_close(source.latent, want.cpu())
    mean = rule_models.mean_latent().cpu()
    assert not torch.allclose(source.latent, mean[:, None].expand_as(source.latent))


def test_two_faces_ask_which_one_and_the_chosen_one_is_edited(qtbot, rule_models, labels_file, tmp_path):
    astronaut = load_image(ASTRONAUT)
    pair = tmp_path / "pair.png"
    Image.fromarray(np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))).save(pair)
    window = photo_window(qtbot, rule_models, labels_file)
    drop_files(window, [pair])
    qtbot.waitUntil(lambda: window.face_chooser is not None and window.face_chooser.isVisible(), timeout=60000)
    chooser = window.face_chooser
    assert [chooser.faces.item(i).text() for i in range(chooser.faces.count())] == ["Face 1", "Face 2"]
    assert not chooser.faces.item(1).icon().isNull()
    assert window.session.state.source.kind == "seed" and not window.is_opening_photo()
    chooser.faces.setCurrentRow(1)
    chooser.edit_button.click()
    qtbot.waitUntil(lambda: window.session.state.source.kind == "photo", timeout=120000)
    origin = window.session.state.source.photo
    assert (origin.face, origin.faces) == (1, 2)
    assert origin.aligned.alignment.quad[:, 0].mean() > 512, "the right-hand face"
    assert "pair.png (face 2 of 2)" in window.session.state.source.describe()


def test_stop_during_the_inversion_keeps_the_picture_as_it_was(qtbot, rule_models, labels_file):
    window = photo_window(qtbot, rule_models, labels_file, domain=None, invert_steps=500)
    before = window.session.state.source
    picture = qimage_array(window.canvas.source_image())
    with qtbot.waitSignal(window.photos.progress, timeout=120000):
        drop_files(window, [ASTRONAUT])
    assert window.is_opening_photo() and window.stop_button.isEnabled()
    window.mixer.text.setText("rain")
    window.run_edit()
    assert "still being opened" in window.message_bar.text() and not window.is_editing()
    with qtbot.waitSignal(window.photos.cancelled, timeout=120000) as cancelled:
        window.stop_button.click()
    done = cancelled.args[1]
    assert 1 <= done < 500
    assert window.session.state.source is before and not window.is_opening_photo()
    assert not window.stop_button.isEnabled() and not window.progress.isVisible()
    assert f"Stopped opening astronaut.png after {done} of 500 steps" in window.message_bar.text()
    assert np.array_equal(qimage_array(window.canvas.source_image()), picture) and not window.canvas.has_edit()
    assert window.worker.is_running()
    window.mixer.invert_steps.setValue(1)
    window.open_paths([str(ASTRONAUT)])
    assert window.message_bar.text() == "", "the stop is past once the photo is opened again"
    qtbot.waitUntil(lambda: window.session.state.source.kind == "photo", timeout=120000)
    assert window.message_bar.text() == "" and "ready to edit" in window.status_label.text()


def test_damaged_photos_are_messages_and_nothing_is_lost(qtbot, rule_models, labels_file, tmp_path):
    window = photo_window(qtbot, rule_models, labels_file)
    before = window.session.state.source
    garbage = tmp_path / "broken.jpg"
    garbage.write_bytes(b"this is not a picture at all\n" * 20)
    drop_files(window, [garbage])
    qtbot.waitUntil(lambda: "Could not open the photo" in window.message_bar.text(), timeout=30000)
    assert "broken.jpg is not a picture" in window.message_bar.text() and window.message_bar.level == "error"
    cut = tmp_path / "cut.png"
    cut.write_bytes(ASTRONAUT.read_bytes()[:20000])
    window.open_paths([str(cut)])
    qtbot.waitUntil(lambda: "cut.png" in window.message_bar.text(), timeout=30000)
    assert "cut short or damaged" in window.message_bar.text()
    assert window.session.state.source is before and not window.is_opening_photo()
    assert not window.stop_button.isEnabled() and window.worker.is_running()
