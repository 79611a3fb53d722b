"""The exact resampler works a block at a time: any output range, bit for bit, in bounded memory."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from sgim_desktop.engine import resample
from sgim_desktop.engine.resample import register_at, resample_exact, resample_fast, time_register


def running_sum(step: float, n: int) -> np.ndarray:
    run = np.full(n, step)
    run[0] = 0.0
    return np.cumsum(run)


@pytest.mark.parametrize("rate", [1000, 8000, 11025, 22050, 32000, 48000, 96000, 384000])
def test_the_time_register_at_any_output_is_resampys_running_sum(rate):
    step = 1.0 / (44100.0 / rate)
    n = 1 << 22
    seq = running_sum(step, n)
    picks = np.concatenate([np.arange(64), np.random.default_rng(rate).integers(0, n, 500), [n - 1]])
    assert [register_at(step, int(k)) for k in picks] == [seq[k] for k in picks]
    assert np.array_equal(time_register(step, 777_777, 777_777 + 5000), seq[777_777 : 777_777 + 5000])


@pytest.mark.parametrize("step", [1 + 2**-34, 1 + 2**-33 + 2**-34, 0.75 + 2**-36])
def test_the_register_follows_round_half_to_even_where_additions_tie(step):
    n = 1 << 22  # these steps fall half way between two multiples of the ulp within reach
    seq = running_sum(step, n)
    picks = np.random.default_rng(7).integers(0, n, 2000)
    assert [register_at(step, int(k)) for k in picks] == [seq[k] for k in picks]


@pytest.mark.parametrize("rate", [8000, 22050, 48000, 96000])
def test_a_range_equals_the_same_range_of_the_whole_across_blocks_and_silence(rate):
    rng = np.random.default_rng(rate)
    x = (rng.standard_normal(rate * 4) * 0.3).astype(np.float32)
    x[rate : rate * 2] = 0.0  # a silent second: its blocks are skipped, the register carried past them
    whole = resample_exact(x, rate, 44100)
    assert len(whole) == int(np.ceil(len(x) * 44100 / rate))
    for a, b in [(0, 100), (resample.BLOCK - 50, resample.BLOCK + 50), (44100, 90000), (150000, len(whole))]:
        assert np.array_equal(resample_exact(x, rate, 44100, (a, b)), whole[a:b])
    assert not whole[44100 + 800 : 88200 - 800].any()  # beyond the filter's 64 taps a side


def test_a_range_deep_in_an_hour_costs_only_that_range():
    rate = 48000
    x = np.zeros(rate * 3600, dtype=np.float32)
    x[-rate * 20 :] = np.sin(np.arange(rate * 20) * 0.01).astype(np.float32)
    a = int(3590 * 44100)
    tracemalloc.start()
    started = time.perf_counter()
    part = resample_exact(x, rate, 44100, (a, a + 44100))
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.abs(part).max() > 0.5
    assert peak < 40_000_000 and took < 5.0, (peak, took)


def test_silence_costs_nothing_and_stays_exactly_zero():
    x = np.zeros(8000 * 600, dtype=np.float32)
    started = time.perf_counter()
    y = resample_exact(x, 8000, 44100)
    assert time.perf_counter() - started < 2.0 and not y.any() and len(y) == 44100 * 600


@pytest.mark.parametrize("rate", [8000, 48000])
def test_the_fast_resampler_makes_a_range_from_whole_periods(rate):
    x = (np.random.default_rng(1).standard_normal(rate * 3) * 0.3).astype(np.float32)
    whole = resample_fast(x, rate, 44100)
    np.testing.assert_allclose(resample_fast(x, rate, 44100, (3000, 70000)), whole[3000:70000], atol=1e-6)
