"""The original's log-mel front end in numpy: librosa 0.8.1's filters, STFT framing and dB scale.

Mel power is always computed ``CHUNK_FRAMES`` frames at a time from frame 0 on, whatever is
asked for, so a spectrogram made chunk by chunk (a long sound, block by block) holds the very
values of one made whole: the same FFT rows and the same matrix products of the same shapes.
"""

from __future__ import annotations

import numpy as np

from sgim_desktop.engine.sound import AMIN, HOP, N_FFT, N_MELS, SAMPLE_RATE, TOP_DB

CHUNK_FRAMES = 2048
PAD = N_FFT // 2


def frames_of(n_samples_44k: int) -> int:
    """Frames of a clip of this many 44.1 kHz samples (very short clips are zero-extended first)."""
    return 1 + max(n_samples_44k, PAD + 1) // HOP


def frame_span(a: int, b: int) -> tuple[int, int]:
    """The 44.1 kHz samples frames [a, b) read, before reflection at the clip's ends."""
    return a * HOP - PAD, (b - 1) * HOP + N_FFT - PAD


def _hann_periodic(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
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
    the full one up to the BLAS summation order; bit for bit when a is a multiple of CHUNK_FRAMES).
    """
    y = np.ascontiguousarray(y44, dtype=np.float32)
    if len(y) <= PAD:
        # librosa's reflect padding needs more than n_fft/2 samples; very short clips are zero-extended first
        y = np.concatenate([y, np.zeros(PAD + 1 - len(y), dtype=np.float32)])
    n_total = 1 + len(y) // HOP
    a, b = (0, n_total) if frames is None else (max(0, frames[0]), min(n_total, frames[1]))
    if b <= a:
        return np.zeros((N_MELS, 0), dtype=np.float32)
    return segment_power(reflect_slice(y, *frame_span(a, b)), b - a)


def segment_power(seg: np.ndarray, count: int) -> np.ndarray:
    """Mel power of ``count`` frames hopping through ``seg`` (the samples they read, padding included)."""
    window = _hann_periodic(N_FFT)
    out = np.empty((N_MELS, count), dtype=np.float32)
    basis = mel_basis()
    for c0 in range(0, count, CHUNK_FRAMES):
        c1 = min(count, c0 + CHUNK_FRAMES)
        idx = (np.arange(c0, c1) * HOP)[:, None] + np.arange(N_FFT)[None, :]
        spec = np.fft.rfft(window[None, :] * seg[idx], axis=1).astype(np.complex64)
        power = np.abs(spec) ** 2
        out[:, c0:c1] = basis @ power.T
    return out


def reflect_indices(n: int, lo: int, hi: int) -> np.ndarray:
    """Indices lo..hi-1 of a clip of n samples, those outside [0, n) reflected as numpy's 'reflect' pads."""
    idx = np.arange(lo, hi)
    idx = np.where(idx < 0, -idx, idx)
    return np.where(idx >= n, 2 * (n - 1) - idx, idx)


def reflect_slice(y: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """y[lo:hi] where indices outside [0, len) reflect as numpy's 'reflect' padding does."""
    return y[reflect_indices(len(y), lo, hi)]


def power_to_db(power: np.ndarray, ref: float, peak: float | None = None) -> np.ndarray:
    """librosa.power_to_db(S, ref=np.max, amin=1e-10, top_db=80) in float32, with ref passed in.

    ``peak``: the largest power of the whole clip when ``power`` is only part of it (the 80 dB
    floor hangs from the whole clip's top); None takes it from ``power``.
    """
    log_spec = _log_power(power, ref)
    top = log_spec.max(initial=-np.inf) if peak is None else _log_power(np.array([peak], dtype=np.float32), ref)[0]
    return np.maximum(log_spec, top - np.float32(TOP_DB)).astype(np.float32)


def _log_power(power: np.ndarray, ref: float) -> np.ndarray:
    log_spec = np.float32(10.0) * np.log10(np.maximum(np.float32(AMIN), power))
    return log_spec - np.float32(10.0 * np.log10(max(AMIN, float(ref))))
