"""Instant edits: a target (sounds, text, their mixes) -> a latent step from the directions -> one render.

The edit loop's joint loss is the weighted mean of 1 - s cos(image, t_k), whose gradient is that of
cos(image, sum_k w_k t_k) with the weights summing to 1: so the target the directions see is that
weighted sum (``target_vector``), and a mix costs the same as one sound. Splice mixes take the
coarse layers from one kind's step and the fine layers from the other's, as the loop's splice does.

``strength`` scales the step (0 gives the source bit for bit); ``channels`` keeps only that many of
the step's largest W+ coordinates (disentanglement: fewer channels move, the rest of the picture
stays); ``layers`` limits the step to some generator layers (for faces: leave the coarse layers,
which hold pose and face shape, alone).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.engine import speed as speedup
from sgim_desktop.engine.clip_space import normalize
from sgim_desktop.engine.directions_file import Directions
from sgim_desktop.engine.edit import EditModels, EditRequest, EditRun, TargetSpec, render, splice, start_edit, to_uint8
from sgim_desktop.errors import BadInputError

IDENTITY_FIRST_LAYER = 4  # layers 0-3 (pose, head and face shape at 1024 px) stay when a face keeps its identity


def identity_layers(n_latent: int) -> tuple[int, ...]:
    """The layers an instant step may move when the face must stay the same person."""
    return tuple(range(min(IDENTITY_FIRST_LAYER, n_latent - 1), n_latent))


def parse_layers(spec: str, n_latent: int) -> tuple[int, ...]:
    """``"4-17"``, ``"4-"``, ``"2,5,8"`` or a mix, as generator layer numbers (refused when out of range)."""
    layers: set[int] = set()
    try:
        for part in (p.strip() for p in spec.split(",")):
            if "-" in part:
                lo, hi = part.split("-", 1)
                layers.update(range(int(lo), int(hi) + 1 if hi.strip() else n_latent))
            else:
                layers.add(int(part))
    except ValueError:
        raise BadInputError(f"--layers {spec!r}: give layer numbers such as 4-{n_latent - 1} or 2,5,8") from None
    if not layers or min(layers) < 0 or max(layers) >= n_latent:
        raise BadInputError(f"--layers {spec!r}: this generator's layers are 0-{n_latent - 1}")
    return tuple(sorted(layers))


@dataclass(frozen=True)
class InstantParams:
    """The sliders: how far the picture moves and how many latent channels move."""

    strength: float = 1.0
    channels: int | None = None  # None: every coordinate of the step moves
    layers: tuple[int, ...] | None = None  # None: every layer may move
    mix_mode: str = "joint"  # joint | splice
    split_layer: int = 8
    splice_coarse: str = "sound"

    def check(self, n_latent: int) -> None:
        if not np.isfinite(self.strength):
            raise BadInputError("the strength must be a finite number")
        if self.channels is not None and self.channels < 1:
            raise BadInputError("channels must be at least 1 (or all)")
        if self.layers is not None and (not self.layers or min(self.layers) < 0 or max(self.layers) >= n_latent):
            raise BadInputError(f"layers must lie between 0 and {n_latent - 1}")
        if self.mix_mode not in ("joint", "splice"):
            raise BadInputError(f"unknown mix mode {self.mix_mode!r}")


@dataclass
class InstantResult:
    source_latent: torch.Tensor
    latent: torch.Tensor
    image: np.ndarray
    direction_ms: float  # target ready -> latent
    render_ms: float  # latent -> picture


def target_vector(models: EditModels, targets: Sequence[TargetSpec]) -> torch.Tensor:
    """The weighted sum of the targets' unit embeddings (weights summing to 1), as the loop's gradient sees it."""
    active = [t for t in targets if t.weight != 0]
    if not active:
        raise BadInputError("an edit needs a sound or a text with a weight other than 0")
    if any(t.weight < 0 for t in active):
        raise BadInputError("target weights cannot be negative")
    texts = [t.text or t.label for t in active if t.kind == "text"]
    text_emb: Iterator[torch.Tensor] = iter(())
    if texts:
        if models.space is None:
            raise BadInputError("a text target needs CLIP loaded")
        text_emb = iter(models.space.encode_text(texts))
    total = sum(t.weight for t in active)
    vec = torch.zeros(512)
    for t in active:
        if t.kind == "text":
            emb = next(text_emb)
        elif t.embedding is None:
            raise BadInputError(f"the sound target {t.label!r} has no embedding")
        else:
            emb = t.embedding
        vec += (t.weight / total) * normalize(emb.reshape(-1).float().cpu())
    return vec


def step_for(directions: Directions, models: EditModels, targets: Sequence[TargetSpec],
             params: InstantParams) -> torch.Tensor:
    """The latent step (1 x n_latent x 512) of strength 1 for the targets, before channels/layers."""
    if params.mix_mode == "splice":
        sounds = [t for t in targets if t.kind == "sound" and t.weight != 0]
        texts = [t for t in targets if t.kind == "text" and t.weight != 0]
        if sounds and texts:
            d_sound = directions.delta(target_vector(models, sounds))[None]
            d_text = directions.delta(target_vector(models, texts))[None]
            coarse, fine = (d_sound, d_text) if params.splice_coarse == "sound" else (d_text, d_sound)
            return splice(coarse, fine, params.split_layer)
    return directions.delta(target_vector(models, targets))[None]


def disentangle(step: torch.Tensor, channels: int | None = None, layers: Sequence[int] | None = None) -> torch.Tensor:
    """The step with only its ``channels`` largest coordinates (within ``layers``) kept, the rest zero."""
    out = step
    if layers is not None:
        mask = torch.zeros(step.shape[1], dtype=torch.bool, device=step.device)
        mask[list(layers)] = True
        out = out * mask.view(1, -1, 1)
    if channels is not None and channels < out.numel():
        flat = out.reshape(-1)
        keep = torch.zeros_like(flat, dtype=torch.bool)
        keep[flat.abs().topk(channels).indices] = True
        out = torch.where(keep, flat, torch.zeros_like(flat)).reshape(step.shape)
    return out


def apply_step(source: torch.Tensor, step: torch.Tensor, params: InstantParams) -> torch.Tensor:
    """source + strength * the kept part of the step; strength 0 returns the source itself, bit for bit."""
    if params.strength == 0:
        return source.clone()
    kept = disentangle(step.to(source), params.channels, params.layers)
    return source + float(params.strength) * kept


def check_fits(directions: Directions, models: EditModels) -> None:
    n = models.generator.config.n_latent
    if directions.n_latent != n:
        raise BadInputError(f"the directions are for a generator with {directions.n_latent} layers, this one has {n}")


def instant_latent(models: EditModels, directions: Directions, source: torch.Tensor,
                   targets: Sequence[TargetSpec], params: InstantParams = InstantParams()) -> torch.Tensor:
    """The edited latent, in well under 50 ms once the targets are embedded."""
    check_fits(directions, models)
    params.check(models.generator.config.n_latent)
    return apply_step(source, step_for(directions, models, targets, params), params)


def quick_render(models: EditModels, latent: torch.Tensor, resolution: int | None = None) -> np.ndarray:
    """A picture for the screen, about twice as fast as ``render``: bfloat16 convolutions where they
    are native and pay (as fast mode, by the size rendered), else the faster, less accurate 3x3
    kernels; ``resolution`` stops the generator there (a preview: the layers above add only detail)."""
    dtype = speedup.fast_convolution_dtype(models.device, resolution or models.generator.config.size)
    with torch.no_grad(), lean.convolutions_in(dtype):
        image = models.generator.synthesis(latent.to(models.device), resolution=resolution, precise=dtype is not None)
    return to_uint8(image)


def instant_edit(models: EditModels, directions: Directions, source: torch.Tensor,
                 targets: Sequence[TargetSpec], params: InstantParams = InstantParams(),
                 exact: bool = True) -> InstantResult:
    """The edited latent and its picture (one generator pass: exact, or ``quick_render``'s for the screen)."""
    started = time.perf_counter()
    latent = instant_latent(models, directions, source, targets, params)
    ready = time.perf_counter()
    image = render(models, latent) if exact else quick_render(models, latent)
    done = time.perf_counter()
    return InstantResult(source_latent=source, latent=latent, image=image,
                         direction_ms=1000 * (ready - started), render_ms=1000 * (done - ready))


def start_refine(models: EditModels, request: EditRequest, start: torch.Tensor,
                 cancel: threading.Event | None = None) -> EditRun:
    """The paper's loop from an instant latent; its L2 term stays anchored at the request's source."""
    if models.space is None:
        raise BadInputError("refining needs CLIP and the audio encoder loaded")
    return start_edit(models, replace(request, start_latent=start.detach()), cancel)


def paper_objective(models: EditModels, latent: torch.Tensor, source: torch.Tensor, targets: Sequence[TargetSpec],
                    lambda_sim: float = 0.008) -> tuple[float, float]:
    """(CLIP loss, whole loss) of a latent as the paper's loop counts them: the weighted mean of
    1 - s cos over the targets, plus lambda_sim |w - w0|^2 (no layer masking, no identity term)."""
    from sgim_desktop.engine.edit import COS_SCALE, clip_view

    if models.space is None:
        raise BadInputError("the objective needs CLIP loaded")
    active = [t for t in targets if t.weight != 0]
    embeds = torch.stack([models.space.encode_text([t.text or t.label])[0] if t.kind == "text"
                          else normalize(t.embedding.reshape(-1).float().cpu()) for t in active])  # type: ignore[union-attr]
    weights = torch.tensor([t.weight for t in active]) / sum(t.weight for t in active)
    with torch.no_grad():
        w = latent.to(models.device)
        image = models.generator.synthesis(w)
        fi = normalize(models.space.clip.encode_image(clip_view(image)).float()).cpu()
        cos_loss = float(((1 - (fi @ embeds.T)[0] * COS_SCALE) * weights).sum())
        sim = float(((w - source.to(w)) ** 2).sum())
    return cos_loss, cos_loss + lambda_sim * sim


def steps_to_reach(losses: Sequence[float], final_loss: float, objective: float) -> int | None:
    """Updates a run needed to reach ``objective``: its step i reports the loss after i updates,
    ``final_loss`` the loss after the last; None when it never got there."""
    for i, loss in enumerate(losses):
        if loss <= objective:
            return i
    return len(losses) if final_loss <= objective else None
