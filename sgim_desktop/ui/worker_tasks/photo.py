"""A photo becomes a source in two tasks: frame it (read, find the faces, align the chosen one or take
the centre square), then invert the square (from the e4e encoder's latent when there is one).

Between the two the window shows the square and, when a face must be chosen, asks which.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sgim_desktop.errors import CheckpointError, SgimError
from sgim_desktop.session import MixSettings, PhotoOrigin
from sgim_desktop.ui.worker_tasks.base import Report, Stopped, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext

if TYPE_CHECKING:
    import numpy as np
    import torch

    from sgim_desktop.engine.api import PreparedPhoto
    from sgim_desktop.engine.faces import Face


@dataclass(eq=False)
class PhotoRequest:
    """One photo to open, as the window asked for it.

    ``domain`` is 'face' (find and align a face) or 'scene' (centre square); ``face`` picks one of
    several (0 = leftmost) and ``whole`` skips the face search. ``photo`` and ``faces`` are filled in
    once read, so a request asked ``again`` after a choice neither reads nor searches twice.
    """

    path: str
    generator_id: str
    domain: Literal["face", "scene"]
    settings: MixSettings
    face: int | None = None
    whole: bool = False
    photo: "np.ndarray | None" = None
    faces: "list[Face] | None" = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return Path(self.path).name or self.path

    @property
    def uses_faces(self) -> bool:
        return self.domain == "face" and not self.whole

    def again(self, settings: MixSettings, face: int | None = None, whole: bool = False) -> "PhotoRequest":
        return replace(self, settings=settings, face=face, whole=whole, cancel=threading.Event())


@dataclass(frozen=True)
class FoundFaces:
    """A photo whose face must be chosen: several, left to right, or none (``faces`` empty; ``problem``
    says why when faces could not be looked for at all, e.g. the detector's weights are missing)."""

    request: PhotoRequest
    thumbnails: list["np.ndarray"]
    problem: str = ""

    @property
    def faces(self) -> "list[Face]":
        return self.request.faces or []


@dataclass(frozen=True)
class FramedPhoto:
    """The square of the photo the generator should reproduce."""

    request: PhotoRequest
    prepared: "PreparedPhoto"

    @property
    def image(self) -> "np.ndarray":
        return self.prepared.aligned.image


@dataclass(frozen=True)
class InvertedPhoto:
    """A photo turned into a latent: the latent, the generator's rendering of it, and the photo behind it."""

    origin: PhotoOrigin
    latent: "torch.Tensor"
    image: "np.ndarray"
    steps: int
    seconds: float


@dataclass(eq=False)
class FramePhotoTask(Task):
    doing = "opening the photo"
    request: PhotoRequest

    @property
    def cancel(self) -> threading.Event:  # type: ignore[override]
        return self.request.cancel

    def run(self, ctx: TaskContext, report: Report) -> FoundFaces | FramedPhoto:
        from sgim_desktop.engine.api import PhotoPlan, face_thumbnails, prepare_photo, read_photo

        self.check()
        request = self.request
        photo = request.photo
        if photo is None:
            report.stage(f"Reading {request.name}…")
            photo = read_photo(request.path)
        faces = request.faces
        if request.uses_faces and faces is None:
            report.stage(f"Looking for faces in {request.name}…")
            try:
                detector = ctx.face_detector()
            except CheckpointError as exc:
                return FoundFaces(replace(request, photo=photo), [], str(exc))
            faces = detector.detect(photo)
        request = replace(request, photo=photo, faces=faces)
        if request.uses_faces and (not faces or (len(faces) > 1 and request.face is None)):
            return FoundFaces(request, face_thumbnails(photo, faces or []))
        self.check()
        models = ctx.models(request.generator_id, request.settings.device)
        report.stage("Aligning the face…" if request.uses_faces else "Taking the centre square…")
        plan = PhotoPlan(photo=photo, domain=request.domain, face=request.face, whole=request.whole,
                         steps=request.settings.invert_steps, preview_every=request.settings.preview_every)
        return FramedPhoto(request, prepare_photo(models, plan, faces))


@dataclass(eq=False)
class InvertPhotoTask(Task):
    framed: FramedPhoto

    @property
    def cancel(self) -> threading.Event:  # type: ignore[override]
        return self.framed.request.cancel

    def run(self, ctx: TaskContext, report: Report) -> InvertedPhoto:
        from sgim_desktop.engine.api import inversion_request, start_inversion

        self.check()
        request, prepared = self.framed.request, self.framed.prepared
        settings = request.settings
        models = ctx.models(request.generator_id, settings.device)
        perceptual = ctx.perceptual()
        start = self._encoder_start(ctx, report, models) if request.uses_faces else None
        started = time.perf_counter()
        run = start_inversion(models, inversion_request(prepared.aligned.image, max(1, settings.invert_steps), start,
                                                        settings.preview_every), perceptual, self.cancel)
        report.stage(f"Inverting {request.name}…")
        for step in run:
            report.progress(step.step + 1, step.total, step.psnr)
            if step.preview is not None:
                report.preview(step.preview)
            report.between_steps()
        result = run.result
        if result is None or result.cancelled:
            raise Stopped(len(result.steps) if result else 0)
        origin = PhotoOrigin(photo=prepared.photo, aligned=prepared.aligned, path=request.path,
                             face=prepared.face_index, faces=len(prepared.faces), psnr=result.psnr,
                             perceptual=result.perceptual)
        return InvertedPhoto(origin=origin, latent=result.latent, image=result.image, steps=len(result.steps),
                             seconds=time.perf_counter() - started)

    def _encoder_start(self, ctx: TaskContext, report: Report, models: Any) -> Any:
        """The e4e encoder's latent for the aligned face, or None: no encoder, or one that cannot be used."""
        from sgim_desktop.engine.api import encode_face

        try:
            encoder = ctx.face_encoder(self.framed.request.generator_id)
            if encoder is None:
                return None
            report.stage("Encoding the face (e4e)…")
            return encode_face(encoder, self.framed.image, models)
        except SgimError as exc:
            report.stage(f"The e4e encoder cannot be used ({exc}); inverting from the mean face")
            return None
