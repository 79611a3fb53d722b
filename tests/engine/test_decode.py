"""Decoding checks what a header says before it allocates, and says what it did to the sound."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from sgim_desktop.engine import decode as dec
from sgim_desktop.errors import BadInputError
from tests.conftest import REPO
from tests.hostile.corpus import tone_pcm16, wav_bytes, write_case


@pytest.mark.parametrize("rate", [0, 1, 3, 999, 384_001, 4_000_000_000])
def test_a_rate_no_recording_has_is_refused_naming_the_file_and_the_limits(tmp_path, rate):
    path = tmp_path / "odd.wav"
    path.write_bytes(wav_bytes(rate, 1, tone_pcm16(22000)))
    with pytest.raises(BadInputError) as info:
        dec.decode(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    assert f"{rate:,} Hz" in msg and "1,000-384,000 Hz" in msg and "re-export" in msg


@pytest.mark.parametrize("channels", [300, 65535])
def test_more_channels_than_any_recording_is_refused(tmp_path, channels):
    path = tmp_path / "wide.wav"
    path.write_bytes(wav_bytes(44100, channels, tone_pcm16(8, channels)))
    with pytest.raises(BadInputError, match=f"{channels:,} channels .*up to 256"):
        dec.decode(path)


def test_many_channels_within_the_limit_mix_down(tmp_path):
    path = tmp_path / "64.wav"
    path.write_bytes(wav_bytes(48000, 64, tone_pcm16(4800, 64)))
    sound = dec.decode(path)
    assert sound.channels == 64 and len(sound.samples) == 4800 and sound.warnings == ()


def test_a_file_cut_short_is_used_as_far_as_it_goes_with_one_warning(tmp_path):
    path, _ = write_case(tmp_path, "truncated data")
    sound = dec.decode(path)
    assert len(sound.samples) == (3000 - 44) // 2
    assert len(sound.warnings) == 1
    (warning,) = sound.warnings
    assert str(path) in warning and "ends early" in warning and "10.0 s" in warning and "0.03 s" in warning


def test_a_header_promising_a_billion_frames_allocates_only_what_is_there(tmp_path):
    path, _ = write_case(tmp_path, "10^9 frames declared")
    tracemalloc.start()
    sound = dec.decode(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(sound.samples) == 22000 and peak < 2_000_000
    assert "ends early" in sound.warnings[0] and "6 h 17 min" in sound.warnings[0]


def test_a_cut_flac_keeps_what_decoded_before_the_break(tmp_path):
    whole = tmp_path / "whole.flac"
    sf.write(str(whole), (np.sin(np.arange(441000) * 0.05) * 0.3).astype(np.float32), 44100)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    sound = dec.decode(cut)
    assert 0 < sound.duration_s < 10 and "ends early" in sound.warnings[0]


def test_samples_that_are_not_numbers_become_silence_with_a_warning(tmp_path):
    path, _ = write_case(tmp_path, "NaN and inf samples")
    sound = dec.decode(path)
    assert np.isfinite(sound.samples).all()
    assert sound.samples[0] == 0.0 and sound.samples[3] == 0.0
    assert any("not numbers (NaN or infinite)" in w and str(path) in w for w in sound.warnings)


@pytest.mark.parametrize("case", ["1e30 samples", "float max samples"])
def test_samples_far_beyond_full_scale_are_scaled_down_with_a_warning(tmp_path, case):
    path, _ = write_case(tmp_path, case)
    sound = dec.decode(path)
    assert np.isfinite(sound.samples).all() and np.abs(sound.samples).max() == pytest.approx(1.0)
    assert len(sound.warnings) == 1 and "far beyond full scale" in sound.warnings[0]


def test_ordinary_headroom_is_left_alone(tmp_path):
    path = tmp_path / "hot.wav"
    sf.write(str(path), np.full(4410, 1.9, dtype=np.float32), 44100, subtype="FLOAT")
    sound = dec.decode(path)
    assert sound.samples.max() == pytest.approx(1.9) and sound.warnings == ()


def test_a_file_longer_than_the_limit_is_used_up_to_it_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(dec, "MAX_SECONDS", 2.0)
    path = tmp_path / "long.wav"
    sf.write(str(path), np.zeros(8000 * 5, dtype=np.float32) + 0.1, 8000)
    sound = dec.decode(path)
    assert sound.duration_s == 2.0
    assert "longer than this app reads (5.0 s): only its first 2.0 s is used" in sound.warnings[0]


def test_decoding_holds_the_mono_samples_and_a_block_not_the_whole_file(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.zeros((44100 * 30, 2), dtype=np.float32) + 0.1, 44100, subtype="PCM_16")
    tracemalloc.start()
    sound = dec.decode(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < sound.samples.nbytes + 4 * dec.BLOCK_SAMPLES * 4


def test_a_file_that_is_not_sound_says_so_in_our_words(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(BadInputError, match=r"cannot read .*notes\.wav: it is not a sound file this app reads"):
        dec.decode(path)


def test_a_recording_with_bad_samples_is_cleaned_and_says_so():
    buf = np.full((4410, 2), 0.2, dtype=np.float32)
    buf[10, 0] = np.nan
    sound = dec.from_buffer(buf, 44100, name="take")
    assert np.isfinite(sound.samples).all()
    assert sound.warnings and "the recording take holds 1 samples" in sound.warnings[0]


def test_a_recording_at_an_impossible_rate_is_refused():
    with pytest.raises(BadInputError, match="outside 1,000-384,000 Hz"):
        dec.from_buffer(np.zeros(100, dtype=np.float32), 1)


_CAPPED = """
import resource, sys
import numpy as np
from sgim_desktop.engine import MODULE
from sgim_desktop.errors import BadInputError
size = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize"))
limit = (size + 8 * 1024) * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    CALL
except BadInputError as exc:
    print(exc)
"""


def _short_of_memory(module: str, call: str) -> str:
    """Run ``call`` in a child whose address space ends 8 MB past what its imports took; the line it ends with."""
    script = _CAPPED.replace("MODULE", module).replace("CALL", call)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_running_out_of_memory_while_reading_names_the_sound_and_its_size(tmp_path):
    path = tmp_path / "ten-minutes.wav"
    sf.write(str(path), np.zeros(8000 * 600, dtype=np.int16) + 100, 8000, subtype="PCM_16")
    line = _short_of_memory("decode", f"decode.decode({str(path)!r})")
    assert line.startswith(f"out of memory reading {path}: its 10 min 00 s of sound take 19 MB as samples")


def test_running_out_of_memory_while_preparing_names_the_sound(tmp_path):
    hum = 'audio.Sound(np.full(8000 * 110, 0.1, np.float32), 8000, "hum", source="hum.wav")'
    line = _short_of_memory("audio", f"audio.prepare({hum})")
    assert line.startswith("out of memory preparing hum.wav (1 min 50 s) for the encoder: at 44.1 kHz it takes about")
