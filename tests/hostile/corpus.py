"""The hostile-input corpus, written on demand into a folder: files that lie, break off or overflow.

Nothing here is committed as a binary: each case is a few lines that write its file, so the
corpus reads as a list of the ways a sound file can mislead a program.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf


def wav_bytes(rate: int, channels: int, data: bytes, declared: int | None = None, bits: int = 16, fmt: int = 1) -> bytes:
    """A RIFF/WAVE file whose header says what we like: any rate, channel count and data length."""
    align = channels * bits // 8
    size = len(data) if declared is None else declared
    head = b"RIFF" + struct.pack("<I", (36 + size) & 0xFFFFFFFF) + b"WAVE"
    head += b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels & 0xFFFF, rate & 0xFFFFFFFF,
                                  (rate * align) & 0xFFFFFFFF, align & 0xFFFF, bits)
    return head + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + data


def tone_pcm16(frames: int, channels: int = 1) -> bytes:
    wave = (np.sin(np.arange(frames) * 0.2) * 12000).astype("<i2")
    return np.repeat(wave[:, None], channels, axis=1).tobytes()


def _lying(rate: int, channels: int = 1, frames: int = 22000, declared: int | None = None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(wav_bytes(rate, channels, tone_pcm16(frames // channels, channels), declared))
    return write


def _floats(values: np.ndarray, rate: int = 44100) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        sf.write(str(path), values, rate, subtype="FLOAT")
    return write


def _truncated(path: Path) -> None:
    """A 10 s WAV cut to its first 3 KB, header untouched."""
    whole = wav_bytes(44100, 1, tone_pcm16(441000))
    path.write_bytes(whole[:3000])


def _silent_hour(path: Path) -> None:
    """An hour of digital silence at 8 kHz (55 MB), written a minute at a time."""
    with sf.SoundFile(str(path), "w", 8000, 1, subtype="PCM_16") as f:
        minute = np.zeros(8000 * 60, dtype=np.int16)
        for _ in range(60):
            f.write(minute)


def _nan_and_inf() -> np.ndarray:
    x = (np.sin(np.arange(44100 * 3) * 0.05) * 0.5).astype(np.float32)
    x[::7] = np.nan
    x[3::11] = np.inf
    x[5::13] = -np.inf
    return x


# name -> (file name, writer); "expect": 0 = used (maybe with a warning), 2 = refused with one line
CASES: dict[str, tuple[str, Callable[[Path], None], int]] = {
    "rate 0 Hz": ("rate0.wav", _lying(0), 2),
    "rate 1 Hz": ("rate1.wav", _lying(1), 2),
    "rate 3 Hz": ("rate3.wav", _lying(3), 2),
    "rate 4 GHz": ("rate4ghz.wav", _lying(4_000_000_000), 2),
    "10^9 frames declared": ("billion.wav", _lying(44100, declared=2 * 10**9), 0),
    "65,535 channels": ("channels65535.wav", _lying(44100, channels=65535, frames=65535 * 2), 2),
    "truncated data": ("truncated.wav", _truncated, 0),
    "NaN and inf samples": ("not-numbers.wav", _floats(_nan_and_inf()), 0),
    "1e30 samples": ("huge.wav", _floats(np.full(44100 * 2, 1e30, dtype=np.float32)), 0),
    "float max samples": ("fmax.wav", _floats(np.tile(np.float32([3.4e38, -3.4e38]), 44100)), 0),
}

SLOW_CASES: dict[str, tuple[str, Callable[[Path], None], int]] = {
    "an hour of silence": ("silent-hour.wav", _silent_hour, 0),
}


def write_case(folder: Path, name: str) -> tuple[Path, int]:
    """Write one case into ``folder``; returns its path and the CLI status it must end with."""
    file_name, writer, status = {**CASES, **SLOW_CASES}[name]
    path = folder / file_name
    if not path.exists():
        writer(path)
    return path, status
