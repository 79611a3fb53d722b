"""The mixer shows MixSettings and reports edits of them; the source panel reports seeds and generators.

The mixer's first rows are what a person decides (sound weight, text, strength, the face's identity);
the paper's knobs sit under an "Advanced" section, folded until someone opens it, and the window
remembers whether it was left open.
"""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from sgim_desktop.session import MixSettings, Source
from sgim_desktop.ui.mixer import FACE_LAMBDA_ID, MixerPanel, SourcePanel
from sgim_desktop.ui.providers import GeneratorChoice
from tests.ui.conftest import make_window

ADVANCED = ("mode", "split_layer", "lambda_sim", "lambda_id", "steps", "lr", "layer_masking", "speed", "device",
            "invert_steps", "preview_every")
NOVICE = ("sound_weight", "text", "text_weight", "strength", "keep_identity")


@pytest.fixture
def mixer(qtbot):
    m = MixerPanel()
    qtbot.addWidget(m)
    m.set_face_mode(True)
    m.set_identity_available(True)
    return m


def test_settings_shown_are_settings_read_back_without_echo(mixer, qtbot):
    s = MixSettings(text="storm", text_weight=0.5, mix_mode="splice", split_layer=5, strength=1.3, lambda_sim=0.02,
                    lambda_id=0.1, steps=120, lr=0.05, layer_masking=True, device="cpu", speed="fast",
                    preview_every=3, invert_steps=250)
    with qtbot.assertNotEmitted(mixer.settingsChanged):
        mixer.set_settings(s)
    assert mixer.settings() == s
    assert mixer.strength_label.text() == "130 %"
    assert mixer.keep_identity.isChecked()


def test_every_control_reports_its_change(mixer, qtbot):
    changes = [
        (lambda: mixer.text.setText("rain"), "text", "rain"),
        (lambda: mixer.text_weight.setValue(2.0), "text_weight", 2.0),
        (lambda: mixer.mode.setCurrentIndex(1), "mix_mode", "splice"),
        (lambda: mixer.split_layer.setValue(3), "split_layer", 3),
        (lambda: mixer.strength.setValue(40), "strength", 0.4),
        (lambda: mixer.lambda_sim.setValue(0.1), "lambda_sim", 0.1),
        (lambda: mixer.lambda_id.setValue(0.2), "lambda_id", 0.2),
        (lambda: mixer.steps.setValue(77), "steps", 77),
        (lambda: mixer.lr.setValue(0.3), "lr", 0.3),
        (lambda: mixer.layer_masking.setChecked(True), "layer_masking", True),
        (lambda: mixer.device.setCurrentIndex(1), "device", "cpu"),
        (lambda: mixer.speed.setCurrentIndex(1), "speed", "fast"),
        (lambda: mixer.invert_steps.setValue(90), "invert_steps", 90),
        (lambda: mixer.preview_every.setValue(7), "preview_every", 7),
        (lambda: mixer.lambda_id.setValue(0.0), "lambda_id", 0.0),
        (lambda: mixer.keep_identity.setChecked(True), "lambda_id", FACE_LAMBDA_ID),
        (lambda: mixer.keep_identity.setChecked(False), "lambda_id", 0.0),
    ]
    assert not mixer.advanced.is_open()  # folded knobs are still knobs
    for change, name, value in changes:
        with qtbot.waitSignal(mixer.settingsChanged, timeout=1000) as sent:
            change()
        assert getattr(sent.args[0], name) == value


def test_split_layer_only_for_splice_and_identity_only_for_faces(mixer):
    assert not mixer.split_layer.isEnabled()
    mixer.mode.setCurrentIndex(1)
    assert mixer.split_layer.isEnabled()
    mixer.set_face_mode(False)
    assert not mixer.lambda_id.isEnabled()
    mixer.set_layer_count(10)
    assert mixer.split_layer.maximum() == 9


def test_the_novice_rows_come_first_and_the_papers_knobs_fold_away(mixer):
    mixer.show()
    assert not mixer.advanced.is_open() and not mixer.advanced.body.isVisible()
    for name in NOVICE:
        assert getattr(mixer, name).isVisible(), name
    for name in ADVANCED:
        widget = getattr(mixer, name)
        assert mixer.advanced.body.isAncestorOf(widget) and not widget.isVisible(), name
        assert widget.toolTip(), f"{name} has no tooltip"
    folded_width = mixer.minimumSizeHint().width()
    with_signal = []
    mixer.advancedToggled.connect(with_signal.append)
    mixer.advanced.header.click()
    assert mixer.advanced.is_open() and all(getattr(mixer, n).isVisible() for n in ADVANCED)
    assert with_signal == [True] and mixer.minimumSizeHint().width() == folded_width


def test_keep_identity_is_the_face_identity_term_and_needs_arcface(mixer):
    assert mixer.keep_identity.isEnabled() and not mixer.keep_identity.isChecked()
    mixer.keep_identity.setChecked(True)
    assert mixer.lambda_id.value() == FACE_LAMBDA_ID and mixer.settings().lambda_id == FACE_LAMBDA_ID
    mixer.lambda_id.setValue(0.02)  # an expert's finer value under Advanced keeps the box ticked
    assert mixer.keep_identity.isChecked() and mixer.settings().lambda_id == 0.02
    mixer.lambda_id.setValue(0.0)
    assert not mixer.keep_identity.isChecked()
    mixer.set_identity_available(False)
    assert not mixer.keep_identity.isEnabled() and "ArcFace" in mixer.keep_identity.toolTip()
    assert mixer.lambda_id.isEnabled()  # experts may still set it (the edit then says what is missing)
    mixer.set_face_mode(False)
    assert not mixer.keep_identity.isEnabled() and mixer.keep_identity.isHidden()


