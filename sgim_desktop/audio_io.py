"""Microphone and speaker through PortAudio (sounddevice), with no Qt.

Recording appends the stream's blocks to a growing list from PortAudio's thread; the caller polls
``level()`` for a meter and ``problem`` for trouble (device unplugged, stream stalled), and ``stop()``
always hands back what was recorded so far. Every failure a person can meet (PortAudio not
installed, no microphone, a device that vanished, permission denied) becomes a one-line
``BadInputError`` instead of a traceback.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from sgim_desktop.errors import BadInputError

if TYPE_CHECKING:  # engine.audio pulls in torch: only stop() needs it, at run time
    from sgim_desktop.engine.audio import Sound

PORTAUDIO_MISSING = (
    "the sound library PortAudio is not installed, so recording and playback are off "
    "(Debian/Ubuntu: apt install libportaudio2; Fedora: dnf install portaudio; macOS: brew install portaudio)"
)
NO_MICROPHONE = (
    "no microphone found: connect one (or enable it in the system's sound settings), "
    "then refresh the device list"
)
NO_OUTPUT = "no sound output found: connect speakers or headphones (or enable them in the system's sound settings)"

_lock = threading.RLock()
_open_streams = 0


def _sd() -> ModuleType:
    """sounddevice, imported on first use: it loads libportaudio, which may be missing."""
    try:
        import sounddevice
    except OSError as exc:
        raise BadInputError(PORTAUDIO_MISSING) from exc
    except ImportError as exc:
        raise BadInputError("the Python package sounddevice is missing: pip install sounddevice") from exc
    return sounddevice


def audio_unavailable() -> str | None:
    """Why sound input/output cannot work at all (PortAudio missing), or None when it can."""
    try:
        _sd()
    except BadInputError as exc:
        return str(exc)
    return None


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _stream_opened() -> None:
    global _open_streams
    with _lock:
        _open_streams += 1


def _stream_closed() -> None:
    global _open_streams
    with _lock:
        _open_streams = max(0, _open_streams - 1)


def _rescan(sd: ModuleType) -> bool:
    """Re-initialise PortAudio so devices plugged in (or a sound server started) since launch show up.

    PortAudio only enumerates devices when it starts, and restarting it closes every stream, so
    this does nothing while one of ours is open.
    """
    with _lock:
        if _open_streams:
            return False
        sd._terminate()
        sd._initialize()
        return True


@dataclass(frozen=True)
class InputDevice:
    """A device that can record, as PortAudio lists it."""

    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool
    hostapi: str = ""


def _default_index(sd: ModuleType, kind: int) -> int:
    try:
        value = sd.default.device[kind]
    except sd.PortAudioError:
        return -1
    if isinstance(value, str):
        try:
            return int(sd.query_devices(value)["index"])
        except (ValueError, sd.PortAudioError):
            return -1
    return int(value) if value is not None else -1


def list_input_devices(refresh: bool = False) -> list[InputDevice]:
    """Input devices of the default host API (on Windows the others list the same microphones again).

    ``refresh`` re-scans the system first, so a microphone plugged in after launch appears.
    """
    sd = _sd()
    with _lock:
        if refresh:
            _rescan(sd)
        try:
            devices = list(sd.query_devices())
            hostapis = list(sd.query_hostapis())
        except sd.PortAudioError as exc:
            raise BadInputError(f"cannot list sound devices ({_detail(exc)})") from exc
        default_in = _default_index(sd, 0)
    inputs = [d for d in devices if d["max_input_channels"] > 0]
    if default_in >= 0:
        api = devices[default_in]["hostapi"]
    else:
        try:
            api = int(sd.default.hostapi)
        except (sd.PortAudioError, TypeError, ValueError):
            api = -1
    preferred = [d for d in inputs if d["hostapi"] == api] or inputs
    return [
        InputDevice(
            index=int(d["index"]),
            name=str(d["name"]),
            channels=int(d["max_input_channels"]),
            default_samplerate=float(d["default_samplerate"]),
            is_default=int(d["index"]) == default_in,
            hostapi=str(hostapis[d["hostapi"]]["name"]) if 0 <= d["hostapi"] < len(hostapis) else "",
        )
        for d in preferred
    ]


def _open_error(exc: BaseException, name: str, what: str) -> BadInputError:
    """One line for a stream that would not open, by the kind of failure PortAudio reports."""
    detail = _detail(exc)
    low = detail.lower()
    if "permission" in low or "denied" in low or "not permitted" in low:
        return BadInputError(
            f"permission to use {name} was denied: allow this app to use the {what} in the system's "
            "privacy or sound settings, then try again"
        )
    if "unavailable" in low or "busy" in low or "-9985" in low:
        return BadInputError(f"{name} is busy or unavailable (another program may be using it) ({detail})")
    if "invalid device" in low or "-9996" in low or "error querying device" in low:
        return BadInputError(f"{name} is no longer there (unplugged?): refresh the device list and choose another")
    return BadInputError(f"cannot open {name} ({detail})")


def _describe(sd: ModuleType, device: int | str | None, kind: str) -> dict[str, Any]:
    """PortAudio's record of the chosen (or default) device; BadInputError when there is none."""
    k = 0 if kind == "input" else 1
    what = "microphone" if kind == "input" else "sound output"
    if device is None:
        index = _default_index(sd, k)
        if index < 0 and _rescan(sd):
            index = _default_index(sd, k)
        if index < 0:
            raise BadInputError(NO_MICROPHONE if kind == "input" else NO_OUTPUT)
        device = index
    try:
        info = dict(sd.query_devices(device))
    except sd.PortAudioError as exc:
        raise BadInputError(
            f"{what} {device!r} does not exist (unplugged?): refresh the device list and choose another"
        ) from exc
    except ValueError as exc:
        raise BadInputError(f"no single {what} matches {device!r} ({_detail(exc)})") from exc
    if info[f"max_{kind}_channels"] < 1:
        raise BadInputError(f"{info['name']} has no {kind}s: it cannot be used as a {what}")
    return info


