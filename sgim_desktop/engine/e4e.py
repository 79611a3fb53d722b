"""The e4e encoder: an aligned face -> a W+ latent in one forward pass, a fast start for inversion.

Encoder4Editing ("Designing an Encoder for StyleGAN Image Manipulation", Tov et al. 2021) reads a
256 x 256 face with the IR-SE50 backbone that ArcFace uses (the same modules, from
``engine.identity``), builds a small feature pyramid from the outputs of body units 6, 20 and 23,
and maps it to one 512-d code per generator layer: layer 0's code is used for every layer, and each
later layer adds its own offset (coarse layers 0-2 read the 16 x 16 map, middle layers 3-6 the
32 x 32 one, fine layers the 64 x 64 one). The checkpoint's ``latent_avg`` is added last.

The public ``e4e_ffhq_encode.pt`` is a pSp-style dict: ``state_dict`` holds ``encoder.*`` (this
network) and ``decoder.*`` (the StyleGAN2 it was trained with, ignored here: the app has its own),
next to ``latent_avg`` and the training ``opts``. It loads unchanged and strictly; the number of
styles is read from its keys, so an encoder for a 256 or 512 px generator loads too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sgim_desktop.checkpoints.safe_load import NotPlainWeightsError, layout_problem, load_checkpoint
from sgim_desktop.engine.identity import ir_se50_body, ir_se50_input_layer
from sgim_desktop.engine.stylegan2 import EqualLinear, StyleGAN2Generator
from sgim_desktop.errors import BadInputError, CheckpointError

__all__ = ["E4E_ID", "INPUT_SIZE", "Encoder4Editing", "load_e4e", "encode", "check_fits", "input_tensor",
           "rule_weighted_e4e"]

E4E_ID = "e4e-ffhq-encode"
INPUT_SIZE = 256
STYLE_DIM = 512
# Styles below these indices read the coarse (16 x 16) and the middle (32 x 32) feature maps.
_COARSE_END = 3
_MIDDLE_END = 7
# Body units whose outputs feed the pyramid: end of stage 2 (128 ch), stage 3 (256 ch), stage 4 (512 ch).
_TAP_FINE, _TAP_MIDDLE, _TAP_COARSE = 6, 20, 23
_LEAKY_SLOPE = 0.01  # nn.LeakyReLU's default, which the original uses
_WRAPPER_PREFIXES = ("encoder.", "decoder.")


class GradualStyleBlock(nn.Module):
    """Stride-2 convolutions down to 1 x 1, then an equalised linear layer: one 512-d code."""

    def __init__(self, spatial: int, channels: int = STYLE_DIM) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(int(np.log2(spatial))):
            layers += [nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1),
                       nn.LeakyReLU(_LEAKY_SLOPE)]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(channels, channels, lr_mul=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


def _style_side(index: int) -> int:
    """The side of the feature map style ``index`` reads: 16, 32 or 64 for a 256 input."""
    if index < _COARSE_END:
        return 16
    return 32 if index < _MIDDLE_END else 64


def _upsample_add(top: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
    """The pyramid's merge, as in the original: bilinear (align_corners) to the lateral map's size, plus it."""
    return F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=True) + lateral


class Encoder4Editing(nn.Module):
    """(B, 3, 256, 256) faces in [-1, 1] -> (B, n_styles, 512) W+ latents (``latent_avg`` included)."""

    latent_avg: torch.Tensor

    def __init__(self, n_styles: int = 18) -> None:
        super().__init__()
        if n_styles < 1:
            raise ValueError("an e4e encoder needs at least one style")
        # Attribute order is the order of the public checkpoint's keys.
        self.input_layer = ir_se50_input_layer()
        self.body = ir_se50_body()
        self.styles = nn.ModuleList(GradualStyleBlock(_style_side(i)) for i in range(n_styles))
        self.latlayer1 = nn.Conv2d(256, STYLE_DIM, kernel_size=1)
        self.latlayer2 = nn.Conv2d(128, STYLE_DIM, kernel_size=1)
        # Kept out of the state dict: in the checkpoint it sits beside ``state_dict``, not in it.
        self.register_buffer("latent_avg", torch.zeros(n_styles, STYLE_DIM), persistent=False)
        self.eval()

    @property
    def n_styles(self) -> int:
        return len(self.styles)

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """What the original ``Encoder4Editing.forward`` returns: W+ relative to ``latent_avg``."""
        x = self.input_layer(x)
        taps: dict[int, torch.Tensor] = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in (_TAP_FINE, _TAP_MIDDLE, _TAP_COARSE):
                taps[i] = x
        coarse = taps[_TAP_COARSE]
        w0 = self.styles[0](coarse)
        codes = [w0]
        features = coarse
        for i in range(1, self.n_styles):
            if i == _COARSE_END:
                features = _upsample_add(coarse, self.latlayer1(taps[_TAP_MIDDLE]))
            elif i == _MIDDLE_END:
                features = _upsample_add(features, self.latlayer2(taps[_TAP_FINE]))
            codes.append(w0 + self.styles[i](features))
        return torch.stack(codes, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.offsets(x) + self.latent_avg


def _what_to_do(source: str) -> str:
    return (f"import a good copy of e4e_ffhq_encode.pt (sgim-desktop models import {E4E_ID} FILE) or give "
            f"another file than {source}")


def _read(path_or_checkpoint: str | Path | Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    if not isinstance(path_or_checkpoint, (str, Path)):
        return path_or_checkpoint, "the given checkpoint"
    source = str(path_or_checkpoint)
    try:
        return load_checkpoint(path_or_checkpoint), source
    except NotPlainWeightsError as exc:
        raise CheckpointError(
            f"{exc}. An e4e checkpoint needs only its 'state_dict' and 'latent_avg'; the rest of this one "
            "holds Python objects, and sgim-desktop never runs code from a checkpoint. Get the published "
            f"file (sgim-desktop models download {E4E_ID}) or import a copy that holds only those two entries "
            f"(sgim-desktop models import {E4E_ID} FILE)"
        ) from None


def _encoder_state(obj: Mapping[str, Any], source: str) -> dict[str, torch.Tensor]:
    """The ``encoder.*`` entries (prefix removed); anything but ``encoder.*`` and ``decoder.*`` is refused."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("state_dict"), Mapping):
        raise CheckpointError(f"{source} is not an e4e checkpoint: it has no 'state_dict'; {_what_to_do(source)}")
    opts = obj.get("opts")
    kind = opts.get("encoder_type") if isinstance(opts, Mapping) else None
    if kind is not None and kind != "Encoder4Editing":
        raise CheckpointError(
            f"{source} holds a '{kind}' encoder, not Encoder4Editing (e4e); its latents are computed differently, "
            f"so it is not used; {_what_to_do(source)}"
        )
    full = obj["state_dict"]
    stray = [k for k in full if not (isinstance(k, str) and k.startswith(_WRAPPER_PREFIXES))]
    if stray:
        raise CheckpointError(
            f"{source} is not an e4e checkpoint: {len(stray)} unexpected entries (first: {stray[0]}); "
            f"{_what_to_do(source)}"
        )
    state = {k[len("encoder."):]: v for k, v in full.items() if k.startswith("encoder.")}
    if not state:
        raise CheckpointError(f"{source} has no 'encoder.*' entries: it is not an e4e checkpoint")
    return state


