"""The edit: optimise a StyleGAN2 W+ latent so the picture's CLIP embedding moves toward the sound's.

``start_edit(models, request)`` returns an ``EditRun``: iterate it for ``EditStep``s (losses every
step, a preview every k steps), then read ``run.result``. The default reproduces the original
``run_optimization.py`` loop: its learning-rate schedule (lr 0 at step 0), its CLIP input (nearest
x7 up-sampling, average pooling, no CLIP normalisation), its ``1 - cos * exp(0.07)`` loss and its
adaptive layer masking rule, with the mask sized to the generator's layers (the original hard-codes
14). Corrections of its quirks are options, never silent.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.engine import speed as speedup
from sgim_desktop.engine.clip_space import ClipSpace, normalize
from sgim_desktop.engine.identity import IdentityLoss
from sgim_desktop.engine.run import StepRun
from sgim_desktop.engine.schedule import get_lr as get_lr  # its old home: tests and the bench import it here
from sgim_desktop.engine.stylegan2 import StyleGAN2Generator
from sgim_desktop.errors import BadInputError

COS_SCALE = math.exp(0.07)
MEAN_LATENT_SEED = 3
MEAN_LATENT_SAMPLES = 4096


@dataclass(frozen=True)
class TargetSpec:
    """One thing the picture should move toward: a sound's unit embedding or a text, with a weight."""

    kind: Literal["sound", "text"]
    weight: float
    label: str
    embedding: torch.Tensor | None = None
    text: str | None = None


@dataclass
class EditRequest:
    """Everything one edit needs besides the models. Defaults are the original's settings."""

    targets: list[TargetSpec]
    seed: int | None = None
    truncation: float = 0.7
    latent: torch.Tensor | None = None
    steps: int = 300
    lr: float = 0.1
    lambda_sim: float = 0.008
    lambda_id: float = 0.0
    layer_masking: bool = False
    mix_mode: Literal["joint", "splice"] = "joint"
    split_layer: int = 8
    splice_coarse: Literal["sound", "text"] = "sound"
    preview_every: int = 10
    clip_input: Literal["original", "normalized"] = "original"
    final_image: Literal["original", "final_latent"] = "original"
    record: bool = False
    # exact: the original's computation (the parity reference). fast: bfloat16 convolutions where
    # they are native, else the same computation in 60% of the steps (engine/speed.py).
    speed: Literal["exact", "fast"] = "exact"
    # Where the optimisation starts when not at the source (a refine of an instant edit); the L2
    # term stays anchored at the source latent.
    start_latent: torch.Tensor | None = None


@dataclass
class EditStep:
    """What one optimisation step reports. Losses are evaluated before the step's update."""

    step: int
    total: int
    lr: float
    loss: float
    cos_loss: float
    sim_loss: float
    id_loss: float
    target_losses: dict[str, float]
    phase: str
    elapsed_s: float
    preview: np.ndarray | None = None
    mask: list[float] | None = None
    latent: torch.Tensor | None = None
    grad: torch.Tensor | None = None


