"""Resampling to the encoder's 44.1 kHz.

``exact`` replays resampy 0.2.2's ``kaiser_best`` (the filter librosa 0.8.1 used when the audio
encoder was trained): 64 zero crossings, 2^9 table precision, a float64 time register advanced by
repeated addition, and a float32 output rounded after every tap. The public encoder was trained on
that input; other filters move it by up to 0.2. ``fast`` uses torchaudio's windowed sinc and is
meant for live previews, never for the default path.
"""

from __future__ import annotations

import math

import numpy as np

_NUM_ZEROS = 64
_PRECISION_BITS = 9
_KAISER_BETA = 14.769656459379492
_ROLLOFF = 0.9475937167399596


def _kaiser_best_table() -> np.ndarray:
    num_table = 2**_PRECISION_BITS
    n = num_table * _NUM_ZEROS
    sinc = _ROLLOFF * np.sinc(_ROLLOFF * np.linspace(0, _NUM_ZEROS, num=n + 1, endpoint=True))
    taper = np.kaiser(2 * n + 1, _KAISER_BETA)[n:]
    return taper * sinc


_TABLE: np.ndarray | None = None


def _table() -> np.ndarray:
    global _TABLE
    if _TABLE is None:
        _TABLE = _kaiser_best_table()
    return _TABLE


def exact_length(n_in: int, sr_in: int, sr_out: int) -> int:
    """Length librosa 0.8.1 returns: ceil(n * ratio) (resampy's int(n * ratio), then fix_length)."""
    return int(math.ceil(n_in * float(sr_out) / sr_in))


def resample_exact(x: np.ndarray, sr_in: int, sr_out: int, out_range: tuple[int, int] | None = None) -> np.ndarray:
    """resampy 0.2.2 ``kaiser_best`` on a mono float32 signal, optionally only output samples [a, b)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if sr_in == sr_out:
        out = x.copy()
        return out if out_range is None else out[out_range[0] : out_range[1]]
    ratio = float(sr_out) / sr_in
    win = _table()
    if ratio < 1:
        win = win * ratio
    delta = np.zeros_like(win)
    delta[:-1] = np.diff(win)
    num_table = 2**_PRECISION_BITS
    scale = min(1.0, ratio)
    index_step = int(scale * num_table)
    nwin = win.shape[0]
    n_orig = x.shape[0]
    n_out = int(n_orig * ratio)
    total = exact_length(n_orig, sr_in, sr_out)
    a, b = (0, total) if out_range is None else (max(0, out_range[0]), min(total, out_range[1]))
    y = np.zeros(max(0, b - a), dtype=np.float32)
    b_core = min(b, n_out)
    if b_core <= a:
        return y
    steps = np.full(b_core, 1.0 / ratio)
    steps[0] = 0.0
    t_reg = np.cumsum(steps)[a:b_core]
    n = t_reg.astype(np.int64)
    acc = y[: b_core - a]
    x_pad = np.concatenate([x, np.zeros(1, dtype=np.float32)])
    for side in (0, 1):
        frac = scale * (t_reg - n)
        if side == 1:
            frac = scale - frac
        index_frac = frac * num_table
        offset = index_frac.astype(np.int64)
        eta = index_frac - offset
        limit = (nwin - offset) // index_step
        count = np.minimum(n + 1, limit) if side == 0 else np.minimum(n_orig - n - 1, limit)
        for i in range(int(count.max(initial=0))):
            live = i < count
            tap = np.where(live, offset + i * index_step, 0)
            weight = np.where(live, win[tap] + eta * delta[tap], 0.0)
            src = n - i if side == 0 else n + i + 1
            src = np.where(live, src, n_orig)
            acc[:] = (acc.astype(np.float64) + weight * x_pad[src]).astype(np.float32)
    return y


def resample_fast(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """torchaudio's windowed-sinc resampler: quick, not what the encoder was trained on."""
    import torch
    import torchaudio.functional as AF

    if sr_in == sr_out:
        return np.ascontiguousarray(x, dtype=np.float32)
    out = AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), sr_in, sr_out)
    return out.numpy()[: exact_length(len(x), sr_in, sr_out)]
