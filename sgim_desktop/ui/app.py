"""Start the window: ``sgim-desktop [FILE...]`` opens the files named, so "Open with" works too."""

from __future__ import annotations

import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from sgim_desktop.checkpoints.settings import APP_NAME
from sgim_desktop.logs import report_uncaught
from sgim_desktop.paths import resource


def install_excepthook(parent: QWidget | None = None) -> None:
    """An unexpected error shows a dialog pointing at the log file (where its traceback goes) instead of ending
    the app."""
    showing = {"now": False}

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        log_file = report_uncaught(kind, exc, tb)
        if showing["now"] or QApplication.instance() is None:
            return
        showing["now"] = True
        try:
            box = QMessageBox(QMessageBox.Icon.Critical, "Something went wrong",
                              f"sgim-desktop met an unexpected error and carries on:\n\n{kind.__name__}: {exc}"
                              f"\n\nThe details are in the log file:\n{log_file}",
                              QMessageBox.StandardButton.Ok, parent)
            box.setDetailedText("".join(traceback.format_exception(kind, exc, tb)))
            box.exec()
        finally:
            showing["now"] = False

    sys.excepthook = hook


def run_app(argv: list[str]) -> int:
    """Open the window with the files in ``argv``; returns the exit status when the window closes."""
    from sgim_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName("sgim-desktop")
    app.setDesktopFileName("sgim-desktop")  # packaging/linux/sgim-desktop.desktop: the icon on Wayland
    app.setWindowIcon(QIcon(str(resource("icon.svg"))))
    window = MainWindow()
    install_excepthook(window)
    window.show()
    files = [a for a in argv if a and not a.startswith("-")]

    def after_start() -> None:
        if files:
            window.open_paths(files)
        window.first_run_check()

    QTimer.singleShot(0, after_start)
    return int(app.exec())
