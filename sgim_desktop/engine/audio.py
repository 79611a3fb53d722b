"""Sound in, encoder input out: decode, mono, 44.1 kHz, choose a window, log-mel as the original.

The public audio encoder only works on input prepared exactly as ``run_optimization.py`` prepared
it with librosa 0.8.1, quirks included (see shared/fixtures/reference/README.md, section 5):
reflect padding, dB against the whole clip's maximum, zero padding at the end, a bilinear resize of
(128 x 864) to (512 x 128) and a *reshape* (not a transpose) to 1 x 1 x 128 x 512. The default,
exact mode reproduces all of it; what goes beyond the original (choosing the window, averaging
windows of a long sound, a fast resampler) is opt-in and named.

A clip up to ``LONG_SECONDS`` is prepared whole, as the original did. A longer one (an hour-long
recording) is prepared in blocks (``long_sound``): the same dB reference, computed chunk by chunk
over the whole clip, and a window's spectrogram made when it is asked for, with the same values,
so memory stays at a few MB besides the decoded samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from sgim_desktop.engine.decode import decode, from_buffer
from sgim_desktop.engine.long_sound import ChunkPowers, Signal44, frame_energy
from sgim_desktop.engine.mel import frames_of, mel_basis, mel_power, power_to_db
from sgim_desktop.engine.sound import (
    AMIN,
    HOP,
    N_FFT,
    N_MELS,
    RESIZE,
    SAMPLE_RATE,
    TIME_FRAMES,
    TOP_DB,
    WINDOW_SECONDS,
    Sound,
    describe_duration,
)
from sgim_desktop.errors import BadInputError

__all__ = [
    "AMIN", "HOP", "N_FFT", "N_MELS", "RESIZE", "SAMPLE_RATE", "TIME_FRAMES", "TOP_DB", "WINDOW_SECONDS",
    "Prepared", "Sound", "average_note", "decode", "encoder_input", "encoder_inputs_all_windows", "from_buffer",
    "frames_of", "loudest_start_s", "mel_basis", "mel_power", "padded_window", "power_to_db", "prepare",
    "start_frame_for", "to_44k", "window_starts", "window_warnings",
]

LONG_SECONDS = 120.0
SILENT_PEAK = 1e-3  # -60 dBFS, the recorder meter's floor: below it a person hears nothing
MAX_AVERAGE_WINDOWS = 64


def to_44k(sound: Sound, resampler: str = "exact") -> np.ndarray:
    """The whole sound at 44.1 kHz, as librosa 0.8.1 ``load(sr=44100)`` returned it."""
    signal = Signal44(sound, resampler)
    return signal.range(0, signal.n44)


def start_frame_for(start_s: float, total_frames: int) -> int:
    """Frame index of a start time, kept inside the clip so the window is as full as it can be."""
    if not math.isfinite(start_s) or start_s < 0:
        start_s = 0.0
    j = int(round(start_s * SAMPLE_RATE / HOP))
    return max(0, min(j, max(0, total_frames - TIME_FRAMES)))


def _resize_and_pack(padded: np.ndarray) -> torch.Tensor:
    """The original's cv2.resize to (512, 128) and reshape to (1, 1, 128, 512), as float32."""
    t = torch.from_numpy(padded.astype(np.float64))[None, None]
    r = F.interpolate(t, size=(RESIZE, N_MELS), mode="bilinear", align_corners=False)[0, 0]
    return r.reshape(1, 1, N_MELS, RESIZE).float()


def padded_window(mel_db: np.ndarray, start_frame: int) -> np.ndarray:
    """864 frames from ``start_frame`` as float64, zero-padded at the end as the original does."""
    out = np.zeros((N_MELS, TIME_FRAMES), dtype=np.float64)
    part = mel_db[:, start_frame : start_frame + TIME_FRAMES]
    out[:, : part.shape[1]] = part
    return out


