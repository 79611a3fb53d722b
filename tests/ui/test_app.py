"""``sgim-desktop FILE...`` opens the window with the files, like a drop ("Open with" from a file manager),
and the first run opens the models dialog; a recorded sound lands like a dropped one."""

from __future__ import annotations

import sys
import time

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from sgim_desktop.engine.audio import decode
from sgim_desktop.ui.app import install_excepthook, run_app
from sgim_desktop.ui.main_window import MainWindow
from tests.conftest import SAMPLE_AUDIO
from tests.ui.conftest import open_box


def test_files_on_the_command_line_open_like_a_drop(qapp, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    notes = tmp_path / "notes.txt"
    notes.write_text("hi")
    seen: dict[str, object] = {}
    deadline = time.monotonic() + 30

    def look() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and (windows[0].session.state.clips or time.monotonic() > deadline):
            w = windows[0]
            seen["clips"] = [c.name for c in w.session.state.clips]
            seen["message"] = w.message_bar.text()
            seen["models dialog"] = w.models_dialog is not None and w.models_dialog.isVisible()
            w.close()
        else:
            QTimer.singleShot(50, look)

    QTimer.singleShot(50, look)
    assert run_app([str(SAMPLE_AUDIO / "thunderstorm.wav"), str(notes)]) == 0
    assert seen["clips"] == ["thunderstorm"]
    assert "notes.txt: not a sound" in seen["message"]
    assert seen["models dialog"], "the first run (no models) should open the models dialog"


def test_an_unexpected_error_is_shown_not_fatal(qapp, monkeypatch, capsys):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    shown = []

    def answer() -> None:
        box = QApplication.activeModalWidget()
        shown.append(box.text())
        box.accept()

    install_excepthook()
    QTimer.singleShot(100, answer)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert shown and "RuntimeError: boom" in shown[0]
    assert "Traceback" in capsys.readouterr().err


def test_a_recording_lands_in_the_mix_like_a_dropped_sound(bare_window, qtbot):
    sound = decode(SAMPLE_AUDIO / "giggling.wav")
    bare_window.recorder.edit_check.setChecked(False)
    bare_window.recorder.recorded.emit(sound)
    qtbot.waitUntil(lambda: len(bare_window.session.state.clips) == 1, timeout=10000)
    clip = bare_window.session.state.clips[0]
    assert clip.sound is sound and clip.path is None
    assert bare_window.waveform.sound() is sound


def test_edit_when_recording_stops_starts_the_edit(bare_window, qtbot):
    bare_window.recorder.edit_check.setChecked(True)
    bare_window.recorder.recorded.emit(decode(SAMPLE_AUDIO / "sobbing.wav"))
    qtbot.waitUntil(lambda: open_box(bare_window, "missingModels") is not None, timeout=10000)
    assert np.isclose(bare_window.session.state.clips[0].sound.duration_s, decode(SAMPLE_AUDIO / "sobbing.wav").duration_s)
