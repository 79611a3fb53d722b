"""Resampling to the encoder's 44.1 kHz, a block of output at a time.

``exact`` replays resampy 0.2.2's ``kaiser_best`` (the filter librosa 0.8.1 used when the audio
encoder was trained): 64 zero crossings, 2^9 table precision, a float64 time register advanced by
repeated addition, and a float32 output rounded after every tap. The public encoder was trained on
that input; other filters move it by up to 0.2. ``fast`` uses torchaudio's windowed sinc and is
meant for live previews, never for the default path.

Both work on any output range in blocks of ``BLOCK`` samples, so memory stays a few MB whatever
the length, and a range of an hour-long sound costs only that range: the time register at any
output is found in closed form (``register_at``), and blocks of silence cost nothing.
"""

from __future__ import annotations

import math

import numpy as np

_NUM_ZEROS = 64
_PRECISION_BITS = 9
_KAISER_BETA = 14.769656459379492
_ROLLOFF = 0.9475937167399596
BLOCK = 1 << 16


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


def register_at(step: float, k: int) -> float:
    """resampy's time register after k outputs: 0.0 with ``step`` added k times in float64, exactly.

    Within one binade [2^(e-1), 2^e) every addition rounds to the same multiple of that binade's
    ulp, so the additions are one multiplication; only the one that crosses into the next binade
    is made on its own. On the one binade where ``step`` falls half way between two multiples
    (ties round to even), the first addition makes the register even and the rest add the even
    neighbour. About 60 steps reach any output of any length.
    """
    t, done = 0.0, 0
    while done < k:
        if t == 0.0:
            t, done = step, 1
            continue
        e = math.frexp(t)[1]
        units = math.ldexp(step, 53 - e)
        whole = math.floor(units)
        if units - whole == 0.5 and math.ldexp(t, 53 - e) % 2:
            t, done = t + step, done + 1  # a tie from an odd register: this addition makes it even
            continue
        inc = whole + (1 if units - whole > 0.5 or (units - whole == 0.5 and whole % 2) else 0)
        if inc == 0:
            break  # the register has stopped growing (never within an audio file's length)
        room = (2**53 - 1 - int(math.ldexp(t, 53 - e))) // inc
        m = min(k - done, room)
        t += math.ldexp(float(m * inc), e - 53)  # m additions of inc ulps: exact inside the binade
        done += m
        if done < k:
            t, done = t + step, done + 1
    return t


def time_register(step: float, a: int, b: int) -> np.ndarray:
    """resampy's time register for outputs [a, b): 0, then ``step`` added once per output, in float64."""
    run = np.full(b - a, step)
    run[0] = register_at(step, a)
    return np.cumsum(run)


def resample_exact(x: np.ndarray, sr_in: int, sr_out: int, out_range: tuple[int, int] | None = None) -> np.ndarray:
    """resampy 0.2.2 ``kaiser_best`` on a mono float32 signal, optionally only output samples [a, b)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    total = exact_length(len(x), sr_in, sr_out)
    a, b = (0, total) if out_range is None else (max(0, out_range[0]), min(total, out_range[1]))
    if sr_in == sr_out:
        return x[a:b].copy()
    y = np.zeros(max(0, b - a), dtype=np.float32)
    ratio = float(sr_out) / sr_in
    step = 1.0 / ratio
    n_out = int(len(x) * ratio)
    reach = len(_table()) // int(min(1.0, ratio) * 2**_PRECISION_BITS) + 16  # taps a side, and drift
    t_reg = None
    for lo in range(a, min(b, n_out), BLOCK):
        hi = min(lo + BLOCK, b, n_out)
        if not x[max(0, int(lo * step) - reach) : max(0, int(hi * step) + reach)].any():
            t_reg = None  # silence in, silence out: every tap multiplies a zero
            continue
        if t_reg is None:
            t_reg = time_register(step, lo, hi)
        else:  # carry the register on: the next additions in order, from the last value
            run = np.full(hi - lo + 1, step)
            run[0] = t_reg[-1]
            t_reg = np.cumsum(run)[1:]
        y[lo - a : hi - a] = _exact_block(x, sr_in, sr_out, t_reg)
    return y


def _exact_block(x: np.ndarray, sr_in: int, sr_out: int, t_reg: np.ndarray) -> np.ndarray:
    """The outputs at times ``t_reg`` (all inside resampy's own output length), tap by tap as resampy adds."""
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
    n = t_reg.astype(np.int64)
    reach = nwin // index_step + 2
    lo, hi = max(0, int(n[0]) - reach), min(n_orig, int(n[-1]) + reach + 1)
    acc = np.zeros(len(t_reg), dtype=np.float32)
    if not x[lo:hi].any():
        return acc  # every tap multiplies a zero: resampy's sum stays exactly 0
    local = np.concatenate([x[lo:hi], np.zeros(1, dtype=np.float32)])
    dead = hi - lo
    n_local = n - lo
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
            src = np.where(live, n_local - i if side == 0 else n_local + i + 1, dead)
            acc = (acc.astype(np.float64) + weight * local[src]).astype(np.float32)
    return acc


def resample_fast(x: np.ndarray, sr_in: int, sr_out: int, out_range: tuple[int, int] | None = None) -> np.ndarray:
    """torchaudio's windowed-sinc resampler: quick, not what the encoder was trained on.

    A range is made from whole periods of the rational ratio around it, with margins wider than
    the filter, so it equals the same range of the whole up to float rounding.
    """
    import torch
    import torchaudio.functional as AF

    x = np.ascontiguousarray(x, dtype=np.float32)
    total = exact_length(len(x), sr_in, sr_out)
    a, b = (0, total) if out_range is None else (max(0, out_range[0]), min(total, out_range[1]))
    if sr_in == sr_out:
        return x[a:b].copy()
    g = math.gcd(sr_in, sr_out)
    p_in, p_out = sr_in // g, sr_out // g
    margin = (math.ceil(6 * p_in / (0.99 * min(p_in, p_out))) + 2) // p_in + 2
    out = np.zeros(max(0, b - a), dtype=np.float32)
    per_block = max(1, BLOCK * 16 // p_out)
    for q0 in range(a // p_out, -(-b // p_out), per_block):
        q1 = q0 + per_block
        s = max(0, q0 - margin)
        part = torch.from_numpy(x[s * p_in : (q1 + margin) * p_in])
        y = AF.resample(part, sr_in, sr_out).numpy()
        lo, hi = max(a, q0 * p_out), min(b, q1 * p_out)
        out[lo - a : hi - a] = y[lo - s * p_out : hi - s * p_out]
    return out
