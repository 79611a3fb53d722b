"""Live mode without Qt: the picture follows a sound stream (a microphone, or a file played as one).

Three parts, each on its own thread in the window and in ``sgim-desktop live``:
- ``RingBuffer``: the stream's last ``WINDOW_SECONDS`` (what the audio encoder hears at once),
  filled by the audio thread. While it holds less, the encoder's input is padded at the end with
  silence at the spectrogram's floor, exactly as the original pads a short sound: the live target
  of the first seconds is the target a dropped sound of that length gets.
- ``LiveEngine.update``: the buffer -> encoder input -> target -> latent step (the directions) ->
  a preview render, stopping the generator at ``preview`` px (the layers above only add detail).
- ``LiveLoop``: re-encodes at most every ``interval`` seconds, always from the newest audio; an
  update that runs late is followed at once by one on the newest audio, never by the missed ones.
  ``LatestFrame`` hands frames to a slower consumer (the window) keeping only the newest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sgim_desktop.engine import audio
from sgim_desktop.engine.directions_file import Directions
from sgim_desktop.engine.edit import EditModels, TargetSpec, render, sound_target
from sgim_desktop.engine.instant import InstantParams, apply_step, check_fits, quick_render, step_for
from sgim_desktop.errors import BadInputError

DEFAULT_INTERVAL_S = 0.25
BLOCK_SECONDS = 0.02  # what a sound card delivers at a time
PREVIEW_PX = 128
LOUDNESS_FLOOR_DB = -50.0  # at or below: strength 0 when strength follows loudness
LOUDNESS_FULL_DB = -10.0  # at or above: the full strength


class RingBuffer:
    """The last ``seconds`` of a mono stream at its own rate; ``push`` from the audio thread."""

    def __init__(self, sample_rate: int, seconds: float = audio.WINDOW_SECONDS):
        if sample_rate <= 0:
            raise BadInputError(f"invalid sample rate {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.capacity = int(round(seconds * sample_rate))
        self._data = np.zeros(self.capacity, dtype=np.float32)
        self._filled = 0
        self._head = 0  # where the next sample goes
        self.total = 0  # samples pushed since the start
        self._lock = threading.Lock()

    def push(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1, dtype=np.float32)
        x = x.reshape(-1)[-self.capacity:]
        n = len(x)
        with self._lock:
            first = min(n, self.capacity - self._head)
            self._data[self._head:self._head + first] = x[:first]
            self._data[: n - first] = x[first:]
            self._head = (self._head + n) % self.capacity
            self._filled = min(self.capacity, self._filled + n)
            self.total += len(np.asarray(block))

    def snapshot(self) -> tuple[np.ndarray, int]:
        """The buffered samples, oldest first, and the stream position (samples) of the newest."""
        with self._lock:
            if self._filled < self.capacity:
                return self._data[: self._filled].copy(), self.total
            return np.concatenate([self._data[self._head:], self._data[: self._head]]), self.total

    @property
    def seconds(self) -> float:
        return self._filled / self.sample_rate


@dataclass
class LiveFrame:
    index: int
    image: np.ndarray  # the preview
    latent: torch.Tensor
    stream_s: float  # stream time of the newest sample heard
    update_ms: float  # audio snapshot -> preview ready
    strength: float


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile rounded to 0.1 (of update times in ms); None when there are none."""
    return round(float(np.percentile(values, q)), 1) if len(values) else None


def loudness_factor(samples: np.ndarray) -> float:
    """0 for silence up to LOUDNESS_FLOOR_DB (RMS, dBFS), 1 from LOUDNESS_FULL_DB, linear in dB between."""
    if samples.size == 0:
        return 0.0
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    db = 20 * np.log10(max(rms, 1e-10))
    return float(np.clip((db - LOUDNESS_FLOOR_DB) / (LOUDNESS_FULL_DB - LOUDNESS_FLOOR_DB), 0.0, 1.0))


def preview_size(generator_size: int, preview: int = PREVIEW_PX) -> int:
    """The largest power of two up to the generator's size and at least ``preview`` (or the size itself)."""
    px = 4
    while px < preview and px < generator_size:
        px *= 2
    return min(px, generator_size)


