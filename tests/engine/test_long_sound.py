"""Long sounds are prepared in blocks: the original's numbers, a few MB of memory, seconds of time."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import torch

from sgim_desktop.engine import audio
from sgim_desktop.engine.long_sound import frame_energy
from sgim_desktop.engine.mel import CHUNK_FRAMES, frames_of


def _clip(rate: int, seconds: int, seed: int = 3) -> audio.Sound:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(rate * seconds) * 0.05).astype(np.float32)
    x[rate * 10 : rate * 25] = 0.0
    x[rate * 30 : rate * 32] *= 10
    return audio.Sound(x, rate, "clip")


@pytest.mark.parametrize("rate", [44100, 48000])
def test_a_clip_prepared_in_blocks_holds_the_whole_computations_values(rate):
    sound = _clip(rate, 50)
    whole = audio.prepare(sound, in_blocks=False)
    blocks = audio.prepare(sound, in_blocks=True)
    assert blocks.whole_db is None and blocks.total_frames > 2 * CHUNK_FRAMES
    assert blocks.power_max == whole.power_max
    for start in (0.0, 13.3, 21.0, 35.0, 1e9):
        assert torch.equal(audio.encoder_input(blocks, start), audio.encoder_input(whole, start))
    assert np.array_equal(blocks.mel_db, whole.mel_db)


def test_the_dB_reference_of_a_long_clip_is_todays_whole_clip_maximum():
    sound = _clip(44100, 130)
    prep = audio.prepare(sound)
    assert prep.whole_db is None, "130 s is past LONG_SECONDS: prepared in blocks"
    assert prep.power_max == float(audio.mel_power(audio.to_44k(sound)).max())


def test_progress_follows_the_chunks():
    seen = []
    prep = audio.prepare(_clip(44100, 50), progress=lambda done, total: seen.append((done, total)), in_blocks=True)
    assert prep.total_frames == 4307 and seen == [(1, 3), (2, 3), (3, 3)]


def test_the_loudest_window_of_a_long_clip_holds_its_loud_part():
    rate = 44100
    x = (np.random.default_rng(1).standard_normal(rate * 150) * 0.01).astype(np.float32)
    x[rate * 100 : rate * 104] *= 30
    start = audio.loudest_start_s(audio.prepare(audio.Sound(x, rate)))
    assert 94 <= start <= 100


def test_frame_energy_sums_the_native_samples_under_each_hop():
    rate = 48000
    x = np.random.default_rng(0).standard_normal(rate * 7 + 5).astype(np.float32)
    total = frames_of(int(np.ceil(len(x) * 44100 / rate)))
    edges = np.minimum(np.arange(total + 1) * 512 * rate // 44100, len(x))
    expect = [np.sum(x[edges[i] : edges[i + 1]].astype(np.float64) ** 2) for i in range(total)]
    np.testing.assert_allclose(frame_energy(audio.Sound(x, rate), total), expect, rtol=1e-12)


def test_an_hour_of_silence_is_prepared_in_seconds_in_a_few_MB_and_called_silent():
    sound = audio.Sound(np.zeros(8000 * 3600, dtype=np.float32), 8000, "quiet", source="quiet.wav")
    tracemalloc.start()
    started = time.perf_counter()
    prep = audio.prepare(sound)
    x = audio.encoder_input(prep, audio.loudest_start_s(prep))
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert torch.isfinite(x).all()
    assert took < 20 and peak < 60_000_000, (took, peak)
    assert prep.warnings == ["quiet.wav is silent (nothing above -60 dBFS): the encoder hears nothing in it; "
                             "choose or record another sound"]
    assert audio.window_warnings(prep, 100.0) == []  # said once, for the whole clip


def test_a_silent_window_in_a_sound_gets_its_own_warning():
    prep = audio.prepare(_clip(44100, 50))
    assert prep.warnings == [] and audio.window_warnings(prep, 30.0) == []
    (warning,) = audio.window_warnings(prep, 12.0)
    assert "from 0:12.0 in clip are silent" in warning and "choose a louder part" in warning


def test_averaging_a_long_clip_samples_64_windows_and_says_what_it_costs():
    sound = audio.Sound(np.zeros(8000 * 1200, dtype=np.float32), 8000, "talk")
    prep = audio.prepare(sound)
    starts = audio.average_starts(prep.total_frames)
    assert len(starts) == audio.MAX_AVERAGE_WINDOWS and starts[0] == 0.0
    assert starts[-1] == audio.window_starts(prep.total_frames)[-1]
    note = audio.average_note(prep)
    assert note.startswith("averaging 64 windows of 10 s over 20 min 00 s of talk: the encoder runs 64 times")
    assert "a window every 19 s" in note
    assert "averaging 3 windows" in audio.average_note(audio.Sound(np.full(44100 * 20, 0.1, np.float32), 44100))