def _style_count(state: Mapping[str, Any]) -> int:
    found = {int(m.group(1)) for k in state if (m := re.match(r"styles\.(\d+)\.", k))}
    return max(found) + 1 if found else 0


def _latent_avg(obj: Mapping[str, Any], n_styles: int, source: str) -> torch.Tensor:
    """``latent_avg`` as (n_styles, 512): saved as (n, 512) by e4e, (512,) or (1, 512) by older pSp files."""
    value = obj.get("latent_avg")
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(
            f"{source} has no 'latent_avg' tensor: this e4e checkpoint cannot place its codes; {_what_to_do(source)}"
        )
    v = value.detach().float()
    if v.ndim == 3 and v.shape[0] == 1:
        v = v[0]
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] != STYLE_DIM or v.shape[0] not in (1, n_styles):
        raise CheckpointError(
            f"{source}: 'latent_avg' has shape {tuple(value.shape)}, "
            f"expected ({n_styles}, {STYLE_DIM}) or ({STYLE_DIM},)"
        )
    return v.expand(n_styles, STYLE_DIM).clone()


def load_e4e(path_or_checkpoint: str | Path | Mapping[str, Any],
             device: str | torch.device = "cpu") -> Encoder4Editing:
    """Build the encoder from ``e4e_ffhq_encode.pt`` (or its loaded dict), strictly, frozen and in eval mode."""
    obj, source = _read(path_or_checkpoint)
    state = _encoder_state(obj, source)
    n_styles = _style_count(state)
    if n_styles == 0:
        raise CheckpointError(f"{source} has no 'encoder.styles.*' entries: it is not an e4e checkpoint")
    with torch.device("meta"):
        model = Encoder4Editing(n_styles)
    expected = {f"encoder.{k}": v for k, v in model.state_dict().items()}
    problem = layout_problem({f"encoder.{k}": v for k, v in state.items()}, expected)
    if problem is not None:
        raise CheckpointError(f"{source} is not an e4e encoder ({n_styles} styles): {problem}")
    latent_avg = _latent_avg(obj, n_styles, source)
    state = {k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v for k, v in state.items()}
    # assign=True takes the checkpoint's tensors as they are: no second copy of ~1 GB, no random init first.
    model.load_state_dict(state, strict=True, assign=True)
    model.latent_avg = latent_avg
    return model.to(device).eval().requires_grad_(False)


