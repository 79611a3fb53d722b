"""A long sound at 44.1 kHz a piece at a time: its mel power chunk by chunk, its loudness per frame.

An hour at 44.1 kHz is 635 MB of samples and its mel power 160 MB more; the original made both
whole. Here a chunk (``CHUNK_FRAMES`` frames, ~24 s) is resampled and analysed when it is needed
and let go, so memory stays at a few chunks whatever the length. Every chunk holds the values the
whole computation gives (``mel`` chunks the same way, the resampler works on any output range),
so the whole clip's reference is the same number, and a window the same input.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from sgim_desktop.engine.mel import CHUNK_FRAMES, frame_span, reflect_indices, segment_power
from sgim_desktop.engine.resample import exact_length, resample_exact, resample_fast
from sgim_desktop.engine.sound import HOP, N_MELS, SAMPLE_RATE, Sound

Progress = Callable[[int, int], None]


class Signal44:
    """A sound's samples at 44.1 kHz, made a range at a time by the chosen resampler."""

    def __init__(self, sound: Sound, resampler: str = "exact") -> None:
        if resampler not in ("exact", "fast"):
            raise ValueError(f"unknown resampler {resampler!r}")
        self.sound = sound
        self.resampler = resampler
        self.n44 = exact_length(len(sound.samples), sound.sample_rate, SAMPLE_RATE)

    def range(self, lo: int, hi: int) -> np.ndarray:
        resample = resample_exact if self.resampler == "exact" else resample_fast
        return resample(self.sound.samples, self.sound.sample_rate, SAMPLE_RATE, (lo, hi))

    def segment(self, lo: int, hi: int) -> np.ndarray:
        """Samples lo..hi-1, reflected at the clip's ends as the spectrogram's padding reflects them."""
        if lo >= 0 and hi <= self.n44:
            return self.range(lo, hi)
        idx = reflect_indices(self.n44, lo, hi)
        first = int(idx.min())
        return self.range(first, int(idx.max()) + 1)[idx - first]


class ChunkPowers:
    """Mel power of a long sound a chunk at a time, the last few kept for the windows that follow."""

    KEEP = 3

    def __init__(self, signal: Signal44, total_frames: int) -> None:
        self.signal = signal
        self.total_frames = total_frames
        self.count = -(-total_frames // CHUNK_FRAMES)
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()

    def chunk(self, c: int) -> np.ndarray:
        hit = self._kept.get(c)
        if hit is not None:
            self._kept.move_to_end(c)
            return hit
        a = c * CHUNK_FRAMES
        b = min(self.total_frames, a + CHUNK_FRAMES)
        seg = self.signal.segment(*frame_span(a, b))
        power = segment_power(seg, b - a) if seg.any() else np.zeros((N_MELS, b - a), dtype=np.float32)
        self._kept[c] = power
        while len(self._kept) > self.KEEP:
            self._kept.popitem(last=False)
        return power

    def frames(self, a: int, b: int) -> np.ndarray:
        """Mel power of frames [a, b), from the chunks that hold them."""
        first, last = a // CHUNK_FRAMES, (b - 1) // CHUNK_FRAMES
        parts = np.concatenate([self.chunk(c) for c in range(first, last + 1)], axis=1)
        return parts[:, a - first * CHUNK_FRAMES : b - first * CHUNK_FRAMES]

    def peak(self, progress: Progress | None = None) -> float:
        """The largest mel power of the whole clip: the original's dB reference (np.max of it all)."""
        best = 0.0
        for c in range(self.count):
            best = max(best, float(self.chunk(c).max(initial=0.0)))
            if progress is not None:
                progress(c + 1, self.count)
        return best


def frame_energy(sound: Sound, total_frames: int) -> np.ndarray:
    """Energy of the native samples under each 512-sample hop of the 44.1 kHz frames (float64)."""
    x = sound.samples
    starts = np.arange(total_frames, dtype=np.int64) * HOP * sound.sample_rate // SAMPLE_RATE
    inside = int(np.searchsorted(starts, len(x)))  # hops past the last sample hold nothing
    energy = np.zeros(total_frames)
    step = 1 << 12
    for f0 in range(0, inside, step):
        f1 = min(inside, f0 + step)
        lo, hi = int(starts[f0]), int(starts[f1]) if f1 < inside else len(x)
        energy[f0:f1] = np.add.reduceat(np.square(x[lo:hi], dtype=np.float64), starts[f0:f1] - lo)
    return energy
