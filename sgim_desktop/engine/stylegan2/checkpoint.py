"""Loading a rosinality checkpoint: its ``g_ema`` (or a bare state dict), the architecture read from
its key names and shapes, refused with one clear line when it is anything else."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sgim_desktop.checkpoints.safe_load import layout_problem, load_checkpoint
from sgim_desktop.engine.stylegan2.generator import MAX_SIZE, StyleGAN2Config, StyleGAN2Generator, freeze
from sgim_desktop.errors import CheckpointError

_NOT_GENERATOR = "is not a rosinality StyleGAN2 generator"


def _describe(obj: Any) -> str:
    """A short account of what a checkpoint holds, for one-line error messages."""
    if isinstance(obj, Mapping):
        keys = list(obj.keys())
        shown = ", ".join(repr(k) for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
        if keys and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return f"found a state dict of {len(keys)} tensors ({shown})"
        return f"found a dict with keys {shown}" if keys else "found an empty dict"
    return f"found a {type(obj).__name__}"


def _generator_state(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The g_ema state dict of a rosinality checkpoint, or a bare generator state dict."""
    if isinstance(obj, Mapping) and "g_ema" in obj:
        sd = obj["g_ema"]
        if not (isinstance(sd, Mapping) and sd and all(isinstance(v, torch.Tensor) for v in sd.values())):
            raise CheckpointError(f"{source} {_NOT_GENERATOR}: its 'g_ema' entry is not a state dict of tensors")
        return dict(sd)
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()) \
            and "style.1.weight" in obj:
        return dict(obj)
    raise CheckpointError(f"{source} {_NOT_GENERATOR} (no 'g_ema' entry; {_describe(obj)})")


def infer_config(sd: Mapping[str, torch.Tensor], source: str = "the checkpoint") -> StyleGAN2Config:
    """Size, channel multiplier, style size and mapping depth, read from the key names and shapes."""
    style_layers = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    conv_ids = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"convs\.(\d+)\..*", k))})
    if not style_layers or "input.input" not in sd or "conv1.conv.weight" not in sd:
        raise CheckpointError(f"{source} {_NOT_GENERATOR} ({_describe(sd)})")
    if style_layers != list(range(1, len(style_layers) + 1)) or conv_ids != list(range(len(conv_ids))) \
            or len(conv_ids) % 2:
        raise CheckpointError(
            f"{source} {_NOT_GENERATOR}: its mapping layers {style_layers[:10]} or its {len(conv_ids)} convs "
            "are not numbered as in one"
        )
    style_dim = sd["style.1.weight"].shape[-1]
    size = 2 ** (len(conv_ids) // 2 + 2)
    if size > MAX_SIZE:
        raise CheckpointError(f"{source} {_NOT_GENERATOR}: {len(conv_ids)} convs means {size}px, above {MAX_SIZE}px")
    multiplier = 2
    if size >= 64:
        last = sd.get(f"convs.{conv_ids[-1]}.conv.weight")
        base = 16384 // size
        if last is None or last.ndim != 5 or last.shape[1] % base:
            raise CheckpointError(f"{source} {_NOT_GENERATOR}: cannot read the channel widths ({_describe(sd)})")
        multiplier = last.shape[1] // base
    try:
        return StyleGAN2Config(size=size, style_dim=style_dim, n_mlp=len(style_layers), channel_multiplier=multiplier)
    except ValueError as exc:
        raise CheckpointError(f"{source} {_NOT_GENERATOR}: {exc}") from exc


def load_generator(path_or_state: str | Path | Mapping[str, Any], *, device: str | torch.device = "cpu") -> StyleGAN2Generator:
    """Build a frozen generator from a rosinality ``.pt`` (its ``g_ema``) or a bare state dict, strictly."""
    if isinstance(path_or_state, Mapping):
        source, obj = "the given state dict", path_or_state
    else:
        source, obj = str(path_or_state), load_checkpoint(path_or_state)
    sd = _generator_state(obj, source)
    config = infer_config(sd, source)
    g = StyleGAN2Generator(config)
    problem = layout_problem(sd, g.state_dict(), quote=True)
    if problem:
        raise CheckpointError(
            f"{source} {_NOT_GENERATOR} of size {config.size}, channel multiplier {config.channel_multiplier}: {problem}"
        )
    g.load_state_dict(sd, strict=True)
    return freeze(g).to(device)
