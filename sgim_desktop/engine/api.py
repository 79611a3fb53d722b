"""The one door to the engine: what the window's tasks, the CLI, the bench, the self-test and the tests call.

Front ends describe work with the plain data of ``engine.plans`` and get models, targets, runs
(``engine.run``: steps with previews, cancel, a result) and pictures back. Whatever two front ends
would otherwise assemble the same way (targets, an EditRequest, an inversion's settings, a model
cache) is assembled here once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from sgim_desktop.engine import audio
from sgim_desktop.engine.audio import Sound
from sgim_desktop.engine.clip_space import ClipSpace, Heard
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
from sgim_desktop.engine.perceptual import Perceptual
from sgim_desktop.engine.plans import EditPlan, ModelFiles, OpenedSound, PhotoPlan, Picture, SoundPick
from sgim_desktop.errors import BadInputError, CheckpointError

__all__ = [
    "average_note", "blend", "build_targets", "edit_request", "EditModels", "EditPlan", "EditRun",
    "encode_face", "face_encoder_specs", "hear", "hear_in", "Heard", "inversion_request", "InvertRun",
    "load_clip_space", "load_latent", "load_models", "ModelCache", "ModelFiles", "open_sound", "OpenedSound",
    "PhotoPlan", "pick_device", "Picture", "prepare_photo", "PreparedPhoto", "render", "render_source",
    "render_strength", "save_latent", "side_by_side", "Sound", "SoundPick", "source_latent", "start_edit",
    "start_inversion", "window_start_s", "window_warnings", "write_image", "write_latent",
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
        if files.clip is None or files.audio_encoder is None:
            return None
        key = (Path(files.clip), Path(files.audio_encoder), device)
        if self._space is None or self._space[0] != key:
            self._space = None
            self._space = (key, load_clip_space(files.clip, files.audio_encoder, device))
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


def open_sound(source: str | Path | Sound, progress: Callable[[int, int], None] | None = None) -> OpenedSound:
    """Decode (a path) and prepare a sound once; a long one starts at its loudest ~10 s window.

    ``warnings`` says what the person should know: a file cut short, cleaned samples, silence.
    """
    sound = audio.decode(source) if not isinstance(source, Sound) else source
    prepared = audio.prepare(sound, progress=progress)
    start = audio.loudest_start_s(prepared)
    warnings = (*sound.warnings, *prepared.warnings, *audio.window_warnings(prepared, start))
    return OpenedSound(sound=sound, prepared=prepared, loudest_start_s=start, warnings=tuple(warnings))


def window_warnings(opened: OpenedSound, start_s: float) -> list[str]:
    """A note when the ~10 s window heard from ``start_s`` is silent."""
    return audio.window_warnings(opened.prepared, start_s)


def window_start_s(opened: OpenedSound, start_s: float) -> float:
    """Where the window heard from ``start_s`` really starts (snapped to the encoder's frames, clamped)."""
    prep = opened.prepared
    return audio.start_frame_for(start_s, prep.total_frames) * audio.HOP / audio.SAMPLE_RATE


def average_note(opened: OpenedSound) -> str:
    """What averaging all the windows of a long sound costs, in a line to show before doing it."""
    return audio.average_note(opened.prepared)


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


def load_clip_space(clip: Path, audio_encoder: Path, device: str = "auto") -> ClipSpace:
    """CLIP and the audio encoder alone: what hearing a sound needs (no generator)."""
    from sgim_desktop.engine.audio_encoder import load_audio_encoder
    from sgim_desktop.engine.clip_space import load_clip

    device = pick_device(device)
    space = ClipSpace(load_clip(clip, device), load_audio_encoder(audio_encoder, device), device)
    space.clip_file = Path(clip)
    return space


def hear_in(space: ClipSpace, pick: SoundPick, labels: list[str], top_k: int = 5,
            template: str = "{}") -> list[Heard]:
    """The labels nearest to what the audio encoder hears in the picked window (or the average of all).

    The labels' text embeddings come from the on-disk cache when CLIP came from a file."""
    emb = space.encode_sound(encoder_input(pick), average=pick.average)
    if space.clip_file is not None:
        from sgim_desktop.engine.label_cache import hear_cached

        return hear_cached(space, space.clip_file, emb[0], labels, top_k=top_k, template=template)
    return space.hear(emb[0], labels, top_k=top_k, template=template)


def hear_with_files(clip: Path, audio_encoder: Path, pick: SoundPick, labels: list[str], top_k: int = 5,
                    template: str = "{}", device: str = "auto") -> list[Heard]:
    """``hear_in`` from the files, loading CLIP only when the label cache lacks this CLIP file's embeddings
    of these labels: a warm ``hear`` needs the audio encoder alone (CLIP is ~0.6 GB to read and build)."""
    from sgim_desktop.engine.audio_encoder import load_audio_encoder
    from sgim_desktop.engine.clip_space import embed_sound, rank_labels
    from sgim_desktop.engine.label_cache import cached_embeddings

    if not labels:
        raise BadInputError("the label list is empty")
    text = cached_embeddings(clip, [template.format(label) for label in labels])
    if text is None:
        return hear_in(load_clip_space(clip, audio_encoder, device), pick, labels, top_k=top_k, template=template)
    encoder = load_audio_encoder(audio_encoder, pick_device(device))
    return rank_labels(embed_sound(encoder, encoder_input(pick), pick.average)[0], text, labels, top_k)


def hear(models: EditModels, pick: SoundPick, labels: list[str], top_k: int = 5) -> list[Heard]:
    """``hear_in`` with the edit models' CLIP space."""
    return hear_in(_needs_space(models, "hearing"), pick, labels, top_k)


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


def start_inversion(models: EditModels, request: InvertRequest, perceptual: Perceptual | None = None,
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


# -- instant edits and live mode (issue 18) -------------------------------------------------------------


def directions_files(generator_file: str | Path) -> tuple[Path, Path]:
    """Where a generator's directions live (beside it) and where an interrupted build keeps its work."""
    from sgim_desktop.engine.directions import default_path, partial_path

    out = default_path(generator_file)
    return out, partial_path(out)


def check_directions(generator_file: str | Path) -> None:
    """Read the directions beside the generator; CheckpointError (one line) when absent, damaged or another's."""
    from sgim_desktop.engine.directions_file import file_sha256, read_directions

    read_directions(directions_files(generator_file)[0], file_sha256(generator_file))


def load_directions(models: EditModels, generator_file: str | Path):
    """The generator's directions, checked against it and the CLIP loaded, on the models' device."""
    from sgim_desktop.engine.directions_file import clip_fingerprint, file_sha256, read_directions

    clip = clip_fingerprint(models.space.clip) if models.space is not None else None
    return read_directions(directions_files(generator_file)[0], file_sha256(generator_file), clip).to(models.device)


def build_directions(models: EditModels, generator_file: str | Path, settings=None,
                     cancel: threading.Event | None = None):
    """The one-off precompute as a run (BuildStep per unit of work, cancel between units, resumable)."""
    from sgim_desktop.engine import speed
    from sgim_desktop.engine.directions import build_directions as _build

    space = _needs_space(models, "building directions")
    dtype = speed.fast_convolution_dtype(models.device, models.generator.config.size)
    return _build(models, space.clip, generator_file, settings=settings, cancel=cancel, conv_dtype=dtype)


def channels_for(disentangle: float, n_latent: int) -> int | None:
    """The latent channels that move when ``disentangle`` (0 to below 1) of them are kept still; None: all."""
    if not 0 <= disentangle < 1:
        raise BadInputError("disentanglement is the share of channels kept still: at least 0 and below 1")
    return None if disentangle == 0 else max(1, round((1 - disentangle) * n_latent * 512))


def instant_params(models: EditModels, plan: EditPlan, strength: float = 1.0, disentangle: float = 0.0):
    """The instant edit's knobs: the sliders, and the mix of sound and text as the plan says. A plan that
    keeps a face's identity (an identity weight above 0) leaves the coarse layers where they are."""
    from sgim_desktop.engine.instant import InstantParams, identity_layers

    n_latent = models.generator.config.n_latent
    return InstantParams(strength=strength, channels=channels_for(disentangle, n_latent),
                         layers=identity_layers(n_latent) if plan.lambda_id > 0 else None,
                         mix_mode=plan.mix_mode, split_layer=plan.split_layer)


def instant_latent(models: EditModels, directions, source: torch.Tensor, targets: list[TargetSpec], params):
    """The edited latent: two small products once the targets are embedded (strength 0: the source)."""
    from sgim_desktop.engine.instant import instant_latent as _instant_latent

    return _instant_latent(models, directions, source, targets, params)


def quick_render(models: EditModels, latent: torch.Tensor, resolution: int | None = None) -> np.ndarray:
    """A picture for the screen, about twice as fast as ``render`` (``resolution``: stop the generator there)."""
    from sgim_desktop.engine.instant import quick_render as _quick_render

    return _quick_render(models, latent, resolution)


def start_refine(models: EditModels, picture: Picture, targets: list[TargetSpec], plan: EditPlan,
                 start: torch.Tensor, cancel: threading.Event | None = None) -> EditRun:
    """The paper's loop from an instant latent, its L2 term still anchored at the picture's source."""
    from sgim_desktop.engine.instant import start_refine as _start_refine

    _needs_space(models, "refining")
    return _start_refine(models, edit_request(picture, targets, plan), start, cancel)


def live_engine(models: EditModels, directions, source: torch.Tensor, params, extra_targets: Sequence[TargetSpec] = (),
                preview: int = 128, follow_loudness: bool = False):
    """Live mode's update: a buffer of sound -> target -> latent step -> a preview at ``preview`` px."""
    from sgim_desktop.engine.live import LiveEngine

    return LiveEngine(models, directions, source, params, extra_targets=extra_targets, preview=preview,
                      follow_loudness=follow_loudness)


def live_loop(engine, sample_rate: int, interval: float):
    """A ring buffer of the stream's last ~10 s and the loop that re-encodes it every ``interval`` s."""
    from sgim_desktop.engine.live import LiveLoop, RingBuffer

    return LiveLoop(engine, RingBuffer(sample_rate), interval=interval)


def latest_frame():
    """A one-frame mailbox: a new frame replaces an unread one (stale frames are dropped, never queued)."""
    from sgim_desktop.engine.live import LatestFrame

    return LatestFrame()


def likeness_db(image: np.ndarray, target: np.ndarray) -> float:
    """PSNR (dB) of a rendering against the square it should reproduce (both HxWx3 uint8)."""
    err = float(np.mean((image.astype(np.float64) - target.astype(np.float64)) ** 2))
    return float("inf") if err <= 0 else float(10.0 * np.log10(255.0**2 / err))
