"""Sound in, encoder input out: decode, mono, 44.1 kHz, choose a window, log-mel as the original.

The public audio encoder only works on input prepared exactly as ``run_optimization.py`` prepared
it with librosa 0.8.1, quirks included (see shared/fixtures/reference/README.md, section 5):
reflect padding, dB against the whole clip's maximum, zero padding at the end, a bilinear resize of
(128 x 864) to (512 x 128) and a *reshape* (not a transpose) to 1 x 1 x 128 x 512. The default,
exact mode reproduces all of it; what goes beyond the original (choosing the window, averaging
windows of a long sound, a fast resampler) is opt-in and named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sgim_desktop.engine.decode import decode, from_buffer
from sgim_desktop.engine.resample import resample_exact, resample_fast
from sgim_desktop.engine.sound import (
    AMIN,
    HOP,
    N_FFT,
    N_MELS,
    RESIZE,
    SAMPLE_RATE,
    TIME_FRAMES,
    TOP_DB,
    WINDOW_SECONDS,
    Sound,
)

__all__ = [
    "AMIN", "HOP", "N_FFT", "N_MELS", "RESIZE", "SAMPLE_RATE", "TIME_FRAMES", "TOP_DB", "WINDOW_SECONDS",
    "EncoderWindow", "Prepared", "Sound", "decode", "encoder_input", "encoder_inputs_all_windows", "from_buffer",
    "frames_of", "loudest_start_s", "mel_basis", "mel_power", "padded_window", "power_to_db", "prepare",
    "start_frame_for", "to_44k", "window_starts",
]


def to_44k(sound: Sound, resampler: str = "exact") -> np.ndarray:
    """The whole sound at 44.1 kHz, as librosa 0.8.1 ``load(sr=44100)`` returned it."""
    if resampler == "exact":
        return resample_exact(sound.samples, sound.sample_rate, SAMPLE_RATE)
    if resampler == "fast":
        return resample_fast(sound.samples, sound.sample_rate, SAMPLE_RATE)
    raise ValueError(f"unknown resampler {resampler!r}")


def _hann_periodic(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = f >= min_log_hz
    mels = np.where(log_t, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = m >= min_log_mel
    return np.where(log_t, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


_MEL_BASIS: np.ndarray | None = None


def mel_basis() -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular filters (librosa's defaults), float32 as librosa made them."""
    global _MEL_BASIS
    if _MEL_BASIS is None:
        n_bins = 1 + N_FFT // 2
        fftfreqs = np.linspace(0, SAMPLE_RATE / 2.0, n_bins, endpoint=True)
        mel_pts = np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2.0), N_MELS + 2)
        mel_f = _mel_to_hz(mel_pts)
        fdiff = np.diff(mel_f)
        ramps = np.subtract.outer(mel_f, fftfreqs)
        weights = np.zeros((N_MELS, n_bins), dtype=np.float32)
        for i in range(N_MELS):
            lower = -ramps[i] / fdiff[i]
            upper = ramps[i + 2] / fdiff[i + 1]
            weights[i] = np.maximum(0, np.minimum(lower, upper))
        enorm = 2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS])
        weights = (weights.astype(np.float64) * enorm[:, None]).astype(np.float32)
        _MEL_BASIS = weights
    return _MEL_BASIS


def mel_power(y44: np.ndarray, frames: tuple[int, int] | None = None) -> np.ndarray:
    """128-band mel power, float32, frames centred on k*512 with reflect padding at the clip's ends.

    ``frames`` limits the work to frames [a, b) of the whole clip's spectrogram (equal to slicing
    the full one up to the BLAS summation order).
    """
    y = np.ascontiguousarray(y44, dtype=np.float32)
    pad = N_FFT // 2
    if len(y) <= pad:
        # librosa's reflect padding needs more than n_fft/2 samples; very short clips are zero-extended first
        y = np.concatenate([y, np.zeros(pad + 1 - len(y), dtype=np.float32)])
    n_total = 1 + len(y) // HOP
    a, b = (0, n_total) if frames is None else (max(0, frames[0]), min(n_total, frames[1]))
    if b <= a:
        return np.zeros((N_MELS, 0), dtype=np.float32)
    lo = a * HOP - pad
    hi = (b - 1) * HOP + pad + N_FFT - pad
    seg = _reflect_slice(y, lo, hi)
    window = _hann_periodic(N_FFT)
    out = np.empty((N_MELS, b - a), dtype=np.float32)
    basis = mel_basis()
    chunk = 2048
    for c0 in range(0, b - a, chunk):
        c1 = min(b - a, c0 + chunk)
        idx = (np.arange(c0, c1) * HOP)[:, None] + np.arange(N_FFT)[None, :]
        spec = np.fft.rfft(window[None, :] * seg[idx], axis=1).astype(np.complex64)
        power = np.abs(spec) ** 2
        out[:, c0:c1] = basis @ power.T
    return out


