"""Playing a part of a sound through the default (or a chosen) output, one playback at a time."""

from __future__ import annotations

from typing import Any

import numpy as np

from sgim_desktop.audio_io.devices import LOCK, describe_device, portaudio, start_first, stream_closed
from sgim_desktop.engine.sound import Sound
from sgim_desktop.errors import BadInputError


class _Player:
    """The one playback in progress: a PortAudio output stream reading from a numpy slice."""

    def __init__(self, stop_signal: type[BaseException] = StopIteration) -> None:
        self.stream: Any = None
        self.stop_signal = stop_signal
        self.data = np.zeros(0, dtype=np.float32)
        self.pos = 0
        self.rate = 0
        self.start_s = 0.0
        self.done = False

    def callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        chunk = self.data[self.pos : self.pos + frames]
        n = len(chunk)
        outdata[:n] = chunk[:, None]
        outdata[n:] = 0
        self.pos += n
        if n < frames:
            raise self.stop_signal

    def finished(self) -> None:
        self.done = True


_player = _Player()


def play(sound: Sound, start_s: float = 0.0, duration_s: float | None = None, device: int | str | None = None) -> None:
    """Play ``duration_s`` seconds of ``sound`` from ``start_s`` through the default output (stops any playback)."""
    stop_playback()
    sd = portaudio()
    rate = int(sound.sample_rate)
    n = len(sound.samples)
    a = max(0, min(n, int(round(max(0.0, start_s) * rate))))
    b = n if duration_s is None else min(n, a + int(round(max(0.0, duration_s) * rate)))
    if b <= a:
        raise BadInputError("nothing to play: the selection is empty")
    data = np.ascontiguousarray(sound.samples[a:b], dtype=np.float32)
    with LOCK:
        info = describe_device(sd, device, "output")
        name = str(info["name"])
        channels = [1] if info["max_output_channels"] >= 1 else []
        if info["max_output_channels"] >= 2:
            channels.append(2)
        attempts = [(rate, c) for c in channels]
        device_rate = int(info["default_samplerate"])
        if device_rate != rate:
            attempts += [(device_rate, c) for c in channels]

        def make(attempt: tuple[int, int]) -> _Player:
            out_rate, out_channels = attempt
            player = _Player(sd.CallbackStop)
            player.data = data if out_rate == rate else _linear_resample(data, rate, out_rate)
            player.rate, player.start_s = out_rate, a / rate
            player.stream = sd.OutputStream(device=int(info["index"]), samplerate=out_rate, channels=out_channels,
                                            dtype="float32", callback=player.callback, finished_callback=player.finished)
            return player

        def adopt(_attempt: tuple[int, int], player: _Player) -> Any:
            global _player
            _player = player
            return player.stream

        start_first(sd, attempts, make, adopt, stop_playback, name, "sound output")


def _linear_resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Good enough for listening to a preview on a device that only takes its own rate."""
    n_out = max(1, int(round(len(x) * rate_out / rate_in)))
    t = np.arange(n_out, dtype=np.float64) * (rate_in / rate_out)
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)


def is_playing() -> bool:
    """True while a playback started by ``play`` is still sounding; closes a finished one."""
    stream = _player.stream
    if stream is None:
        return False
    if _player.done or not stream.active:
        stop_playback()
        return False
    return True


def playback_position_s() -> float | None:
    """Where in the sound the playback is (seconds from the sound's start), or None when not playing."""
    if not is_playing() or not _player.rate:
        return None
    return _player.start_s + _player.pos / _player.rate


def stop_playback() -> None:
    """Stop the playback in progress, if any."""
    stream, _player.stream = _player.stream, None
    if stream is None:
        return
    sd = portaudio()
    try:
        stream.abort()
    except sd.PortAudioError:
        pass
    try:
        stream.close()
    except sd.PortAudioError:
        pass
    stream_closed()
