"""audio_io: microphone and speaker through PortAudio, checked against a real (virtual) device."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from sgim_desktop import audio_io
from sgim_desktop.engine.audio import Sound, decode
from sgim_desktop.errors import BadInputError
from tests.conftest import SAMPLE_AUDIO
from tests.virtual_mic import (
    best_envelope_match,
    dominant_frequency,
    ensure_virtual_mic,
    envelope,
    playing,
    playing_silence,
    write_tone,
)

REPO = Path(__file__).resolve().parents[1]
device = pytest.mark.audio_device


@pytest.fixture
def virtual_mic() -> str:
    return ensure_virtual_mic()


def record_for(seconds: float) -> tuple[Sound, list[float], audio_io.Recorder]:
    """Record from the default input for ``seconds``, sampling the level meter as a UI would."""
    recorder = audio_io.Recorder()
    recorder.start()
    levels = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)
        levels.append(recorder.level())
    return recorder.stop(), levels, recorder


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


@device
def test_the_virtual_microphone_is_listed_as_the_default_input(virtual_mic):
    devices = audio_io.list_input_devices(refresh=True)
    assert devices, "no input device listed"
    assert sum(d.is_default for d in devices) == 1
    for d in devices:
        assert d.channels >= 1 and d.default_samplerate > 0 and d.name


@device
@pytest.mark.slow
def test_a_tone_played_into_the_microphone_is_what_gets_recorded(virtual_mic, tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 1234.0, seconds=6.0, amplitude=0.5)
    with playing(tone):
        sound, levels, recorder = record_for(2.5)
    assert recorder.problem is None
    assert 2.0 <= sound.duration_s <= 3.0
    freq = dominant_frequency(sound.samples, sound.sample_rate)
    assert abs(freq - 1234.0) < 2.0, freq
    rms = float(np.sqrt(np.mean(sound.samples[sound.sample_rate // 2 :] ** 2)))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert max(levels) == pytest.approx(0.5, abs=0.05)


@device
def test_a_streaming_recording_hands_over_every_block_and_keeps_none(virtual_mic, tmp_path):
    """Live mode's use: each block goes to the hook as it arrives, nothing piles up over hours."""
    tone = write_tone(tmp_path / "tone.wav", 880.0, seconds=4.0, amplitude=0.5)
    blocks: list[np.ndarray] = []
    rates: set[int] = set()

    def hook(block: np.ndarray, rate: int) -> None:
        blocks.append(block)
        rates.add(rate)

    recorder = audio_io.Recorder(on_block=hook, keep=False)
    with playing(tone):
        recorder.start()
        time.sleep(2.0)
        recorder.cancel()
    assert rates == {recorder.samplerate} and recorder._blocks == []
    heard = np.concatenate(blocks)
    assert len(heard) == pytest.approx(2.0 * recorder.samplerate, rel=0.25)
    tail = heard[recorder.samplerate // 2:].mean(axis=1) if heard.ndim == 2 else heard[recorder.samplerate // 2:]
    assert abs(dominant_frequency(tail, recorder.samplerate) - 880.0) < 2.0


@device
@pytest.mark.slow
def test_a_recording_of_a_sound_file_follows_that_files_loudness(virtual_mic):
    path = SAMPLE_AUDIO / "giggling.wav"
    with playing(path):
        sound, _, recorder = record_for(3.0)
    assert recorder.problem is None
    original = decode(path)
    rec_env = envelope(sound.samples, sound.sample_rate)
    ref_env = envelope(original.samples, original.sample_rate)
    corr, lag = best_envelope_match(rec_env, ref_env)
    other = decode(SAMPLE_AUDIO / "raining.wav")
    corr_other, _ = best_envelope_match(rec_env, envelope(other.samples, other.sample_rate))
    print(f"envelope correlation: giggling {corr:.3f} at {lag * 0.01:.2f} s, raining {corr_other:.3f}")
    assert corr > 0.95, corr
    assert lag * 0.01 <= 1.5, lag  # the recording started within the first 1.5 s of the file
    assert corr - corr_other > 0.3, (corr, corr_other)


def test_a_device_that_does_not_exist_is_a_clear_error():
    recorder = audio_io.Recorder()
    with pytest.raises(BadInputError, match="does not exist"):
        recorder.start(device=9999)
    assert not recorder.is_recording


def test_a_machine_without_any_microphone_says_so():
    # a sound server that is not there: PortAudio then sees no ALSA device at all
    proc = run_python(
        """
        from sgim_desktop import audio_io
        from sgim_desktop.errors import BadInputError
        if audio_io.list_input_devices():
            print("HAS-HARDWARE")
        else:
            try:
                audio_io.Recorder().start()
            except BadInputError as exc:
                print("ERROR", exc)
        """,
        PULSE_SERVER="unix:/nonexistent/sgim-test",
    )
    if "HAS-HARDWARE" in proc.stdout:
        pytest.skip("this machine has sound hardware beside the sound server")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ERROR no microphone found"), proc.stdout + proc.stderr


def test_without_portaudio_the_message_says_what_to_install(tmp_path):
    # libportaudio cannot be uninstalled for one test; sounddevice fails exactly this way without it
    (tmp_path / "sounddevice.py").write_text("raise OSError('PortAudio library not found')\n")
    proc = run_python(
        """
        from sgim_desktop import audio_io
        from sgim_desktop.errors import BadInputError
        print("UNAVAILABLE", audio_io.audio_unavailable())
        for call in (audio_io.list_input_devices, audio_io.Recorder().start):
            try:
                call()
            except BadInputError as exc:
                print("ERROR", exc)
        """,
        PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    assert all("PortAudio is not installed" in line and "libportaudio2" in line for line in lines)


@device
@pytest.mark.slow
def test_a_microphone_that_sends_only_zeros_is_reported_and_kept(virtual_mic):
    with playing_silence():
        sound, _, recorder = record_for(1.5)
    assert sound.duration_s > 0.5
    assert not np.any(sound.samples)
    assert "silence" in recorder.problem


@device
@pytest.mark.slow
def test_a_device_lost_mid_recording_keeps_what_was_recorded(virtual_mic, tmp_path):
    tone = write_tone(tmp_path / "tone.wav", 880.0, seconds=6.0)
    recorder = audio_io.Recorder()
    try:
        with playing(tone):
            recorder.start()
            time.sleep(1.2)
            subprocess.run(["pulseaudio", "--kill"], check=True)
            deadline = time.monotonic() + 10
            while recorder.problem is None and time.monotonic() < deadline:
                time.sleep(0.05)
        assert recorder.problem and "stopped working" in recorder.problem
        sound = recorder.stop()
    finally:
        if recorder.is_recording:
            recorder.cancel()
        ensure_virtual_mic()
    assert "kept" in recorder.problem
    assert 0.7 <= sound.duration_s <= 2.0
    assert abs(dominant_frequency(sound.samples, sound.sample_rate) - 880.0) < 3.0
    # and recording works again once the device is back
    with playing(tone):
        again, _, rec2 = record_for(1.0)
    assert rec2.problem is None and abs(dominant_frequency(again.samples, again.sample_rate) - 880.0) < 3.0


@device
@pytest.mark.slow
def test_play_sends_the_chosen_span_to_the_default_output(virtual_mic):
    rate = 44100
    t = np.arange(4 * rate) / rate
    # 0-2 s at 440 Hz, 2-4 s at 660 Hz: playing from 2.2 s must sound only the second tone
    samples = np.where(t < 2.0, np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)).astype(np.float32) * 0.4
    sound = Sound(samples=samples, sample_rate=rate, name="two tones")
    recorder = audio_io.Recorder()
    audio_io.play(sound, start_s=2.2, duration_s=1.5)
    recorder.start()
    positions = []
    try:
        while audio_io.is_playing():
            positions.append(audio_io.playback_position_s())
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        audio_io.stop_playback()
        recorded = recorder.stop()
    assert positions and 2.2 <= positions[0] and positions[-1] <= 3.7 + 1e-6
    loud = recorded.samples[np.abs(recorded.samples) > 0.05]
    assert len(loud) > 0.8 * rate, len(loud) / rate
    assert abs(dominant_frequency(recorded.samples, recorded.sample_rate) - 660.0) < 3.0


@device
def test_stop_playback_silences_at_once(virtual_mic):
    sound = Sound(samples=np.full(44100 * 5, 0.1, dtype=np.float32), sample_rate=44100)
    audio_io.play(sound)
    assert audio_io.is_playing()
    audio_io.stop_playback()
    assert not audio_io.is_playing()
    assert audio_io.playback_position_s() is None


def test_an_empty_selection_is_not_played():
    sound = Sound(samples=np.zeros(100, dtype=np.float32), sample_rate=44100)
    with pytest.raises(BadInputError, match="nothing to play"):
        audio_io.play(sound, start_s=5.0, duration_s=1.0)
