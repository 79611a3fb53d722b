"""The only bridge between the window and the engine: one QThread that does every heavy task.

The window calls the methods of ``EngineWorker`` from the GUI thread; each one only queues a job
and returns at once. The thread loads models, decodes and prepares sounds, says what it hears,
renders sources, opens photos (read, find faces, align, invert), runs edits, re-renders strengths and
writes exports (pasting an edited photo back), and answers with signals that carry numpy images and
plain data. While an edit or an inversion runs, the light jobs queued meanwhile (a dropped sound, a
strength change, an export) are served between optimisation steps, so the window never waits for it
to end. Every failure becomes a one-line message, never an exception in Qt.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, QThread, Signal

from sgim_desktop.errors import BadInputError, CheckpointError, SgimError
from sgim_desktop.session import EditRecord, MixSettings, PhotoOrigin, SoundClip, Source

if TYPE_CHECKING:
    import numpy as np
    import torch

    from sgim_desktop.checkpoints.manager import ModelManager
    from sgim_desktop.engine.edit import EditModels
    from sgim_desktop.engine.faces import Face

PREPARED_CACHE = 8
WORKER_NICE = 5


# -------------------------------------------------------------------------------------------------
# where the models come from


@dataclass(frozen=True)
class GeneratorChoice:
    """A generator the person can pick in the window."""

    id: str
    name: str
    domain: str | None
    resolution: int | None


class ModelProvider(Protocol):
    """What the window needs to know about models (cheap, GUI thread) and to load them (worker thread)."""

    def generators(self) -> list[GeneratorChoice]: ...

    def default_generator(self) -> str: ...

    def missing(self, generator_id: str) -> list[str]: ...

    def missing_ids(self, generator_id: str) -> list[str]: ...

    def load(self, generator_id: str, device: str) -> "EditModels": ...

    def perceptual(self, device: str) -> "torch.nn.Module | None": ...

    def face_encoder(self, generator_id: str, device: str) -> "torch.nn.Module | None": ...


class CatalogModels:
    """Models from the model manager's folder: the catalog's CLIP and audio encoder, the chosen generator.

    Nothing is downloaded here: a missing file is reported, and the models dialog fetches it.
    CLIP and the audio encoder are kept when only the generator changes.
    """

    def __init__(self, manager: "ModelManager | None" = None):
        self._manager = manager
        self._space: dict[str, Any] = {}
        self._generator: tuple[str, str, Any] | None = None
        self._identity: dict[str, Any] = {}
        self._perceptual: dict[str, Any] = {}
        self._encoder: tuple[str, str, Any] | None = None

    @property
    def manager(self) -> "ModelManager":
        if self._manager is None:
            from sgim_desktop.checkpoints.manager import ModelManager

            self._manager = ModelManager()
        return self._manager

    def generators(self) -> list[GeneratorChoice]:
        try:
            specs = self.manager.catalog.by_role("generator")
        except SgimError:
            return []
        return [GeneratorChoice(s.id, s.display_name, s.domain, s.resolution) for s in specs]

    def default_generator(self) -> str:
        try:
            return self.manager.catalog.default_for("generator").id
        except SgimError:
            return ""

    def _needed(self, generator_id: str) -> list[str]:
        catalog = self.manager.catalog
        ids = []
        for role in ("clip", "audio_encoder"):
            try:
                ids.append(catalog.default_for(role).id)
            except CheckpointError:
                pass
        if generator_id in catalog:
            ids.append(generator_id)
        return ids

    def missing_ids(self, generator_id: str) -> list[str]:
        try:
            return [i for i in self._needed(generator_id) if not self.manager.is_present(i)]
        except SgimError:
            return []

    def missing(self, generator_id: str) -> list[str]:
        try:
            return [self.manager.spec(i).display_name for i in self.missing_ids(generator_id)]
        except SgimError as exc:
            return [str(exc)]

    def load(self, generator_id: str, device: str) -> "EditModels":
        from sgim_desktop.engine.clip_space import ClipSpace, load_clip
        from sgim_desktop.engine.audio_encoder import load_audio_encoder
        from sgim_desktop.engine.edit import EditModels
        from sgim_desktop.engine.stylegan2 import load_generator

        missing = self.missing(generator_id)
        if missing:
            raise CheckpointError("missing models: " + "; ".join(missing) + " (open Tools > Models to get them)")
        manager = self.manager
        catalog = manager.catalog
        if device not in self._space:
            self._space.clear()
            clip = load_clip(manager.ensure(catalog.default_for("clip").id), device)
            encoder = load_audio_encoder(manager.ensure(catalog.default_for("audio_encoder").id), device)
            self._space[device] = ClipSpace(clip, encoder, device)
        if self._generator is None or self._generator[:2] != (generator_id, device):
            self._generator = None
            self._generator = (generator_id, device, load_generator(manager.ensure(generator_id), device=device))
        identity = None
        if catalog.get(generator_id).domain == "face":
            identity = self._load_identity(device)
        return EditModels(generator=self._generator[2], space=self._space[device], identity=identity)

    def _load_identity(self, device: str) -> Any:
        try:
            spec = self.manager.catalog.default_for("identity")
        except CheckpointError:
            return None
        if not self.manager.is_present(spec.id):
            return None
        if device not in self._identity:
            from sgim_desktop.engine.identity import IdentityLoss, load_arcface

            self._identity[device] = IdentityLoss(load_arcface(self.manager.ensure(spec.id), device=device)).to(device)
        return self._identity[device]

    def perceptual(self, device: str) -> Any:
        """LPIPS for inversions when its weights are downloaded, else None (the inversion uses pixels only)."""
        if device not in self._perceptual:
            from sgim_desktop.engine.perceptual import perceptual_from_manager

            net = perceptual_from_manager(self.manager, download=False, device=device)
            if net is None:
                return None  # not kept: it may be downloaded in the models window later
            self._perceptual = {device: net}
        return self._perceptual[device]

    def face_encoder(self, generator_id: str, device: str) -> Any:
        """The catalog's e4e encoder for this generator when it is downloaded, else None (mean-latent start).

        A damaged file raises CheckpointError; the photo job then says so and inverts from the mean.
        """
        try:
            catalog = self.manager.catalog
            spec = catalog.get(generator_id) if generator_id in catalog else None
            if spec is None:
                return None
            matches = [s for s in catalog.by_role("encoder")
                       if s.domain == spec.domain and s.resolution == spec.resolution]
            present = [s for s in matches if self.manager.is_present(s.id)]
        except CheckpointError:
            return None
        if not present:
            return None
        key = (present[0].id, device)
        if self._encoder is None or self._encoder[:2] != key:
            from sgim_desktop.engine.e4e import load_e4e

            self._encoder = None
            self._encoder = (*key, load_e4e(self.manager.ensure(present[0].id), device))
        return self._encoder[2]


class PrebuiltModels:
    """Models already in memory (tests, screenshots, embedding the window elsewhere)."""

    def __init__(self, models: "EditModels", generator_id: str = "prebuilt", name: str = "Prebuilt generator",
                 domain: str | None = None, perceptual: Any = None, encoder: Any = None):
        self.models = models
        self.choice = GeneratorChoice(generator_id, name, domain, None)
        self._perceptual = perceptual
        self._encoder = encoder

    def generators(self) -> list[GeneratorChoice]:
        return [self.choice]

    def default_generator(self) -> str:
        return self.choice.id

    def missing(self, generator_id: str) -> list[str]:
        return []

    def missing_ids(self, generator_id: str) -> list[str]:
        return []

    def load(self, generator_id: str, device: str) -> "EditModels":
        return self.models

    def perceptual(self, device: str) -> Any:
        return self._perceptual

    def face_encoder(self, generator_id: str, device: str) -> Any:
        return self._encoder


# -------------------------------------------------------------------------------------------------
# jobs


@dataclass
class EditJob:
    """One edit as the window asked for it: a snapshot, so later changes in the window cannot touch it."""

    number: int
    source: Source
    clips: tuple[SoundClip, ...]
    settings: MixSettings
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class PhotoJob:
    """One photo to open, as the window asked for it.

    ``domain`` is 'face' (find and align a face) or 'scene' (centre square); ``face`` picks one of
    several (0 = leftmost) and ``whole`` skips the face search. ``photo`` and ``faces`` are filled in
    once read, so a job asked ``again`` after a choice neither reads nor searches twice.
    """

    token: int
    path: str
    generator_id: str
    domain: str
    settings: MixSettings
    face: int | None = None
    whole: bool = False
    photo: "np.ndarray | None" = None
    faces: "list[Face] | None" = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return Path(self.path).name or self.path

    def again(self, token: int, settings: MixSettings, face: int | None = None, whole: bool = False) -> "PhotoJob":
        return replace(self, token=token, settings=settings, face=face, whole=whole, cancel=threading.Event())


@dataclass
class FoundFaces:
    """A photo whose face must be chosen: several, left to right, or none (``faces`` empty; ``problem``
    says why when faces could not be looked for at all, e.g. the detector's weights are missing)."""

    job: PhotoJob
    thumbnails: list["np.ndarray"]
    problem: str = ""

    @property
    def faces(self) -> "list[Face]":
        return self.job.faces or []


@dataclass
class InvertedPhoto:
    """A photo turned into a latent: the latent, the generator's rendering of it, and the photo behind it."""

    origin: PhotoOrigin
    latent: "torch.Tensor"
    image: "np.ndarray"
    steps: int
    seconds: float


@dataclass
class _Job:
    kind: str
    args: dict[str, Any]
    coalesce: str | None = None


# jobs that may run between the steps of an edit (they never swap the models the edit uses)
_LIGHT = {"open_sounds", "hear", "open_latent", "render_source", "strength", "export"}
_NEEDS_MODELS = {"render_source", "strength", "export", "hear"}


class _JobQueue:
    """FIFO of jobs where a new job with the same coalesce key replaces the waiting one."""

    def __init__(self) -> None:
        self._jobs: list[_Job | None] = []
        self._cond = threading.Condition()

    def put(self, job: _Job | None) -> None:
        with self._cond:
            if job is not None and job.coalesce is not None:
                self._jobs = [j for j in self._jobs if j is None or j.coalesce != job.coalesce]
            self._jobs.append(job)
            self._cond.notify()

    def take(self) -> _Job | None:
        with self._cond:
            while not self._jobs:
                self._cond.wait()
            return self._jobs.pop(0)

    def take_if(self, accept: Callable[[_Job], bool]) -> _Job | None:
        """The first waiting job that ``accept`` allows, without blocking; the stop marker is left in place."""
        with self._cond:
            for i, job in enumerate(self._jobs):
                if job is None:
                    return None
                if accept(job):
                    return self._jobs.pop(i)
            return None

    def clear(self) -> None:
        with self._cond:
            self._jobs.clear()


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


# -------------------------------------------------------------------------------------------------


def _message(exc: BaseException) -> str:
    """One line a person can act on; unexpected errors also leave their traceback on stderr."""
    if isinstance(exc, SgimError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory: try a smaller generator, fewer steps or the CPU device"
    if sys.stderr is not None:
        traceback.print_exception(exc, file=sys.stderr)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected error ({type(exc).__name__}{': ' + text if text else ''})"


class EngineWorker(QObject):
    """Queues engine work on its own thread and reports back with signals (all delivered in the GUI thread)."""

    modelsLoading = Signal(str)  # generator id
    modelsLoaded = Signal(str, str)  # generator id, device
    modelsFailed = Signal(str)  # message
    soundsOpened = Signal(int, list, list, str)  # batch, [SoundClip], [error message], mode
    heard = Signal(str, float, list)  # clip key, window start, [(label, probability)]
    latentOpened = Signal(str, object)  # path, latent tensor
    sourceRendered = Signal(int, object)  # token, HxWx3 uint8
    editStarted = Signal(int)  # edit number
    editProgress = Signal(int, int, int, float)  # edit number, step done, total, loss
    editPreview = Signal(int, object)  # edit number, HxWx3 uint8
    editFinished = Signal(object)  # EditRecord
    editCancelled = Signal(int, int)  # edit number, steps done
    editFailed = Signal(int, str)  # edit number, message
    photoStage = Signal(int, str)  # photo token, what happens now
    photoFaces = Signal(int, object)  # photo token, FoundFaces (a choice is needed)
    photoAligned = Signal(int, object)  # photo token, the aligned square HxWx3 uint8
    photoProgress = Signal(int, int, int, float)  # photo token, step done, total, PSNR (dB)
    photoPreview = Signal(int, object)  # photo token, HxWx3 uint8
    photoInverted = Signal(int, object)  # photo token, InvertedPhoto
    photoCancelled = Signal(int, int)  # photo token, steps done
    photoFailed = Signal(int, str)  # photo token, message
    strengthRendered = Signal(int, float, object)  # edit number, strength, HxWx3 uint8
    exported = Signal(str, str)  # kind, path
    failed = Signal(str, str)  # task, message

    def __init__(self, provider: ModelProvider, labels: str = "vggsound", parent: QObject | None = None):
        super().__init__(parent)
        self.provider = provider
        self.labels_name = labels
        self._queue = _JobQueue()
        self._thread = _Thread(self)
        self._models: EditModels | None = None
        self._models_key: tuple[str, str] | None = None
        self._prepared: dict[str, Any] = {}
        self._labels: list[str] | None = None
        self._current_cancel: threading.Event | None = None
        self._photo_cancel: threading.Event | None = None
        self._detector: Any = None
        self._lock = threading.Lock()
        self.edits_run = 0  # how many optimisations ran: a strength change must not add one

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._thread.isRunning():
            self._thread.start(QThread.Priority.LowPriority)

    def shutdown(self) -> bool:
        """Cancel what runs, drop what waits, and wait for the thread to end.

        The edit stops at the end of its current step; a Qt thread must never be destroyed while
        it runs, so this waits for as long as that step takes.
        """
        self.cancel_edit()
        self.cancel_photo()
        self._queue.clear()
        self._queue.put(None)
        return self._thread.wait() if self._thread.isRunning() else True

    def is_running(self) -> bool:
        return self._thread.isRunning()

    # -- requests (GUI thread) -------------------------------------------------------------------

    def load_models(self, generator_id: str, device: str) -> None:
        self._queue.put(_Job("load_models", {"generator_id": generator_id, "device": device}, "load_models"))

    def open_sounds(self, batch: int, items: list[tuple[str | None, Any]], mode: str) -> None:
        """Decode (paths) and prepare (paths and Sounds) in one go; ``mode`` travels back untouched."""
        self._queue.put(_Job("open_sounds", {"batch": batch, "items": items, "mode": mode}))

    def hear(self, clip: SoundClip, generator_id: str, device: str) -> None:
        self._queue.put(_Job("hear", {"clip": clip, "generator_id": generator_id, "device": device}, f"hear:{clip.key}"))

    def open_latent(self, path: str) -> None:
        self._queue.put(_Job("open_latent", {"path": path}))

    def render_source(self, token: int, source: Source, device: str) -> None:
        self._queue.put(_Job("render_source", {"token": token, "source": source, "device": device}, "render_source"))

    def start_edit(self, job: EditJob) -> None:
        with self._lock:
            self._current_cancel = job.cancel
        self._queue.put(_Job("edit", {"job": job}))

    def cancel_edit(self) -> None:
        """Stops the edit between two steps; safe from any thread."""
        with self._lock:
            if self._current_cancel is not None:
                self._current_cancel.set()

    def open_photo(self, job: PhotoJob) -> None:
        """Read, find the face, align and invert; a photo needing a choice comes back as ``photoFaces``."""
        with self._lock:
            self._photo_cancel = job.cancel
        self._queue.put(_Job("photo", {"job": job}))

    def cancel_photo(self) -> None:
        """Stops opening the photo (between two inversion steps); safe from any thread."""
        with self._lock:
            if self._photo_cancel is not None:
                self._photo_cancel.set()

    def render_strength(self, record: EditRecord, strength: float, device: str) -> None:
        """Only the newest strength waits: dragging the slider never builds a backlog."""
        self._queue.put(_Job("strength", {"record": record, "strength": strength, "device": device}, "strength"))

    def export(self, kind: str, path: str, record: EditRecord, strength: float, device: str) -> None:
        self._queue.put(_Job("export", {"kind": kind, "path": path, "record": record, "strength": strength,
                                        "device": device}))

    # -- the thread ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            job = self._queue.take()
            if job is None:
                return
            self._run(job)

    def _run(self, job: _Job) -> None:
        try:
            getattr(self, f"_do_{job.kind}")(**job.args)
        except Exception as exc:  # noqa: BLE001 (every failure becomes a message, never a crash)
            message = _message(exc)
            if job.kind == "edit":
                self.editFailed.emit(job.args["job"].number, message)
            elif job.kind == "photo":
                self.photoFailed.emit(job.args["job"].token, message)
            elif job.kind == "load_models":
                self.modelsFailed.emit(message)
            else:
                self.failed.emit(job.kind, message)

    def _serve_light_jobs(self) -> None:
        """Between two edit steps: run what was queued meanwhile and does not need other models."""

        def light(job: _Job) -> bool:
            if job.kind not in _LIGHT:
                return False
            if job.kind in _NEEDS_MODELS:
                return self._key_for(job.args) == self._models_key
            return True

        while (job := self._queue.take_if(light)) is not None:
            self._run(job)

    def _key_for(self, args: dict[str, Any]) -> tuple[str, str] | None:
        from sgim_desktop.commands.common import pick_device

        if "record" in args:
            generator_id = args["record"].source.generator_id
        elif "source" in args:
            generator_id = args["source"].generator_id
        else:
            generator_id = args.get("generator_id", "")
        try:
            return generator_id, pick_device(args.get("device", "auto"))
        except SgimError:
            return None

    def _ensure_models(self, generator_id: str, device: str) -> "EditModels":
        from sgim_desktop.commands.common import pick_device

        try:
            key = (generator_id, pick_device(device))
        except SgimError:
            raise BadInputError(f"the device '{device}' is not available here: choose Automatic or CPU") from None
        if self._models is not None and self._models_key == key:
            return self._models
        self.modelsLoading.emit(generator_id)
        self._models = None
        self._models_key = None
        models = self.provider.load(*key)
        self._models, self._models_key = models, key
        self.modelsLoaded.emit(generator_id, key[1])
        return models

    # -- the jobs (worker thread) ----------------------------------------------------------------

    def _do_load_models(self, generator_id: str, device: str) -> None:
        self._ensure_models(generator_id, device)

    def _do_open_sounds(self, batch: int, items: list[tuple[str | None, Any]], mode: str) -> None:
        """Decode and prepare each sound; a long one starts with its loudest ~10 s window heard."""
        from sgim_desktop.engine import audio

        clips: list[SoundClip] = []
        errors: list[str] = []
        for path, sound in items:
            try:
                if sound is None:
                    sound = audio.decode(path)
                prepared = audio.prepare(sound)
                start = audio.loudest_start_s(prepared)
            except Exception as exc:  # noqa: BLE001
                errors.append(_message(exc))
                continue
            clip = SoundClip(sound=sound, path=path, start_s=start)
            self._remember(clip.key, prepared)
            clips.append(clip)
        self.soundsOpened.emit(batch, clips, errors, mode)

    def _remember(self, key: str, prepared: Any) -> None:
        self._prepared.pop(key, None)
        self._prepared[key] = prepared
        while len(self._prepared) > PREPARED_CACHE:
            self._prepared.pop(next(iter(self._prepared)))

    def _prepared_for(self, clip: SoundClip) -> Any:
        from sgim_desktop.engine import audio

        prepared = self._prepared.get(clip.key)
        if prepared is None:
            prepared = audio.prepare(clip.sound)
        self._remember(clip.key, prepared)
        return prepared

    def _do_hear(self, clip: SoundClip, generator_id: str, device: str) -> None:
        from sgim_desktop.engine import audio
        from sgim_desktop.engine.labels import load_labels

        models = self._ensure_models(generator_id, device)
        if models.space is None:
            raise CheckpointError("hearing needs CLIP and the audio encoder")
        if self._labels is None:
            self._labels = load_labels(self.labels_name)
        emb = models.space.encode_sound(audio.encoder_input(self._prepared_for(clip), clip.start_s))
        top = models.space.hear(emb[0], self._labels, top_k=5)
        self.heard.emit(clip.key, clip.start_s, [(h.label, h.probability) for h in top])

    def _do_open_latent(self, path: str) -> None:
        from sgim_desktop.engine.edit import load_latent

        self.latentOpened.emit(path, load_latent(path))

    def _do_render_source(self, token: int, source: Source, device: str) -> None:
        from sgim_desktop.engine.edit import EditRequest, render, source_latent

        models = self._ensure_models(source.generator_id, device)
        request = EditRequest(targets=[], seed=source.seed, truncation=source.truncation, latent=source.latent)
        self.sourceRendered.emit(token, render(models, source_latent(models, request)))

    def _do_strength(self, record: EditRecord, strength: float, device: str) -> None:
        self.strengthRendered.emit(record.number, strength, self._image_at(record, strength, device))

    def _image_at(self, record: EditRecord, strength: float, device: str) -> Any:
        from sgim_desktop.engine.edit import render_strength

        if strength == 1.0:
            return record.image
        if strength == 0.0:
            return record.source_image
        models = self._ensure_models(record.source.generator_id, device)
        return render_strength(models, record.source_latent, record.latent, strength)

    def _do_export(self, kind: str, path: str, record: EditRecord, strength: float, device: str) -> None:
        from sgim_desktop.session import export_latent, export_png, side_by_side

        if kind == "latent":
            export_latent(record.latent_at(strength), path)
        elif kind == "photo":
            from sgim_desktop.engine.align import paste_back

            origin = record.source.photo
            if origin is None:
                raise BadInputError("this edit is not of a photo: export the picture instead")
            edited = self._image_at(record, strength, device)
            export_png(paste_back(origin.photo, edited, origin.aligned.alignment), path)
        elif kind == "side_by_side":
            export_png(side_by_side(record.source_image, self._image_at(record, strength, device)), path)
        else:
            export_png(self._image_at(record, strength, device), path)
        self.exported.emit(kind, str(Path(path)))

    def _do_edit(self, job: EditJob) -> None:
        from sgim_desktop.engine import audio
        from sgim_desktop.engine.edit import EditRequest, sound_target, start_edit, text_target

        settings = job.settings
        if job.cancel.is_set():
            self.editCancelled.emit(job.number, 0)
            return
        models = self._ensure_models(job.source.generator_id, settings.device)
        if models.space is None:
            raise CheckpointError("an edit needs CLIP and the audio encoder")
        if settings.lambda_id > 0 and models.identity is None:
            raise CheckpointError("the identity term (λ id) needs the face identity model (ArcFace): "
                                  "get it in Tools > Models, or set λ id to 0")
        targets = []
        for clip in job.clips:
            if clip.weight > 0:
                x = audio.encoder_input(self._prepared_for(clip), clip.start_s)
                targets.append(sound_target(models.space, x, clip.weight, clip.name))
        if settings.text.strip() and settings.text_weight > 0:
            targets.append(text_target(settings.text.strip(), settings.text_weight))
        request = EditRequest(
            targets=targets,
            seed=job.source.seed if job.source.latent is None else None,
            truncation=job.source.truncation,
            latent=job.source.latent,
            steps=settings.steps,
            lr=settings.lr,
            lambda_sim=settings.lambda_sim,
            lambda_id=settings.lambda_id,
            layer_masking=settings.layer_masking,
            mix_mode=settings.mix_mode,
            split_layer=settings.split_layer,
            preview_every=max(1, settings.preview_every),
            speed=settings.speed,
        )
        started = time.perf_counter()
        run = start_edit(models, request, job.cancel)
        self.edits_run += 1
        self.editStarted.emit(job.number)
        for step in run:
            self.editProgress.emit(job.number, step.step + 1, step.total, step.loss)
            if step.preview is not None:
                self.editPreview.emit(job.number, step.preview)
            self._serve_light_jobs()
        result = run.result
        if result is None or result.cancelled:
            self.editCancelled.emit(job.number, len(result.steps) if result else 0)
            return
        record = EditRecord(
            number=job.number,
            settings=settings,
            source=job.source,
            clips=job.clips,
            source_latent=result.source_latent,
            latent=result.latent,
            source_image=result.source_image,
            image=result.image,
            steps=len(result.steps),
            seconds=time.perf_counter() - started,
        )
        self.editFinished.emit(record)

    def _do_photo(self, job: PhotoJob) -> None:
        """Read the photo, find its faces (face domain), align the chosen one (or the centre), invert it."""
        from sgim_desktop.engine.images import load_image
        from sgim_desktop.engine.invert import (
            REFINE_LATENT_NOISE,
            REFINE_LR,
            InvertRequest,
            prepare_photo,
            start_inversion,
        )
        from sgim_desktop.engine.photo import face_thumbnails

        if job.cancel.is_set():
            self.photoCancelled.emit(job.token, 0)
            return
        photo = job.photo
        if photo is None:
            self.photoStage.emit(job.token, f"Reading {job.name}…")
            photo = load_image(job.path)
        use_faces = job.domain == "face" and not job.whole
        faces = job.faces
        if use_faces and faces is None:
            self.photoStage.emit(job.token, f"Looking for faces in {job.name}…")
            try:
                detector = self._face_detector()
            except CheckpointError as exc:
                self.photoFaces.emit(job.token, FoundFaces(replace(job, photo=photo), [], str(exc)))
                return
            faces = detector.detect(photo)
        job = replace(job, photo=photo, faces=faces)
        if use_faces and (not faces or (len(faces) > 1 and job.face is None)):
            self.photoFaces.emit(job.token, FoundFaces(job, face_thumbnails(photo, faces or [])))
            return
        if job.cancel.is_set():
            self.photoCancelled.emit(job.token, 0)
            return
        settings = job.settings
        models = self._ensure_models(job.generator_id, settings.device)
        self.photoStage.emit(job.token, "Aligning the face…" if use_faces else "Taking the centre square…")
        prepared = prepare_photo(photo, models.generator.config.size, domain="face" if use_faces else "scene",
                                 face=job.face, whole_image=not use_faces, faces=faces)
        self.photoAligned.emit(job.token, prepared.aligned.image)
        perceptual = self.provider.perceptual(self._models_key[1]) if self._models_key else None
        start = self._encoder_start(job, models, prepared.aligned.image) if use_faces else None
        refine = {"lr": REFINE_LR, "latent_noise": REFINE_LATENT_NOISE} if start is not None else {}
        request = InvertRequest(image=prepared.aligned.image, steps=max(1, settings.invert_steps), start=start,
                                preview_every=max(1, settings.preview_every), **refine)
        started = time.perf_counter()
        run = start_inversion(models, request, perceptual, job.cancel)
        self.photoStage.emit(job.token, f"Inverting {job.name}…")
        for step in run:
            self.photoProgress.emit(job.token, step.step + 1, step.total, step.psnr)
            if step.preview is not None:
                self.photoPreview.emit(job.token, step.preview)
            self._serve_light_jobs()
        result = run.result
        if result is None or result.cancelled:
            self.photoCancelled.emit(job.token, len(result.steps) if result else 0)
            return
        origin = PhotoOrigin(photo=photo, aligned=prepared.aligned, path=job.path, face=prepared.face_index,
                             faces=len(prepared.faces), psnr=result.psnr, perceptual=result.perceptual)
        self.photoInverted.emit(job.token, InvertedPhoto(origin=origin, latent=result.latent, image=result.image,
                                                         steps=len(result.steps),
                                                         seconds=time.perf_counter() - started))

    def _encoder_start(self, job: PhotoJob, models: Any, aligned: Any) -> Any:
        """The e4e encoder's latent for the aligned face, or None: no encoder, or one that cannot be used."""
        device = self._models_key[1] if self._models_key else "cpu"
        try:
            encoder = self.provider.face_encoder(job.generator_id, device)
            if encoder is None:
                return None
            self.photoStage.emit(job.token, "Encoding the face (e4e)…")
            from sgim_desktop.engine.e4e import encode

            return encode(encoder, aligned, models.device, generator=models.generator)
        except SgimError as exc:
            self.photoStage.emit(job.token, f"The e4e encoder cannot be used ({exc}); inverting from the mean face")
            return None

    def _face_detector(self) -> Any:
        if self._detector is None:
            from sgim_desktop.engine.faces import FaceDetector

            self._detector = FaceDetector()
        return self._detector
