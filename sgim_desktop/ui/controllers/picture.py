"""The picture: where it comes from (seed, generator, latent, photo) and what the canvas shows of it.

The canvas shows the session's state: the source, and the edit at the mixer's strength. Rendered
sources and strengths are cached (a few dozen images), so undo and redo show them at once; what is
not cached is asked of the task thread. While an edit or a photo's inversion owns the canvas (its
previews), nothing here draws on it.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from sgim_desktop.session import EditRecord, Session, SessionState, Source
from sgim_desktop.ui.canvas import ImageCanvas
from sgim_desktop.ui.controllers.models import ModelsController
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.mixer import MAX_SEED, MixerPanel, SourcePanel
from sgim_desktop.ui.providers import domain_of
from sgim_desktop.ui.settings import WindowSettings
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.picture import OpenLatentTask, RenderSourceTask, StrengthTask

CACHE_IMAGES = 24


def remember(cache: OrderedDict, key: Any, image: np.ndarray) -> None:
    cache.pop(key, None)
    cache[key] = image
    while len(cache) > CACHE_IMAGES:
        cache.popitem(last=False)


class PictureController(QObject):
    strengthRendered = Signal(int, float, object)  # edit number, strength, HxWx3 uint8

    def __init__(self, session: Session, worker: EngineWorker, models: ModelsController, canvas: ImageCanvas,
                 panel: SourcePanel, mixer: MixerPanel, feedback: Feedback, prefs: WindowSettings,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.session = session
        self.worker = worker
        self.models = models
        self.canvas = canvas
        self.panel = panel
        self.mixer = mixer
        self.feedback = feedback
        self.prefs = prefs
        self.source_images: OrderedDict[Source, np.ndarray] = OrderedDict()
        self.strength_images: OrderedDict[tuple[int, float], np.ndarray] = OrderedDict()
        self._source_task: RenderSourceTask | None = None
        self._shown_source: Source | None = None
        self._shown_edit: int | None = None
        self._owners: set[str] = set()  # who shows previews on the canvas now ('edit', 'photo')
        self._syncing = False
        panel.generatorChanged.connect(self._generator_changed)
        panel.seedChanged.connect(self._seed_changed)
        panel.randomRequested.connect(self.new_random_source)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        models.downloaded.connect(lambda: self.request_source(self.session.state.source))

    # -- who owns the canvas ---------------------------------------------------------------------------

    def hold(self, owner: str) -> None:
        self._owners.add(owner)

    def release(self, owner: str) -> None:
        self._owners.discard(owner)

    def held(self) -> bool:
        return bool(self._owners)

    def held_by(self, owner: str) -> bool:
        return owner in self._owners

    # -- showing the state -----------------------------------------------------------------------------

    def show_state(self, state: SessionState) -> None:
        self._syncing = True
        try:
            self.panel.show_source(state.source)
            if state.source is not None:
                self.set_face_mode(state.source.generator_id)
            self.show(state)
        finally:
            self._syncing = False

    def show(self, state: SessionState) -> None:
        if self.held():
            return  # while an edit or an inversion runs the canvas shows its previews
        record = state.edit
        if record is not None:
            if record.source is not self._shown_source or not self.canvas.has_source():
                self.canvas.set_source(record.source_image)
            remember(self.source_images, record.source, record.source_image)
            self._shown_source = record.source
            self.mixer.set_strength_owned(record.own_strength)
            image = self._edit_image_at(record, record.strength_shown(state.settings.strength))
            if image is not None:
                self.canvas.set_edit(image)
            elif self._shown_edit != record.number:
                self.canvas.set_edit(record.image)
            self._shown_edit = record.number
            return
        self._shown_edit = None
        self.mixer.set_strength_owned(False)
        self.canvas.set_edit(None)
        if state.source is not self._shown_source:
            self._shown_source = state.source
            cached = self.source_images.get(state.source) if state.source is not None else None
            self.canvas.set_source(cached)
            if cached is None and state.source is not None:
                self.request_source(state.source)

    def show_again(self) -> None:
        """Draw the state afresh (after previews of an edit or an inversion that did not land)."""
        self._shown_source = None
        self.show(self.session.state)

    def remember_source(self, source: Source, image: np.ndarray) -> None:
        remember(self.source_images, source, image)

    def set_face_mode(self, generator_id: str) -> None:
        self.mixer.set_face_mode(domain_of(self.models.provider, generator_id) == "face")

    def _edit_image_at(self, record: EditRecord, strength: float) -> np.ndarray | None:
        """The edit at ``strength`` if known; otherwise None, and the task thread is asked to render it."""
        if strength == 1.0:
            return record.image
        if strength == 0.0:
            return record.source_image
        cached = self.strength_images.get((record.number, strength))
        if cached is not None:
            return cached
        self.worker.submit(StrengthTask(record, strength, self.session.settings.device))
        return None

    def request_source(self, source: Source | None) -> None:
        if source is None or self.models.missing:
            return
        self.canvas.set_placeholder("Making the picture…")
        self._source_task = RenderSourceTask(source, self.session.settings.device)
        self.worker.submit(self._source_task)

    # -- where the picture comes from ------------------------------------------------------------------

    def new_random_source(self) -> None:
        source = self.session.state.source
        truncation = source.truncation if source is not None and source.latent is None else 0.7
        self.session.set_source(Source(generator_id=self.models.generator_id() or self.panel.generator_id(),
                                       seed=random.randint(0, MAX_SEED), truncation=truncation),
                                "New random picture")

    def open_latent(self, path: str) -> None:
        self.worker.submit(OpenLatentTask(path))

    def _seed_changed(self, seed: int, truncation: float) -> None:
        if self._syncing:
            return
        self.session.set_source(Source(generator_id=self.panel.generator_id(), seed=seed, truncation=truncation),
                                "Change seed")

    def _generator_changed(self, generator_id: str) -> None:
        if self._syncing or not generator_id:
            return
        self.prefs.save_generator(generator_id)
        self.set_face_mode(generator_id)
        source = self.session.state.source
        seed = source.seed if source is not None and source.seed is not None else 0
        truncation = source.truncation if source is not None else 0.7
        self.models.refresh(generator_id)
        self.session.set_source(Source(generator_id=generator_id, seed=seed, truncation=truncation),
                                "Change generator")
        if self.models.check():
            self.feedback.clear("models")

    # -- answers from the task thread ------------------------------------------------------------------

    def _finished(self, task: object, result: Any) -> None:
        if isinstance(task, RenderSourceTask):
            self._source_rendered(task, result)
        elif isinstance(task, StrengthTask):
            self._strength_rendered(task, result)
        elif isinstance(task, OpenLatentTask):
            self.prefs.add_recent(task.path)
            self.session.set_source(Source(generator_id=self.models.generator_id(), seed=None, latent=result,
                                           latent_path=task.path), f"Open latent {Path(task.path).name}")

    def _source_rendered(self, task: RenderSourceTask, image: np.ndarray) -> None:
        source = self.session.state.source
        if task is not self._source_task or source is None:
            return
        remember(self.source_images, source, image)
        if self.session.state.edit is None and not self.held():
            self.canvas.set_source(image)
        self.feedback.status(f"Picture from {source.describe()}")

    def _strength_rendered(self, task: StrengthTask, image: np.ndarray) -> None:
        number = task.record.number
        remember(self.strength_images, (number, task.strength), image)
        state = self.session.state
        if (not self.held() and state.edit is not None and state.edit.number == number
                and state.settings.strength == task.strength):
            self.canvas.set_edit(image)
        self.strengthRendered.emit(number, task.strength, image)

    def _failed(self, task: object, message: str) -> None:
        if isinstance(task, RenderSourceTask):
            self.canvas.set_placeholder(f"Could not make the picture: {message}")
            self.feedback.show_message(f"Could not make the picture: {message}", "error")
        elif isinstance(task, StrengthTask):
            self.feedback.show_message(f"Could not change the strength: {message}", "error")
        elif isinstance(task, OpenLatentTask):
            self.feedback.show_message(f"Could not open the latent: {message}", "error")