@dataclass(eq=False)
class Prepared:
    """A sound ready for the encoder: the whole clip's dB reference and the way to any window of it.

    A short clip keeps its 44.1 kHz samples and whole mel-dB spectrogram (``y44``, ``mel_db``); a
    long one keeps chunk powers and per-frame energy, and makes ``y44``/``mel_db`` only if asked.
    ``warnings``: one-line notes beyond the sound's own (a silent clip).
    """

    power_max: float
    total_frames: int
    signal: Signal44
    warnings: list[str] = field(default_factory=list)
    silent: bool = False
    whole_db: np.ndarray | None = None
    whole_y44: np.ndarray | None = None
    chunks: ChunkPowers | None = None
    energy: np.ndarray | None = None

    @property
    def sound(self) -> Sound:
        return self.signal.sound

    @property
    def y44(self) -> np.ndarray:
        return self.whole_y44 if self.whole_y44 is not None else self.signal.range(0, self.signal.n44)

    @property
    def mel_db(self) -> np.ndarray:
        if self.whole_db is not None:
            return self.whole_db
        assert self.chunks is not None
        return self._db(self.chunks.frames(0, self.total_frames))

    def window_db(self, start_frame: int) -> np.ndarray:
        """The padded 128 x 864 float64 window from ``start_frame`` (zero-padded past the clip's end)."""
        if self.whole_db is not None:
            return padded_window(self.whole_db, start_frame)
        assert self.chunks is not None
        end = min(self.total_frames, start_frame + TIME_FRAMES)
        return padded_window(self._db(self.chunks.frames(start_frame, end)), 0)

    def _db(self, power: np.ndarray) -> np.ndarray:
        db = power_to_db(power, self.power_max, peak=self.power_max)
        return (db / np.float32(80.0) + np.float32(1.0)).astype(np.float32)


def prepare(sound: Sound, resampler: str = "exact", progress: Callable[[int, int], None] | None = None,
            in_blocks: bool | None = None) -> Prepared:
    """Resample and analyse a sound once; ``in_blocks`` (default: past LONG_SECONDS) keeps memory flat.

    ``progress(done, total)`` follows the chunks of a clip prepared in blocks.
    """
    signal = Signal44(sound, resampler)
    total = frames_of(signal.n44)
    if in_blocks is None:
        in_blocks = sound.duration_s > LONG_SECONDS
    try:
        if in_blocks:
            chunks = ChunkPowers(signal, total)
            prep = Prepared(chunks.peak(progress), total, signal, chunks=chunks, energy=frame_energy(sound, total))
        else:
            y44 = signal.range(0, signal.n44)
            power = mel_power(y44)
            ref = float(power.max(initial=0.0))
            mel_db = power_to_db(power, ref) / np.float32(80.0) + np.float32(1.0)
            prep = Prepared(ref, total, signal, whole_db=mel_db.astype(np.float32), whole_y44=y44)
    except MemoryError:
        need = (signal.n44 * 12 + total * N_MELS * 8) / 1e6
        raise BadInputError(
            f"out of memory preparing {sound.label} ({describe_duration(sound.duration_s)}) for the encoder: "
            f"at 44.1 kHz it takes about {need:,.0f} MB; close other programs or use a shorter part"
        ) from None
    if _peak(sound.samples, 0, len(sound.samples)) < SILENT_PEAK:
        prep.silent = True
        prep.warnings.append(f"{sound.label} is silent (nothing above -60 dBFS): the encoder hears nothing in it; "
                             "choose or record another sound")
    return prep


def _prepared(sound: Sound | Prepared, resampler: str) -> Prepared:
    return sound if isinstance(sound, Prepared) else prepare(sound, resampler)


def _peak(x: np.ndarray, a: int, b: int) -> float:
    """Largest magnitude of x[a:b], a block at a time (no copy of an hour of samples)."""
    step = 1 << 20
    return max((float(np.abs(x[i : min(b, i + step)]).max(initial=0.0)) for i in range(max(0, a), b, step)), default=0.0)


