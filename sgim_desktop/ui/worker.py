"""The only bridge between the window and the engine: one thread that runs typed tasks, one at a time.

The GUI thread ``submit``s a task (``ui/worker_tasks/``) and returns at once; the thread runs it and answers
with generic signals that carry the task and plain data or numpy images (delivered in the GUI
thread). A new task with the same coalesce key replaces the one waiting (the newest strength, the
newest source). While an edit or an inversion runs, the light tasks queued meanwhile (a dropped
sound, a strength change, an export) run between its steps, so the window never waits for it to
end; a directions build steps aside for an edit too. Every failure becomes a one-line message, never an exception in Qt.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from sgim_desktop.ui.worker_tasks.base import Report, Stopped, Task, one_line
from sgim_desktop.ui.worker_tasks.context import TaskContext

if TYPE_CHECKING:
    from sgim_desktop.ui.providers import ModelProvider

WORKER_NICE = 5


class TaskQueue:
    """FIFO of tasks where a new task with the same coalesce key replaces the waiting one; None stops."""

    def __init__(self) -> None:
        self._tasks: list[Task | None] = []
        self._cond = threading.Condition()

    def put(self, task: Task | None) -> None:
        with self._cond:
            key = task.coalesce_key() if task is not None else None
            if key is not None:
                self._tasks = [t for t in self._tasks if t is None or t.coalesce_key() != key]
            self._tasks.append(task)
            self._cond.notify()

    def take(self) -> Task | None:
        with self._cond:
            while not self._tasks:
                self._cond.wait()
            return self._tasks.pop(0)

    def take_if(self, accept: Callable[[Task], bool]) -> Task | None:
        """The first waiting task that ``accept`` allows, without blocking; never past the stop marker."""
        with self._cond:
            for i, task in enumerate(self._tasks):
                if task is None:
                    return None
                if accept(task):
                    return self._tasks.pop(i)
            return None

    def clear(self) -> None:
        with self._cond:
            self._tasks.clear()


class _Thread(QThread):
    def __init__(self, worker: "EngineWorker"):
        super().__init__()
        self.worker = worker
        self.setObjectName("sgim-engine")

    def run(self) -> None:
        _lower_priority()
        self.worker._loop()


def _lower_priority() -> None:
    """Let the GUI thread win the CPU over the engine: on Linux a thread has its own nice value, and the
    math threads torch starts from this thread inherit it (elsewhere QThread's priority does the job)."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        except OSError:
            pass


class EngineWorker(QObject):
    """Runs tasks on its own thread and reports back with signals (all delivered in the GUI thread)."""

    started = Signal(object)  # task
    progress = Signal(object, int, int, float)  # task, step done, total, a figure (loss, PSNR)
    preview = Signal(object, object)  # task, HxWx3 uint8
    stage = Signal(object, str)  # task, what happens now
    finished = Signal(object, object)  # task, its result
    cancelled = Signal(object, int)  # task, steps done
    failed = Signal(object, str)  # task, one-line message
    modelsLoading = Signal(str)  # generator id
    modelsLoaded = Signal(str, str)  # generator id, device

    def __init__(self, provider: "ModelProvider", labels: str = "vggsound", parent: QObject | None = None):
        super().__init__(parent)
        self.provider = provider
        self.context = TaskContext(provider.loader, labels, self.modelsLoading.emit, self.modelsLoaded.emit)
        self._queue = TaskQueue()
        self._thread = _Thread(self)
        self._running: list[Task] = []  # the task running, and a light one run between its steps
        self._lock = threading.Lock()

    # -- life ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._thread.isRunning():
            self._thread.start(QThread.Priority.LowPriority)

    def shutdown(self) -> bool:
        """Stop what runs, drop what waits, and wait for the thread to end.

        A running edit stops at the end of its current step; a Qt thread must never be destroyed
        while it runs, so this waits for as long as that step takes.
        """
        self._queue.clear()
        with self._lock:
            for task in self._running:
                task.stop()
        self._queue.put(None)
        return self._thread.wait() if self._thread.isRunning() else True

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def submit(self, task: Task) -> Task:
        """Queue ``task`` (GUI thread); its signals come back carrying it."""
        self._queue.put(task)
        return task

    # -- the thread ----------------------------------------------------------------------------------

    def _loop(self) -> None:
        while (task := self._queue.take()) is not None:
            self._run(task)

    def _run(self, task: Task) -> None:
        report = Report(
            progress=lambda step, total, value: self.progress.emit(task, step, total, float(value)),
            preview=lambda image: self.preview.emit(task, image),
            stage=lambda text: self.stage.emit(task, text),
            between_steps=lambda: self._serve_waiting(task),
        )
        with self._lock:
            self._running.append(task)
        self.started.emit(task)
        try:
            result = task.run(self.context, report)
        except Stopped as stopped:
            self.cancelled.emit(task, stopped.done)
        except Exception as exc:  # noqa: BLE001 (every failure becomes a message, never a crash)
            self.failed.emit(task, one_line(exc, task.doing))
        else:
            self.finished.emit(task, result)
        finally:
            with self._lock:
                self._running.remove(task)

    def _serve_waiting(self, host: Task) -> None:
        """Between two steps of ``host``: run what was queued meanwhile and uses the models loaded. Under
        an edit or an inversion, light tasks only; under a background task (a directions build, minutes
        long), an edit too, so a build never keeps the window from editing."""

        def fits(task: Task) -> bool:
            wanted = task.models_wanted()
            if wanted is not None and not self.context.has_models(*wanted):
                return False
            return task.light or (host.background and not task.background)

        while (task := self._queue.take_if(fits)) is not None:
            self._run(task)