@dataclass
class EditResult:
    source_latent: torch.Tensor
    latent: torch.Tensor
    source_image: np.ndarray
    image: np.ndarray
    steps: list[EditStep] = field(default_factory=list)  # losses per step; previews are not kept
    cancelled: bool = False
    phase_latents: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class EditModels:
    """Models loaded once and shared by every edit (the window keeps one of these)."""

    generator: StyleGAN2Generator
    space: ClipSpace | None = None
    identity: IdentityLoss | None = None
    _mean_latent: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        if self.space is not None:
            return self.space.device
        return next(self.generator.parameters()).device

    def mean_latent(self) -> torch.Tensor:
        """Mean W over 4096 seeded z: deterministic (the original draws it unseeded)."""
        if self._mean_latent is None:
            gen = torch.Generator().manual_seed(MEAN_LATENT_SEED)
            with torch.no_grad():
                z = torch.randn(MEAN_LATENT_SAMPLES, self.generator.config.style_dim, generator=gen)
                self._mean_latent = self.generator.mapping(z.to(self.device)).mean(0, keepdim=True)
        return self._mean_latent


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A generator image in [-1, 1] (1 x 3 x H x W) as H x W x 3 uint8, as save_image(range=(-1, 1)) wrote it."""
    x = image.detach()[0].float().clamp(-1, 1).add(1).div(2).mul(255).add(0.5).clamp(0, 255)
    return x.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def clip_view(image: torch.Tensor, mode: str = "original") -> torch.Tensor:
    """The 224 x 224 picture CLIP sees during the edit.

    ``original``: nearest x7 then average-pool by size // 32, raw [-1, 1] values (the original's
    input, which its settings were tuned with). ``normalized``: an area resize to 224 and CLIP's
    own mean/std, as CLIP was trained.
    """
    size = image.shape[-1]
    if mode == "original":
        if size % 32:
            raise BadInputError(f"generator size {size} is not a multiple of 32, which the original CLIP input needs")
        return speedup.original_clip_view(image)
    from sgim_desktop.engine.clip_space import CLIP_MEAN, CLIP_STD

    x = (image.clamp(-1, 1) + 1) / 2
    x = F.interpolate(x, size=(224, 224), mode="area" if size >= 224 else "bilinear")
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def source_latent(models: EditModels, request: EditRequest) -> torch.Tensor:
    """The W+ latent (1 x n_latent x 512) an edit starts from: a given latent or a seed with truncation."""
    g = models.generator
    n_latent = g.config.n_latent
    if request.latent is not None:
        w = torch.as_tensor(request.latent).float()
        if w.ndim == 2:
            w = w[None]
        if tuple(w.shape) != (1, n_latent, g.config.style_dim):
            raise BadInputError(
                f"the latent has shape {tuple(w.shape)}, but this {g.config.size}px generator needs "
                f"1 x {n_latent} x {g.config.style_dim}"
            )
        if not torch.isfinite(w).all():
            raise BadInputError("the latent holds NaN or infinite values")
        return w.to(models.device)
    if request.seed is None:
        raise BadInputError("an edit needs a source: a seed or a latent")
    gen = torch.Generator().manual_seed(int(request.seed))
    z = torch.randn(1, g.config.style_dim, generator=gen).to(models.device)
    with torch.no_grad():
        w = g.mapping(z)
        if request.truncation != 1.0:
            mean = models.mean_latent()
            w = mean + request.truncation * (w - mean)
    return w[:, None, :].repeat(1, n_latent, 1)


def load_latent(path: str | Path) -> torch.Tensor:
    """A latent file: a plain tensor (1 x n_latent x 512) saved with torch.save."""
    from sgim_desktop.checkpoints.safe_load import load_checkpoint
    from sgim_desktop.errors import CheckpointError

    try:
        obj = load_checkpoint(path)
    except CheckpointError as exc:
        raise BadInputError(str(exc).replace("checkpoint", "latent file", 1)) from exc
    if isinstance(obj, dict):
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
        obj = tensors[0] if len(tensors) == 1 else obj
    if not isinstance(obj, torch.Tensor):
        raise BadInputError(f"{path} does not hold a latent tensor (found {type(obj).__name__})")
    return obj.float()


def save_latent(latent: torch.Tensor, path: str | Path) -> None:
    """Write a latent atomically, so a cancelled or failed write never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    torch.save(latent.detach().cpu().float().clone(), tmp)
    tmp.replace(path)


