"""Instant edits in the window: when the picked generator has directions, whatever changes the target (a
sound dropped or recorded, its window or weight, the text, the mix) or the picture shows the edit at
once, and the sliders re-render it live; Refine continues with the paper's optimisation. Without
directions the panel says so and offers to build them (progress, time left, Cancel; resumable).

Each instant result lands in the history as an undoable edit. A new instant edit supersedes the one
on its way: a waiting one is replaced (the worker's coalescing), a running one stops after its quick
picture, so dragging a slider never builds a backlog.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from sgim_desktop.session import Session, SessionState
from sgim_desktop.ui.canvas import ImageCanvas
from sgim_desktop.ui.controllers.edits import EditsController, not_ready
from sgim_desktop.ui.controllers.models import ModelsController
from sgim_desktop.ui.controllers.photos import PhotosController
from sgim_desktop.ui.controllers.picture import PictureController
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.instant_panel import InstantPanel
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.directions import (
    BuildDirectionsTask,
    CheckDirectionsTask,
    DirectionsStatus,
)
from sgim_desktop.ui.worker_tasks.instant import InstantRecord, InstantTask, QuickPhotoTask, RefineTask, refine_request
from sgim_desktop.ui.worker_tasks.photo import FramedPhoto, InvertedPhoto, InvertPhotoTask

READY = "Directions ready: a sound, a text or a mix edits the picture at once."
MISSING = ("This generator has no directions yet, so edits run the paper's optimisation. Build them once "
           "(it takes a while on a CPU, and resumes if stopped) and every sound edits the picture at once, "
           "live mode included.")
RESUMABLE = " A build was interrupted: Build resumes it."


def target_inputs(state: SessionState) -> tuple:
    """What an instant edit of ``state`` depends on (the picture by identity, the sounds, text and mix)."""
    s = state.settings
    return (state.source, tuple((c.key, c.start_s, c.weight) for c in state.clips), s.text.strip(), s.text_weight,
            s.mix_mode, s.split_layer, s.device)


def has_target(state: SessionState) -> bool:
    """A picture and a sound or a text to move it toward (what an edit needs)."""
    return not_ready(state) is None


class InstantController(QObject):
    statusChanged = Signal(object)  # DirectionsStatus of the generator shown
    shown = Signal(object, object)  # InstantRecord in the history, {targets_ms, picture_ms}

    def __init__(self, session: Session, worker: EngineWorker, models: ModelsController, picture: PictureController,
                 photos: PhotosController, edits: EditsController, canvas: ImageCanvas, panel: InstantPanel,
                 feedback: Feedback, parent: QWidget):
        super().__init__(parent)
        self.session, self.worker, self.models, self.picture = session, worker, models, picture
        self.photos, self.edits, self.canvas, self.panel, self.feedback = photos, edits, canvas, panel, feedback
        self.status: DirectionsStatus | None = None
        self.build_settings: Any = None  # the engine's DirectionsSettings for a build (None: its defaults)
        self._check: CheckDirectionsTask | None = None
        self._task: InstantTask | None = None  # the newest instant edit asked for
        self._build: BuildDirectionsTask | None = None
        self._build_stage = ""
        self._seen: tuple | None = None  # the target inputs last edited (or seen while the picture was busy)
        self._quick_photo: tuple[QuickPhotoTask, Any] | None = None  # a photo shown from its encoder's latent
        self._full_photo: Any = None  # the photo request asked to be inverted fully
        photos.make_inversion = self._inversion_for
        for signal, slot in ((worker.preview, self._preview), (worker.progress, self._progress),
                             (worker.stage, self._stage), (worker.finished, self._finished),
                             (worker.cancelled, self._cancelled), (worker.failed, self._failed)):
            signal.connect(slot)
        models.downloaded.connect(self.check)
        panel.paramsChanged.connect(self._params_changed)
        panel.buildRequested.connect(self.build)
        panel.cancelBuildRequested.connect(self.cancel_build)
        panel.refineRequested.connect(self.refine)
        panel.refinePhotoRequested.connect(self.refine_photo)
        edits.busyChanged.connect(self._show_buttons)
        session.listeners.append(self._state_changed)

    # -- the directions ----------------------------------------------------------------------------

    def generator_file(self, generator_id: str | None = None) -> str | None:
        return self.models.provider.generator_file(generator_id or self.models.generator_id())

    def ready(self) -> bool:
        status, generator_id = self.status, self.models.generator_id()
        return status is not None and status.ready and status.generator_id == generator_id

    def check(self) -> None:
        """Ask whether the generator shown has directions made for it (task thread: it reads and hashes)."""
        generator_id = self.models.generator_id()
        if not generator_id:
            return
        self._check = CheckDirectionsTask(generator_id, self.generator_file(generator_id))
        self.worker.submit(self._check)

    def build(self) -> None:
        """Build the generator's directions (resuming an interrupted build), like a download."""
        generator_id = self.models.generator_id()
        file = self.generator_file(generator_id)
        if self._build is not None:
            return
        if self.models.missing_for(generator_id) or file is None:
            self.feedback.show_message("The generator's models are not all here yet: get them in Tools ▸ Models, "
                                       "then build its directions.", "warning", "Get models…",
                                       self.models.open_dialog, cause="instant")
            return
        self._build = BuildDirectionsTask(generator_id, file, self.session.settings.device, self.build_settings)
        self._build_stage = ""
        self.panel.set_building(True)
        self.feedback.status("Building the directions…")
        self.worker.submit(self._build)

    def cancel_build(self) -> None:
        if self._build is not None:
            self.feedback.status("Stopping the build…")
            self._build.stop()

    def is_building(self) -> bool:
        return self._build is not None

    def _show_status(self, status: DirectionsStatus) -> None:
        if status.generator_id != self.models.generator_id():
            return
        self.status = status
        if status.state == "ready":
            text, can_build = READY, False
        elif status.state == "unusable":
            text, can_build = f"The directions cannot be used: {status.problem}. Build them again.", True
        elif status.state == "no-file":
            text, can_build = "Instant edits need the generator's file (get it in Tools ▸ Models).", False
        else:
            text, can_build = MISSING + (RESUMABLE if status.resumable else ""), True
        self.panel.set_status(text, can_build and self._build is None)
        self.panel.set_ready(status.ready)
        self._show_buttons()
        self.statusChanged.emit(status)
        if status.ready:
            self._maybe_edit()

    # -- instant edits -------------------------------------------------------------------------------

    def _state_changed(self, state: SessionState, reason: str) -> None:
        source = state.source
        if source is not None and (self.status is None or self.status.generator_id != source.generator_id):
            if self._check is None or self._check.generator_id != source.generator_id:
                self.status = None
                self.panel.set_ready(False)
                self.check()
        if isinstance(state.edit, InstantRecord):
            self.panel.set_params(state.edit.instant)
        if reason in ("undo", "redo"):
            self._seen = target_inputs(state)  # going back and forth never makes a new edit
        else:
            self._maybe_edit()
        self._show_buttons()

    def _maybe_edit(self) -> None:
        """Edit at once when the target or the picture changed and nothing else owns the canvas."""
        state = self.session.state
        inputs = target_inputs(state)
        if inputs == self._seen or state.source is None or not has_target(state):
            return
        if self.picture.held() or self.photos.is_opening():
            self._seen = inputs  # an optimisation, a photo or live mode shows its own picture
            return
        if self.ready() and not self.models.missing:
            self._seen = inputs
            self.edit_now()

    def edit_now(self) -> None:
        """The instant edit of the state shown, with the panel's sliders."""
        state = self.session.state
        file = self.generator_file()
        if state.source is None or file is None or not has_target(state):
            return
        task = InstantTask(source=state.source, clips=state.clips, settings=state.settings,
                           instant=self.panel.params(), generator_file=file,
                           source_image=self.picture.source_images.get(state.source))
        if self._task is not None:
            self._task.superseded.set()
        self._task = task
        self.worker.submit(task)

    def _params_changed(self, params: Any) -> None:
        if self.picture.held() or not self.ready():
            return  # live mode takes the sliders itself
        if has_target(self.session.state):
            self.edit_now()

    def refine(self) -> None:
        """The paper's optimisation from the instant edit shown (the edits controller runs it)."""
        record = self.session.state.edit
        if isinstance(record, InstantRecord) and record.refinable:
            self.edits.run_edit(make=RefineTask, start_latent=record.latent)

    def _show_buttons(self) -> None:
        shown = self.session.state.edit
        self.panel.set_refine_enabled(self.ready() and isinstance(shown, InstantRecord) and shown.refinable
                                      and not self.edits.is_editing())
        source = self.session.state.source
        quick = self._quick_photo
        self.panel.show_refine_photo(quick is not None and source is not None and source.latent is quick[1])

    # -- photos: the encoder's latent first -----------------------------------------------------------

    def _inversion_for(self, framed: FramedPhoto) -> InvertPhotoTask:
        full = self._full_photo is not None and framed.request.cancel is self._full_photo.cancel
        return InvertPhotoTask(framed) if full or not self.ready() else QuickPhotoTask(framed)

    def refine_photo(self) -> None:
        """Invert the photo shown fully (from its encoder's latent), for a closer likeness."""
        if self._quick_photo is None:
            return
        self._full_photo = refine_request(self._quick_photo[0], self.session.settings)
        self.photos.open_request(self._full_photo)

    # -- answers from the task thread -------------------------------------------------------------------

    def _preview(self, task: object, image: np.ndarray) -> None:
        if isinstance(task, InstantTask) and task is self._task and not self.picture.held():
            if not self.canvas.has_source():
                cached = self.picture.source_images.get(task.source)
                if cached is not None:
                    self.canvas.set_source(cached)
            self.canvas.set_edit(image)

    def _progress(self, task: object, done: int, total: int, eta: float) -> None:
        if task is self._build and task is not None:
            self.panel.set_build_progress(done, total, None if eta < 0 else eta, self._build_stage)

    def _stage(self, task: object, text: str) -> None:
        if task is self._build and task is not None:
            self._build_stage = text.removeprefix("Building the directions: ")

    def _finished(self, task: object, result: Any) -> None:
        if isinstance(task, CheckDirectionsTask):
            if task is self._check:
                self._check = None
            self._show_status(result)
        elif isinstance(task, InstantTask) and task is self._task:
            self._task = None
            if self.picture.held():
                return
            record = self.session.add_edit(result)
            self.feedback.status(f"{record.describe()}: the picture {task.timings['picture_ms']:.0f} ms after "
                                 "the target")
            self.shown.emit(record, task.timings)
        elif isinstance(task, BuildDirectionsTask) and task is self._build:
            self._build = None
            self.panel.set_building(False)
            self.feedback.status("Directions built: sounds now edit the picture at once.")
            self._show_status(result)
        elif isinstance(task, QuickPhotoTask) and isinstance(result, InvertedPhoto) and result.steps == 0:
            self._quick_photo = (task, result.latent)
            self.feedback.status(f"{result.origin.describe()} is shown from the face encoder's latent "
                                 f"({result.origin.psnr:.1f} dB): Refine photo inverts it fully.")
            self._show_buttons()

    def _cancelled(self, task: object, done: int) -> None:
        if task is self._build and task is not None:
            self._build = None
            self.panel.set_building(False)
            self.feedback.show_message("Stopped building the directions; the work done is kept, and Build "
                                       "resumes it.", "info", cause="instant")
            self.check()

    def _failed(self, task: object, message: str) -> None:
        if task is self._build and task is not None:
            self._build = None
            self.panel.set_building(False)
            self.feedback.show_message(f"Could not build the directions: {message}", "error", cause="instant")
            self.check()
        elif isinstance(task, InstantTask) and task is self._task:
            self._task = None
            self.feedback.show_message(f"The instant edit failed: {message}", "error", cause="instant")
        elif isinstance(task, CheckDirectionsTask) and task is self._check:
            self._check = None
            self.panel.set_status(f"Could not look for the directions: {message}", False)
