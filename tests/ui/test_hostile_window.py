"""The window with odd input (issue 20): messages that clear when their cause is gone, long labels that
do not break the layout, weak recordings that do not replace a good sound unasked, and sound files
whose decoding needed a warning.
"""

from __future__ import annotations

import shutil

from PySide6.QtWidgets import QLabel

from tests.conftest import SAMPLE_AUDIO
from tests.ui.conftest import drop_files

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
