"""The sound side reproduces the original's encoder input and accepts far more files than it did."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from sgim_desktop.engine import audio
from sgim_desktop.engine.resample import resample_exact
from sgim_desktop.errors import BadInputError
from tests.conftest import SAMPLE_AUDIO, load_reference

FRONTEND = load_reference("audio_frontend.pt")
NAMES = FRONTEND["names"]


@pytest.mark.parametrize("name", NAMES)
def test_encoder_input_matches_the_original_bit_for_bit_within_float_rounding(name):
    ref = FRONTEND["files"][name]
    sound = audio.decode(SAMPLE_AUDIO / f"{name}.wav")
    assert sound.sample_rate == ref["native_sr"]
    prep = audio.prepare(sound)
    assert len(prep.y44) == ref["y_len_44k"]
    assert prep.total_frames == ref["n_frames"]
    assert prep.power_max == pytest.approx(float(ref["mel_power_max"]), rel=1e-6)
    mid = int(ref["y_mid_offset"])
    np.testing.assert_allclose(prep.y44[:4096], ref["y_head_4096"].numpy(), atol=1e-7)
    np.testing.assert_allclose(prep.y44[mid : mid + 4096], ref["y_mid_4096"].numpy(), atol=1e-7)
    assert math.fsum(prep.y44.astype(np.float64)) == pytest.approx(ref["y_sum_f64"], abs=1e-4)
    np.testing.assert_allclose(audio.padded_window(prep.mel_db, 0), ref["mel_db_padded"].numpy(), atol=1e-6, rtol=0)
    x = audio.encoder_input(prep, 0.0)
    assert x.shape == (1, 1, 128, 512) and x.dtype == torch.float32
    assert (x - ref["x"]).abs().max().item() < 1e-6


@pytest.mark.parametrize("name", ["drill", "sobbing"])
def test_48k_files_are_resampled_with_resampy_0_2_2_kaiser_best_exactly(name):
    ref = FRONTEND["files"][name]["y_44k_full"].numpy()
    sound = audio.decode(SAMPLE_AUDIO / f"{name}.wav")
    y = audio.to_44k(sound)
    assert np.array_equal(y, ref)


def test_a_slice_of_the_exact_resampler_equals_the_same_slice_of_the_whole():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20000).astype(np.float32) * 0.3
    whole = resample_exact(x, 48000, 44100)
    assert np.array_equal(resample_exact(x, 48000, 44100, (5000, 9000)), whole[5000:9000])


def test_the_fast_resampler_is_a_different_filter_and_only_an_option():
    sound = audio.decode(SAMPLE_AUDIO / "drill.wav")
    exact = audio.encoder_input(audio.prepare(sound))
    fast = audio.encoder_input(audio.prepare(sound, resampler="fast"))
    assert (exact - FRONTEND["files"]["drill"]["x"]).abs().max() < 1e-6
    assert (fast - exact).abs().max() > 1e-3


def test_mel_power_of_a_frame_range_matches_slicing_the_whole_spectrogram():
    y = audio.to_44k(audio.decode(SAMPLE_AUDIO / "fire.wav"))
    whole = audio.mel_power(y)
    np.testing.assert_allclose(audio.mel_power(y, (100, 140)), whole[:, 100:140], rtol=1e-5, atol=0)
    np.testing.assert_allclose(audio.mel_power(y, (0, 3)), whole[:, :3], rtol=1e-5, atol=0)


def _write(path, data, rate, subtype, fmt=None):
    sf.write(str(path), data, rate, subtype=subtype, format=fmt)
    return path


def _tone(seconds, rate, channels=1, freq=440.0):
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono


ODD_FILES = [
    ("u8.wav", 44100, 1, "PCM_U8", None, 2.0),
    ("s24.wav", 44100, 2, "PCM_24", None, 2.0),
    ("float.wav", 44100, 1, "FLOAT", None, 2.0),
    ("double.wav", 22050, 1, "DOUBLE", None, 2.0),
    ("low.wav", 8000, 1, "PCM_16", None, 2.0),
    ("high.wav", 96000, 2, "PCM_16", None, 1.0),
    ("six.wav", 48000, 6, "PCM_16", None, 1.0),
    ("short.wav", 44100, 1, "PCM_16", None, 0.05),
    ("tone.flac", 44100, 2, "PCM_16", "FLAC", 2.0),
    ("tone.ogg", 44100, 1, "VORBIS", "OGG", 2.0),
    ("tone.mp3", 44100, 1, "MPEG_LAYER_III", "MP3", 2.0),
]


@pytest.mark.parametrize("fname,rate,channels,subtype,fmt,seconds", ODD_FILES)
def test_odd_files_decode_and_give_a_finite_encoder_input(tmp_path, fname, rate, channels, subtype, fmt, seconds):
    path = _write(tmp_path / fname, _tone(seconds, rate, channels), rate, subtype, fmt)
    sound = audio.decode(path)
    assert sound.sample_rate == rate and sound.channels == channels
    assert sound.samples.ndim == 1 and sound.samples.dtype == np.float32
    assert abs(sound.duration_s - seconds) < 0.1
    x = audio.encoder_input(sound)
    assert x.shape == (1, 1, 128, 512) and torch.isfinite(x).all()
    assert x.max() > 0.5, "a tone must show up in the spectrogram"


def test_silence_gives_a_finite_input_not_nan(tmp_path):
    path = _write(tmp_path / "silence.wav", np.zeros(44100 * 3), 44100, "PCM_16")
    x = audio.encoder_input(audio.decode(path))
    assert torch.isfinite(x).all()


@pytest.mark.slow
def test_a_15_minute_file_decodes_and_its_windows_can_be_chosen_and_averaged(tmp_path):
    rate = 44100
    rng = np.random.default_rng(1)
    data = (rng.standard_normal(rate * 60 * 15) * 0.1).astype(np.float32)
    data[rate * 400 : rate * 410] *= 8
    path = _write(tmp_path / "long.wav", data, rate, "PCM_16")
    sound = audio.decode(path)
    assert sound.duration_s == pytest.approx(900.0)
    prep = audio.prepare(sound)
    loud = audio.loudest_start_s(prep)
    assert 390 <= loud <= 401
    x = audio.encoder_input(prep, loud)
    assert torch.isfinite(x).all()
    assert len(audio.window_starts(prep.total_frames)) > 100


def test_window_start_is_deterministic_and_clamped_to_the_clip():
    total = 2000
    assert audio.start_frame_for(0.0, total) == 0
    assert audio.start_frame_for(5.0, total) == round(5.0 * 44100 / 512)
    assert audio.start_frame_for(1e9, total) == total - audio.TIME_FRAMES
    assert audio.start_frame_for(-3, total) == 0
    assert audio.start_frame_for(float("nan"), total) == 0


def test_a_later_window_crops_the_whole_clips_spectrogram_like_the_originals_crop_branch():
    rng = np.random.default_rng(2)
    y = (rng.standard_normal(44100 * 15) * 0.2).astype(np.float32)
    prep = audio.prepare(audio.Sound(y, 44100))
    j = audio.start_frame_for(3.0, prep.total_frames)
    x = audio.encoder_input(prep, 3.0)
    crop = prep.mel_db[:, j : j + 864].astype(np.float64)
    t = torch.from_numpy(crop)[None, None]
    expect = torch.nn.functional.interpolate(t, size=(512, 128), mode="bilinear", align_corners=False)
    assert torch.equal(x, expect.reshape(1, 1, 128, 512).float())


def test_window_starts_cover_a_long_clip_and_all_windows_stack():
    prep = audio.prepare(audio.Sound(np.zeros(44100 * 25, dtype=np.float32) + 0.01, 44100))
    starts = audio.window_starts(prep.total_frames)
    assert starts[0] == 0.0 and starts[-1] == pytest.approx((prep.total_frames - 864) * 512 / 44100)
    assert audio.encoder_inputs_all_windows(prep).shape == (len(starts), 1, 128, 512)


@pytest.mark.parametrize(
    "dtype,scale",
    [(np.int16, 32767), (np.int32, 2**31 - 1), (np.float32, 1.0), (np.uint8, None)],
)
def test_microphone_buffers_of_any_dtype_become_mono_floats(dtype, scale):
    t = np.arange(4410) / 44100
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    if dtype == np.uint8:
        buf = np.round(wave * 127 + 128).astype(np.uint8)
    else:
        buf = (wave * scale).astype(dtype)
    stereo = np.stack([buf, buf], axis=1)
    sound = audio.from_buffer(stereo, 44100)
    assert sound.channels == 2 and sound.samples.dtype == np.float32
    np.testing.assert_allclose(sound.samples, wave, atol=0.01)


def test_an_empty_recording_is_a_clear_error():
    with pytest.raises(BadInputError, match="empty"):
        audio.from_buffer(np.zeros((0, 1), dtype=np.float32), 44100)


def _bad_files(tmp_path):
    good = _write(tmp_path / "good.wav", _tone(1.0, 44100), 44100, "PCM_16")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:30])
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    return {"truncated": truncated, "text": text, "empty": empty, "folder": folder, "missing": tmp_path / "nope.wav"}


@pytest.mark.parametrize("kind", ["truncated", "text", "empty", "folder", "missing"])
def test_bad_files_raise_one_line_errors(tmp_path, kind):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(BadInputError) as info:
        audio.decode(path)
    msg = str(info.value)
    assert "\n" not in msg and path.name in msg
