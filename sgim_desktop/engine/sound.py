"""A decoded sound and the encoder's fixed numbers, with numpy only.

The window's waveform and recorder need these before anything heavy has loaded, so this module
never imports torch (a test holds it to that); ``engine.audio`` re-exports all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 512
N_MELS = 128
TIME_FRAMES = 864
RESIZE = 512
TOP_DB = 80.0
AMIN = 1e-10
WINDOW_SECONDS = TIME_FRAMES * HOP / SAMPLE_RATE


@dataclass(frozen=True)
class Sound:
    """A decoded sound: mono float32 samples at their native rate.

    ``warnings`` are one-line notes a person should see (a file cut short, samples cleaned);
    the sound is usable as it is. ``source`` is the file as the person gave it ("" for a recording).
    """

    samples: np.ndarray
    sample_rate: int
    name: str = "sound"
    channels: int = 1
    warnings: tuple[str, ...] = ()
    source: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @property
    def label(self) -> str:
        """How messages name it: the file the person gave, else its name."""
        return self.source or self.name


def describe_duration(seconds: float) -> str:
    """``0.03 s``, ``12.5 s``, ``4 min 10 s``, ``1 h 02 min``: lengths in messages."""
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