def render(models: EditModels, latent: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return to_uint8(models.generator.synthesis(latent.to(models.device)))


def render_strength(models: EditModels, source: torch.Tensor, edited: torch.Tensor, strength: float) -> np.ndarray:
    """The edit at any strength without optimising again: G(w0 + a (w - w0))."""
    return render(models, blend(source, edited, strength))


def blend(source: torch.Tensor, edited: torch.Tensor, strength: float) -> torch.Tensor:
    return source + float(strength) * (edited - source)


def splice(coarse: torch.Tensor, fine: torch.Tensor, split_layer: int) -> torch.Tensor:
    """Layers [0, split) from ``coarse`` (shape, pose), the rest from ``fine`` (colour, texture)."""
    n = coarse.shape[1]
    k = max(0, min(int(split_layer), n))
    return torch.cat([coarse[:, :k], fine[:, k:]], dim=1)


class EditRun(StepRun[EditStep, EditResult]):
    """One running edit (an ``engine.run.Run``): EditSteps; ``result`` is set when it ends or is cancelled."""

    def __init__(self, models: EditModels, request: EditRequest, cancel: threading.Event | None = None):
        _validate(request)
        self.models = models
        self.request = request
        super().__init__(cancel)

    def _phases(self) -> list[tuple[str, list[TargetSpec]]]:
        req = self.request
        sounds = [t for t in req.targets if t.kind == "sound" and t.weight != 0]
        texts = [t for t in req.targets if t.kind == "text" and t.weight != 0]
        if req.mix_mode == "splice" and sounds and texts:
            return [("sound", sounds), ("text", texts)]
        return [("joint", sounds + texts)]

    def _steps(self) -> Iterator[EditStep]:
        req, models = self.request, self.models
        space = models.space
        if space is None:
            raise BadInputError("an edit needs CLIP and the audio encoder loaded")
        if models.device.type == "cpu":
            speedup.keep_freed_memory()
        g = models.generator
        fast = req.speed == "fast"
        resolution = speedup.optimisation_resolution(g.config.size, req.speed)
        conv_dtype = speedup.fast_convolution_dtype(models.device, g.config.size) if fast else None
        n_steps = speedup.fast_steps(req.steps, conv_dtype) if fast else req.steps
        w0 = source_latent(models, req)
        source_image = render(models, w0)
        identity, id_feats = None, None
        if req.lambda_id > 0:
            identity = models.identity
            if identity is None:
                raise BadInputError("lambda_id > 0 needs the ArcFace identity checkpoint (--identity)")
            with torch.no_grad():
                id_feats = identity.source_features(g.synthesis(w0))
        phases = self._phases()
        done_before = 0
        steps: list[EditStep] = []
        phase_latents: dict[str, torch.Tensor] = {}
        last_image = source_image
        latent = w0
        started = time.perf_counter()
        cancelled = False
        for p_index, (phase, targets) in enumerate(phases):
            embeds, weights, labels = self._target_tensors(space, targets)
            start = w0 if req.start_latent is None else req.start_latent.to(w0).reshape(w0.shape)
            latent = start.detach().clone().requires_grad_(True)
            optimizer = torch.optim.Adam([latent], lr=req.lr)
            mask = torch.ones(g.config.n_latent, device=models.device)
            schedule = speedup.FastSchedule(n_steps, req.lr, land_early=speedup.FAST_LAND_EARLY) if fast else None
            img_gen = None
            for i in range(n_steps):
                if self.cancel_event.is_set():
                    cancelled = True
                    break
                # The last step's image and graph go before this step's are made: alive through the
                # next forward pass they sat in the middle of the heap, splitting the holes that
                # the next step's activations would fit (the resident size follows the heap).
                img_gen = fi = per_target = cos_loss = loss = sim = None
                optimizer.zero_grad()
                lr = schedule.lr(i) if schedule is not None else get_lr(i / n_steps, req.lr)
                optimizer.param_groups[0]["lr"] = lr
                with lean.convolutions_in(conv_dtype):
                    img_gen = g.synthesis(latent, resolution=resolution, precise=not (fast and speedup.FAST_KERNELS))
                fi = normalize(space.clip.encode_image(clip_view(img_gen, req.clip_input)).float())
                per_target = 1 - (fi @ embeds.T)[0] * COS_SCALE
                cos_loss = (per_target * weights).sum()
                mask_before = mask.tolist() if req.layer_masking else None
                if req.layer_masking:
                    layer = ((w0 - latent) ** 2).sum(dim=(0, 2))
                    masked = torch.sigmoid(mask) * layer
                    sim = masked.sum()
                    ld = masked.detach().double()
                    mask = mask - (0.1 * ld * (1 - ld)).float()
                else:
                    sim = ((w0 - latent) ** 2).sum()
                loss = req.lambda_sim * sim + cos_loss
                id_value = 0.0
                if identity is not None and id_feats is not None:
                    i_loss = identity.forward_cached(img_gen, id_feats)
                    loss = loss + req.lambda_id * i_loss
                    id_value = float(i_loss.detach())
                loss.backward()
                grad = _recorded(latent.grad) if req.record else None
                optimizer.step()
                loss_value = float(loss.detach())
                if schedule is not None:
                    schedule.observe(i, loss_value)
                stop = schedule is not None and schedule.done(i + 1)
                preview = None
                k = max(1, req.preview_every)
                if i % k == 0 or i == n_steps - 1 or stop:
                    preview = self._preview(img_gen, latent, fast)
                    last_image = preview
                remaining_phases = (len(phases) - p_index - 1) * n_steps
                step = EditStep(
                    step=done_before + i,
                    total=done_before + (schedule.end if schedule is not None else n_steps) + remaining_phases,
                    lr=lr,
                    loss=loss_value,
                    cos_loss=float(cos_loss.detach()),
                    sim_loss=float(sim.detach()),
                    id_loss=id_value,
                    target_losses={lab: float(v) for lab, v in zip(labels, per_target.detach())},
                    phase=phase,
                    elapsed_s=time.perf_counter() - started,
                    preview=preview,
                    mask=mask_before,
                    latent=latent.detach().clone().cpu() if req.record else None,
                    grad=grad,
                )
                steps.append(replace(step, preview=None))
                yield step
                if stop:
                    break
            done_before = len(steps)
            phase_latents[phase] = latent.detach().clone()
            if cancelled:
                break
            if req.final_image == "original" and img_gen is not None and len(phases) == 1 and not fast:
                last_image = to_uint8(img_gen)
        final = self._combine(phase_latents, w0) if not cancelled else latent.detach().clone()
        if cancelled or req.final_image == "final_latent" or len(phases) > 1 or fast:
            image = render(models, final) if not cancelled else last_image
        else:
            image = last_image
        self.result = EditResult(
            source_latent=w0.detach().cpu(),
            latent=final.detach().cpu(),
            source_image=source_image,
            image=image,
            steps=steps,
            cancelled=cancelled,
            phase_latents={k: v.cpu() for k, v in phase_latents.items()},
        )

    def _preview(self, img_gen: torch.Tensor, latent: torch.Tensor, fast: bool) -> np.ndarray:
        """The step's picture at full size: the optimised image itself, or (fast mode, which
        optimises at a lower resolution) a no-grad render of the updated latent."""
        if img_gen.shape[-1] == self.models.generator.config.size:
            return to_uint8(img_gen)
        with torch.no_grad():
            return to_uint8(self.models.generator.synthesis(latent.detach(), precise=not (fast and speedup.FAST_KERNELS)))

    def _combine(self, phase_latents: dict[str, torch.Tensor], w0: torch.Tensor) -> torch.Tensor:
        if "joint" in phase_latents:
            return phase_latents["joint"]
        req = self.request
        coarse, fine = ("sound", "text") if req.splice_coarse == "sound" else ("text", "sound")
        return splice(phase_latents[coarse], phase_latents[fine], req.split_layer)

    def _target_tensors(self, space: ClipSpace,
                        targets: Sequence[TargetSpec]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        embeds = []
        for t in targets:
            if t.kind == "text":
                embeds.append(space.encode_text([t.text or t.label])[0])
            else:
                assert t.embedding is not None  # _validate refuses a sound target without one
                embeds.append(normalize(t.embedding.reshape(-1).float()))
        weights = torch.tensor([t.weight for t in targets], dtype=torch.float32)
        weights = weights / weights.sum()
        labels = _unique_labels([t.label for t in targets])
        return torch.stack(embeds).to(space.device), weights.to(space.device), labels


def _recorded(grad: torch.Tensor | None) -> torch.Tensor:
    """A copy of the latent's gradient, which ``backward`` has just filled, for ``EditRequest.record``."""
    assert grad is not None
    return grad.detach().clone().cpu()


def _unique_labels(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0)
        seen[lab] = n + 1
        out.append(lab if n == 0 else f"{lab} ({n + 1})")
    return out


def _validate(req: EditRequest) -> None:
    if req.steps < 1:
        raise BadInputError("steps must be at least 1")
    if not math.isfinite(req.lr) or req.lr <= 0:
        raise BadInputError("the learning rate must be a positive number")
    if req.lambda_sim < 0 or req.lambda_id < 0:
        raise BadInputError("lambda_sim and lambda_id cannot be negative")
    active = [t for t in req.targets if t.weight != 0]
    if not active:
        raise BadInputError("an edit needs a sound or a text with a weight other than 0")
    if any(t.weight < 0 for t in req.targets):
        raise BadInputError("target weights cannot be negative")
    for t in active:
        if t.kind == "sound" and t.embedding is None:
            raise BadInputError(f"the sound target {t.label!r} has no embedding")
        if t.kind == "text" and not (t.text or "").strip():
            raise BadInputError("the text prompt is empty")


def start_edit(models: EditModels, request: EditRequest, cancel: threading.Event | None = None) -> EditRun:
    return EditRun(models, request, cancel)


def sound_target(space: ClipSpace, encoder_input: torch.Tensor, weight: float = 1.0, label: str = "sound",
                 average: bool = False) -> TargetSpec:
    """A sound's target, embedded once: it never changes between steps."""
    emb = space.encode_sound(encoder_input, average=average)[0]
    return TargetSpec(kind="sound", weight=weight, label=label, embedding=emb)


def text_target(text: str, weight: float = 1.0) -> TargetSpec:
    return TargetSpec(kind="text", weight=weight, label=text, text=text)
