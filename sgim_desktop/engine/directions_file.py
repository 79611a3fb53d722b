"""The directions file: safetensors (no pickle), stamped with what it was built for, written only whole.

Tensors: ``basis`` (K x n_latent x 512, orthonormal latent atoms) and ``response`` (K x 512, the
average CLIP response of each atom). Metadata: the format name, ``gain`` (the latent step of
strength 1 per unit of response) and ``info`` (JSON: method and version, the generator file's
sha256, the CLIP weights' fingerprint, the settings and the calibration). A file that is not
ours, is truncated, or was built for another generator, CLIP or method version is refused with
one line (CheckpointError).

The build's side file (``NAME.partial``) is the same container holding float64 sums and the
number of units of work that made them, under a key of everything the sums depend on.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from sgim_desktop.errors import CheckpointError

if TYPE_CHECKING:
    from sgim_desktop.engine.clip_space import ClipModel

FORMAT = "sgim-desktop directions"
PARTIAL_FORMAT = "sgim-desktop directions partial"
METHOD = "linear-clip-response"
VERSION = 1
REBUILD = "build them with: sgim-desktop directions build --generator GENERATOR"
_CLIP_KEYS = ("visual.proj", "text_projection", "visual.conv1.weight", "visual.class_embedding")
_sha_cache: dict[tuple[str, int, int], str] = {}


@dataclass
class Directions:
    """A generator's directions: any CLIP-space target -> a W+ step, ``gain * basis^T (response t)``."""

    basis: torch.Tensor
    response: torch.Tensor
    gain: float
    info: dict

    @property
    def n_latent(self) -> int:
        return int(self.basis.shape[1])

    def to(self, device: torch.device | str) -> "Directions":
        return Directions(self.basis.to(device), self.response.to(device), self.gain, self.info)

    def delta(self, target: torch.Tensor) -> torch.Tensor:
        """The latent step (n_latent x 512) of strength 1 toward ``target`` (512, any length)."""
        coeff = self.response @ target.reshape(-1).to(self.response)
        return self.gain * torch.tensordot(coeff, self.basis, dims=1)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, remembered while its size and modification time stay the same."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        _sha_cache[key] = digest.hexdigest()
    return _sha_cache[key]


def clip_fingerprint(clip: torch.nn.Module | ClipModel) -> str:
    """The CLIP weights' identity (whatever file they came from): sha256 of its projection layers."""
    state = clip.state_dict()
    names = [k for k in _CLIP_KEYS if k in state] or sorted(state)
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode())
        digest.update(state[name].detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _atomic_save(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_directions(path: str | Path, directions: Directions) -> Path:
    path = Path(path)
    meta = {"format": FORMAT, "gain": repr(float(directions.gain)), "info": json.dumps(directions.info, sort_keys=True)}
    _atomic_save(path, {"basis": directions.basis.float(), "response": directions.response.float()}, meta)
    return path


def _open(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error type for a damaged header or data
        raise CheckpointError(f"{path.name} is not a directions file or is damaged (truncated?); {REBUILD}") from exc
    return meta, tensors


def read_directions(path: str | Path, generator_sha256: str | None = None, clip: str | None = None) -> Directions:
    """Load and check a directions file; CheckpointError (one line) when it is not for this generator/CLIP."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no directions file at {path}; {REBUILD}")
    meta, tensors = _open(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not an sgim-desktop directions file; {REBUILD}")
    try:
        info = json.loads(meta["info"])
        gain = float(meta["gain"])
        basis, response = tensors["basis"].float(), tensors["response"].float()
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path.name} is a damaged directions file ({exc}); {REBUILD}") from exc
    if info.get("method") != METHOD or info.get("version") != VERSION:
        raise CheckpointError(f"{path.name} was made by directions method {info.get('method')} v{info.get('version')}, "
                              f"this version needs {METHOD} v{VERSION}; {REBUILD}")
    if generator_sha256 is not None and info.get("generator_sha256") != generator_sha256:
        raise CheckpointError(f"{path.name} was built for another generator (sha256 {str(info.get('generator_sha256'))[:12]}..., "
                              f"this one is {generator_sha256[:12]}...); {REBUILD}")
    if clip is not None and info.get("clip") != clip:
        raise CheckpointError(f"{path.name} was built with other CLIP weights than the ones loaded; {REBUILD}")
    if (basis.ndim != 3 or basis.shape[2] != 512 or response.shape != (basis.shape[0], 512)
            or basis.shape[1] != info.get("n_latent") or not (torch.isfinite(basis).all() and torch.isfinite(response).all())
            or not (gain > 0 and gain < float("inf"))):
        raise CheckpointError(f"{path.name} is a damaged directions file (shapes or values do not fit); {REBUILD}")
    return Directions(basis=basis, response=response, gain=gain, info=info)


def write_partial(path: str | Path, key: dict, done: int, tensors: dict[str, torch.Tensor]) -> None:
    meta = {"format": PARTIAL_FORMAT, "key": json.dumps(key, sort_keys=True), "done": str(int(done))}
    _atomic_save(Path(path), tensors, meta)


def read_partial(path: str | Path, key: dict) -> tuple[int, dict[str, torch.Tensor]] | None:
    """The sums of an interrupted build with this exact key, or None (absent, damaged or stale: start afresh)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        meta, tensors = _open(path)
        if meta.get("format") != PARTIAL_FORMAT or meta.get("key") != json.dumps(key, sort_keys=True):
            return None
        return int(meta["done"]), tensors
    except (CheckpointError, KeyError, ValueError):
        return None
