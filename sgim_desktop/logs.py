"""Where the app writes what happened, so a double-clicked build (no console) still leaves a trail.

``setup()`` runs first thing in ``cli.main``: it sends logging to a rotating file in the platform's log
folder, gives a windowed build (where ``sys.stdout``/``sys.stderr`` are None, and any ``print`` or progress
bar would crash) streams that cannot fail, and installs hooks so an uncaught error is logged and, when
Qt is up, shown in a dialog that says where the log is.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

import platformdirs

APP_NAME = "sgim-desktop"
LOG_DIR_ENV = "SGIM_LOG_DIR"
LOG_NAME = "sgim-desktop.log"
MAX_BYTES = 1_000_000
BACKUPS = 3

log = logging.getLogger("sgim_desktop")
_state: dict[str, object] = {"file": None, "showing": False}


def log_dir() -> Path:
    """``SGIM_LOG_DIR`` or the platform's user log folder (~/.local/state/sgim-desktop/log on Linux)."""
    env = os.environ.get(LOG_DIR_ENV)
    return Path(env).expanduser() if env else platformdirs.user_log_path(APP_NAME, appauthor=False)


def log_file() -> Path:
    """The log file in use, or where it would be."""
    current = _state["file"]
    return current if isinstance(current, Path) else log_dir() / LOG_NAME


class LineLogStream(io.TextIOBase):
    """A text stream for a build without a console: complete lines go to the log, nothing ever raises.

    Progress bars redraw a line with ``\\r``; only the last state of such a line is kept.
    """

    def __init__(self, logger: logging.Logger, level: int):
        super().__init__()
        self._logger, self._level, self._pending = logger, level, ""
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += str(text)
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            line = line.rsplit("\r", 1)[-1].rstrip()
            if line:
                self._logger.log(self._level, line)
        return len(text)

    def flush(self) -> None:
        pass


class OpenClipBuildNotes(logging.Filter):
    """Keeps open_clip's chatter about building a model out of the log.

    open_clip logs on the root logger, at every build of CLIP's architecture, five notes and a warning
    that the model was "initialized randomly": the app builds the architecture and loads the weights
    into it right after, so that warning is false and the notes ("No potential checkpoint path
    found...") read like it. Its other warnings still reach the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "open_clip" not in Path(record.pathname).parts:
            return True
        return record.levelno >= logging.WARNING and not record.getMessage().startswith("No pretrained weights")


def _fix_missing_streams() -> None:
    """Windowed builds have no stdout/stderr; libraries that print (tqdm, warnings) must not crash."""
    if sys.stdout is None:
        sys.stdout = LineLogStream(logging.getLogger("stdout"), logging.INFO)
    if sys.stderr is None:
        sys.stderr = LineLogStream(logging.getLogger("stderr"), logging.WARNING)


def setup(level: int = logging.INFO) -> Path | None:
    """Start logging to the log file (once); return its path, or None when no log folder can be written.

    The app must start even on a read-only home, so a failure here only loses the log.
    """
    _fix_missing_streams()
    install_excepthook()
    if _state["file"] is not None:
        return log_file()
    path = log_dir() / LOG_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8", delay=True)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(OpenClipBuildNotes())
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    logging.captureWarnings(True)
    _state["file"] = path
    log.info("start: %s %s, frozen=%s, argv=%s", APP_NAME, _version(), getattr(sys, "frozen", False), sys.argv)
    return path


def _version() -> str:
    try:
        from importlib.metadata import version

        return version(APP_NAME)
    except Exception:  # noqa: BLE001 (a missing or broken install's metadata must not stop the app logging)
        return "(version unknown)"


def report_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> Path:
    """Write an uncaught error to the log (and to a real stderr); return the log file to point people at."""
    log.critical("uncaught error", exc_info=(kind, exc, tb))
    stderr = sys.stderr
    if stderr is not None and not isinstance(stderr, LineLogStream):
        try:
            traceback.print_exception(kind, exc, tb, file=stderr)
        except (OSError, ValueError):
            pass
    return log_file()


def crash_message(kind: type[BaseException], exc: BaseException) -> str:
    """The dialog's text: what happened in one line, and where the details are."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return (f"sgim-desktop met an unexpected error:\n\n{kind.__name__}: {first}\n\n"
            f"The details are in the log file:\n{log_file()}")


def _show_dialog(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Show the error when Qt is running in this (main) thread; a windowed build has nowhere else to say it."""
    if _state["showing"] or threading.current_thread() is not threading.main_thread():
        return
    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtWidgets import QApplication, QMessageBox

    if QApplication.instance() is None:
        return
    _state["showing"] = True
    try:
        box = QMessageBox(QMessageBox.Icon.Critical, "Something went wrong", crash_message(kind, exc),
                          QMessageBox.StandardButton.Ok)
        box.setDetailedText("".join(traceback.format_exception(kind, exc, tb)))
        box.exec()
    finally:
        _state["showing"] = False


def _hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    report_uncaught(kind, exc, tb)
    try:
        _show_dialog(kind, exc, tb)
    except Exception:
        log.exception("could not show the error dialog")


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    log.critical("uncaught error in thread %s", getattr(args.thread, "name", "?"),
                 exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # type: ignore[arg-type]
    stderr = sys.stderr
    if stderr is not None and not isinstance(stderr, LineLogStream):
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=stderr)


def install_excepthook() -> None:
    """Log (and show, when Qt is up) any error nothing else caught, in the main thread or another."""
    sys.excepthook = _hook
    threading.excepthook = _thread_hook
