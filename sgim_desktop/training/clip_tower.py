"""The frozen CLIP the audio encoder is trained into: the app's ViT-B/32, or another 512-d open_clip model.

CLIP never changes during training, so its text and image embeddings are computed once, up front.
``--clip-config`` builds a different open_clip architecture (an open_clip model name, or a JSON file
with ``embed_dim``, ``vision_cfg``, ``text_cfg`` and optionally ``quick_gelu``); its output must be
512-d like the audio encoder's. The tests use it for a tiny CLIP.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sgim_desktop.checkpoints.safe_load import load_checkpoint, state_dict_of
from sgim_desktop.engine.clip_space import CLIP_ARCH, load_clip, normalize
from sgim_desktop.errors import BadInputError, CheckpointError

EMBED_DIM = 512


def read_clip_config(value: str | Path) -> dict:
    """An open_clip model name or a JSON file -> the model config dict."""
    path = Path(value)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInputError(f"cannot read the CLIP config {path}: {exc}") from exc
    else:
        import open_clip

        cfg = open_clip.get_model_config(str(value))
        if cfg is None:
            raise BadInputError(f"{value!r} is neither a JSON file nor an open_clip model name")
    for key in ("embed_dim", "vision_cfg", "text_cfg"):
        if key not in cfg:
            raise BadInputError(f"the CLIP config {value} lacks '{key}'")
    if int(cfg["embed_dim"]) != EMBED_DIM:
        raise BadInputError(f"the CLIP config {value} has embed_dim {cfg['embed_dim']}; the audio encoder needs {EMBED_DIM}")
    return cfg


def build_clip_from_config(cfg: dict) -> nn.Module:
    import open_clip

    return open_clip.CLIP(
        embed_dim=int(cfg["embed_dim"]),
        vision_cfg=cfg["vision_cfg"],
        text_cfg=cfg["text_cfg"],
        quick_gelu=bool(cfg.get("quick_gelu", False)),
    )


@dataclass
class ClipTower:
    """A frozen CLIP with its tokenizer length and image size, embedding texts and picture files."""

    model: nn.Module
    device: torch.device
    name: str

    @property
    def context_length(self) -> int:
        return int(getattr(self.model, "context_length", 77))

    @property
    def image_size(self) -> int:
        size = getattr(self.model.visual, "image_size", 224)
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch: int = 256) -> torch.Tensor:
        """Unit embeddings, N x 512 float32 on the CPU."""
        import open_clip

        out = []
        for i in range(0, len(texts), batch):
            tokens = open_clip.tokenize(list(texts[i : i + batch]), context_length=self.context_length).to(self.device)
            out.append(normalize(self.model.encode_text(tokens).float()).cpu())
        return torch.cat(out) if out else torch.zeros(0, EMBED_DIM)

    @torch.no_grad()
    def encode_image_files(self, paths: Sequence[Path], batch: int = 64) -> torch.Tensor:
        """Unit embeddings of pictures with CLIP's evaluation preprocessing (resize, centre crop, normalise)."""
        import open_clip
        from PIL import Image, UnidentifiedImageError

        transform = open_clip.image_transform(self.image_size, is_train=False)
        out = []
        for i in range(0, len(paths), batch):
            images = []
            for p in paths[i : i + batch]:
                try:
                    with Image.open(p) as im:
                        images.append(transform(im.convert("RGB")))
                except (OSError, UnidentifiedImageError) as exc:
                    raise BadInputError(f"cannot read the image {p}: {exc}") from exc
            x = torch.stack(images).to(self.device)
            out.append(normalize(self.model.encode_image(x).float()).cpu())
        return torch.cat(out) if out else torch.zeros(0, EMBED_DIM)


def load_clip_tower(weights: str | Path, config: str | Path | None = None, device: str | torch.device = "cpu") -> ClipTower:
    """CLIP from a state-dict file: the app's ViT-B/32 (``config`` None) or the architecture ``config`` names."""
    device = torch.device(device)
    if config is None:
        return ClipTower(load_clip(weights, device), device, CLIP_ARCH)
    cfg = read_clip_config(config)
    model = build_clip_from_config(cfg)
    sd = state_dict_of(load_checkpoint(weights))
    if sd and next(iter(sd)).startswith("module."):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    try:
        model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{weights} does not fit the CLIP config {config}: {first[:200]}") from exc
    return ClipTower(model.eval().requires_grad_(False).to(device), device, str(config))
