"""Is this file the kind of checkpoint its role needs? Looks at the format and key names only.

Used where no hash is published: a host that answers with an HTML page, a truncated file or the
wrong model must be caught before the file is trusted, without building any model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sgim_desktop.errors import CheckpointError

_HTML_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<!--", b"{\"error")

# role -> keys that must all be present (after unwrapping and prefix removal)
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "generator": ("style.1.weight", "input.input", "conv1.conv.weight", "to_rgb1.conv.weight"),
    "audio_encoder": ("conv.weight", "conv.bias", "feature_extractor.conv1.weight", "feature_extractor.fc.weight"),
    "clip": ("visual.proj", "visual.conv1.weight", "visual.class_embedding", "token_embedding.weight",
             "positional_embedding", "text_projection"),
    "identity": ("input_layer.0.weight", "output_layer.3.weight"),
    "inversion": (),
    "encoder": ("encoder.input_layer.0.weight", "encoder.styles.0.linear.weight", "encoder.latlayer1.weight",
                "encoder.latlayer2.weight"),
}
# role -> a key prefix that must occur (layers that only exist in the full-depth model)
REQUIRED_PREFIXES: dict[str, tuple[str, ...]] = {
    "identity": ("body.23.",),
    "encoder": ("encoder.body.23.",),
}


def looks_like_html(head: bytes) -> bool:
    return head.lstrip().lower().startswith(_HTML_STARTS)


def sniff_format(path: str | Path) -> str:
    """'zip' (torch >= 1.6), 'pickle' (legacy torch) or 'safetensors'; CheckpointError for anything else."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path} ({exc.strerror or exc})") from None
    if size == 0:
        raise CheckpointError(f"{path} is empty")
    if looks_like_html(head):
        raise CheckpointError(f"{path} is a web page, not a checkpoint (the host probably refused the download)")
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and head[1:2] in {b"\x02", b"\x03", b"\x04", b"\x05"}:
        return "pickle"
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if 0 < n <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    raise CheckpointError(f"{path} is neither a PyTorch nor a safetensors file")


def _tensor_dict(obj: Any) -> Mapping[str, Any] | None:
    if isinstance(obj, Mapping) and obj and all(isinstance(k, str) for k in obj):
        return obj
    return None


def state_keys(obj: Any, role: str) -> list[str]:
    """The state-dict key names a role's loader will see, without wrapper or ``module.`` prefix."""
    if role == "generator":
        inner = _tensor_dict(obj.get("g_ema")) if isinstance(obj, Mapping) else None
        if inner is None:
            raise CheckpointError("not a rosinality StyleGAN2 checkpoint: no 'g_ema' entry")
        return list(inner)
    sd = _tensor_dict(obj)
    if sd is None:
        raise CheckpointError("the checkpoint holds no named weights")
    for wrapper in ("state_dict", "model"):
        inner = _tensor_dict(sd.get(wrapper))
        if inner is not None and wrapper in sd:
            sd = inner
            break
    keys = list(sd)
    if keys and keys[0].startswith("module"):
        keys = [k.split(".", 1)[1] if "." in k else k for k in keys]
    return keys


def generator_resolution(keys: list[str]) -> int:
    """Output size of a rosinality generator from its ToRGB layers: size = 2 ** (count + 2)."""
    indices = {int(m.group(1)) for k in keys if (m := re.match(r"to_rgbs\.(\d+)\.", k))}
    return 2 ** (len(indices) + 2)


def encoder_styles(keys: list[str]) -> int:
    """How many W+ layers an e4e/pSp encoder makes: its ``encoder.styles.N`` heads."""
    indices = {int(m.group(1)) for k in keys if (m := re.match(r"encoder\.styles\.(\d+)\.", k))}
    return max(indices) + 1 if indices else 0


def check_layout(obj: Any, role: str, resolution: int | None = None) -> None:
    """Raise CheckpointError (one line, naming a few missing keys) unless ``obj`` fits ``role``."""
    if role not in REQUIRED_KEYS:
        raise CheckpointError(f"unknown checkpoint role '{role}'")
    keys = state_keys(obj, role)
    present = set(keys)
    missing = [k for k in REQUIRED_KEYS[role] if k not in present]
    missing += [p + "*" for p in REQUIRED_PREFIXES.get(role, ()) if not any(k.startswith(p) for k in keys)]
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise CheckpointError(f"not a {role.replace('_', ' ')} checkpoint: missing {shown}")
    if role == "generator" and resolution is not None:
        found = generator_resolution(keys)
        if found != resolution:
            raise CheckpointError(f"this generator makes {found}x{found} images, expected {resolution}x{resolution}")
    if role == "encoder":
        if not (isinstance(obj, Mapping) and "latent_avg" in obj):
            raise CheckpointError("not an e4e encoder checkpoint: no 'latent_avg' beside its 'state_dict'")
        if resolution is not None:
            found, needed = encoder_styles(keys), 2 * (resolution.bit_length() - 1) - 2
            if found != needed:
                raise CheckpointError(
                    f"this encoder makes {found} latent layers; a {resolution}x{resolution} generator needs {needed}"
                )
