"""The sound's data and the encoder's fixed numbers come without torch, so the window can show first."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from sgim_desktop.engine import audio, sound
from tests.conftest import REPO


def test_sound_decode_and_audio_io_import_without_torch():
    code = (
        "import sys\n"
        "import sgim_desktop.engine.sound, sgim_desktop.engine.decode, sgim_desktop.audio_io\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr


def test_engine_audio_hands_out_the_same_sound_and_numbers():
    assert audio.Sound is sound.Sound
    assert (audio.SAMPLE_RATE, audio.HOP, audio.TIME_FRAMES) == (44100, 512, 864)
    assert audio.WINDOW_SECONDS == sound.WINDOW_SECONDS == 864 * 512 / 44100


def test_a_sound_knows_its_length_and_carries_no_warnings_by_default():
    s = sound.Sound(np.zeros(22050, dtype=np.float32), 44100)
    assert s.duration_s == 0.5 and s.warnings == ()


def test_durations_in_messages_read_as_people_say_them():
    assert sound.describe_duration(0.034) == "0.03 s"
    assert sound.describe_duration(12.46) == "12.5 s"
    assert sound.describe_duration(250) == "4 min 10 s"
    assert sound.describe_duration(3725) == "1 h 02 min"
