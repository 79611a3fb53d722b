"""The window with odd input (issue 20): messages that clear when their cause is gone, long labels that
do not break the layout, weak recordings that do not replace a good sound unasked, and sound files
whose decoding needed a warning.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QLabel

from sgim_desktop.engine.sound import Sound
from tests.conftest import SAMPLE_AUDIO
from tests.ui.conftest import click, drop_files, open_box

RAIN = SAMPLE_AUDIO / "raining.wav"


# -- messages clear when their cause is gone ---------------------------------------------------------


def test_a_sound_that_could_not_be_read_stops_being_said_once_a_sound_reads_fine(bare_window, qtbot, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    drop_files(bare_window, [broken])
    qtbot.waitUntil(lambda: "broken.wav" in bare_window.message_bar.text(), timeout=20000)
    assert bare_window.message_bar.level == "error"
    drop_files(bare_window, [RAIN])
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 1, timeout=20000)
    assert bare_window.message_bar.text() == ""


def test_what_an_edit_lacks_stops_being_said_once_it_is_there(window):
    window.run_edit()
    assert "Drop a sound" in window.message_bar.text() and not window.is_editing()
    window.mixer.text.setText("rain")
    assert window.message_bar.text() == ""


def test_a_message_about_something_else_stays(bare_window, qtbot, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a sound")
    drop_files(bare_window, [broken])
    qtbot.waitUntil(lambda: "broken.wav" in bare_window.message_bar.text(), timeout=20000)
    bare_window.recorder.recordingChanged.emit(True)  # a microphone that works says nothing about the file
    bare_window.feedback.clear("photo", "edit", "edit-needs", "recorder", "playback")
    assert "broken.wav" in bare_window.message_bar.text()


def test_a_microphone_failure_stops_being_said_once_a_recording_starts(bare_window):
    bare_window.recorder.failed.emit("the microphone is busy")
    assert "the microphone is busy" in bare_window.message_bar.text()
    bare_window.recorder.recordingChanged.emit(True)
    assert bare_window.message_bar.text() == ""


# -- long labels -----------------------------------------------------------------------------------------


def test_long_labels_neither_widen_the_window_nor_squeeze_the_sounds_list(bare_window, qtbot, tmp_path):
    w = bare_window
    w.resize(1100, 800)
    qtbot.wait(20)
    narrowest = w.minimumSizeHint().width()
    long_name = tmp_path / ("a-very-long-recording-name-" * 8 + ".wav")
    shutil.copy(RAIN, long_name)
    drop_files(w, [long_name])
    qtbot.waitUntil(lambda: len(w.session.state.clips) == 1, timeout=20000)
    heard = [("x" * 500, 0.5), ("rain", 0.25)]
    w.waveform.set_heard(heard)
    w.waveform.info_label.setText("i" * 500)
    w.show_message("Could not read " + "y" * 500, "error")
    w.recorder.status_label.setText("z" * 500)
    w.set_status("s" * 500)
    w.resize(1100, 800)
    qtbot.wait(20)
    assert w.minimumSizeHint().width() <= narrowest and w.width() == 1100
    assert w.sound_list.width() >= 150
    full = "hears: " + "x" * 500 + " 50%, rain 25%"
    assert w.waveform.heard_text() == full and w.waveform.heard_label.toolTip() == full
    shown = QLabel.text(w.waveform.heard_label)
    assert shown.endswith("…") and w.waveform.heard_label.fontMetrics().horizontalAdvance(shown) <= w.waveform.width()
    assert w.message_bar.text() == "Could not read " + "y" * 500


# -- weak recordings ------------------------------------------------------------------------------------


def recording(seconds: float, amplitude: float, rate: int = 44100) -> Sound:
    t = np.arange(int(seconds * rate)) / rate
    return Sound(samples=(amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sample_rate=rate,
                 name="recording")


@pytest.fixture
def rain_window(bare_window, qtbot):
    drop_files(bare_window, [RAIN])
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 1, timeout=20000)
    return bare_window


def test_a_short_silent_recording_asks_and_keep_leaves_the_good_sound(rain_window, qtbot):
    w = rain_window
    rain = w.session.state.clips
    with qtbot.assertNotEmitted(w.worker.finished, wait=500):
        w.recorder.recorded.emit(recording(0.3, 0.0))
        box = open_box(w, "weakRecordingQuestion")
        assert box is not None and "only 0.30 s long and silent" in box.text() and "raining" in box.text()
        click(box, "Keep raining")
    assert w.session.state.clips == rain and not box.isVisible()
    assert "was not used" in w.status_label.text()


def test_a_short_silent_recording_replaces_the_sound_when_asked_to(rain_window, qtbot):
    w = rain_window
    w.recorder.recorded.emit(recording(3.0, 0.0))
    box = open_box(w, "weakRecordingQuestion")
    assert box is not None and "silent" in box.text() and "long" not in box.text()
    click(box, "Use the new recording")
    qtbot.waitUntil(lambda: w.session.state.clips[0].name == "recording", timeout=20000)
    assert len(w.session.state.clips) == 1 and w.session.can_undo()


def test_a_good_recording_or_one_into_an_empty_mix_is_used_without_asking(bare_window, qtbot):
    w = bare_window
    w.recorder.recorded.emit(recording(0.4, 0.0))
    qtbot.waitUntil(lambda: len(w.session.state.clips) == 1, timeout=20000)
    w.recorder.recorded.emit(recording(1.5, 0.3))
    assert open_box(w, "weakRecordingQuestion") is None
    qtbot.waitUntil(lambda: w.session.state.clips[0].sound.duration_s == 1.5, timeout=20000)


# -- what decoding noted -------------------------------------------------------------------------------


def truncated_wav(path: Path, promised_s: float = 10.0, rate: int = 44100) -> Path:
    """A 16-bit mono WAV whose header promises ``promised_s`` seconds, with 3 kB of samples present."""
    present = (0.3 * np.sin(np.arange(1500) / 5.0) * 32767).astype("<i2").tobytes()
    promised = int(promised_s * rate) * 2
    header = (b"RIFF" + struct.pack("<I", 36 + promised) + b"WAVE" + b"fmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", promised))
    path.write_bytes(header + present)
    return path


def test_a_truncated_sound_is_used_with_a_warning_that_goes_when_the_sound_does(bare_window, qtbot, tmp_path):
    w = bare_window
    cut = truncated_wav(tmp_path / "cut.wav")
    drop_files(w, [cut])
    qtbot.waitUntil(lambda: len(w.session.state.clips) == 1, timeout=20000)
    assert w.session.state.clips[0].name == "cut" and w.message_bar.level == "warning"
    assert "cut.wav ends early: its header promises 10.0 s but only 0.03 s can be read" in w.message_bar.text()
    drop_files(w, [RAIN])
    qtbot.waitUntil(lambda: w.session.state.clips[0].name == "raining", timeout=20000)
    assert w.message_bar.text() == ""


def test_a_silent_sound_is_said_to_be_silent(bare_window, qtbot, tmp_path):
    import soundfile

    quiet = tmp_path / "quiet.wav"
    soundfile.write(quiet, np.zeros(44100, np.float32), 44100)
    bare_window.open_paths([str(quiet)])
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 1, timeout=20000)
    assert "quiet.wav is silent" in bare_window.message_bar.text() and bare_window.message_bar.level == "warning"