class Recorder:
    """One microphone recording at a time.

    ``problem`` becomes a one-line reason when the stream ends by itself (device unplugged, sound
    server gone), stops delivering sound, or reaches ``max_seconds``; the recording made so far
    is still returned by ``stop()``, which then also leaves the reason in ``problem``.
    """

    STALL_SECONDS = 5.0
    FIRST_BLOCK_SECONDS = 8.0
    LEVEL_WINDOW_S = 0.15

    def __init__(self, max_seconds: float = 3600.0) -> None:
        self.max_seconds = max_seconds
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
        sd = self._sd = _sd()
        with _lock:
            info = _describe(sd, device, "input")
            name = str(info["name"])
            rates = [samplerate] if samplerate else [info["default_samplerate"], 48000, 44100]
            channel_choices = sorted({1, min(2, int(info["max_input_channels"]))})
            last: BaseException | None = None
            for rate in dict.fromkeys(int(r) for r in rates if r and r > 0):
                for channels in channel_choices:
                    try:
                        stream = sd.InputStream(
                            device=int(info["index"]),
                            samplerate=rate,
                            channels=channels,
                            dtype="float32",
                            callback=self._on_block,
                            finished_callback=self._on_finished,
                        )
                    except sd.PortAudioError as exc:
                        last = exc
                        continue
                    self._reset(name, rate)
                    self._stream = stream
                    _stream_opened()
                    try:
                        stream.start()
                    except sd.PortAudioError as exc:
                        self._close_stream()
                        raise _open_error(exc, name, "microphone") from exc
                    return
            raise _open_error(last or RuntimeError("no usable format"), name, "microphone")

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
        self._blocks.append(block)
        self._frames += frames
        now = time.monotonic()
        self._last_block_at = now
        self._first_block = True
        peak = float(np.abs(block).max()) if frames else 0.0
        self._peaks.append((now, peak))
        if peak > 0.0:
            self._heard_anything = True

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
        from sgim_desktop.engine.audio import from_buffer

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
        sd = _sd()
        try:
            stream.stop()
        except sd.PortAudioError:
            pass  # the device is gone; closing below still frees PortAudio's side
        try:
            stream.close()
        except sd.PortAudioError:
            pass
        _stream_closed()


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
    global _player
    stop_playback()
    sd = _sd()
    rate = int(sound.sample_rate)
    n = len(sound.samples)
    a = max(0, min(n, int(round(max(0.0, start_s) * rate))))
    b = n if duration_s is None else min(n, a + int(round(max(0.0, duration_s) * rate)))
    if b <= a:
        raise BadInputError("nothing to play: the selection is empty")
    data = np.ascontiguousarray(sound.samples[a:b], dtype=np.float32)
    with _lock:
        info = _describe(sd, device, "output")
        name = str(info["name"])
        channels = [1] if info["max_output_channels"] >= 1 else []
        if info["max_output_channels"] >= 2:
            channels.append(2)
        attempts = [(rate, c) for c in channels]
        device_rate = int(info["default_samplerate"])
        if device_rate != rate:
            attempts += [(device_rate, c) for c in channels]
        last: BaseException | None = None
        for out_rate, out_channels in attempts:
            samples = data if out_rate == rate else _linear_resample(data, rate, out_rate)
            player = _Player(sd.CallbackStop)
            player.data, player.rate, player.start_s = samples, out_rate, a / rate
            try:
                stream = sd.OutputStream(
                    device=int(info["index"]),
                    samplerate=out_rate,
                    channels=out_channels,
                    dtype="float32",
                    callback=player.callback,
                    finished_callback=player.finished,
                )
            except sd.PortAudioError as exc:
                last = exc
                continue
            player.stream = stream
            _player = player
            _stream_opened()
            try:
                stream.start()
            except sd.PortAudioError as exc:
                stop_playback()
                raise _open_error(exc, name, "sound output") from exc
            return
        raise _open_error(last or RuntimeError("no usable format"), name, "sound output")


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
    sd = _sd()
    try:
        stream.abort()
    except sd.PortAudioError:
        pass
    try:
        stream.close()
    except sd.PortAudioError:
        pass
    _stream_closed()