def _reflect_slice(y: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """y[lo:hi] where indices outside [0, len) reflect as numpy's 'reflect' padding does."""
    n = len(y)
    idx = np.arange(lo, hi)
    idx = np.where(idx < 0, -idx, idx)
    idx = np.where(idx >= n, 2 * (n - 1) - idx, idx)
    return y[idx]


def power_to_db(power: np.ndarray, ref: float) -> np.ndarray:
    """librosa.power_to_db(S, ref=np.max, amin=1e-10, top_db=80) in float32, with ref passed in."""
    log_spec = np.float32(10.0) * np.log10(np.maximum(np.float32(AMIN), power))
    log_spec = log_spec - np.float32(10.0 * np.log10(max(AMIN, float(ref))))
    floor = log_spec.max(initial=-np.inf) - np.float32(TOP_DB)
    return np.maximum(log_spec, floor).astype(np.float32)


@dataclass(frozen=True)
class EncoderWindow:
    """Which 864 frames of a clip the encoder hears, and the clip's loudness reference."""

    start_frame: int
    n_frames: int
    total_frames: int

    @property
    def start_s(self) -> float:
        return self.start_frame * HOP / SAMPLE_RATE


def frames_of(n_samples_44k: int) -> int:
    return 1 + max(n_samples_44k, N_FFT // 2 + 1) // HOP


def start_frame_for(start_s: float, total_frames: int) -> int:
    """Frame index of a start time, kept inside the clip so the window is as full as it can be."""
    if not math.isfinite(start_s) or start_s < 0:
        start_s = 0.0
    j = int(round(start_s * SAMPLE_RATE / HOP))
    return max(0, min(j, max(0, total_frames - TIME_FRAMES)))


def _resize_and_pack(padded: np.ndarray) -> torch.Tensor:
    """The original's cv2.resize to (512, 128) and reshape to (1, 1, 128, 512), as float32."""
    t = torch.from_numpy(padded.astype(np.float64))[None, None]
    r = F.interpolate(t, size=(RESIZE, N_MELS), mode="bilinear", align_corners=False)[0, 0]
    return r.reshape(1, 1, N_MELS, RESIZE).float()


def padded_window(mel_db: np.ndarray, start_frame: int) -> np.ndarray:
    """864 frames from ``start_frame`` as float64, zero-padded at the end as the original does."""
    out = np.zeros((N_MELS, TIME_FRAMES), dtype=np.float64)
    part = mel_db[:, start_frame : start_frame + TIME_FRAMES]
    out[:, : part.shape[1]] = part
    return out


@dataclass
class Prepared:
    """A sound at 44.1 kHz with its full mel-dB spectrogram (dB against the whole clip's peak)."""

    y44: np.ndarray
    mel_db: np.ndarray
    power_max: float

    @property
    def total_frames(self) -> int:
        return self.mel_db.shape[1]


def prepare(sound: Sound, resampler: str = "exact") -> Prepared:
    y44 = to_44k(sound, resampler)
    power = mel_power(y44)
    ref = float(power.max(initial=0.0))
    mel_db = power_to_db(power, ref) / np.float32(80.0) + np.float32(1.0)
    return Prepared(y44=y44, mel_db=mel_db.astype(np.float32), power_max=ref)


def encoder_input(sound: Sound | Prepared, start_s: float = 0.0, resampler: str = "exact") -> torch.Tensor:
    """The 1 x 1 x 128 x 512 encoder input of the window starting at ``start_s``."""
    prep = sound if isinstance(sound, Prepared) else prepare(sound, resampler)
    j = start_frame_for(start_s, prep.total_frames)
    return _resize_and_pack(padded_window(prep.mel_db, j))


def window_starts(total_frames: int, hop_s: float = WINDOW_SECONDS / 2) -> list[float]:
    """Start times covering a long clip with overlapping windows (one window for a short clip)."""
    if total_frames <= TIME_FRAMES:
        return [0.0]
    last = (total_frames - TIME_FRAMES) * HOP / SAMPLE_RATE
    count = int(math.ceil(last / hop_s)) + 1
    return [min(last, k * hop_s) for k in range(count)]


def encoder_inputs_all_windows(sound: Sound | Prepared, resampler: str = "exact", hop_s: float | None = None) -> torch.Tensor:
    """Every window of a long sound, stacked (N x 1 x 128 x 512), to embed it as their average."""
    prep = sound if isinstance(sound, Prepared) else prepare(sound, resampler)
    starts = window_starts(prep.total_frames, hop_s or WINDOW_SECONDS / 2)
    return torch.cat([encoder_input(prep, s) for s in starts], dim=0)


def loudest_start_s(sound: Sound | Prepared, resampler: str = "exact") -> float:
    """Start of the ~10 s window with the most energy: a deterministic default for long clips."""
    prep = sound if isinstance(sound, Prepared) else prepare(sound, resampler)
    if prep.total_frames <= TIME_FRAMES:
        return 0.0
    energy = (10.0 ** ((prep.mel_db.astype(np.float64) - 1.0) * 8.0)).sum(axis=0)
    csum = np.concatenate([[0.0], np.cumsum(energy)])
    sums = csum[TIME_FRAMES:] - csum[:-TIME_FRAMES]
    return int(np.argmax(sums)) * HOP / SAMPLE_RATE
