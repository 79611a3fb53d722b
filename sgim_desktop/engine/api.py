"""The one door to the engine: what the window's tasks, the CLI, the bench, the self-test and the tests call.

Front ends describe work with the plain data of ``engine.plans`` and get models, targets, runs
(``engine.run``: steps with previews, cancel, a result) and pictures back. Whatever two front ends
would otherwise assemble the same way (targets, an EditRequest, an inversion's settings, a model
cache) is assembled here once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sgim_desktop.engine import audio
from sgim_desktop.engine.audio import Sound
from sgim_desktop.engine.clip_space import Heard
from sgim_desktop.engine.device import pick_device
from sgim_desktop.engine.edit import (
    EditModels,
    EditRequest,
    EditRun,
    TargetSpec,
    blend,
    load_latent,
    render,
    save_latent,
    sound_target,
    text_target,
)
from sgim_desktop.engine.edit import source_latent as _source_latent
from sgim_desktop.engine.export import side_by_side, write_image, write_latent
from sgim_desktop.engine.invert import REFINE_LATENT_NOISE, REFINE_LR, InvertRequest, InvertRun, PreparedPhoto
from sgim_desktop.engine.invert import prepare_photo as _prepare_photo
from sgim_desktop.engine.invert import start_inversion as _start_inversion
from sgim_desktop.engine.plans import EditPlan, ModelFiles, OpenedSound, PhotoPlan, Picture, SoundPick
from sgim_desktop.errors import BadInputError, CheckpointError

__all__ = [
    "EditModels", "EditPlan", "EditRun", "face_encoder_specs", "Heard", "InvertRun", "ModelCache", "ModelFiles", "OpenedSound",
    "PhotoPlan", "Picture", "PreparedPhoto", "Sound", "SoundPick", "blend", "build_targets", "edit_request", "encode_face",
    "hear", "inversion_request", "load_latent", "load_models", "open_sound", "pick_device", "prepare_photo",
    "render", "render_source", "render_strength", "save_latent", "source_latent", "start_edit",
    "start_inversion", "side_by_side", "write_image", "write_latent",
]


# -- models ----------------------------------------------------------------------------------------


def load_models(files: ModelFiles, device: str = "auto") -> EditModels:
    """Load one set of edit models; the generator alone renders, CLIP and the audio encoder edit."""
    return ModelCache().get(files, device)


class ModelCache:
    """Keeps what was loaded: CLIP and the audio encoder survive a change of generator, ArcFace a change of both.

    The window holds one for its whole life; a command uses one for its single load.
    """

    def __init__(self) -> None:
        self._space: tuple[tuple[Path, Path, str], object] | None = None
        self._generator: tuple[tuple[Path, str], object] | None = None
        self._identity: tuple[tuple[Path, str], object] | None = None

    def get(self, files: ModelFiles, device: str = "auto") -> EditModels:
        from sgim_desktop.engine.stylegan2 import load_generator

        device = pick_device(device)
        gen_key = (Path(files.generator), device)
        if self._generator is None or self._generator[0] != gen_key:
            self._generator = None  # the old generator goes before the new one loads
            self._generator = (gen_key, load_generator(files.generator, device=device))
        return EditModels(generator=self._generator[1], space=self._load_space(files, device),  # type: ignore[arg-type]
                          identity=self._load_identity(files, device))

    def _load_space(self, files: ModelFiles, device: str):
        from sgim_desktop.engine.audio_encoder import load_audio_encoder
        from sgim_desktop.engine.clip_space import ClipSpace, load_clip

        if files.clip is None or files.audio_encoder is None:
            return None
        key = (Path(files.clip), Path(files.audio_encoder), device)
        if self._space is None or self._space[0] != key:
            self._space = None
            space = ClipSpace(load_clip(files.clip, device), load_audio_encoder(files.audio_encoder, device), device)
            self._space = (key, space)
        return self._space[1]

    def _load_identity(self, files: ModelFiles, device: str):
        if files.identity is None:
            return None
        key = (Path(files.identity), device)
        if self._identity is None or self._identity[0] != key:
            from sgim_desktop.engine.identity import IdentityLoss, load_arcface

            self._identity = None
            self._identity = (key, IdentityLoss(load_arcface(files.identity, device=device)).to(device))
        return self._identity[1]


# -- sounds and targets ----------------------------------------------------------------------------


def open_sound(source: str | Path | Sound) -> OpenedSound:
    """Decode (a path) and prepare a sound once; a long one starts at its loudest ~10 s window."""
    sound = audio.decode(source) if not isinstance(source, Sound) else source
    prepared = audio.prepare(sound)
    warnings = tuple(getattr(prepared, "warnings", ()) or ()) + tuple(getattr(sound, "warnings", ()) or ())
    return OpenedSound(sound=sound, prepared=prepared, loudest_start_s=audio.loudest_start_s(prepared),
                       warnings=warnings)


def _needs_space(models: EditModels, what: str):
    if models.space is None:
        raise CheckpointError(f"{what} needs CLIP and the audio encoder")
    return models.space


def encoder_input(pick: SoundPick) -> torch.Tensor:
    """The encoder's input for one pick: its window, or all its windows when averaging."""
    if pick.average:
        return audio.encoder_inputs_all_windows(pick.prepared)
    return audio.encoder_input(pick.prepared, pick.start_s)