def window_warnings(prep: Prepared, start_s: float) -> list[str]:
    """A note when the ~10 s window heard from ``start_s`` is silent (a silent clip is noted once, by prepare)."""
    if prep.silent:
        return []
    sound = prep.sound
    start = start_frame_for(start_s, prep.total_frames) * HOP / SAMPLE_RATE
    a = int(start * sound.sample_rate)
    if _peak(sound.samples, a, min(len(sound.samples), a + int(WINDOW_SECONDS * sound.sample_rate) + 1)) >= SILENT_PEAK:
        return []
    minutes, seconds = divmod(start, 60)
    return [f"the ~10 s heard from {int(minutes)}:{seconds:04.1f} in {sound.label} are silent (nothing above "
            "-60 dBFS): the encoder hears nothing there; choose a louder part"]


def encoder_input(sound: Sound | Prepared, start_s: float = 0.0, resampler: str = "exact") -> torch.Tensor:
    """The 1 x 1 x 128 x 512 encoder input of the window starting at ``start_s``."""
    prep = _prepared(sound, resampler)
    return _resize_and_pack(prep.window_db(start_frame_for(start_s, prep.total_frames)))


def window_starts(total_frames: int, hop_s: float = WINDOW_SECONDS / 2) -> list[float]:
    """Start times covering a long clip with overlapping windows (one window for a short clip)."""
    if total_frames <= TIME_FRAMES:
        return [0.0]
    last = (total_frames - TIME_FRAMES) * HOP / SAMPLE_RATE
    count = int(math.ceil(last / hop_s)) + 1
    return [min(last, k * hop_s) for k in range(count)]


def average_starts(total_frames: int, hop_s: float | None = None) -> list[float]:
    """The windows averaged: every half window, or MAX_AVERAGE_WINDOWS spread evenly over a longer clip."""
    starts = window_starts(total_frames, hop_s or WINDOW_SECONDS / 2)
    if len(starts) <= MAX_AVERAGE_WINDOWS:
        return starts
    last = starts[-1]
    return [last * k / (MAX_AVERAGE_WINDOWS - 1) for k in range(MAX_AVERAGE_WINDOWS)]


def average_note(sound: Sound | Prepared, resampler: str = "exact") -> str:
    """What averaging the windows of this sound costs, in a line to show before doing it."""
    prep = _prepared(sound, resampler)
    starts = average_starts(prep.total_frames)
    note = (f"averaging {len(starts)} windows of {WINDOW_SECONDS:.0f} s over {describe_duration(prep.sound.duration_s)} "
            f"of {prep.sound.label}: the encoder runs {len(starts)} times instead of once")
    if prep.chunks is not None:
        note += ", and the spectrogram is made again along the whole clip"
    if len(starts) > 1 and len(starts) == MAX_AVERAGE_WINDOWS:
        note += f" (a clip this long is sampled: a window every {starts[1]:.0f} s)"
    return note


def encoder_inputs_all_windows(sound: Sound | Prepared, resampler: str = "exact", hop_s: float | None = None) -> torch.Tensor:
    """The windows of a long sound, stacked (N x 1 x 128 x 512), to embed it as their average."""
    prep = _prepared(sound, resampler)
    return torch.cat([encoder_input(prep, s) for s in average_starts(prep.total_frames, hop_s)], dim=0)


def loudest_start_s(sound: Sound | Prepared, resampler: str = "exact") -> float:
    """Start of the ~10 s window with the most energy: a deterministic default for long clips.

    A clip prepared whole is judged by its mel power (as the encoder hears it), one prepared in
    blocks by its native samples' energy (no second pass over its spectrogram).
    """
    prep = _prepared(sound, resampler)
    if prep.total_frames <= TIME_FRAMES:
        return 0.0
    if prep.energy is not None:
        energy = prep.energy
    else:
        energy = (10.0 ** ((prep.mel_db.astype(np.float64) - 1.0) * 8.0)).sum(axis=0)
    csum = np.concatenate([[0.0], np.cumsum(energy)])
    sums = csum[TIME_FRAMES:] - csum[:-TIME_FRAMES]
    return int(np.argmax(sums)) * HOP / SAMPLE_RATE
