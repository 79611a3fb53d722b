"""Sound files and microphone buffers in, a mono float32 ``Sound`` out, with numpy and soundfile only.

Nothing a header says is trusted before it is checked, and nothing is allocated from it:

- sample rate 1 kHz to 384 kHz. Below 1 kHz a file holds nothing the encoder listens for (it
  hears up to 22 kHz) and every second of it becomes 44+ seconds of work at 44.1 kHz (a 44 KB
  file at "1 Hz" asked for 12 hours); 384 kHz is the highest rate audio interfaces record.
- at most 256 channels (7th-order ambisonics needs 64, the largest studio formats 128); WAV's
  65,535 only comes from damage.
- at most an hour, and at most an hour at 48 kHz worth of samples (173 M, 660 MB as float32):
  longer files are used up to there with a warning, so a compressed file of hours of silence
  (a few KB of FLAC) cannot fill the memory.

Reading goes a block of ``BLOCK_SAMPLES`` at a time (whatever the channel count), mixed to mono as
it arrives, into one buffer: as many frames as libsndfile counted in the data of a plain PCM file,
else 16 MB doubling up to the limit (a compressed file's header claims are not believed). A file that ends before its
header says is used as far as it goes; samples that are not numbers become silence; samples far
beyond full scale are scaled down. Each of these leaves a one-line note in ``Sound.warnings``.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from sgim_desktop.engine.sound import Sound, describe_duration
from sgim_desktop.errors import BadInputError

MIN_RATE = 1_000
MAX_RATE = 384_000
MAX_CHANNELS = 256
MAX_SECONDS = 3600.0
MAX_SAMPLES = 3600 * 48_000
MAX_PEAK = 8.0  # 18 dB over full scale: mastering headroom stays below, integer-scaled floats land above
BLOCK_SAMPLES = 1 << 16
_FIX = "re-export it from a sound editor (e.g. as 44.1 kHz WAV)"


def decode(path: str | Path) -> Sound:
    """Read any file libsndfile reads (WAV of every subtype, FLAC, OGG, MP3...), mixed down to mono."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise BadInputError(f"sound file not found: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not a sound file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path} is empty (0 bytes): not a sound file")
    try:
        with sf.SoundFile(str(path)) as f:
            return _read(f, path)
    except BadInputError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError, TypeError) as exc:
        raise _open_problem(path, exc) from None


