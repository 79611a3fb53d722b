"""Opening a photo as the source: frame it (asking which face when there are several, or offering the whole
picture when there is none), invert it with previews, and make the latent found the source.

One photo opens at a time; a photo asked for while an edit runs opens when the edit ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar, QWidget

from sgim_desktop.session import Session, Source
from sgim_desktop.ui.canvas import ImageCanvas
from sgim_desktop.ui.controllers.models import ModelsController
from sgim_desktop.ui.controllers.picture import PictureController
from sgim_desktop.ui.face_chooser import FaceChooser
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.providers import domain_of
from sgim_desktop.ui.settings import WindowSettings
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.photo import (
    FoundFaces,
    FramedPhoto,
    FramePhotoTask,
    InvertedPhoto,
    InvertPhotoTask,
    PhotoRequest,
)

PhotoTasks = (FramePhotoTask, InvertPhotoTask)


class PhotosController(QObject):
    busyChanged = Signal()
    stage = Signal(object, str)  # request, what happens now
    progress = Signal(object, int, int, float)  # request, step done, total, PSNR (dB)
    preview = Signal(object, object)  # request, HxWx3 uint8
    cancelled = Signal(object, int)  # request, steps done

    def __init__(self, session: Session, worker: EngineWorker, models: ModelsController,
                 picture: PictureController, canvas: ImageCanvas, progress: QProgressBar, feedback: Feedback,
                 prefs: WindowSettings, parent: QWidget):
        super().__init__(parent)
        self.session = session
        self.worker = worker
        self.models = models
        self.picture = picture
        self.canvas = canvas
        self.progress_bar = progress
        self.feedback = feedback
        self.prefs = prefs
        self.parent_widget = parent
        self.face_chooser: FaceChooser | None = None
        self._request: PhotoRequest | None = None  # the photo being opened (framed, then inverted)
        self._waiting: PhotoRequest | None = None  # opens when the running edit ends
        self._offer: PhotoRequest | None = None  # no face found: the whole picture is offered
        self._edit_running = False
        self.make_inversion: Callable[[FramedPhoto], InvertPhotoTask] = InvertPhotoTask  # instant: e4e first
        for signal, slot in ((worker.stage, self._stage), (worker.progress, self._progress),
                             (worker.preview, self._preview), (worker.finished, self._finished),
                             (worker.cancelled, self._cancelled), (worker.failed, self._failed)):
            signal.connect(slot)

    def is_opening(self) -> bool:
        return self._request is not None

    def opening_name(self) -> str:
        return self._request.name if self._request is not None else ""

    def open_photo(self, path: str) -> None:
        """Turn the photo in ``path`` into the source: read, find the face, align, invert (task thread)."""
        generator_id = self.models.generator_id()
        domain = "face" if domain_of(self.models.provider, generator_id) == "face" else "scene"
        self._start(PhotoRequest(path=path, generator_id=generator_id, domain=domain,
                                 settings=self.session.settings))

    def open_request(self, request: PhotoRequest) -> None:
        """Open a photo asked for before again (read and framed already: Refine photo)."""
        self._start(request)

    def use_whole_photo(self) -> None:
        """After 'no face found': edit the centre square of that photo instead."""
        request, self._offer = self._offer, None
        if request is not None:
            self._start(request.again(self.session.settings, whole=True))

    def cancel(self) -> None:
        if self._request is not None:
            self._waiting = None
            self.feedback.status("Stopping…")
            self._request.cancel.set()

    def set_edit_running(self, running: bool) -> None:
        """Edits say when they run: a photo asked for meanwhile waits, and opens when they end."""
        self._edit_running = running
        if not running and self._waiting is not None:
            request, self._waiting = self._waiting, None
            self._start(request)

    def close_chooser(self) -> None:
        chooser, self.face_chooser = self.face_chooser, None
        if chooser is not None:
            chooser.blockSignals(True)
            chooser.close()
            chooser.deleteLater()

    # -- the photo's way -------------------------------------------------------------------------------

    def _start(self, request: PhotoRequest) -> None:
        self.close_chooser()
        self._offer = None
        if self._edit_running:
            self._waiting = request
            self.feedback.status(f"{request.name} opens when the running edit ends.")
            return
        if self._request is not None:
            self._request.cancel.set()
        self._request = request
        self.feedback.clear("photo")  # an earlier photo's stop, failure or offer is past now
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self.canvas.set_busy_text(f"Opening {request.name}…")
        self.feedback.status(f"Opening {request.name}…")
        self.busyChanged.emit()
        self.worker.submit(FramePhotoTask(request))

    def _current(self, task: object) -> PhotoRequest | None:
        """The request of ``task`` when it is a task of the photo being opened (one opening, one cancel event:
        a face chosen or the whole picture asked for is a new opening)."""
        if isinstance(task, FramePhotoTask):
            request = task.request
        elif isinstance(task, InvertPhotoTask):
            request = task.framed.request
        else:
            return None
        return request if self._request is not None and request.cancel is self._request.cancel else None

    def _end(self) -> None:
        self._request = None
        self.progress_bar.setVisible(False)
        self.canvas.set_busy_text("")
        self.busyChanged.emit()
        if self.picture.held_by("photo"):
            self.picture.release("photo")
            self.picture.show_again()

    def _stage(self, task: object, text: str) -> None:
        if (request := self._current(task)) is not None:
            self.feedback.status(text)
            self.canvas.set_busy_text(text)
            self.stage.emit(request, text)

    def _progress(self, task: object, step: int, total: int, psnr: float) -> None:
        if (request := self._current(task)) is None:
            return
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(step)
        self.progress_bar.setFormat(f"photo {step} / {total}")
        self.canvas.set_busy_text(f"Inverting the photo: step {step} of {total} ({psnr:.1f} dB)")
        self.progress.emit(request, step, total, psnr)

    def _preview(self, task: object, image: np.ndarray) -> None:
        if (request := self._current(task)) is not None:
            self.canvas.set_edit(image)
            self.preview.emit(request, image)

    def _finished(self, task: object, result: Any) -> None:
        if self._current(task) is None:
            return
        if isinstance(result, FoundFaces):
            self._choose_face(result)
        elif isinstance(result, FramedPhoto):
            self._framed(result)
        elif isinstance(result, InvertedPhoto):
            self._inverted(result)

    def _framed(self, framed: FramedPhoto) -> None:
        self._request = framed.request  # the same photo, now read, with its faces
        self.picture.hold("photo")
        self.canvas.set_source(framed.image)
        self.canvas.set_edit(None)
        self.worker.submit(self.make_inversion(framed))

    def _choose_face(self, found: FoundFaces) -> None:
        self._end()
        name = found.request.name
        if not found.faces:
            self._offer = found.request
            why = (f"Faces cannot be looked for in {name}: {found.problem}." if found.problem
                   else f"No face was found in {name}.")
            self.feedback.show_message(f"{why} Edit the whole picture (its centre square) instead?", "warning",
                                       "Use the whole picture", self.use_whole_photo, cause="photo")
            return
        chooser = FaceChooser(name, found.thumbnails, [f.describe() for f in found.faces], self.parent_widget)
        chooser.chosen.connect(lambda index: self._start(found.request.again(self.session.settings, face=index)))
        chooser.wholeChosen.connect(lambda: self._start(found.request.again(self.session.settings, whole=True)))
        chooser.rejected.connect(lambda: self.feedback.status(f"{name} not opened; the picture is as it was."))
        self.face_chooser = chooser
        self.feedback.status(f"{name} shows {len(found.faces)} faces: choose one.")
        chooser.open()

    def _inverted(self, result: InvertedPhoto) -> None:
        request = self._request
        assert request is not None
        self.picture.release("photo")
        self._end()
        origin = result.origin
        source = Source(generator_id=request.generator_id, seed=None, latent=result.latent, photo=origin)
        self.picture.remember_source(source, result.image)
        self.prefs.add_recent(request.path)
        self.session.set_source(source, f"Open photo {request.name}")
        self.feedback.clear("photo")
        likeness = "" if origin.perceptual else " (pixel loss only: the LPIPS models in Tools ▸ Models make it closer)"
        self.feedback.status(f"{origin.describe()} is ready to edit: {result.steps} steps, "
                             f"{origin.psnr:.1f} dB{likeness}")

    def _cancelled(self, task: object, done: int) -> None:
        if (request := self._current(task)) is None:
            return
        self._end()
        self.feedback.show_message(f"Stopped opening {request.name} after {done} of "
                                   f"{request.settings.invert_steps} steps; the picture is as it was.", "info",
                                   cause="photo")
        self.cancelled.emit(request, done)

    def _failed(self, task: object, message: str) -> None:
        if self._current(task) is None:
            return
        self._end()
        self.feedback.show_message(f"Could not open the photo: {message}", "error", cause="photo")
