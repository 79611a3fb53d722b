"""Sound files and microphone buffers in, a mono float32 ``Sound`` out, with numpy and soundfile only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sgim_desktop.engine.sound import Sound
from sgim_desktop.errors import BadInputError

_BLOCK = 1 << 20


def decode(path: str | Path) -> Sound:
    """Read any file libsndfile reads (WAV of every subtype, FLAC, OGG, MP3...), mixed down to mono."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise BadInputError(f"sound file not found: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not a sound file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path} is empty (0 bytes): not a sound file")
    try:
        with sf.SoundFile(str(path)) as f:
            channels, rate, frames = f.channels, f.samplerate, f.frames
            if rate <= 0 or channels <= 0:
                raise BadInputError(f"{path} has no usable audio (rate {rate}, {channels} channels)")
            parts = []
            while True:
                block = f.read(_BLOCK, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                parts.append(_to_mono(block))
    except BadInputError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"cannot read {path.name} as sound ({detail}); try WAV, FLAC, OGG or MP3") from exc
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise BadInputError(f"{path.name} holds no audio samples (header says {frames} frames)")
    if not np.isfinite(samples).all():
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    return Sound(samples=samples, sample_rate=int(rate), name=path.stem, channels=int(channels))


def from_buffer(buffer: np.ndarray, sample_rate: int, name: str = "recording") -> Sound:
    """A microphone buffer (frames x channels, or frames) of any numeric dtype as a Sound."""
    arr = np.asarray(buffer)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise BadInputError("the recording is empty")
    if sample_rate <= 0:
        raise BadInputError(f"invalid sample rate {sample_rate}")
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        if info.min == 0:
            arr = (arr.astype(np.float64) - (info.max + 1) / 2) / ((info.max + 1) / 2)
        else:
            arr = arr.astype(np.float64) / -float(info.min)
    mono = _to_mono(arr.astype(np.float32))
    return Sound(samples=np.nan_to_num(mono), sample_rate=int(sample_rate), name=name, channels=arr.shape[1])


def _to_mono(block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 1:
        return np.ascontiguousarray(block[:, 0], dtype=np.float32)
    return block.mean(axis=1, dtype=np.float32)
