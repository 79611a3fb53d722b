"""Live mode: the ring buffer keeps the newest ~10 s in order, a buffer not yet full is heard as a short
sound is, the loop re-encodes on the newest audio without queueing, and a slow consumer sees only the
newest frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgim_desktop.engine import audio
from sgim_desktop.engine.clip_space import ClipSpace
from sgim_desktop.engine.edit import EditModels, EditRequest, sound_target, source_latent
from sgim_desktop.engine.instant import InstantParams, quick_render
from sgim_desktop.engine.live import (
    LatestFrame,
    LiveEngine,
    LiveFrame,
    LiveLoop,
    RingBuffer,
    loudness_factor,
    preview_size,
)
from sgim_desktop.errors import BadInputError
from tests.conftest import SAMPLE_AUDIO
from tests.engine.test_directions import single_thread, tiny_build


def test_the_ring_buffer_keeps_the_newest_samples_in_order():
    ring = RingBuffer(10, seconds=1.0)
    ring.push(np.arange(4, dtype=np.float32))
    assert ring.snapshot()[0].tolist() == [0, 1, 2, 3] and ring.seconds == pytest.approx(0.4)
    ring.push(np.arange(4, 13, dtype=np.float32))
    samples, position = ring.snapshot()
    assert samples.tolist() == list(range(3, 13)) and position == 13
    ring.push(np.stack([np.full(25, 1.0), np.full(25, 3.0)], axis=1))  # stereo, longer than the buffer
    samples, position = ring.snapshot()
    assert samples.tolist() == [2.0] * 10 and position == 38


def test_the_ring_buffer_holds_what_the_encoder_hears():
    ring = RingBuffer(audio.SAMPLE_RATE)
    assert ring.capacity == round(audio.WINDOW_SECONDS * audio.SAMPLE_RATE)


def test_a_slow_consumer_gets_only_the_newest_frame():
    box = LatestFrame()
    frames = [LiveFrame(i, np.zeros((2, 2, 3), np.uint8), torch.zeros(1), 0.0, 1.0, 1.0) for i in range(3)]
    for f in frames:
        box.put(f)
    assert box.take().index == 2 and box.dropped == 2
    assert box.take() is None


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1e-3)


class _SlowEngine:
    """An engine whose update takes ``cost`` seconds of the fake clock while the stream keeps flowing."""

    def __init__(self, clock: _Clock, ring: RingBuffer, cost: float) -> None:
        self.clock, self.ring, self.cost = clock, ring, cost
        self.heard: list[float] = []

    def update(self, samples, rate, stream_s, recent):
        self.heard.append(stream_s)
        self.clock.now += self.cost
        self.ring.push(np.zeros(int(self.cost * rate), np.float32))
        return LiveFrame(len(self.heard) - 1, np.zeros((2, 2, 3), np.uint8), torch.zeros(1), stream_s, 1000 * self.cost, 1.0)


@pytest.mark.parametrize("cost, expected", [(0.1, 20), (0.8, 7)])
def test_the_loop_paces_updates_on_the_newest_audio_and_queues_none(cost, expected):
    clock, ring = _Clock(), RingBuffer(100)
    ring.push(np.zeros(10, np.float32))
    engine = _SlowEngine(clock, ring, cost)
    loop = LiveLoop(engine, ring, interval=0.25, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    made = loop.run(lambda f: None, stop=lambda: clock.now >= 5.0)
    assert made == expected == len(loop.update_ms)
    assert all(b > a for a, b in zip(engine.heard, engine.heard[1:]))  # every update on newer audio
    gaps = np.diff(engine.heard)
    assert gaps.min() >= min(0.25, cost) - 1e-9 and gaps.max() <= max(0.25, cost) + 0.02
    if cost > 0.25:
        assert loop.skipped_intervals >= made - 1  # late updates were not made up for


def test_the_loop_refuses_an_interval_over_half_a_second():
    with pytest.raises(BadInputError, match="0.5"):
        LiveLoop(None, RingBuffer(10), interval=0.6)  # type: ignore[arg-type]


def test_loudness_maps_silence_to_zero_and_a_loud_sound_to_one():
    t = np.arange(4410) / 44100
    assert loudness_factor(np.zeros(100, np.float32)) == 0.0
    assert loudness_factor(0.9 * np.sin(2 * np.pi * 440 * t)) == 1.0
    assert loudness_factor(10 ** (-30 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 440 * t)) == pytest.approx(0.5, abs=0.01)
    assert loudness_factor(np.zeros(0, np.float32)) == 0.0


def test_previews_are_at_least_128_px_where_the_generator_is():
    assert [preview_size(s) for s in (64, 128, 256, 1024)] == [64, 128, 128, 128]
    assert preview_size(1024, 200) == 256


@pytest.fixture(scope="module")
def live(tmp_path_factory, rule_clip, rule_audio_encoder):
    built = tiny_build(tmp_path_factory.mktemp("directions"), rule_clip)
    models = EditModels(generator=built["generator"], space=ClipSpace(rule_clip, rule_audio_encoder))
    w0 = source_latent(models, EditRequest(targets=[], seed=1))
    return models, built["directions"], w0


@pytest.mark.slow
def test_a_buffer_not_yet_full_is_heard_as_the_same_short_sound_dropped(live):
    models, directions, w0 = live
    engine = LiveEngine(models, directions, w0, resampler="exact")
    rain = audio.decode(SAMPLE_AUDIO / "raining.wav")
    ring = RingBuffer(rain.sample_rate)
    three = rain.samples[: 3 * rain.sample_rate]
    ring.push(three)
    samples, _ = ring.snapshot()
    heard = engine.target_for(samples, ring.sample_rate).embedding
    short = audio.from_buffer(three, rain.sample_rate)
    dropped = sound_target(models.space, audio.encoder_input(audio.prepare(short))).embedding
    assert torch.equal(heard, dropped)


@pytest.mark.slow
def test_an_update_renders_a_preview_of_the_edit_and_strength_zero_shows_the_source(live):
    models, directions, w0 = live
    rain = audio.decode(SAMPLE_AUDIO / "raining.wav")
    with single_thread():
        frame = LiveEngine(models, directions, w0).update(rain.samples[: 2 * rain.sample_rate], rain.sample_rate, 2.0)
        still = LiveEngine(models, directions, w0, InstantParams(strength=0.0)).update(
            rain.samples[: rain.sample_rate], rain.sample_rate)
        assert frame.image.shape == (64, 64, 3) and frame.update_ms > 0 and frame.stream_s == 2.0
        assert not torch.equal(frame.latent, w0) and torch.equal(still.latent, w0)
        assert np.array_equal(still.image, quick_render(models, w0))
    quiet = LiveEngine(models, directions, w0, follow_loudness=True)
    with single_thread():
        silent = quiet.update(np.zeros(rain.sample_rate, np.float32), rain.sample_rate)
    assert silent.strength == 0.0 and torch.equal(silent.latent, w0)
