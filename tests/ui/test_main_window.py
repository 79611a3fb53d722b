"""The main window as a person meets it: dropping files, messages instead of crashes, remembered state,
menus and undo; and, with rule-weighted models, hearing a sound and opening a latent.

``bare_window`` has no models on disk (the first-run state); ``window`` runs the rule-weighted models.
Real edits are in test_main_window_edits.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtWidgets import QApplication

from tests.conftest import SAMPLE_AUDIO
from tests.ui.conftest import LABELS, click, drop_files, make_window, open_box

RAIN = SAMPLE_AUDIO / "raining.wav"
FIRE = SAMPLE_AUDIO / "fire.wav"


def png(path, size=(16, 16)):
    Image.new("RGB", size, (200, 30, 30)).save(path)
    return path


# -- first run, no models -----------------------------------------------------------------------


def test_the_window_opens_without_models_and_says_what_is_missing(bare_window):
    assert bare_window.isVisible()
    text = bare_window.message_bar.text()
    assert "not downloaded yet" in text and "CLIP" in text
    assert "Models are missing" in bare_window.canvas._placeholder


def test_edit_without_models_explains_and_offers_the_models_dialog(bare_window, qtbot):
    bare_window.session.update_settings(text="a stormy sky")
    bare_window.run_edit()
    box = open_box(bare_window, "missingModels")
    assert box is not None and "CLIP" in box.text()
    click(box, "Open models")
    dialog = bare_window.models_dialog
    assert dialog is not None and dialog.isVisible()
    assert set(dialog.missing_wanted()) == {"clip-vit-b-32-openai", "audio-encoder-resnet18", "stylegan2-landscape-256"}
    assert not bare_window.is_editing()


def test_the_first_run_opens_the_models_dialog(bare_window):
    bare_window.first_run_check()
    assert bare_window.models_dialog.isVisible()
    assert "Welcome" in bare_window.models_dialog.intro.text()


# -- dropping files -----------------------------------------------------------------------------


def test_a_dropped_sound_goes_to_the_mix_and_the_waveform(bare_window, qtbot):
    assert drop_files(bare_window.canvas, [RAIN])
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 1, timeout=10000)
    clip = bare_window.session.state.clips[0]
    assert clip.name == "raining" and clip.path == str(RAIN)
    assert bare_window.waveform.sound() is clip.sound
    assert bare_window.sound_list.count() == 1
    assert "raining" in bare_window.windowTitle()


def test_several_files_at_once_are_each_handled_and_the_rest_explained(bare_window, qtbot, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    photo = png(tmp_path / "face.png")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert drop_files(bare_window, [RAIN, FIRE, photo, notes, folder])
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 2, timeout=10000)
    assert [c.name for c in bare_window.session.state.clips] == ["raining", "fire"]
    message = bare_window.message_bar.text()
    assert "face.png: opening a photo needs models that are not downloaded yet" in message
    assert "notes.txt: not a sound" in message
    assert "folder is a folder" in message


def test_a_new_drop_replaces_the_sounds_and_undo_brings_them_back(bare_window, qtbot):
    drop_files(bare_window, [RAIN])
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 1, timeout=10000)
    drop_files(bare_window, [FIRE])
    qtbot.waitUntil(lambda: bare_window.session.state.clips[0].name == "fire", timeout=10000)
    assert len(bare_window.session.state.clips) == 1
    bare_window.undo_action.trigger()
    assert [c.name for c in bare_window.session.state.clips] == ["raining"]
    assert bare_window.waveform.sound().name == "raining"
    bare_window.redo_action.trigger()
    assert bare_window.waveform.sound().name == "fire"


def test_add_sound_mixes_instead_of_replacing(bare_window, qtbot):
    bare_window.open_paths([str(RAIN)])
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 1, timeout=10000)
    bare_window.open_paths([str(FIRE)], sound_mode="add")
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 2, timeout=10000)
    bare_window.sound_list.setCurrentRow(0)
    assert bare_window.waveform.sound().name == "raining"
    bare_window.mixer.sound_weight.setValue(0.25)
    assert bare_window.session.state.clips[0].weight == 0.25
    assert bare_window.session.state.clips[1].weight == 1.0


def test_a_broken_sound_file_gives_a_message_not_a_crash(bare_window, qtbot, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage" * 10)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    drop_files(bare_window, [bad, empty])
    qtbot.waitUntil(lambda: bare_window.message_bar.level == "error", timeout=10000)
    text = bare_window.message_bar.text()
    assert "broken.wav" in text and "empty.mp3" in text
    assert bare_window.session.state.clips == ()


def test_a_file_named_that_does_not_exist_is_a_message(bare_window):
    bare_window.open_paths([str(SAMPLE_AUDIO / "no-such-sound.wav")])
    assert "no-such-sound.wav: no such file" in bare_window.message_bar.text()


def test_a_photo_without_models_says_which_are_needed_and_offers_them(bare_window, tmp_path):
    drop_files(bare_window, [png(tmp_path / "me.jpg")])
    assert bare_window.message_bar.level == "error"
    text = bare_window.message_bar.text()
    assert "me.jpg: opening a photo needs models" in text and "CLIP" in text
    assert bare_window.message_bar.action.isVisible() and not bare_window.is_opening_photo()
    assert bare_window.session.state.source.kind == "seed"
    bare_window.message_bar.action.click()
    assert bare_window.models_dialog is not None and bare_window.models_dialog.isVisible()


def test_web_addresses_are_not_files(bare_window):
    from PySide6.QtCore import QUrl

    drop_files(bare_window, [QUrl("https://example.org/rain.wav")])
    assert "Only files on this computer" in bare_window.message_bar.text()


def test_a_damaged_latent_file_is_a_message(bare_window, qtbot, tmp_path):
    bad = tmp_path / "w.pt"
    bad.write_bytes(b"not a torch file")
    drop_files(bare_window, [bad])
    qtbot.waitUntil(lambda: "Could not open the latent" in bare_window.message_bar.text(), timeout=10000)


# -- remembered between runs ---------------------------------------------------------------------


def test_geometry_recent_files_and_settings_are_remembered(qtbot):
    first = make_window()
    qtbot.addWidget(first)
    first.resize(760, 570)
    QApplication.processEvents()
    size = (first.width(), first.height())
    first.open_paths([str(RAIN)])
    qtbot.waitUntil(lambda: len(first.session.state.clips) == 1, timeout=10000)
    first.mixer.steps.setValue(42)
    first.close()
    second = make_window()
    qtbot.addWidget(second)
    try:
        assert (second.width(), second.height()) == size == (760, 570)
        assert second.prefs.recent_files() == [str(RAIN.resolve())]
        assert second.session.settings.steps == 42 and second.mixer.steps.value() == 42
        second._fill_recent_menu()
        recent = [a for a in second.recent_menu.actions() if a.text() == "raining.wav"]
        recent[0].trigger()
        qtbot.waitUntil(lambda: len(second.session.state.clips) == 1, timeout=10000)
    finally:
        second.close()


def test_menus_carry_the_standard_shortcuts(bare_window):
    from PySide6.QtGui import QKeySequence

    def keys(action):
        return action.shortcuts()

    assert QKeySequence(QKeySequence.StandardKey.Open) in keys(bare_window.open_action)
    assert QKeySequence(QKeySequence.StandardKey.Undo) in keys(bare_window.undo_action)
    assert QKeySequence(QKeySequence.StandardKey.Redo)[0] in [k[0] for k in keys(bare_window.redo_action)]
    assert QKeySequence(QKeySequence.StandardKey.Save) in keys(bare_window.export_png_action)
    assert QKeySequence(QKeySequence.StandardKey.Quit) in keys(bare_window.quit_action)
    assert QKeySequence("Ctrl+Return") in keys(bare_window.edit_action)
    assert QKeySequence("Esc") in keys(bare_window.stop_action)
    titles = [a.text().replace("&", "") for a in bare_window.menuBar().actions()]
    assert titles == ["File", "Edit", "View", "Tools", "Help"]


def test_settings_changes_are_undoable_from_the_menu(bare_window):
    bare_window.mixer.text.setText("thunder")
    bare_window.mixer.mode.setCurrentIndex(1)
    assert bare_window.mixer.split_layer.isEnabled()
    bare_window.undo_action.trigger()
    assert bare_window.session.settings.mix_mode == "joint" and bare_window.mixer.mode.currentData() == "joint"
    assert not bare_window.mixer.split_layer.isEnabled()
    bare_window.undo_action.trigger()
    assert bare_window.mixer.text.text() == ""
    bare_window.redo_action.trigger()
    assert bare_window.mixer.text.text() == "thunder"


def test_new_random_picture_changes_the_seed_and_can_be_undone(bare_window):
    before = bare_window.session.state.source
    bare_window.random_action.trigger()
    after = bare_window.session.state.source
    assert after is not before and after.generator_id == before.generator_id
    assert bare_window.source_panel.seed.value() == after.seed
    bare_window.undo_action.trigger()
    assert bare_window.session.state.source is before


# -- with real (rule-weighted) models --------------------------------------------------------------


def test_a_sound_is_heard_and_moving_its_window_hears_again(window, qtbot, tmp_path):
    import soundfile as sf

    long_sound = tmp_path / "rain-then-fire.wav"
    rain, rate = sf.read(RAIN, dtype="float32")
    fire, _ = sf.read(FIRE, dtype="float32")
    sf.write(long_sound, np.concatenate([rain, fire]), rate)
    drop_files(window, [long_sound])
    qtbot.waitUntil(lambda: len(window.session.state.clips) == 1, timeout=15000)
    key = window.session.state.clips[0].key
    qtbot.waitUntil(lambda: key in window._heard, timeout=60000)
    first_start, top = window._heard[key]
    assert len(top) == 5 and {label for label, _ in top} == set(LABELS)
    assert top[0][0] in window.waveform.heard_text()
    window.waveform.set_window_start(15.0 if first_start < 5 else 0.0)
    moved = window.session.state.clips[0].start_s
    assert moved != first_start and window.session.undo_label() == "Change rain-then-fire window"
    qtbot.waitUntil(lambda: window._heard[key][0] == moved, timeout=60000)
    window.undo_action.trigger()
    assert window.session.state.clips[0].start_s == first_start
    assert window.waveform.window_start() == pytest.approx(first_start)


def test_a_dropped_latent_becomes_the_picture_and_a_wrong_one_is_explained(window, qtbot, tmp_path, rule_models):
    good = tmp_path / "good.pt"
    torch.save(torch.zeros(1, rule_models.generator.config.n_latent, 512), good)
    drop_files(window, [good])
    qtbot.waitUntil(lambda: window.session.state.source.kind == "latent", timeout=15000)
    qtbot.waitUntil(lambda: window.canvas.has_source() and window._source_images.get(window.session.state.source)
                    is not None, timeout=30000)
    assert window.canvas.source_image().width() == 64
    wrong = tmp_path / "wrong.pt"
    torch.save(torch.zeros(1, 3, 512), wrong)
    drop_files(window, [wrong])
    qtbot.waitUntil(lambda: "Could not make the picture" in window.message_bar.text(), timeout=30000)
    assert "1 x 10 x 512" in window.message_bar.text()


def test_models_arriving_clear_only_the_message_about_models(window):
    """A message about the microphone stays when the models become ready; the one about models goes."""
    fb = window.feedback
    fb.show_message("Some models are not downloaded yet: CLIP", "warning", cause="models")
    window.models._models_changed()  # what the models dialog signals once a download lands
    assert window.message_bar.text() == ""
    fb.show_message("the microphone is busy", "error", cause="recorder")
    window.models._models_changed()
    assert window.message_bar.text() == "the microphone is busy"
