"""The log file: a double-clicked app has no console, so what goes wrong must land in the platform's log
folder, a build without stdout/stderr must not crash on a print or a progress bar, and an uncaught error
shown in a dialog says where the log is.

Each case runs in its own interpreter: ``logs.setup()`` changes process-wide state (hooks, streams).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO


def run_python(code: str, log_dir: Path, **env_extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), SGIM_LOG_DIR=str(log_dir), QT_QPA_PLATFORM="offscreen")
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)


def test_the_log_goes_to_the_platform_log_folder_unless_told_otherwise(monkeypatch):
    import platformdirs

    from sgim_desktop import logs

    monkeypatch.delenv("SGIM_LOG_DIR", raising=False)
    assert logs.log_dir() == platformdirs.user_log_path("sgim-desktop", appauthor=False)
    monkeypatch.setenv("SGIM_LOG_DIR", "/somewhere/else")
    assert logs.log_file() == Path("/somewhere/else/sgim-desktop.log")


def test_a_build_without_console_streams_survives_prints_progress_bars_and_a_crash(tmp_path):
    res = run_python("""
        import sys
        sys.stdout = None  # what a windowed build on Windows or macOS starts with
        sys.stderr = None
        from sgim_desktop import logs
        path = logs.setup()
        print("hello from print")
        sys.stderr.write("progress  10%\\rprogress  50%\\rprogress 100%\\n")
        sys.stderr.flush()
        assert not sys.stderr.isatty()
        raise RuntimeError("boom in a windowed build")
    """, tmp_path)
    assert res.returncode == 1
    log = (tmp_path / "sgim-desktop.log").read_text()
    assert "INFO sgim_desktop: start: sgim-desktop" in log
    assert "hello from print" in log
    assert "progress 100%" in log and "progress  10%" not in log, "a redrawn line keeps only its last state"
    assert "CRITICAL sgim_desktop: uncaught error" in log
    assert "RuntimeError: boom in a windowed build" in log and "Traceback" in log


def test_an_uncaught_error_also_reaches_a_real_stderr(tmp_path):
    res = run_python("""
        from sgim_desktop import logs
        logs.setup()
        raise ValueError("visible on the console too")
    """, tmp_path)
    assert res.returncode == 1
    assert "ValueError: visible on the console too" in res.stderr
    assert "ValueError: visible on the console too" in (tmp_path / "sgim-desktop.log").read_text()


def test_an_error_in_another_thread_is_logged(tmp_path):
    res = run_python("""
        import threading
        from sgim_desktop import logs
        logs.setup()
        t = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        t.start(); t.join()
    """, tmp_path)
    assert res.returncode == 0
    log = (tmp_path / "sgim-desktop.log").read_text()
    assert "uncaught error in thread worker-x" in log and "ZeroDivisionError" in log


def test_with_qt_running_the_error_dialog_points_at_the_log(tmp_path):
    res = run_python("""
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from sgim_desktop import logs
        logs.setup()
        app = QApplication([])
        seen = []

        def answer():
            box = QApplication.activeModalWidget()
            if box is None:
                QTimer.singleShot(20, answer)
                return
            seen.append(box.text())
            box.accept()

        QTimer.singleShot(20, answer)
        try:
            raise KeyError("lost key")
        except KeyError:
            sys.excepthook(*sys.exc_info())
        print(seen[0])
    """, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "KeyError: 'lost key'" in res.stdout
    assert str(tmp_path / "sgim-desktop.log") in res.stdout


def test_an_unwritable_log_folder_loses_the_log_not_the_app(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = run_python("""
        from sgim_desktop import logs
        print("log:", logs.setup())
        print("still running")
    """, blocker / "log")
    assert res.returncode == 0, res.stderr
    assert "log: None" in res.stdout and "still running" in res.stdout


def test_the_windows_error_dialog_points_at_the_log_too(tmp_path):
    res = run_python("""
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from sgim_desktop import logs
        from sgim_desktop.ui.app import install_excepthook
        logs.setup()
        app = QApplication([])
        install_excepthook()  # what run_app installs over logs' own hook
        seen = []

        def answer():
            box = QApplication.activeModalWidget()
            if box is None:
                QTimer.singleShot(20, answer)
                return
            seen.append(box.text())
            box.accept()

        QTimer.singleShot(20, answer)
        try:
            raise OSError("disk on fire")
        except OSError:
            sys.excepthook(*sys.exc_info())
        print(seen[0])
    """, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "OSError: disk on fire" in res.stdout and str(tmp_path / "sgim-desktop.log") in res.stdout
    assert "OSError: disk on fire" in (tmp_path / "sgim-desktop.log").read_text()


def test_loading_clip_leaves_no_false_alarm_in_the_log(tmp_path):
    """open_clip notes every build of the architecture, and warns it was 'initialized randomly', although the
    weights are loaded into it right after: none of that reaches the log; what the app logs still does."""
    weights = tmp_path / "clip.safetensors"
    res = run_python("""
        import logging
        from safetensors.torch import save_file
        from sgim_desktop import logs
        logs.setup()
        from sgim_desktop.engine.clip_space import build_clip, load_clip
        save_file({k: v.contiguous() for k, v in build_clip().state_dict().items()}, WEIGHTS)
        load_clip(WEIGHTS)
        logging.getLogger("sgim_desktop").warning("a warning of our own")
    """.replace("WEIGHTS", repr(str(weights))), tmp_path)
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "sgim-desktop.log").read_text()
    assert "initialized randomly" not in log and "No pretrained weights" not in log
    assert "checkpoint path" not in log and "root:" not in log, log
    assert "WARNING sgim_desktop: a warning of our own" in log