class LiveEngine:
    """Turns the buffered stream into a preview of the edit; ``full_image`` renders the last one whole."""

    def __init__(self, models: EditModels, directions: Directions, source: torch.Tensor,
                 params: InstantParams = InstantParams(), extra_targets: Sequence[TargetSpec] = (),
                 sound_weight: float = 1.0, preview: int = PREVIEW_PX, follow_loudness: bool = False,
                 resampler: str = "fast"):
        if models.space is None:
            raise BadInputError("live mode needs CLIP and the audio encoder loaded")
        self.space = models.space
        check_fits(directions, models)
        params.check(models.generator.config.n_latent)
        self.models, self.directions, self.params = models, directions.to(models.device), params
        self.source = source.to(models.device)
        self.extra_targets = list(extra_targets)
        self.sound_weight = sound_weight
        self.preview = preview_size(models.generator.config.size, preview)
        self.follow_loudness = follow_loudness
        self.resampler = resampler
        self.latent = self.source.clone()
        self.frames = 0

    def warm_up(self) -> None:
        """One update on a second of silence: the first pass builds the kernels (seconds), not a frame's cost."""
        rate = audio.SAMPLE_RATE
        self.update(np.zeros(rate, dtype=np.float32), rate)
        self.frames = 0
        self.latent = self.source.clone()

    def target_for(self, samples: np.ndarray, sample_rate: int) -> TargetSpec:
        """The buffered sound's target: its ~10 s window, padded at the end as a short sound is."""
        sound = audio.from_buffer(samples, sample_rate, name="live")
        x = audio.encoder_input(audio.prepare(sound, self.resampler), 0.0)
        return sound_target(self.space, x, self.sound_weight, "live")

    def update(self, samples: np.ndarray, sample_rate: int, stream_s: float = 0.0,
               recent: np.ndarray | None = None) -> LiveFrame:
        """One frame from the buffered samples (``recent``: the newest part, for the loudness)."""
        started = time.perf_counter()
        if samples.size == 0:
            raise BadInputError("live mode has no sound yet")
        target = self.target_for(samples, sample_rate)
        strength = self.params.strength
        if self.follow_loudness:
            strength *= loudness_factor(samples if recent is None else recent)
        params = InstantParams(strength=strength, channels=self.params.channels, layers=self.params.layers,
                               mix_mode=self.params.mix_mode, split_layer=self.params.split_layer,
                               splice_coarse=self.params.splice_coarse)
        step = step_for(self.directions, self.models, [target, *self.extra_targets], params)
        self.latent = apply_step(self.source, step, params)
        image = quick_render(self.models, self.latent, self.preview)
        self.frames += 1
        return LiveFrame(index=self.frames - 1, image=image, latent=self.latent.detach().cpu(), stream_s=stream_s,
                         update_ms=1000 * (time.perf_counter() - started), strength=strength)

    def full_image(self) -> np.ndarray:
        """The last frame's latent at full size, rendered the exact way (when the sound stops, or a snapshot)."""
        return render(self.models, self.latent)


class PacedStream:
    """A sound pushed into a ring buffer block by block at the pace it plays: a file heard as a microphone."""

    def __init__(self, samples: np.ndarray, sample_rate: int, buffer: RingBuffer | None = None) -> None:
        self.samples, self.rate = samples, int(sample_rate)
        self.buffer = buffer or RingBuffer(self.rate)
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, name="live-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _play(self) -> None:
        block = max(1, int(BLOCK_SECONDS * self.rate))
        started = time.monotonic()
        for pos in range(0, len(self.samples), block):
            wait = started + pos / self.rate - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            self.buffer.push(self.samples[pos:pos + block])
        self.finished.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)


class LatestFrame:
    """A one-frame mailbox between the loop and a slower consumer: a new frame replaces an unread one."""

    def __init__(self) -> None:
        self._frame: LiveFrame | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, frame: LiveFrame) -> None:
        with self._lock:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame

    def take(self) -> LiveFrame | None:
        with self._lock:
            frame, self._frame = self._frame, None
            return frame


class LiveLoop:
    """Paces updates: at most one per ``interval`` s, each on the newest audio, none queued."""

    def __init__(self, engine: LiveEngine, buffer: RingBuffer, interval: float = DEFAULT_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if not 0 < interval <= 0.5:
            raise BadInputError("live mode re-encodes at least every 0.5 s: the interval must be in (0, 0.5]")
        self.engine, self.buffer, self.interval = engine, buffer, interval
        self.clock, self.sleep = clock, sleep
        self.update_ms: list[float] = []
        self.skipped_intervals = 0  # intervals an update overran (their audio was never queued)

    def run(self, on_frame: Callable[[LiveFrame], None], stop: Callable[[], bool],
            cancel: threading.Event | None = None) -> int:
        """Update until ``stop()`` or ``cancel``; returns the number of frames made."""
        cancel = cancel or threading.Event()
        due = self.clock()
        made = 0
        while not cancel.is_set() and not stop():
            now = self.clock()
            samples, position = self.buffer.snapshot()
            if now < due or samples.size == 0:
                self.sleep(min(0.01, max(0.0, due - now)) or 0.005)
                continue
            late = now - due
            self.skipped_intervals += int(late // self.interval)
            due = now + self.interval
            recent = samples[-int(self.interval * self.buffer.sample_rate):]
            frame = self.engine.update(samples, self.buffer.sample_rate, position / self.buffer.sample_rate, recent)
            self.update_ms.append(frame.update_ms)
            made += 1
            on_frame(frame)
        return made
