"""One normalised 512-d space for text, images and sounds: CLIP ViT-B/32 (openai) plus the audio encoder.

CLIP is built by open_clip as ``ViT-B-32-quickgelu`` (the openai weights were trained with
QuickGELU) and filled from open_clip's state-dict file; OpenAI's own TorchScript ``ViT-B-32.pt``
carries code and is refused.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import operator
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F

from sgim_desktop.checkpoints.safe_load import layout_problem, load_checkpoint, state_dict_of
from sgim_desktop.engine.audio_encoder import AudioEncoder
from sgim_desktop.errors import BadInputError, CheckpointError

CLIP_ARCH = "ViT-B-32-quickgelu"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class _NoRandomWeightsNote(logging.Filter):
    """open_clip says "No pretrained weights loaded... initialized randomly" for every build without a
    download, although the weights are loaded right after: a false alarm in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")


_INITS = ("normal_", "trunc_normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
          "xavier_normal_", "zeros_", "ones_", "constant_")


@contextlib.contextmanager
def _no_random_init() -> Iterator[None]:
    """Layers keep their allocated (not drawn) values: every one is overwritten by a strict load next,
    and drawing ~150 M random numbers first costs seconds of a 'hear'."""
    saved = {name: getattr(torch.nn.init, name) for name in _INITS}
    try:
        for name in _INITS:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


def build_clip(random_init: bool = True) -> torch.nn.Module:
    """The ViT-B/32 architecture with no weights fetched; ``random_init=False`` when a full load follows."""
    import open_clip

    quiet = _NoRandomWeightsNote()
    logging.getLogger().addFilter(quiet)
    try:
        with contextlib.nullcontext() if random_init else _no_random_init():
            model = open_clip.create_model(CLIP_ARCH, pretrained=None, device="cpu")
    finally:
        logging.getLogger().removeFilter(quiet)
    return model.eval()


