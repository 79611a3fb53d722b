"""The mixer shows MixSettings and reports edits of them; the source panel reports seeds and generators."""

from __future__ import annotations

import pytest

from sgim_desktop.session import MixSettings, Source
from sgim_desktop.ui.mixer import MixerPanel, SourcePanel
from sgim_desktop.ui.providers import GeneratorChoice


@pytest.fixture
def mixer(qtbot):
    m = MixerPanel()
    qtbot.addWidget(m)
    m.set_face_mode(True)
    return m


def test_settings_shown_are_settings_read_back_without_echo(mixer, qtbot):
    s = MixSettings(text="storm", text_weight=0.5, mix_mode="splice", split_layer=5, strength=1.3, lambda_sim=0.02,
                    lambda_id=0.1, steps=120, lr=0.05, layer_masking=True, device="cpu", speed="fast")
    with qtbot.assertNotEmitted(mixer.settingsChanged):
        mixer.set_settings(s)
    assert mixer.settings() == s
    assert mixer.strength_label.text() == "130 %"


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
    ]
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