def build_targets(models: EditModels, sounds: Sequence[SoundPick] = (), text: str = "",
                  text_weight: float = 1.0) -> list[TargetSpec]:
    """The weighted targets of one edit: each sound with a positive weight, then the text if any."""
    space = _needs_space(models, "an edit") if any(p.weight > 0 for p in sounds) else None
    targets = []
    for pick in sounds:
        if pick.weight > 0 and space is not None:
            targets.append(sound_target(space, encoder_input(pick), pick.weight, pick.label, average=pick.average))
    if text.strip() and text_weight > 0:
        targets.append(text_target(text.strip(), text_weight))
    return targets


def hear(models: EditModels, pick: SoundPick, labels: list[str], top_k: int = 5) -> list[Heard]:
    """The labels nearest to what the audio encoder hears in the picked window."""
    space = _needs_space(models, "hearing")
    emb = space.encode_sound(encoder_input(pick), average=pick.average)
    return space.hear(emb[0], labels, top_k=top_k)


# -- edits -----------------------------------------------------------------------------------------


def edit_request(picture: Picture, targets: list[TargetSpec], plan: EditPlan) -> EditRequest:
    """The engine's request for one edit: the picture it starts from, the targets, the knobs."""
    return EditRequest(
        targets=targets,
        seed=picture.seed if picture.latent is None else None,
        truncation=picture.truncation,
        latent=picture.latent,
        steps=plan.steps,
        lr=plan.lr,
        lambda_sim=plan.lambda_sim,
        lambda_id=plan.lambda_id,
        layer_masking=plan.layer_masking,
        mix_mode=plan.mix_mode,
        split_layer=plan.split_layer,
        preview_every=max(1, plan.preview_every),
        clip_input=plan.clip_input,
        speed=plan.speed,
    )


def start_edit(models: EditModels, picture: Picture, targets: list[TargetSpec], plan: EditPlan,
               cancel: threading.Event | None = None) -> EditRun:
    """Start the paper's optimisation; iterate the run for its steps, read ``result`` at the end."""
    _needs_space(models, "an edit")
    if plan.lambda_id > 0 and models.identity is None:
        raise CheckpointError("the identity term (λ id) needs the face identity model (ArcFace): "
                              "get it in Tools > Models (or --identity), or set λ id to 0")
    from sgim_desktop.engine.edit import start_edit as _start_edit

    return _start_edit(models, edit_request(picture, targets, plan), cancel)


def source_latent(models: EditModels, picture: Picture) -> torch.Tensor:
    return _source_latent(models, edit_request(picture, [], EditPlan()))


def render_source(models: EditModels, picture: Picture) -> np.ndarray:
    return render(models, source_latent(models, picture))


def render_strength(models: EditModels, source: torch.Tensor, edited: torch.Tensor, strength: float) -> np.ndarray:
    """The edit at any strength without optimising again: G(w0 + a (w - w0))."""
    return render(models, blend(source, edited, strength))


