"""Directions for a generator: the one-off precompute that makes any CLIP-space target an instant edit.

The gradient of cos(CLIP(G(w)), t) with respect to the latent is linear in the target t:
J^T (I - e e^T) t / |e|. Averaged over sample latents it is a D x 512 map A (D = n_latent x 512),
too costly to measure whole (512 backward passes a latent). Two passes measure the part of it
that matters (docs/instant.md):

1. probe: A Omega for K CLIP-space directions Omega (the label texts' mean and principal
   directions), K backward passes a latent; its orthonormal range Q (D x K) is where CLIP responds;
2. response: Q^T A, the average CLIP response of each of those K latent atoms, by central finite
   differences (2K forward passes a latent, no graph);
3. calibrate: the length of strength 1, the minimum of the paper's own objective along the
   direction, found on a few held-out latents and label texts.

A target then becomes ``gain * Q (R t)``: two small matrix products. Every unit of work adds to
float64 sums saved atomically in a side file, so a killed or cancelled build resumes where it
stopped, and the final file appears only whole (temp file + os.replace).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.engine.clip_space import normalize
from sgim_desktop.engine.directions_file import (
    METHOD,
    VERSION,
    Directions,
    clip_fingerprint,
    file_sha256,
    read_partial,
    write_directions,
    write_partial,
)
from sgim_desktop.engine.edit import COS_SCALE, EditModels, clip_view
from sgim_desktop.errors import BadInputError, Cancelled

LABEL_LISTS = ("esc50", "vggsound")
CALIBRATION_MULTIPLIERS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
LAMBDA_SIM = 0.008  # the paper's L2 weight: strength 1 is the minimum of its objective
# Seeds of the three samples of latents, apart so that no latent is used twice.
_SEED_OFFSETS = {"probe": 1_000, "response": 2_000, "calibrate": 3_000}
# Cost of a unit of work in generator-and-CLIP forward passes, for the ETA (a backward ~1.3 forwards).
_BACKWARD_COST = 1.3


@dataclass(frozen=True)
class DirectionsSettings:
    """How much is measured. The defaults fit the 256 px budget (30 min on a 2-core CPU)."""

    basis: int = 48  # K: CLIP-space probe directions, and latent atoms
    probe_latents: int = 6
    response_latents: int = 12
    calibrate_latents: int = 3
    calibrate_targets: int = 3
    chunk: int = 16  # atoms per unit of work (what a kill can lose)
    probe_step: float = 0.5  # the finite difference's half step, in W+ units
    truncation: float = 0.7
    seed: int = 0
    labels: tuple[str, ...] = LABEL_LISTS  # label lists whose texts give the probe directions

    def check(self) -> None:
        counts = (self.basis, self.probe_latents, self.response_latents, self.calibrate_latents,
                  self.calibrate_targets, self.chunk)
        if min(counts) < 1:
            raise BadInputError("every count of the directions build must be at least 1")
        if self.basis > 512:
            raise BadInputError("the basis cannot have more than 512 directions (CLIP's dimension)")
        if not (self.probe_step > 0 and math.isfinite(self.probe_step)):
            raise BadInputError("the finite difference step must be a positive number")


@dataclass
class BuildStep:
    """Progress of a build: units of work done of total, weighted by their cost for the ETA."""

    stage: str
    done: int
    total: int
    fraction: float
    elapsed_s: float
    eta_s: float | None


@dataclass
class _Unit:
    stage: str  # probe | response | calibrate
    latent: int
    part: int  # chunk of atoms, or the calibration target
    cost: float


@dataclass
class _State:
    """What the side file holds: the sums so far and how many units made them."""

    done: int = 0
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def default_path(generator: str | Path) -> Path:
    """Beside the generator (in the models folder for a catalog generator)."""
    generator = Path(generator)
    return generator.with_name(generator.stem + ".directions.safetensors")


def partial_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".partial")


class DirectionsBuild:
    """The precompute as a run: iterate for BuildStep, ``cancel()`` between units, ``result`` at the end.

    ``generator_file`` is hashed to stamp the file; ``out`` defaults to ``default_path``.
    """

    def __init__(self, models: EditModels, clip: torch.nn.Module, generator_file: str | Path,
                 out: str | Path | None = None, settings: DirectionsSettings | None = None,
                 cancel: threading.Event | None = None, conv_dtype: torch.dtype | None = None):
        self.settings = settings or DirectionsSettings()
        self.settings.check()
        self.models, self.clip = models, clip
        self.generator_file = Path(generator_file)
        self.out = Path(out) if out is not None else default_path(generator_file)
        self.partial = partial_path(self.out)
        self.cancel_event = cancel or threading.Event()
        self.conv_dtype = conv_dtype
        self.result: Directions | None = None
        self.resumed_units = 0
        self._iter = self._run()

    def cancel(self) -> None:
        self.cancel_event.set()

    def __iter__(self) -> Iterator[BuildStep]:
        return self._iter

    def __next__(self) -> BuildStep:
        return next(self._iter)

    def run_to_end(self) -> Directions:
        for _ in self:
            pass
        assert self.result is not None
        return self.result

    # -- identity and plan -----------------------------------------------------------------------

    def _key(self) -> dict:
        g = self.models.generator.config
        return {"method": METHOD, "version": VERSION, "generator_sha256": file_sha256(self.generator_file),
                "clip": clip_fingerprint(self.clip), "size": g.size, "n_latent": g.n_latent,
                "settings": asdict(self.settings)}

    def _units(self) -> list[_Unit]:
        s = self.settings
        chunks = math.ceil(s.basis / s.chunk)
        units = [_Unit("probe", i, j, 1 + _BACKWARD_COST * min(s.chunk, s.basis - j * s.chunk))
                 for i in range(s.probe_latents) for j in range(chunks)]
        units += [_Unit("response", i, j, 2 * min(s.chunk, s.basis - j * s.chunk))
                  for i in range(s.response_latents) for j in range(chunks)]
        units += [_Unit("calibrate", i, m, len(CALIBRATION_MULTIPLIERS))
                  for i in range(s.calibrate_latents) for m in range(s.calibrate_targets)]
        return units

    # -- the run ---------------------------------------------------------------------------------

    def _run(self) -> Iterator[BuildStep]:
        key = self._key()
        units = self._units()
        state = self._resume(key)
        total_cost = sum(u.cost for u in units)
        started = time.perf_counter()
        cost_done_before = sum(u.cost for u in units[: state.done])
        cost_now = 0.0
        for index in range(state.done, len(units)):
            if self.cancel_event.is_set():
                raise Cancelled(f"directions build cancelled; {index} of {len(units)} parts are kept in {self.partial.name}")
            unit = units[index]
            self._prepare_stage(unit.stage, state)
            getattr(self, f"_{unit.stage}")(unit, state)
            state.done = index + 1
            write_partial(self.partial, key, state.done, state.tensors)
            cost_now += unit.cost
            elapsed = time.perf_counter() - started
            remaining = total_cost - cost_done_before - cost_now
            yield BuildStep(stage=unit.stage, done=state.done, total=len(units),
                            fraction=(cost_done_before + cost_now) / total_cost, elapsed_s=elapsed,
                            eta_s=elapsed / cost_now * remaining)
        self.result = self._finish(key, state)
        write_directions(self.out, self.result)
        self.partial.unlink(missing_ok=True)

    def _resume(self, key: dict) -> _State:
        found = read_partial(self.partial, key)
        if found is None:
            self.partial.unlink(missing_ok=True)
            return self._fresh()
        done, tensors = found
        self.resumed_units = done
        return _State(done=done, tensors=tensors)

    def _fresh(self) -> _State:
        s = self.settings
        texts = _label_embeddings(self.clip, self.models.device, s.labels)
        omega = _probe_directions(texts, s.basis, s.seed)
        picks = torch.linspace(0, len(texts) - 1, s.calibrate_targets).round().long()
        g = self.models.generator.config
        d = g.n_latent * g.style_dim
        return _State(tensors={
            "omega": omega,
            "calibration_targets": texts[picks].double(),
            "probe_sum": torch.zeros(d, s.basis, dtype=torch.float64),
            "response_sum": torch.zeros(s.basis, 512, dtype=torch.float64),
            "calibration_sum": torch.zeros(len(CALIBRATION_MULTIPLIERS), dtype=torch.float64),
        })

    def _prepare_stage(self, stage: str, state: _State) -> None:
        if stage == "response" and "basis" not in state.tensors:
            state.tensors["basis"] = _orthonormal_range(state.tensors["probe_sum"])

    # -- units of work -----------------------------------------------------------------------------

    def _latent(self, stage: str, index: int) -> torch.Tensor:
        return sample_latent(self.models, self.settings.seed + _SEED_OFFSETS[stage] + index, self.settings.truncation)

    def _embed(self, w: torch.Tensor) -> torch.Tensor:
        with lean.convolutions_in(self.conv_dtype):
            image = self.models.generator.synthesis(w)
        return normalize(self.clip.encode_image(clip_view(image)).float())  # type: ignore[operator]

    def _atoms(self, part: int) -> slice:
        c = self.settings.chunk
        return slice(part * c, min(self.settings.basis, (part + 1) * c))

    def _probe(self, unit: _Unit, state: _State) -> None:
        """K backward passes over one forward: the latent gradient of e . omega_k for each probe."""
        omega = state.tensors["omega"].float().to(self.models.device)
        x = self._latent("probe", unit.latent).requires_grad_(True)
        e = self._embed(x)[0]
        atoms = range(*self._atoms(unit.part).indices(self.settings.basis))
        for n, k in enumerate(atoms):
            (grad,) = torch.autograd.grad(e, x, grad_outputs=omega[k], retain_graph=n < len(atoms) - 1)
            state.tensors["probe_sum"][:, k] += grad.reshape(-1).double().cpu()

    def _response(self, unit: _Unit, state: _State) -> None:
        """Central differences of the unit embedding along each atom of the chunk."""
        q = state.tensors["basis"]
        atoms = self._atoms(unit.part)
        h = self.settings.probe_step
        w = self._latent("response", unit.latent)
        dirs = q[atoms].float().to(self.models.device).reshape(-1, *w.shape[1:])
        batch = torch.cat([w + h * dirs, w - h * dirs])
        with torch.no_grad():
            e = torch.cat([self._embed(b) for b in batch.split(_batch_size(w.shape[1]))])
        n = dirs.shape[0]
        state.tensors["response_sum"][atoms] += ((e[:n] - e[n:]) / (2 * h)).double().cpu()

    def _calibrate(self, unit: _Unit, state: _State) -> None:
        """The paper's objective at multiples of the linear model's optimum step, for one latent and target."""
        basis, response = state.tensors["basis"], state.tensors["response_sum"] / self.settings.response_latents
        t = state.tensors["calibration_targets"][unit.part]
        delta = (_linear_gain() * (response @ t) @ basis).float().to(self.models.device)
        w = self._latent("calibrate", unit.latent)
        delta = delta.reshape(w.shape)
        mults = torch.tensor(CALIBRATION_MULTIPLIERS, device=w.device).view(-1, 1, 1)
        with torch.no_grad():
            e = self._embed(w + mults * delta)
        cos = (e.double().cpu() @ t)
        sim = torch.tensor(CALIBRATION_MULTIPLIERS, dtype=torch.float64) ** 2 * float((delta.double() ** 2).sum())
        state.tensors["calibration_sum"] += 1 - cos * COS_SCALE + LAMBDA_SIM * sim

    def _finish(self, key: dict, state: _State) -> Directions:
        s = self.settings
        losses = state.tensors["calibration_sum"] / (s.calibrate_latents * s.calibrate_targets)
        best = 1 + int(torch.argmin(losses[1:]))  # a positive multiple: 0 is the source itself
        g = self.models.generator.config
        calibration = {"multipliers": list(CALIBRATION_MULTIPLIERS), "mean_objective": [round(float(x), 6) for x in losses],
                       "chosen": CALIBRATION_MULTIPLIERS[best]}
        basis = state.tensors["basis"]
        return Directions(
            basis=basis.float().reshape(-1, g.n_latent, g.style_dim).contiguous(),
            response=(state.tensors["response_sum"] / s.response_latents).float().contiguous(),
            gain=_linear_gain() * CALIBRATION_MULTIPLIERS[best],
            info={**{k: v for k, v in key.items() if k != "settings"}, "settings": key["settings"],
                  "calibration": calibration},
        )


# -- helpers -------------------------------------------------------------------------------------------


def _linear_gain() -> float:
    """The step that minimises the paper's objective 1 - s cos + lambda |dw|^2 to first order: s / (2 lambda)."""
    return COS_SCALE / (2 * LAMBDA_SIM)


