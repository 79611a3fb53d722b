"""PortAudio itself: loading it, the devices it lists, and one-line reasons for what fails.

Recording (``recording``) and playback (``playback``) open their streams through here, so a
re-scan of the devices never closes a stream of ours under it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from sgim_desktop.errors import BadInputError

T = TypeVar("T")

PORTAUDIO_MISSING = (
    "the sound library PortAudio is not installed, so recording and playback are off "
    "(Debian/Ubuntu: apt install libportaudio2; Fedora: dnf install portaudio; macOS: brew install portaudio)"
)
NO_MICROPHONE = (
    "no microphone found: connect one (or enable it in the system's sound settings), "
    "then refresh the device list"
)
NO_OUTPUT = "no sound output found: connect speakers or headphones (or enable them in the system's sound settings)"

LOCK = threading.RLock()
_open_streams = 0


def portaudio() -> ModuleType:
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
        portaudio()
    except BadInputError as exc:
        return str(exc)
    return None


def describe_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def stream_opened() -> None:
    global _open_streams
    with LOCK:
        _open_streams += 1


def stream_closed() -> None:
    global _open_streams
    with LOCK:
        _open_streams = max(0, _open_streams - 1)


def _rescan(sd: ModuleType) -> bool:
    """Re-initialise PortAudio so devices plugged in (or a sound server started) since launch show up.

    PortAudio only enumerates devices when it starts, and restarting it closes every stream, so
    this does nothing while one of ours is open.
    """
    with LOCK:
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
    sd = portaudio()
    with LOCK:
        if refresh:
            _rescan(sd)
        try:
            devices = list(sd.query_devices())
            hostapis = list(sd.query_hostapis())
        except sd.PortAudioError as exc:
            raise BadInputError(f"cannot list sound devices ({describe_error(exc)})") from exc
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


def start_first(sd: ModuleType, attempts: Iterable[T], make: Callable[[T], Any], adopt: Callable[[T, Any], Any],
                close: Callable[[], None], name: str, what: str) -> None:
    """Opens a stream in the first format PortAudio accepts and starts it; one line when none opens.

    ``make(attempt)`` builds what plays or records (PortAudioError: try the next format); ``adopt(attempt,
    made)`` keeps it and returns its stream; ``close()`` undoes that when the stream will not start.
    """
    last: BaseException | None = None
    for attempt in attempts:
        try:
            made = make(attempt)
        except sd.PortAudioError as exc:
            last = exc
            continue
        stream = adopt(attempt, made)
        stream_opened()
        try:
            stream.start()
        except sd.PortAudioError as exc:
            close()
            raise open_error(exc, name, what) from exc
        return
    raise open_error(last or RuntimeError("no usable format"), name, what)


def open_error(exc: BaseException, name: str, what: str) -> BadInputError:
    """One line for a stream that would not open, by the kind of failure PortAudio reports."""
    detail = describe_error(exc)
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


def describe_device(sd: ModuleType, device: int | str | None, kind: str) -> dict[str, Any]:
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
        raise BadInputError(f"no single {what} matches {device!r} ({describe_error(exc)})") from exc
    if info[f"max_{kind}_channels"] < 1:
        raise BadInputError(f"{info['name']} has no {kind}s: it cannot be used as a {what}")
    return info