# -- photos ----------------------------------------------------------------------------------------


def prepare_photo(models: EditModels, plan: PhotoPlan, faces: list | None = None) -> PreparedPhoto:
    """The square the generator should reproduce: the chosen aligned face, or the centre square."""
    use_faces = plan.domain == "face" and not plan.whole
    return _prepare_photo(plan.photo, models.generator.config.size, domain="face" if use_faces else "scene",
                          face=plan.face, whole_image=not use_faces, faces=faces)


def encode_face(encoder: torch.nn.Module, aligned: np.ndarray, models: EditModels) -> torch.Tensor:
    """The e4e encoder's W+ latent of an aligned face, checked to fit the generator."""
    from sgim_desktop.engine.e4e import encode

    return encode(encoder, aligned, models.device, generator=models.generator)  # type: ignore[arg-type]


def inversion_request(image: np.ndarray, steps: int, start: torch.Tensor | None = None,
                      preview_every: int = 10, lr: float | None = None,
                      optimize_noise: bool = False) -> InvertRequest:
    """An inversion from the mean latent, or a gentler refinement of an encoder's start."""
    if steps < 0:
        raise BadInputError("the number of inversion steps cannot be negative")
    schedule: dict[str, float] = {"lr": REFINE_LR, "latent_noise": REFINE_LATENT_NOISE} if start is not None else {}
    if lr is not None:
        schedule["lr"] = lr
    return InvertRequest(image=image, steps=steps, start=start, preview_every=max(1, preview_every),
                         optimize_noise=optimize_noise, **schedule)  # type: ignore[arg-type]


def start_inversion(models: EditModels, request: InvertRequest, perceptual: torch.nn.Module | None = None,
                    cancel: threading.Event | None = None) -> InvertRun:
    """Start turning an aligned square into a latent; iterate for steps, read ``result`` at the end."""
    return _start_inversion(models, request, perceptual, cancel)


def face_encoder_specs(manager, domain: str | None, size: int, present_only: bool = False) -> list:
    """The catalog's encoders (e4e) for a generator's domain and size, the default first."""
    specs = [s for s in manager.catalog.by_role("encoder") if s.domain == domain and s.resolution == size]
    specs.sort(key=lambda s: not s.default)
    return [s for s in specs if manager.is_present(s.id)] if present_only else specs


# -- the window's tasks: labels, photos, the optional networks -----------------------------------------


def load_labels(name_or_path: str) -> list[str]:
    """The labels a sound can be heard as: a shipped set by name, or a text file of one label a line."""
    from sgim_desktop.engine.labels import load_labels as _load_labels

    return _load_labels(name_or_path)


def read_photo(path: str | Path) -> np.ndarray:
    """A photo as HxWx3 uint8 RGB (orientation applied); a damaged or huge file is a BadInputError."""
    from sgim_desktop.engine.images import load_image

    return load_image(path)


def face_detector():
    """The MTCNN face detector (CheckpointError when its weights are not installed); keep it for reuse."""
    from sgim_desktop.engine.faces import FaceDetector

    return FaceDetector()


def face_thumbnails(photo: np.ndarray, faces: list) -> list[np.ndarray]:
    """One small square per face found, so a person can say which to edit."""
    from sgim_desktop.engine.photo import face_thumbnails as _face_thumbnails

    return _face_thumbnails(photo, faces)


def paste_back(photo: np.ndarray, edited: np.ndarray, alignment) -> np.ndarray:
    """The whole photo with the edited square blended back where it was taken from."""
    from sgim_desktop.engine.align import paste_back as _paste_back

    return _paste_back(photo, edited, alignment)


def perceptual_if_present(manager, device: str) -> torch.nn.Module | None:
    """The LPIPS network when both its files are in the models folder (never downloaded here), else None."""
    from sgim_desktop.engine.perceptual import perceptual_from_manager

    return perceptual_from_manager(manager, download=False, device=device)


def load_face_encoder(path: str | Path, device: str) -> torch.nn.Module:
    """An e4e encoder from its checkpoint file (CheckpointError when it is damaged or does not fit)."""
    from sgim_desktop.engine.e4e import load_e4e

    return load_e4e(path, device)