def check_fits(encoder: Encoder4Editing, generator: StyleGAN2Generator) -> None:
    """BadInputError unless the encoder makes one code per layer of ``generator``."""
    n, size = generator.config.n_latent, generator.config.size
    if encoder.n_styles != n or generator.config.style_dim != STYLE_DIM:
        made = int(2 ** ((encoder.n_styles + 2) / 2))
        raise BadInputError(
            f"this e4e encoder makes {encoder.n_styles} latent layers (it was trained for a {made} px generator); "
            f"the {size} px generator needs {n}: give the encoder trained for it, or --encoder off"
        )


def input_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """An aligned RGB uint8 face as the encoder's (1, 3, 256, 256) input: bilinear resize, then (x/255-0.5)/0.5."""
    from PIL import Image

    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise BadInputError(f"the face to encode must be RGB uint8 (H x W x 3), got {a.dtype} {a.shape}")
    if a.shape[:2] != (INPUT_SIZE, INPUT_SIZE):
        # What the original's transforms.Resize((256, 256)) does to a PIL image.
        a = np.asarray(Image.fromarray(a).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR))
    x = torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]
    return ((x / 255.0 - 0.5) / 0.5).to(device)


@torch.no_grad()
def encode(encoder: Encoder4Editing, image: np.ndarray, device: torch.device | str | None = None,
           generator: StyleGAN2Generator | None = None) -> torch.Tensor:
    """The (1, n_styles, 512) W+ latent of an FFHQ-aligned face (H x W x 3 uint8, any size; 1024 for FFHQ).

    With ``generator`` it is first checked that the latent fits it (``check_fits``).
    """
    if generator is not None:
        check_fits(encoder, generator)
    where = device if device is not None else next(encoder.parameters()).device
    encoder = encoder.to(where).eval()
    return encoder(input_tensor(image, where)).float()


def rule_weighted_e4e(n_styles: int = 18) -> Encoder4Editing:
    """The encoder filled with the generic weight rule: a stand-in where the real checkpoint is not at hand."""
    from sgim_desktop.synthetic_weights import generic_state_dict

    with torch.device("meta"):
        model = Encoder4Editing(n_styles)
    model.load_state_dict(generic_state_dict(model.state_dict()), strict=True, assign=True)
    model.latent_avg = torch.zeros(n_styles, STYLE_DIM)
    return model.eval().requires_grad_(False)