def _refuse_torchscript(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        raise CheckpointError(
            f"{path.name} is OpenAI's TorchScript archive, which carries code and is not loaded; "
            "use open_clip's open_clip_model.safetensors (sgim-desktop models download clip-vit-b-32-openai)"
        )


def load_clip(path_or_state: str | Path | dict, device: str | torch.device = "cpu") -> torch.nn.Module:
    if isinstance(path_or_state, dict):
        obj, name = path_or_state, "state dict"
    else:
        path = Path(path_or_state)
        if path.is_file():
            _refuse_torchscript(path)
        obj, name = load_checkpoint(path), str(path)
    try:
        sd = state_dict_of(obj)
    except CheckpointError as exc:
        raise CheckpointError(f"{name} is not a CLIP checkpoint: {exc}") from exc
    if sd and next(iter(sd)).startswith("module."):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    model = build_clip(random_init=False)
    problem = layout_problem(sd, model.state_dict())
    if problem:
        raise CheckpointError(f"{name} is not CLIP ViT-B/32 in open_clip/OpenAI naming: {problem}")
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.eval().requires_grad_(False).to(device)


def rule_weighted_clip() -> torch.nn.Module:
    from sgim_desktop.synthetic_weights import fill_

    return fill_(build_clip(), "generic").eval().requires_grad_(False)


def normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@dataclass(frozen=True)
class TargetPart:
    """One ingredient of an edit target: a unit embedding and its weight."""

    embedding: torch.Tensor
    weight: float
    label: str


@dataclass(frozen=True)
class Heard:
    label: str
    probability: float
    cosine: float


@torch.no_grad()
def embed_sound(encoder: torch.nn.Module, x: torch.Tensor, average: bool = False) -> torch.Tensor:
    """Unit embeddings of N x 1 x 128 x 512 encoder inputs (one, pooled, with ``average``), on the CPU."""
    emb = normalize(encoder(x.to(next(encoder.parameters()).device)).float())
    if average:
        emb = normalize(emb.mean(dim=0, keepdim=True))
    return emb.cpu()


def rank_labels(sound_embedding: torch.Tensor, text: torch.Tensor, labels: Sequence[str], top_k: int = 5) -> list[Heard]:
    """The ``top_k`` labels by cosine to the sound, with softmax(100 * cosine) probabilities (CLIP's scale)."""
    cos = (normalize(sound_embedding.reshape(1, -1).float()) @ text.T)[0]
    prob = torch.softmax(100.0 * cos, dim=0)
    order = torch.argsort(prob, descending=True)[: max(1, top_k)]
    return [Heard(labels[i], float(prob[i]), float(cos[i])) for i in order.tolist()]


class ClipModel(Protocol):
    """What the edit needs of open_clip's CLIP (its own class carries no types)."""

    def encode_image(self, image: torch.Tensor) -> torch.Tensor: ...

    def encode_text(self, text: torch.Tensor) -> torch.Tensor: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def state_dict(self) -> dict[str, torch.Tensor]: ...


class ClipSpace:
    """Encodes text, images and sounds into CLIP's unit sphere; builds edit targets; labels sounds."""

    def __init__(self, clip: torch.nn.Module, audio_encoder: AudioEncoder, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.clip = cast(ClipModel, clip.to(self.device).eval().requires_grad_(False))
        self.audio_encoder = audio_encoder.to(self.device).eval().requires_grad_(False)
        self._tokenizer: Callable[[list[str]], torch.Tensor] | None = None
        self._text_cache: dict[str, torch.Tensor] = {}
        self.clip_file: Path | None = None  # where CLIP came from, when from a file: keys the label cache

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        if self._tokenizer is None:
            import open_clip

            self._tokenizer = open_clip.get_tokenizer(CLIP_ARCH)
        return self._tokenizer(list(texts))

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], batch: int = 64) -> torch.Tensor:
        """Unit embeddings of texts, cached (labels and prompts repeat)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            emb = normalize(self.clip.encode_text(self.tokenize(chunk).to(self.device)).float()).cpu()
            self._text_cache.update(zip(chunk, emb))
        if not texts:
            return torch.zeros(0, 512)
        return torch.stack([self._text_cache[t] for t in texts])

    @torch.no_grad()
    def encode_sound(self, x: torch.Tensor, average: bool = False) -> torch.Tensor:
        """Unit embeddings of encoder inputs; ``average`` pools many windows of one sound into one."""
        return embed_sound(self.audio_encoder, x, average)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Unit embeddings of pictures with CLIP's own preprocessing (resize to 224, mean/std).

        ``images``: float N x 3 x H x W in [0, 1], or uint8 H x W x 3 / N x H x W x 3.
        """
        x = torch.as_tensor(images)
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
            if x.ndim == 3:
                x = x[None]
            x = x.permute(0, 3, 1, 2)
        x = x.to(self.device).float()
        x = F.interpolate(x, size=(224, 224), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        mean = torch.tensor(CLIP_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD, device=self.device).view(1, 3, 1, 1)
        return normalize(self.clip.encode_image((x - mean) / std).float()).cpu()

    def target(self, parts: Sequence[TargetPart]) -> torch.Tensor:
        """The weighted mix of sound/text embeddings, back on the unit sphere (1 x 512)."""
        if not parts:
            raise BadInputError("an edit needs at least one sound or text target")
        total = sum(abs(p.weight) for p in parts)
        if total == 0:
            raise BadInputError("all target weights are zero: give the sound or the text a weight above 0")
        mix = functools.reduce(operator.add, [p.weight * p.embedding.reshape(1, -1).float() for p in parts])
        return normalize(mix)

    @torch.no_grad()
    def hear(self, sound_embedding: torch.Tensor, labels: Sequence[str], top_k: int = 5, template: str = "{}") -> list[Heard]:
        """Zero-shot: which labels lie closest to a sound, with softmax(100 * cosine) probabilities."""
        if not labels:
            raise BadInputError("the label list is empty")
        return rank_labels(sound_embedding, self.encode_text([template.format(label) for label in labels]), labels, top_k)