def _read(f, path: Path) -> Sound:
    channels, rate = int(f.channels), int(f.samplerate)
    _check_header(path, rate, channels)
    declared = _declared_frames(f)
    limit = int(min(MAX_SECONDS * rate, MAX_SAMPLES))
    frames = min(int(f.frames), limit) if _frames_counted(f) else min(limit, 1 << 22)
    reader: _MonoReader | None = None
    try:
        reader = _MonoReader(frames, limit)
        broke = _fill(f, reader, limit, max(1, BLOCK_SAMPLES // channels))
        samples = reader.result()
    except MemoryError:
        size = frames if reader is None else max(frames, min(limit, 2 * len(reader.buffer)))
        raise BadInputError(
            f"out of memory reading {path}: its {describe_duration(size / rate)} of sound take {size * 4 / 1e6:,.0f} MB "
            "as samples; close other programs, or cut the part you want with a sound editor"
        ) from None
    if samples.size == 0:
        raise BadInputError(f"{path} holds no audio samples: it is cut short or damaged; {_FIX}")
    notes = []
    if reader.filled >= limit and (f.frames > limit or f.read(1, dtype="float32").shape[0]):
        length = f" ({describe_duration(f.frames / rate)})" if f.frames > limit else ""
        notes.append(f"{path} is longer than this app reads{length}: only its first {describe_duration(limit / rate)} "
                     "is used; cut the part you want with a sound editor")
    elif broke is not None or declared > reader.filled * 1.01 + 0.05 * rate:
        promised = f"its header promises {describe_duration(declared / rate)}" if declared > reader.filled else "it breaks off"
        notes.append(f"{path} ends early: {promised} but only {describe_duration(reader.filled / rate)} "
                     "can be read; using what is there")
    notes += reader.notes(path)
    return Sound(samples=samples, sample_rate=rate, name=path.stem, channels=channels, warnings=tuple(notes),
                 source=str(path))


def from_buffer(buffer: np.ndarray, sample_rate: int, name: str = "recording") -> Sound:
    """A microphone buffer (frames x channels, or frames) of any numeric dtype as a Sound."""
    arr = np.asarray(buffer)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise BadInputError("the recording is empty")
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise BadInputError(f"the recording's sample rate {sample_rate} Hz is outside {MIN_RATE:,}-{MAX_RATE:,} Hz: "
                            "choose another rate or device")
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        if info.min == 0:
            arr = (arr.astype(np.float64) - (info.max + 1) / 2) / ((info.max + 1) / 2)
        else:
            arr = arr.astype(np.float64) / -float(info.min)
    reader = _MonoReader(arr.shape[0])
    reader.add(arr.astype(np.float32))
    return Sound(samples=reader.result(), sample_rate=int(sample_rate), name=name, channels=arr.shape[1],
                 warnings=tuple(reader.notes(f"the recording {name}")))


def _fill(f, reader: _MonoReader, limit: int, per_block: int) -> BaseException | None:
    """Read blocks until the file or the limit ends; a decoder losing its way after some sound is returned."""
    try:
        while reader.filled < limit:
            block = f.read(min(per_block, limit - reader.filled), dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                return None
            reader.add(block)
    except (RuntimeError, OSError, ValueError) as exc:
        if reader.filled == 0:
            raise
        return exc
    return None


class _MonoReader:
    """Blocks of frames x channels mixed into one mono buffer, cleaned as they arrive.

    The buffer starts at what the file is known to hold (or 16 MB) and doubles up to ``limit``.
    """

    def __init__(self, capacity: int, limit: int | None = None) -> None:
        self.limit = capacity if limit is None else limit
        self.buffer = np.empty(max(1, capacity), dtype=np.float32)
        self.filled = 0
        self.not_finite = 0
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        bad = ~np.isfinite(block)
        if bad.any():
            self.not_finite += int(bad.sum())
            block = np.where(bad, np.float32(0.0), block)
        n = block.shape[0]
        if self.filled + n > len(self.buffer):
            grown = np.empty(max(self.filled + n, min(self.limit, 2 * len(self.buffer))), dtype=np.float32)
            grown[: self.filled] = self.buffer[: self.filled]
            self.buffer = grown
        out = self.buffer[self.filled : self.filled + n]
        if block.shape[1] == 1:
            out[:] = block[:, 0]
        elif np.abs(block).max(initial=0.0) > 1e36:  # a float32 sum of these would overflow
            out[:] = block.mean(axis=1, dtype=np.float64)
        else:
            out[:] = block.mean(axis=1, dtype=np.float32)
        self.peak = max(self.peak, float(np.abs(out).max(initial=0.0)))
        self.filled += n

    def result(self) -> np.ndarray:
        samples = self.buffer
        if self.filled < len(samples):
            samples = samples[: self.filled].copy()
        if self.peak > MAX_PEAK:
            samples /= np.float32(self.peak)
        return samples

    def notes(self, what: str | Path) -> list[str]:
        notes = []
        if self.not_finite:
            notes.append(f"{what} holds {self.not_finite:,} samples that are not numbers (NaN or infinite): "
                         "they are played and heard as silence")
        if self.peak > MAX_PEAK:
            notes.append(f"{what} reaches {self.peak:.3g}, far beyond full scale (1.0): it is scaled down to "
                         "full scale (what the encoder hears does not change)")
        return notes


def _check_header(path: Path, rate: int, channels: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadInputError(f"{path} says its sample rate is {rate:,} Hz; sound files use {MIN_RATE:,}-{MAX_RATE:,} Hz, "
                            f"so its header is damaged or it is not a recording: {_FIX}")
    if not 1 <= channels <= MAX_CHANNELS:
        raise BadInputError(f"{path} says it has {channels:,} channels (this app reads up to {MAX_CHANNELS}): "
                            f"its header is damaged; {_FIX}")


def _frames_counted(f) -> bool:
    """Whether libsndfile counted the frames from the data present (plain PCM), not from a claim."""
    plain = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW")
    return f.format not in ("FLAC", "OGG", "MP3") and f.subtype in plain and f.frames > 0


def _declared_frames(f) -> int:
    """The length the header claims: libsndfile trims a WAV/AIFF to its data and notes the claim."""
    frames = max(0, int(f.frames))
    info = f.extra_info or ""
    claim = re.search(r"\b(?:data|SSND) : (\d+) \(should be (\d+)\)", info)
    if claim and frames > 0 and int(claim.group(2)) > 0:
        frames = max(frames, int(int(claim.group(1)) * frames / int(claim.group(2))))
    counted = re.search(r"Frames\s*: (\d+)", info)
    if counted:
        frames = max(frames, int(counted.group(1)))
    return frames


def _open_problem(path: Path, exc: BaseException) -> BadInputError:
    """libsndfile's refusal in our words, with the header's own numbers where a WAV header has them."""
    fmt = _wav_format(path)
    if fmt is not None:
        channels, rate = fmt
        try:
            _check_header(path, rate, channels)
        except BadInputError as problem:
            return problem
    detail = " ".join(str(exc).split()) or type(exc).__name__
    detail = re.sub(r"^Error opening '.*?': ", "", detail)
    if "format not recognised" in detail.lower() or "unknown format" in detail.lower():
        return BadInputError(f"cannot read {path}: it is not a sound file this app reads "
                             "(WAV, FLAC, OGG, MP3, AIFF, ...)")
    return BadInputError(f"cannot read {path} as sound: it is damaged or cut short (libsndfile: {detail}); {_FIX}")


def _wav_format(path: Path) -> tuple[int, int] | None:
    """(channels, rate) from a RIFF/WAVE header's fmt chunk, or None when there is none."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        return None
    at = head.find(b"fmt ", 12)
    if at < 0 or len(head) < at + 16:
        return None
    order = ">" if head[:4] == b"RIFX" else "<"
    channels, rate = struct.unpack(order + "HI", head[at + 10 : at + 16])
    return channels, rate
