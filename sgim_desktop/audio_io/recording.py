"""Recording from a microphone: PortAudio's thread appends blocks, the caller polls and stops."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from sgim_desktop.audio_io.devices import LOCK, describe_device, portaudio, start_first, stream_closed
from sgim_desktop.engine.decode import from_buffer
from sgim_desktop.engine.sound import Sound
from sgim_desktop.errors import BadInputError


class Recorder:
    """One microphone recording at a time.

    ``problem`` becomes a one-line reason when the stream ends by itself (device unplugged, sound
    server gone), stops delivering sound, or reaches ``max_seconds``; the recording made so far
    is still returned by ``stop()``, which then also leaves the reason in ``problem``.
    """

    STALL_SECONDS = 5.0
    FIRST_BLOCK_SECONDS = 8.0
    LEVEL_WINDOW_S = 0.15

    def __init__(self, max_seconds: float = 3600.0, on_block: Callable[[np.ndarray, int], None] | None = None,
                 keep: bool = True) -> None:
        """``on_block(block, samplerate)`` sees each block as it arrives, on PortAudio's thread (it must not
        wait on anything); ``keep=False`` keeps no sound (live mode runs for hours), so only ``cancel`` ends it."""
        self.max_seconds = max_seconds
        self.on_block = on_block
        self.keep = keep
        self._stream: Any = None
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._max_frames = 0
        self._peaks: collections.deque[tuple[float, float]] = collections.deque(maxlen=512)
        self._heard_anything = False
        self._first_block = False
        self._sd: ModuleType | None = None
        self._last_block_at = 0.0
        self._ended = False
        self._limit_reached = False
        self._stopping = False
        self._problem: str | None = None
        self.overflows = 0
        self.device_name = ""
        self.samplerate = 0

    @property
    def is_recording(self) -> bool:
        return self._stream is not None

    def start(self, device: int | str | None = None, samplerate: float | None = None) -> None:
        """Open ``device`` (PortAudio index or name; None: the system's default input) and record."""
        if self._stream is not None:
            raise BadInputError("already recording: stop first")
        sd = self._sd = portaudio()
        with LOCK:
            info = describe_device(sd, device, "input")
            name = str(info["name"])
            rates = [samplerate] if samplerate else [info["default_samplerate"], 48000, 44100]
            channel_choices = sorted({1, min(2, int(info["max_input_channels"]))})
            attempts = [(rate, c) for rate in dict.fromkeys(int(r) for r in rates if r and r > 0) for c in channel_choices]

            def make(attempt: tuple[int, int]) -> Any:
                return sd.InputStream(device=int(info["index"]), samplerate=attempt[0], channels=attempt[1],
                                      dtype="float32", callback=self._on_block, finished_callback=self._on_finished)

            def adopt(attempt: tuple[int, int], stream: Any) -> Any:
                self._reset(name, attempt[0])
                self._stream = stream
                return stream

            start_first(sd, attempts, make, adopt, self._close_stream, name, "microphone")

    def _reset(self, name: str, rate: int) -> None:
        self._blocks = []
        self._frames = 0
        self._max_frames = int(self.max_seconds * rate)
        self._peaks.clear()
        self._heard_anything = False
        self._last_block_at = time.monotonic()
        self._ended = self._limit_reached = self._stopping = False
        self._problem = None
        self._first_block = False
        self.overflows = 0
        self.device_name = name
        self.samplerate = rate

    def _on_block(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: keep the block and its peak (nothing here may wait on anything)."""
        if status and status.input_overflow:
            self.overflows += 1
        if self._frames + frames > self._max_frames:
            self._limit_reached = True
            raise self._sd.CallbackStop
        block = indata.copy()
        if self.keep:
            self._blocks.append(block)
        self._frames += frames
        now = time.monotonic()
        self._last_block_at = now
        self._first_block = True
        peak = float(np.abs(block).max()) if frames else 0.0
        self._peaks.append((now, peak))
        if peak > 0.0:
            self._heard_anything = True
        if self.on_block is not None:
            self.on_block(block, self.samplerate)

    def _on_finished(self) -> None:
        if not self._stopping:
            self._ended = True

    def elapsed_s(self) -> float:
        """Seconds of sound recorded so far."""
        return self._frames / self.samplerate if self.samplerate else 0.0

    def level(self) -> float:
        """Peak magnitude (0..1) of the last fraction of a second, for a level meter."""
        if self._stream is None:
            return 0.0
        horizon = time.monotonic() - self.LEVEL_WINDOW_S
        recent = [p for t, p in list(self._peaks) if t >= horizon]
        return min(1.0, max(recent, default=0.0))

    @property
    def problem(self) -> str | None:
        """Why the recording cannot go on (or, after stop, what was wrong with it); None while all is well."""
        if self._problem is None and self._stream is not None and not self._stopping:
            got = self.elapsed_s()
            if self._limit_reached:
                self._problem = (
                    f"recording stopped at the {self.max_seconds / 60:g}-minute limit; "
                    f"the {got:.1f} s recorded are kept"
                )
            elif self._ended or not self._stream_active():
                self._problem = (
                    f"{self.device_name} stopped working during the recording (unplugged, or the sound "
                    f"system went away); the {got:.1f} s recorded so far are kept"
                )
            else:
                quiet = time.monotonic() - self._last_block_at
                limit = self.STALL_SECONDS if self._first_block else self.FIRST_BLOCK_SECONDS
                if quiet > limit:
                    self._problem = (
                        f"{self.device_name} stopped sending sound for {quiet:.0f} s (unplugged or in use "
                        f"elsewhere?); the {got:.1f} s recorded so far are kept"
                    )
        return self._problem

    def _stream_active(self) -> bool:
        try:
            return bool(self._stream.active)
        except self._sd.PortAudioError:  # a stream whose device vanished may refuse to report
            return False

    def stop(self) -> Sound:
        """End the recording and return it (also when ``problem`` is set: partial sound is kept).

        Raises BadInputError only when nothing at all was recorded.
        """
        if self._stream is None:
            raise BadInputError("not recording")
        problem = self.problem
        self._stopping = True
        self._close_stream()
        blocks, self._blocks = self._blocks, []
        if not blocks:
            self._problem = problem or f"nothing was recorded: {self.device_name} sent no sound"
            raise BadInputError(self._problem)
        if problem is None and not self._heard_anything:
            problem = (
                f"{self.device_name} sent only digital silence: it may be muted, or this app may not be "
                "allowed to use the microphone (check the system's privacy settings)"
            )
        self._problem = problem
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return from_buffer(np.concatenate(blocks), self.samplerate, name=f"recording-{stamp}")

    def cancel(self) -> None:
        """Stop and throw the recording away."""
        if self._stream is not None:
            self._stopping = True
            self._close_stream()
        self._blocks = []

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        sd = portaudio()
        try:
            stream.stop()
        except sd.PortAudioError:
            pass  # the device is gone; closing below still frees PortAudio's side
        try:
            stream.close()
        except sd.PortAudioError:
            pass
        stream_closed()
