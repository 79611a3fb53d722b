"""Microphone and speaker through PortAudio (sounddevice), with no Qt and no torch.

Recording appends the stream's blocks to a growing list from PortAudio's thread; the caller polls
``level()`` for a meter and ``problem`` for trouble (device unplugged, stream stalled), and ``stop()``
always hands back what was recorded so far. Every failure a person can meet (PortAudio not
installed, no microphone, a device that vanished, permission denied) becomes a one-line
``BadInputError`` instead of a traceback. ``devices`` lists and opens, ``recording`` records,
``playback`` plays.
"""

from sgim_desktop.audio_io.devices import (
    NO_MICROPHONE,
    NO_OUTPUT,
    PORTAUDIO_MISSING,
    InputDevice,
    audio_unavailable,
    list_input_devices,
)
from sgim_desktop.audio_io.playback import is_playing, play, playback_position_s, stop_playback
from sgim_desktop.audio_io.recording import Recorder

__all__ = [
    "NO_MICROPHONE", "NO_OUTPUT", "PORTAUDIO_MISSING", "InputDevice", "Recorder", "audio_unavailable",
    "is_playing", "list_input_devices", "play", "playback_position_s", "stop_playback",
]