def _batch_size(n_latent: int) -> int:
    """Forward passes batched per call: 8 up to 256 px (n_latent 14), 2 above (memory)."""
    return 8 if n_latent <= 14 else 2


def sample_latent(models: EditModels, seed: int, truncation: float) -> torch.Tensor:
    """A W+ latent as the edit draws a seed's: mapping, truncation toward the (seeded) mean, one per layer."""
    g = models.generator
    z = torch.randn(1, g.config.style_dim, generator=torch.Generator().manual_seed(seed)).to(models.device)
    with torch.no_grad():
        w = g.mapping(z)
        if truncation != 1.0:
            mean = models.mean_latent()
            w = mean + truncation * (w - mean)
    return w[:, None, :].repeat(1, g.config.n_latent, 1)


def _label_embeddings(clip: torch.nn.Module, device: torch.device, lists: tuple[str, ...]) -> torch.Tensor:
    """Unit CLIP embeddings of the shipped label lists (what sounds are heard as), float64 on the CPU."""
    import open_clip

    from sgim_desktop.engine.clip_space import CLIP_ARCH
    from sgim_desktop.engine.labels import load_labels

    labels = list(dict.fromkeys(label for name in lists for label in load_labels(name)))
    tokenizer = open_clip.get_tokenizer(CLIP_ARCH)
    out = []
    with torch.no_grad():
        for i in range(0, len(labels), 64):
            tokens = tokenizer(labels[i: i + 64]).to(device)
            out.append(normalize(clip.encode_text(tokens).float()).double().cpu())  # type: ignore[operator]
    return torch.cat(out)


