"""The waveform's maths, numpy only: the per-sound envelope pyramid, the min/max of each pixel column,
the columns as an image, and the labels of times and of what the encoder hears.

Any length draws in a few milliseconds: each sound gets, once, a pyramid of per-block minima and
maxima (``Envelope``); a repaint takes, for every pixel column, the min/max over the coarsest level
whose blocks still fit in one column, and turns the columns into an image with one vectorised
numpy pass.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sgim_desktop.engine.sound import Sound

ENVELOPE_BASE = 64
ENVELOPE_FACTOR = 4


@dataclass(frozen=True)
class Envelope:
    """Per-block (min, max) of a sound at block sizes base, base*factor, base*factor^2, ..."""

    base: int
    factor: int
    mins: tuple[np.ndarray, ...]
    maxs: tuple[np.ndarray, ...]

    def block(self, level: int) -> int:
        return self.base * self.factor**level

    @classmethod
    def of(cls, samples: np.ndarray, base: int = ENVELOPE_BASE, factor: int = ENVELOPE_FACTOR) -> "Envelope":
        mins, maxs = [], []
        lo, hi = _blocks_min_max(samples, samples, base)
        mins.append(lo)
        maxs.append(hi)
        while len(lo) > 2 * factor:
            lo, hi = _blocks_min_max(lo, hi, factor)
            mins.append(lo)
            maxs.append(hi)
        return cls(base, factor, tuple(mins), tuple(maxs))


def _blocks_min_max(lo: np.ndarray, hi: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Min of ``lo`` and max of ``hi`` over consecutive blocks of ``size`` (a shorter last block kept)."""
    full = len(lo) // size * size
    out_lo = lo[:full].reshape(-1, size).min(axis=1)
    out_hi = hi[:full].reshape(-1, size).max(axis=1)
    if full < len(lo):
        out_lo = np.append(out_lo, lo[full:].min())
        out_hi = np.append(out_hi, hi[full:].max())
    return out_lo.astype(np.float32, copy=False), out_hi.astype(np.float32, copy=False)


_ENVELOPES: dict[int, tuple[weakref.ref, Envelope]] = {}


def envelope_for(sound: Sound) -> Envelope:
    """The sound's envelope, computed once per samples array (kept while the array lives)."""
    for key in [k for k, (ref, _) in _ENVELOPES.items() if ref() is None]:
        del _ENVELOPES[key]
    samples = sound.samples
    hit = _ENVELOPES.get(id(samples))
    if hit is not None and hit[0]() is samples:
        return hit[1]
    env = Envelope.of(np.asarray(samples, dtype=np.float32))
    _ENVELOPES[id(samples)] = (weakref.ref(samples), env)
    return env


def column_extents(
    samples: np.ndarray, env: Envelope, first: float, per_px: float, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) amplitude of each of ``width`` columns, column i covering samples
    [first + i*per_px, first + (i+1)*per_px); NaN where a column lies outside the sound."""
    n = len(samples)
    lo = np.full(width, np.nan, dtype=np.float32)
    hi = np.full(width, np.nan, dtype=np.float32)
    if n == 0 or width <= 0 or per_px <= 0:
        return lo, hi
    edges = first + per_px * np.arange(width + 1, dtype=np.float64)
    cols = np.nonzero((edges[1:] > 0) & (edges[:-1] < n))[0]
    if len(cols) == 0:
        return lo, hi
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    e = np.clip(edges[c0 : c1 + 1], 0, n)
    if per_px < 1.0:
        # fewer samples than pixels: draw the line joining the samples
        x = np.clip(e, 0, n - 1)
        left = np.floor(x).astype(np.int64)
        right = np.minimum(left + 1, n - 1)
        frac = (x - left).astype(np.float32)
        v = samples[left] * (1 - frac) + samples[right] * frac
        lo[c0:c1] = np.minimum(v[:-1], v[1:])
        hi[c0:c1] = np.maximum(v[:-1], v[1:])
        return lo, hi
    level = -1
    while level + 1 < len(env.mins) and env.block(level + 1) <= per_px:
        level += 1
    if level < 0:
        src_lo = src_hi = samples
        size = 1
    else:
        src_lo, src_hi, size = env.mins[level], env.maxs[level], env.block(level)
    idx = np.minimum((e[:-1] // size).astype(np.int64), len(src_lo) - 1)
    end = min(len(src_lo), int(math.ceil(e[-1] / size)) + (1 if size == 1 else 0))
    start = int(idx[0])
    rel = idx - start
    lo[c0:c1] = np.minimum.reduceat(src_lo[start:end], rel)
    hi[c0:c1] = np.maximum.reduceat(src_hi[start:end], rel)
    # the block (or sample) where the next column starts also reaches back into this one: taking it
    # in means no peak is ever lost between columns, and joins the columns of a steep edge
    nxt = idx[1:]
    lo[c0 : c1 - 1] = np.minimum(lo[c0 : c1 - 1], src_lo[nxt])
    hi[c0 : c1 - 1] = np.maximum(hi[c0 : c1 - 1], src_hi[nxt])
    return lo, hi


def render_columns(
    lo: np.ndarray, hi: np.ndarray, height: int, colors: np.ndarray, gain: float = 1.0
) -> np.ndarray:
    """An height x width ARGB32 (premultiplied) image of the columns; transparent where no sound."""
    width = len(lo)
    mid = (height - 1) / 2.0
    half = max(1.0, (height - 2) / 2.0) * gain
    valid = ~np.isnan(lo)
    top = np.where(valid, np.floor(mid - np.nan_to_num(hi) * half), height)
    bottom = np.where(valid, np.ceil(mid - np.nan_to_num(lo) * half), -1)
    top = np.clip(top, 0, height - 1)
    bottom = np.clip(np.maximum(bottom, top), -1, height - 1)
    rows = np.arange(height, dtype=np.float64)[:, None]
    mask = (rows >= top[None, :]) & (rows <= bottom[None, :])
    return np.where(mask, colors[None, :width], np.uint32(0)).astype(np.uint32)



def format_time(seconds: float) -> str:
    seconds = max(0.0, seconds)
    minutes = int(seconds // 60)
    return f"{minutes}:{seconds - 60 * minutes:04.1f}"


def format_heard(items: Sequence[tuple[str, float] | Any] | None) -> str:
    """'hears: rain 54%, thunder 20%' from (label, probability 0..1) pairs or engine ``Heard``s;
    '…' while it is being worked out."""
    if items is None:
        return "hears: …"
    if not items:
        return "hears: —"
    pairs = [(i.label, i.probability) if hasattr(i, "label") else (i[0], i[1]) for i in items]
    return "hears: " + ", ".join(f"{label} {100.0 * p:.0f}%" for label, p in pairs)


def nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    raw = max(raw, 1e-6)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def ruler_label(t: float, step: float) -> str:
    if step >= 1:
        return format_time(t)[:-2] if t >= 60 else f"{t:.0f}s"
    decimals = max(0, -int(math.floor(math.log10(step))))
    return f"{t:.{decimals}f}s"
