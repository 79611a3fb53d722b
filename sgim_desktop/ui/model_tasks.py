"""The models window's jobs on their own QThread: files one after the other, or a whole set at once.

They call the model manager only; progress, success and failure come back as Qt signals. A cancelled
download keeps its partial file and resumes next time.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread, Signal

from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.sets import SetIncomplete, download_set
from sgim_desktop.errors import Cancelled, SgimError


class ManagerTask(QThread):
    """Downloads (or imports) checkpoints one after the other, off the GUI thread."""

    progress = Signal(object)  # DownloadProgress
    itemDone = Signal(str, str)  # id, path
    itemFailed = Signal(str, str)  # id, message

    def __init__(self, manager: ModelManager, ids: list[str], import_from: str | None = None):
        super().__init__()
        self.manager = manager
        self.ids = list(ids)
        self.import_from = import_from
        self.cancel_event = threading.Event()
        self.cancelled = False

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        for spec_id in self.ids:
            if self.cancel_event.is_set():
                self.cancelled = True
                self.itemFailed.emit(spec_id, "cancelled")
                continue
            try:
                if self.import_from is not None:
                    path = self.manager.import_file(spec_id, self.import_from, self.progress.emit, self.cancel_event)
                else:
                    path = self.manager.ensure(spec_id, self.progress.emit, self.cancel_event)
                self.itemDone.emit(spec_id, str(path))
            except Cancelled:
                self.cancelled = True
                self.itemFailed.emit(spec_id, "cancelled")
            except SgimError as exc:
                self.itemFailed.emit(spec_id, str(exc))
            except Exception as exc:  # noqa: BLE001 (shown in the dialog, never a crash)
                self.itemFailed.emit(spec_id, f"unexpected error ({type(exc).__name__}: {exc})")


class SetTask(QThread):
    """Fetches every file of a set with one progress (``SetProgress``) for the whole set."""

    progress = Signal(object)  # SetProgress
    setDone = Signal(str)  # set id
    setIncomplete = Signal(object)  # SetIncomplete: what is left, and how to get it by hand
    setFailed = Signal(str)  # a message, or "cancelled"

    def __init__(self, manager: ModelManager, set_id: str):
        super().__init__()
        self.manager = manager
        self.set_id = set_id
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            download_set(self.manager, self.set_id, self.progress.emit, self.cancel_event)
            self.setDone.emit(self.set_id)
        except Cancelled:
            self.setFailed.emit("cancelled")
        except SetIncomplete as exc:
            self.setIncomplete.emit(exc)
        except SgimError as exc:
            self.setFailed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 (shown in the dialog, never a crash)
            self.setFailed.emit(f"unexpected error ({type(exc).__name__}: {exc})")