def _probe_directions(texts: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """K orthonormal CLIP-space directions: the labels' mean, their principal directions, then random ones."""
    mean = texts.mean(0)
    centred = texts - mean
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    extra = torch.randn(max(0, k - 1 - vh.shape[0]), texts.shape[1], dtype=torch.float64,
                        generator=torch.Generator().manual_seed(seed))
    stack = torch.cat([mean[None], vh[: k - 1], extra])[:k]
    q, _ = torch.linalg.qr(stack.T)
    signs = torch.sign(torch.diagonal(q.T @ stack.T))
    return (q * torch.where(signs == 0, 1.0, signs)).T.contiguous()


def _orthonormal_range(y: torch.Tensor) -> torch.Tensor:
    """K orthonormal rows spanning the columns of Y (D x K), strongest first."""
    u, s, _ = torch.linalg.svd(y, full_matrices=False)
    if not bool(s.numel()) or not float(s[0]) > 0:
        raise BadInputError("the generator's picture does not respond to the latent: no directions can be measured")
    return u.T.contiguous()


def build_directions(models: EditModels, clip: torch.nn.Module, generator_file: str | Path,
                     out: str | Path | None = None, settings: DirectionsSettings | None = None,
                     cancel: threading.Event | None = None, conv_dtype: torch.dtype | None = None) -> DirectionsBuild:
    return DirectionsBuild(models, clip, generator_file, out, settings, cancel, conv_dtype)


