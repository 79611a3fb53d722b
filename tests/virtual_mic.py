"""The audio tests' virtual microphone: scripts/virtual-mic.sh, and real sound played into it.

A PulseAudio null sink ``sgim_null`` whose monitor is the default source: whatever ``paplay``
plays into the sink is what a program recording from the default input hears.

Unlike a real microphone, a null sink that was idle keeps its first new reader waiting for up to
~2 s (it had scheduled its next render that far ahead). The players here therefore ask for 20 ms
latency and wait until the monitor flows before the test records, so a recording starts on time
as it would from a real microphone.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "virtual-mic.sh"
SINK = "sgim_null"


def ensure_virtual_mic() -> str:
    """Set the virtual microphone up (idempotent) and return its source name.

    Skips the test only when PulseAudio cannot run on this machine at all; with
    SGIM_REQUIRE_AUDIO_DEVICE=1 (CI) that is a failure instead.
    """
    try:
        proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = f"virtual microphone unavailable: {exc}"
    else:
        if proc.returncode == 0:
            from sgim_desktop import audio_io

            audio_io.list_input_devices(refresh=True)
            return proc.stdout.strip().splitlines()[-1]
        reason = f"virtual microphone unavailable: {(proc.stderr or proc.stdout).strip()}"
    if os.environ.get("SGIM_REQUIRE_AUDIO_DEVICE"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def playing(path: Path | str, latency_ms: int = 20) -> Iterator[subprocess.Popen]:
    """Play a sound file into the virtual microphone for the duration of the block."""
    proc = subprocess.Popen(
        ["paplay", f"--device={SINK}", f"--latency-msec={latency_ms}", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_flowing()
        assert proc.poll() is None, f"paplay ended early: {proc.stderr.read().decode(errors='replace')}"
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def playing_silence() -> Iterator[subprocess.Popen]:
    """Feed exact digital zeros into the virtual microphone (a muted or blocked microphone)."""
    proc = subprocess.Popen(
        ["pacat", "--playback", f"--device={SINK}", "--raw", "--latency-msec=20", "/dev/zero"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_flowing()
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_until_flowing(timeout_s: float = 5.0) -> float:
    """Read the monitor until sound data arrives (see the module's docstring); returns the wait."""
    start = time.monotonic()
    reader = subprocess.Popen(
        ["parec", f"--device={SINK}.monitor", "--raw", "--latency-msec=20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    timer = threading.Timer(timeout_s, reader.kill)
    timer.start()
    try:
        reader.stdout.read(4096)
    finally:
        timer.cancel()
        reader.kill()
        reader.wait(timeout=10)
    return time.monotonic() - start


def write_tone(path: Path, frequency: float, seconds: float, rate: int = 44100, amplitude: float = 0.5) -> Path:
    """A stereo 16-bit WAV of one sine tone."""
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    tone = (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    sf.write(str(path), np.stack([tone, tone], axis=1), rate, subtype="PCM_16")
    return path


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency of the strongest spectral peak (Hann window, parabolic interpolation)."""
    x = np.asarray(samples, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum[1:])) + 1
    if 1 <= k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return float(k * rate / len(x))


def envelope(samples: np.ndarray, rate: int, frame_s: float = 0.01) -> np.ndarray:
    """RMS per frame: the loudness contour two recordings of one sound share."""
    hop = max(1, int(rate * frame_s))
    n = len(samples) // hop * hop
    frames = np.asarray(samples[:n], dtype=np.float64).reshape(-1, hop)
    return np.sqrt((frames**2).mean(axis=1))


def best_envelope_match(recorded: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Highest Pearson correlation of ``recorded`` against every stretch of ``reference``, and where."""
    m = len(recorded)
    r = (recorded - recorded.mean()) / (recorded.std() + 1e-12)
    best, where = -1.0, 0
    for lag in range(0, len(reference) - m + 1):
        seg = reference[lag : lag + m]
        s = (seg - seg.mean()) / (seg.std() + 1e-12)
        c = float((r * s).mean())
        if c > best:
            best, where = c, lag
    return best, where
