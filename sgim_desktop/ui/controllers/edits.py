"""Edits: when one may start, what happens to a second one asked for while one runs (ask, queue or
replace), its progress and previews on the canvas, and where its result goes (the session's history)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QProgressBar, QWidget

from sgim_desktop.session import EditRecord, Session, SessionState
from sgim_desktop.ui.canvas import ImageCanvas
from sgim_desktop.ui.controllers.models import ModelsController
from sgim_desktop.ui.controllers.photos import PhotosController
from sgim_desktop.ui.controllers.picture import PictureController, remember
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.edit import EditTask

BusyPolicy = Literal["ask", "queue", "replace"]


def not_ready(state: SessionState) -> str | None:
    """What an edit of ``state`` lacks, in words (a picture, a sound or a text), or None."""
    if state.source is None:
        return "There is no picture yet: press New random or open a latent."
    has_sound = any(c.weight > 0 for c in state.clips)
    has_text = bool(state.settings.text.strip()) and state.settings.text_weight > 0
    if not has_sound and not has_text:
        return "Drop a sound (or record one, or type a text) first: the edit moves the picture toward it."
    return None


class EditsController(QObject):
    busyChanged = Signal()
    started = Signal(int)  # edit number
    progress = Signal(int, int, int, float)  # edit number, step done, total, loss
    preview = Signal(int, object)  # edit number, HxWx3 uint8
    cancelled = Signal(int, int)  # edit number, steps done

    def __init__(self, session: Session, worker: EngineWorker, models: ModelsController, picture: PictureController,
                 photos: PhotosController, canvas: ImageCanvas, progress: QProgressBar, feedback: Feedback,
                 parent: QWidget):
        super().__init__(parent)
        self.session = session
        self.worker = worker
        self.models = models
        self.picture = picture
        self.photos = photos
        self.canvas = canvas
        self.progress_bar = progress
        self.feedback = feedback
        self.parent_widget = parent
        self.busy_policy: BusyPolicy = "ask"  # a new edit while one runs
        self.runs = 0  # optimisations started: a strength change must not add one
        self._running: EditTask | None = None
        self._queued: EditTask | None = None
        for signal, slot in ((worker.started, self._started), (worker.stage, self._stage),
                             (worker.progress, self._progress), (worker.preview, self._preview),
                             (worker.finished, self._finished), (worker.cancelled, self._cancelled),
                             (worker.failed, self._failed)):
            signal.connect(slot)
        session.listeners.append(self._state_changed)

    def is_editing(self) -> bool:
        return self._running is not None

    def run_edit(self, *, make: type[EditTask] = EditTask, **extra: Any) -> None:
        """Start an edit of the current picture toward the sounds and text; ask or queue if one runs.

        ``make`` and ``extra``: another kind of edit task (Refine starts from an instant edit's latent)."""
        state = self.session.state
        if self.photos.is_opening():
            self.feedback.show_message(f"{self.photos.opening_name()} is still being opened: edit it when it is "
                                       "ready, or press Stop.", "warning", cause="photo")
            return
        if state.source is not None and (missing := self.models.missing_for(state.source.generator_id)):
            self.models.offer(missing)
            return
        if (lacking := not_ready(state)) is not None:
            self.feedback.show_message(lacking, "warning", cause="edit-needs")
            return
        assert state.source is not None
        task = make(number=self.session.next_edit_number(), source=state.source, clips=state.clips,
                    settings=state.settings, **extra)
        if self._running is None:
            self._start(task)
        elif self.busy_policy == "queue":
            self._queue(task)
        elif self.busy_policy == "replace":
            self._replace(task)
        else:
            self._ask_busy(task)

    def _state_changed(self, state: SessionState, reason: str) -> None:
        if self.feedback.showing("edit-needs") and not_ready(state) is None:
            self.feedback.clear("edit-needs")

    def stop(self) -> None:
        """Stop: the photo being opened if there is one, else the running edit."""
        if self.photos.is_opening():
            self.photos.cancel()
        elif self._running is not None:
            self._queued = None
            self.feedback.status("Stopping…")
            self._running.stop()

    # -- one at a time ---------------------------------------------------------------------------------

    def _queue(self, task: EditTask) -> None:
        self._queued = task
        self.feedback.status("The new edit starts when the current one ends.")

    def _replace(self, task: EditTask) -> None:
        self._queued = task
        if self._running is not None:
            self._running.stop()

    def _ask_busy(self, task: EditTask) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "An edit is running",
                          "An edit is still running. What about the new one?", QMessageBox.StandardButton.NoButton,
                          self.parent_widget)
        box.setObjectName("busyQuestion")
        replace_button = box.addButton("Stop the running one and start", QMessageBox.ButtonRole.AcceptRole)
        queue_button = box.addButton("Start it afterwards", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)

        def answered(button: object) -> None:
            if button is replace_button:
                self._replace(task)
            elif button is queue_button:
                self._queue(task)

        box.buttonClicked.connect(answered)
        box.open()

    def _start(self, task: EditTask) -> None:
        task.number = self.session.next_edit_number()  # numbered when it starts: one dropped takes none
        self._running = task
        self.picture.hold("edit")
        self.photos.set_edit_running(True)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self.canvas.set_busy_text("Starting…")
        self.feedback.status("Preparing the edit…")
        self.feedback.clear("edit", "edit-needs")  # what an earlier edit left to say is past now
        self.busyChanged.emit()
        self.worker.submit(task)

    def _end(self) -> None:
        self._running = None
        self.picture.release("edit")
        self.progress_bar.setVisible(False)
        self.canvas.set_busy_text("")
        self.busyChanged.emit()

    def _start_queued(self) -> None:
        task, self._queued = self._queued, None
        if task is not None:
            self._start(task)
        else:
            self.photos.set_edit_running(False)

    # -- answers from the task thread ------------------------------------------------------------------

    def _mine(self, task: object) -> bool:
        return task is not None and task is self._running

    def _started(self, task: object) -> None:
        if self._mine(task):
            self.runs += 1
            self.started.emit(self._running.number)

    def _stage(self, task: object, text: str) -> None:
        if self._mine(task):
            self.feedback.status(text)

    def _progress(self, task: object, step: int, total: int, loss: float) -> None:
        if not self._mine(task):
            return
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(step)
        self.progress_bar.setFormat(f"step {step} / {total}")
        self.canvas.set_busy_text(f"Editing: step {step} of {total}")
        self.progress.emit(self._running.number, step, total, loss)

    def _preview(self, task: object, image: np.ndarray) -> None:
        if not self._mine(task):
            return
        if not self.canvas.has_source():
            cached = self.picture.source_images.get(self._running.source)
            if cached is not None:
                self.canvas.set_source(cached)
        self.canvas.set_edit(image)
        self.preview.emit(self._running.number, image)

    def _finished(self, task: object, record: EditRecord) -> None:
        if not self._mine(task):
            return
        self._end()
        remember(self.picture.source_images, record.source, record.source_image)
        record = self.session.add_edit(record)
        self.feedback.status(f"{record.describe()} done in {record.seconds:.1f} s")
        self._start_queued()

    def _cancelled(self, task: object, done: int) -> None:
        """Stopped: its last preview is kept as an edit in the history (undo takes it off), unless nothing
        was reached yet or a new edit replaces it."""
        if not self._mine(task):
            return
        running = self._running
        number, total = running.number, running.settings.steps
        self._end()
        kept = running.kept if self._queued is None else None
        if kept is not None:
            remember(self.picture.source_images, kept.source, kept.source_image)
            kept = self.session.add_edit(kept)
            number = kept.number
            self.feedback.show_message(f"Edit stopped at step {kept.steps} of {kept.stopped_of}: its last preview "
                                       f"is kept as edit {kept.number} (Undo takes it off).", "info", cause="edit")
        else:
            self.picture.show_again()
            if self._queued is None:
                self.feedback.show_message(f"Edit stopped after {done} of {total} steps; the picture is as it "
                                           "was.", "info", cause="edit")
        self.cancelled.emit(number, done)
        self._start_queued()

    def _failed(self, task: object, message: str) -> None:
        if not self._mine(task):
            return
        self._end()
        self.picture.show_again()
        self.feedback.show_message(f"The edit failed: {message}", "error", cause="edit")
        self._start_queued()
