"""RecorderPanel: records for real from the virtual microphone through the Qt event loop."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from sgim_desktop.ui.recorder import RecorderPanel, level_to_meter
from tests.virtual_mic import dominant_frequency, ensure_virtual_mic, playing, write_tone

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def panel(qtbot):
    p = RecorderPanel()
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.fixture
def mic_panel(panel):
    ensure_virtual_mic()
    panel.refresh_devices(rescan=True)
    return panel


def test_the_meter_reads_decibels_from_minus_sixty_to_zero():
    assert level_to_meter(1.0) == 100
    assert level_to_meter(0.1) == 67
    assert level_to_meter(0.001) == 0
    assert level_to_meter(0.0) == 0


def test_record_and_edit_is_a_choice_off_by_default(panel):
    assert panel.record_and_edit() is False
    panel.edit_check.setChecked(True)
    assert panel.record_and_edit() is True


def test_the_record_action_has_the_r_shortcut(panel):
    assert panel.record_action.shortcut().toString() == "R"
    assert panel.record_action in panel.actions()


@pytest.mark.audio_device
@pytest.mark.slow
def test_pressing_r_records_the_microphone_and_emits_the_sound(mic_panel, qtbot, tmp_path):
    panel = mic_panel
    assert panel.device_combo.isEnabled() and "(default)" in panel.device_combo.currentText()
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow, timeout=2000)
    tone = write_tone(tmp_path / "tone.wav", 987.0, seconds=8.0, amplitude=0.5)
    meter = []
    panel.meter.valueChanged.connect(meter.append)
    failures = []
    panel.failed.connect(failures.append)
    with playing(tone):
        qtbot.keyClick(panel, Qt.Key.Key_R)
        assert panel.is_recording() and panel.record_action.text() == "Stop"
        assert not panel.device_combo.isEnabled()
        qtbot.wait(2500)
        with qtbot.waitSignal(panel.recorded, timeout=5000) as got:
            qtbot.keyClick(panel, Qt.Key.Key_R)
    sound = got.args[0]
    assert failures == []
    assert not panel.is_recording() and panel.record_action.text() == "Record"
    assert 2.0 <= sound.duration_s <= 3.5
    assert abs(dominant_frequency(sound.samples, sound.sample_rate) - 987.0) < 2.0
    # the meter moved while the tone played: -6 dBFS peaks read about 90 of 100
    assert max(meter) >= 85, max(meter, default=None)
    assert panel.meter.value() == 0
    assert "Recorded" in panel.status_label.text()


def test_a_device_that_does_not_exist_reports_failure_without_recording(panel, qtbot):
    with qtbot.waitSignal(panel.failed) as failed:
        ok = panel.start_recording(device=9999)
    assert ok is False
    assert "does not exist" in failed.args[0]
    assert not panel.is_recording()
    assert not panel.record_action.isChecked() and panel.record_action.text() == "Record"
    assert panel.status_label.text() == failed.args[0]


@pytest.mark.audio_device
@pytest.mark.slow
def test_a_microphone_lost_mid_recording_keeps_the_sound_and_says_why(mic_panel, qtbot, tmp_path):
    panel = mic_panel
    tone = write_tone(tmp_path / "tone.wav", 550.0, seconds=8.0)
    events = []
    panel.recorded.connect(lambda s: events.append(("recorded", s)))
    panel.failed.connect(lambda m: events.append(("failed", m)))
    try:
        with playing(tone):
            assert panel.start_recording()
            qtbot.wait(1200)
            subprocess.run(["pulseaudio", "--kill"], check=True)
            qtbot.waitUntil(lambda: not panel.is_recording(), timeout=10000)
    finally:
        panel.cancel_recording()
        ensure_virtual_mic()
    assert [kind for kind, _ in events] == ["recorded", "failed"]
    sound, message = events[0][1], events[1][1]
    assert sound.duration_s >= 0.7
    assert abs(dominant_frequency(sound.samples, sound.sample_rate) - 550.0) < 3.0
    assert "stopped working" in message and "kept" in message


def test_without_any_microphone_the_panel_says_so(tmp_path):
    code = textwrap.dedent(
        """
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from sgim_desktop.ui.recorder import RecorderPanel
        panel = RecorderPanel()
        if panel.device_combo.isEnabled():
            print("HAS-HARDWARE")
        else:
            print("COMBO", panel.device_combo.currentText())
            panel.failed.connect(lambda m: print("FAILED", m))
            panel.record_action.trigger()
            print("RECORDING", panel.is_recording())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen",
           "PULSE_SERVER": "unix:/nonexistent/sgim-test"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    if "HAS-HARDWARE" in proc.stdout:
        pytest.skip("this machine has sound hardware beside the sound server")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "COMBO No microphone found"
    assert lines[1].startswith("FAILED no microphone found")
    assert lines[2] == "RECORDING False"