def test_the_window_keeps_the_advanced_section_folded_until_left_open(qtbot):
    first = make_window()
    qtbot.addWidget(first)
    assert not first.mixer.advanced.is_open() and not first.mixer.steps.isVisible()
    assert first.mixer.text.isVisible() and first.mixer.strength.isVisible()
    first.mixer.advanced.header.click()
    first.close()
    second = make_window()
    qtbot.addWidget(second)
    try:
        assert second.mixer.advanced.is_open() and second.mixer.steps.isVisible()
        second.mixer.advanced.header.click()
    finally:
        second.close()
    third = make_window()
    qtbot.addWidget(third)
    try:
        assert not third.mixer.advanced.is_open()
    finally:
        third.close()


def test_the_window_offers_keep_identity_for_faces_once_arcface_is_there(bare_window, isolated_app_env):
    mixer, combo, manager = bare_window.mixer, bare_window.source_panel.generator, bare_window.manager()
    face = next(g.id for g in bare_window.provider.generators() if g.domain == "face")
    scene = next(g.id for g in bare_window.provider.generators() if g.domain != "face")
    combo.setCurrentIndex(combo.findData(face))
    assert not mixer.keep_identity.isEnabled() and "ArcFace" in mixer.keep_identity.toolTip()
    arcface = manager.path_for(manager.catalog.default_for("identity").id)
    arcface.parent.mkdir(parents=True, exist_ok=True)
    arcface.write_bytes(b"weights")
    combo.setCurrentIndex(combo.findData(scene))
    assert not mixer.keep_identity.isEnabled()
    combo.setCurrentIndex(combo.findData(face))
    assert mixer.keep_identity.isEnabled()
    mixer.keep_identity.setChecked(True)
    assert bare_window.session.settings.lambda_id == FACE_LAMBDA_ID


def test_every_knob_in_the_window_changes_the_settings_and_undoes(bare_window):
    mixer, session, combo = bare_window.mixer, bare_window.session, bare_window.source_panel.generator
    face = next(g.id for g in bare_window.provider.generators() if g.domain == "face")
    combo.setCurrentIndex(combo.findData(face))  # λ id is a face's knob
    before = session.settings
    knobs = [
        (lambda: mixer.text.setText("rain"), "text", "rain"),
        (lambda: mixer.text_weight.setValue(0.5), "text_weight", 0.5),
        (lambda: mixer.strength.setValue(60), "strength", 0.6),
        (lambda: mixer.mode.setCurrentIndex(1), "mix_mode", "splice"),
        (lambda: mixer.split_layer.setValue(4), "split_layer", 4),
        (lambda: mixer.lambda_sim.setValue(0.05), "lambda_sim", 0.05),
        (lambda: mixer.lambda_id.setValue(0.01), "lambda_id", 0.01),
        (lambda: mixer.steps.setValue(12), "steps", 12),
        (lambda: mixer.lr.setValue(0.2), "lr", 0.2),
        (lambda: mixer.layer_masking.setChecked(True), "layer_masking", True),
        (lambda: mixer.speed.setCurrentIndex(1), "speed", "fast"),
        (lambda: mixer.invert_steps.setValue(80), "invert_steps", 80),
        (lambda: mixer.preview_every.setValue(2), "preview_every", 2),
    ]
    for change, name, value in knobs:
        change()
        assert getattr(session.settings, name) == value, name
    for _ in knobs:
        bare_window.undo_action.trigger()
    QApplication.processEvents()
    assert session.settings == before and mixer.settings() == before


def test_the_sound_weight_belongs_to_the_selected_sound(mixer, qtbot):
    mixer.set_clip_weight(None)
    assert not mixer.sound_weight.isEnabled()
    mixer.set_clip_weight(0.5)
    assert mixer.sound_weight.isEnabled() and mixer.sound_weight.value() == 0.5
    with qtbot.waitSignal(mixer.clipWeightChanged) as sent:
        mixer.sound_weight.setValue(2.0)
    assert sent.args == [2.0]


def test_the_source_panel_reports_seed_generator_and_random(qtbot):
    panel = SourcePanel()
    qtbot.addWidget(panel)
    panel.set_generators([GeneratorChoice("a", "Landscapes", "landscape", 256),
                          GeneratorChoice("b", "Faces", "face", 1024)], "b")
    assert panel.generator_id() == "b"
    with qtbot.waitSignal(panel.seedChanged) as sent:
        panel.seed.setValue(7)
    assert sent.args[0] == 7
    with qtbot.waitSignal(panel.generatorChanged) as picked:
        panel.generator.setCurrentIndex(0)
    assert picked.args == ["a"]
    with qtbot.waitSignal(panel.randomRequested):
        panel.random_button.click()
    with qtbot.assertNotEmitted(panel.seedChanged):
        panel.show_source(Source(generator_id="b", seed=12, truncation=0.5))
    assert panel.seed.value() == 12 and panel.generator_id() == "b"
    assert "seed 12" in panel.description.text()
