"""A start-up probe for packaging checks: say when the window is on screen and what it opened, then quit.

With ``SGIM_STARTUP_PROBE=1`` in the environment, ``sgim-desktop [FILE...]`` prints ``shown <s>`` once
the main window is exposed (seconds since the probe was armed, before the window's modules load;
``packaging/measure_start.py`` times the whole start from outside), then ``opened <window title>``
once the title names every sound file given, and exits 0. If that does not happen within
``SGIM_STARTUP_PROBE_TIMEOUT`` seconds (default 120) it prints ``timeout <title>`` and exits 3.
Without the variable nothing here runs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

PROBE_ENV = "SGIM_STARTUP_PROBE"
TIMEOUT_ENV = "SGIM_STARTUP_PROBE_TIMEOUT"
TIMEOUT_EXIT = 3


def _say(line: str) -> None:
    if sys.stdout is not None:
        print(line, flush=True)


def arm(argv: list[str]) -> None:
    """Create the QApplication early and poll its windows; ``run_app`` then reuses that application."""
    if not os.environ.get(PROBE_ENV):
        return
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    started = time.perf_counter()
    deadline = started + float(os.environ.get(TIMEOUT_ENV, "120"))
    wanted = [Path(a).stem for a in argv if a and not a.startswith("-")]
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "sgim-desktop"])
    state = {"shown": False}
    timer = QTimer(app)

    def main_window() -> QWidget | None:
        return next((w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow"), None)

    def exposed(window: QWidget | None) -> bool:
        handle = window.windowHandle() if window is not None and window.isVisible() else None
        return handle is not None and handle.isExposed()

    def poll() -> None:
        window = main_window()
        if exposed(window) and not state["shown"]:
            state["shown"] = True
            _say(f"shown {time.perf_counter() - started:.2f}")
        title = window.windowTitle() if window is not None else ""
        if state["shown"] and all(stem in title for stem in wanted):
            finish(window, f"opened {title}", 0)
        elif time.perf_counter() >= deadline:
            finish(window, f"timeout {title}", TIMEOUT_EXIT)

    def finish(window: QWidget | None, line: str, status: int) -> None:
        # Closing the window lets it stop its worker thread; only then may the event loop end.
        timer.stop()
        _say(line)
        if window is not None:
            window.close()
        app.exit(status)

    timer.timeout.connect(poll)
    timer.start(10)
