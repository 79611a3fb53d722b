"""Live mode in the window: the Live toggle makes the picture follow the microphone while it plays.

The task thread listens, re-encodes and renders previews (``LiveTask``); this controller only takes
the newest frame each time the task says one is ready, so a busy window skips frames instead of
queueing them. Snapshot keeps the picture of the moment at full size in the history; turning Live
off (or starting an edit, or opening a photo) ends with the full-size picture as an undoable edit.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from sgim_desktop.session import Session
from sgim_desktop.ui.canvas import ImageCanvas
from sgim_desktop.ui.controllers.edits import EditsController
from sgim_desktop.ui.controllers.instant import InstantController
from sgim_desktop.ui.controllers.photos import PhotosController
from sgim_desktop.ui.controllers.picture import PictureController
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.instant_panel import InstantPanel
from sgim_desktop.ui.recorder import RecorderPanel
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.live import INTERVAL_S, PREVIEW_PX, QUIET_S, LiveRecord, LiveSnapshotTask, LiveTask


class LiveController(QObject):
    frameShown = Signal(object)  # the engine's LiveFrame now on the canvas
    ended = Signal(object)  # the LiveRecord added to the history (None: nothing was kept)
    snapshotTaken = Signal(object)  # the snapshot's LiveRecord, in the history

    def __init__(self, session: Session, worker: EngineWorker, instant: InstantController, picture: PictureController,
                 edits: EditsController, photos: PhotosController, canvas: ImageCanvas, panel: InstantPanel,
                 recorder: RecorderPanel, feedback: Feedback, parent: QWidget):
        super().__init__(parent)
        self.session, self.worker, self.instant, self.picture = session, worker, instant, picture
        self.edits, self.photos, self.canvas, self.panel = edits, photos, canvas, panel
        self.recorder, self.feedback = recorder, feedback
        self.preview_px, self.interval_s, self.quiet_s = PREVIEW_PX, INTERVAL_S, QUIET_S
        self.task: LiveTask | None = None
        self.shown = 0  # frames put on the canvas in this run
        for signal, slot in ((worker.progress, self._frame_ready), (worker.finished, self._finished),
                             (worker.cancelled, self._cancelled), (worker.failed, self._failed)):
            signal.connect(slot)
        panel.liveToggled.connect(self.set_live)
        panel.snapshotRequested.connect(self.snapshot)
        panel.paramsChanged.connect(lambda params: self._controls())
        panel.followLoudnessChanged.connect(lambda on: self._controls())
        edits.busyChanged.connect(self._others_busy)
        photos.busyChanged.connect(self._others_busy)

    def is_live(self) -> bool:
        return self.task is not None

    def set_live(self, on: bool) -> None:
        if on and self.task is None:
            self.start()
        elif not on and self.task is not None:
            self.stop()

    def start(self) -> bool:
        """Follow the microphone chosen in the recorder (its default input when none is listed)."""
        state = self.session.state
        file = self.instant.generator_file()
        problem = None
        if state.source is None or file is None or not self.instant.ready():
            problem = "Live mode needs the generator's directions: build them in the Instant panel first."
        elif self.edits.is_editing() or self.photos.is_opening():
            problem = "Live mode starts when the running edit or photo is done (or stopped)."
        if problem is not None:
            self.panel.set_live(False)
            self.feedback.show_message(problem, "warning", cause="live")
            return False
        assert state.source is not None and file is not None
        self.task = LiveTask(source=state.source, settings=state.settings, generator_file=file,
                             instant=self.panel.params(), follow_loudness=self.panel.follow_loudness.isChecked(),
                             microphone=self.recorder.selected_device(),
                             source_image=self.picture.source_images.get(state.source),
                             preview_px=self.preview_px, interval_s=self.interval_s, quiet_s=self.quiet_s)
        self.shown = 0
        self.picture.hold("live")
        cached = self.picture.source_images.get(state.source)
        if cached is not None:
            self.canvas.set_source(cached)
        self.canvas.set_busy_text("Live: listening…")
        self.panel.set_live(True)
        self.feedback.clear("live")
        self.feedback.status("Live: the picture follows the microphone")
        self.worker.submit(self.task)
        return True

    def stop(self) -> None:
        """End live mode: the task renders the full-size picture, which lands in the history."""
        if self.task is not None:
            self.feedback.status("Live: making the full-size picture…")
            self.task.end()

    def snapshot(self) -> None:
        if self.task is not None:
            self.worker.submit(LiveSnapshotTask(self.task))

    def _controls(self) -> None:
        if self.task is not None:
            self.task.set_controls(self.panel.params(), self.panel.follow_loudness.isChecked())

    def _others_busy(self) -> None:
        if self.task is not None and (self.edits.is_editing() or self.photos.is_opening()):
            self.stop()  # the task thread is needed for the edit or the photo

    # -- answers from the task thread -------------------------------------------------------------------

    def _frame_ready(self, task: object, index: int, total: int, update_ms: float) -> None:
        if task is not self.task or self.task is None:
            return
        frame = self.task.take()
        if frame is None:
            return  # a newer poke already showed the newest frame
        self.canvas.set_busy_text("")
        self.canvas.set_edit(frame.image)
        self.shown += 1
        size = frame.image.shape[0]
        what = "full size" if size > self.task.preview_size else f"{size} px preview"
        self.panel.live_status.setText(f"Frame {frame.index + 1} ({what}), {frame.update_ms:.0f} ms, "
                                       f"strength {frame.strength:.2f}")
        self.frameShown.emit(frame)

    def _finished(self, task: object, result: Any) -> None:
        if isinstance(task, LiveSnapshotTask) and isinstance(result, LiveRecord):
            record = self.session.add_edit(result)
            self.feedback.status(f"{record.describe()} kept in the history")
            self.snapshotTaken.emit(record)
        elif isinstance(task, LiveTask) and task is self.task:
            stats = task.stats
            self._end(show_again=False)
            record = self.session.add_edit(result)
            if stats is not None:
                self.feedback.status(f"Live ended: {stats.frames} frames in {stats.seconds:.1f} s; "
                                     f"{record.describe()}")
                if stats.problem:
                    self.feedback.show_message(f"Live mode stopped: {stats.problem}", "warning", cause="live")
            self.ended.emit(record)

    def _cancelled(self, task: object, done: int) -> None:
        if task is self.task and task is not None:
            self._end()
            self.ended.emit(None)

    def _failed(self, task: object, message: str) -> None:
        if task is self.task and task is not None:
            self._end()
            self.feedback.show_message(f"Live mode stopped: {message}", "error", cause="live")
            self.ended.emit(None)
        elif isinstance(task, LiveSnapshotTask):
            self.feedback.show_message(f"Could not take the snapshot: {message}", "error", cause="live")

    def _end(self, show_again: bool = True) -> None:
        self.task = None
        self.picture.release("live")
        self.canvas.set_busy_text("")
        self.panel.set_live(False)
        if show_again:
            self.picture.show_again()
