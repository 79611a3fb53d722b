"""Instant edits: the target -> a latent step from the generator's directions -> a picture, in one pass.

An ``InstantTask`` shows a quick rendering at once (a preview) and then, unless a newer instant edit
superseded it meanwhile (a slider being dragged), renders exactly and returns the history's record.
``RefineTask`` is the paper's optimisation started from an instant latent; ``QuickPhotoTask`` makes a
face photo's e4e latent the source at once, leaving the long inversion for "Refine photo".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from sgim_desktop.session import EditRecord, MixSettings, PhotoOrigin, SoundClip, Source
from sgim_desktop.ui.worker_tasks.base import Report, Stopped, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext
from sgim_desktop.ui.worker_tasks.edit import EditTask, targets_of
from sgim_desktop.ui.worker_tasks.photo import InvertedPhoto, InvertPhotoTask

if TYPE_CHECKING:
    import numpy as np

    from sgim_desktop.engine.api import EditModels

_directions: dict[str, tuple[tuple, Any]] = {}  # task thread only: the directions loaded last


@dataclass(frozen=True)
class InstantSettings:
    """The instant panel's sliders: how far the picture moves, and the share of latent channels kept still."""

    strength: float = 1.0
    disentangle: float = 0.0

    def describe(self) -> str:
        still = f", {self.disentangle:.0%} still" if self.disentangle else ""
        return f"instant, strength {self.strength:g}{still}"


@dataclass(frozen=True, eq=False)
class InstantRecord(EditRecord):
    """An instant edit in the history: made from the directions (no optimisation steps)."""

    refinable: ClassVar[bool] = True  # Refine continues it toward the sounds and text it was made for
    own_strength: ClassVar[bool] = True  # the instant panel's Strength re-renders it; the mixer's would scale it twice
    instant: InstantSettings = InstantSettings()

    def describe(self) -> str:
        parts = [c.name for c in self.clips if c.weight > 0]
        if self.settings.text.strip() and self.settings.text_weight > 0:
            parts.append(f"'{self.settings.text.strip()}'")
        return f"Edit {self.number}: {' + '.join(parts) or 'nothing'} ({self.instant.describe()})"


def directions_for(models: "EditModels", generator_file: str) -> Any:
    """The generator's directions, read again only when their file or the models change (a rebuild)."""
    from sgim_desktop.engine.api import directions_files, load_directions

    path = directions_files(generator_file)[0]
    if not path.is_file():
        return load_directions(models, generator_file)  # says in one line that they are missing
    stat = path.stat()
    key = (generator_file, stat.st_mtime_ns, stat.st_size, id(models.space), str(models.device))
    found = _directions.get("last")
    if found is None or found[0] != key:
        _directions.clear()
        _directions["last"] = (key, load_directions(models, generator_file))
    return _directions["last"][1]


@dataclass(eq=False)
class InstantTask(Task):
    """Only the newest waits; a running one that was superseded stops after its quick picture."""

    light = True
    source: Source
    clips: tuple[SoundClip, ...]
    settings: MixSettings
    instant: InstantSettings
    generator_file: str
    source_image: "np.ndarray | None" = None  # the source as the canvas shows it (rendered when unknown)
    superseded: threading.Event = field(default_factory=threading.Event)
    timings: dict[str, float] = field(default_factory=dict, init=False)

    def coalesce_key(self) -> str:
        return "instant"

    def models_wanted(self) -> tuple[str, str]:
        return self.source.generator_id, self.settings.device

    def run(self, ctx: TaskContext, report: Report) -> InstantRecord:
        """``timings``: targets_ms (embedding the sounds), picture_ms (target ready -> quick picture)."""
        from sgim_desktop.engine.api import instant_latent, instant_params, quick_render, render, source_latent

        started = time.perf_counter()
        models = ctx.models(*self.models_wanted())
        directions = directions_for(models, self.generator_file)
        targets = targets_of(ctx, models, self.clips, self.settings)
        ready = time.perf_counter()
        source = source_latent(models, self.source.picture())
        params = instant_params(models, self.settings.plan(), self.instant.strength, self.instant.disentangle)
        latent = instant_latent(models, directions, source, targets, params)
        report.preview(quick_render(models, latent))
        shown = time.perf_counter()
        self.timings = {"targets_ms": 1000 * (ready - started), "picture_ms": 1000 * (shown - ready)}
        if self.superseded.is_set():
            raise Stopped(0)
        image = render(models, latent)
        source_image = self.source_image if self.source_image is not None else render(models, source)
        return InstantRecord(number=0, settings=self.settings, source=self.source, clips=self.clips,
                             source_latent=source.detach().cpu(), latent=latent.detach().cpu(),
                             source_image=source_image, image=image, steps=0,
                             seconds=time.perf_counter() - started, instant=self.instant)


@dataclass(eq=False)
class RefineTask(EditTask):
    """The paper's optimisation from ``start_latent`` (an instant edit's), anchored at the source."""

    start_latent: Any = None

    def run(self, ctx: TaskContext, report: Report) -> EditRecord:
        from sgim_desktop.engine.api import start_refine

        self.check()
        models = ctx.models(self.source.generator_id, self.settings.device)
        started = time.perf_counter()
        run = start_refine(models, self.source.picture(), targets_of(ctx, models, self.clips, self.settings),
                           self.settings.plan(), self.start_latent, self.cancel)
        return self.follow(run, report, "Refining the instant edit…", started)


@dataclass(eq=False)
class QuickPhotoTask(InvertPhotoTask):
    """A face's e4e latent becomes the source at once (one encoder pass); without an encoder, the inversion."""

    def run(self, ctx: TaskContext, report: Report) -> InvertedPhoto:
        from sgim_desktop.engine.api import likeness_db, render

        self.check()
        request, prepared = self.framed.request, self.framed.prepared
        if not request.uses_faces:
            return super().run(ctx, report)
        started = time.perf_counter()
        models = ctx.models(request.generator_id, request.settings.device)
        latent = self._encoder_start(ctx, report, models)
        if latent is None:
            return super().run(ctx, report)
        image = render(models, latent)
        origin = self._origin(likeness_db(image, prepared.aligned.image))
        return InvertedPhoto(origin=origin, latent=latent.detach().cpu(), image=image, steps=0,
                             seconds=time.perf_counter() - started)

    def _origin(self, psnr: float) -> PhotoOrigin:
        request, prepared = self.framed.request, self.framed.prepared
        return PhotoOrigin(photo=prepared.photo, aligned=prepared.aligned, path=request.path,
                           face=prepared.face_index, faces=len(prepared.faces), psnr=psnr, perceptual=False)


def refine_request(task: QuickPhotoTask, settings: MixSettings) -> Any:
    """The same photo and face, asked again for the whole inversion (read and framed already)."""
    request = task.framed.request
    return request.again(settings, face=request.face, whole=request.whole)

