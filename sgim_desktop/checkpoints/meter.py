"""Progress of one file: the report the CLI bar and the window both draw, and the meter that makes it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class DownloadProgress:
    """One progress report (bytes, speed, ETA) for the CLI bar and the window alike.

    ``stage``: 'download', 'verify' (hashing a file), 'import' (copying a file in) or 'waiting' (another
    process is fetching the same file). ``total_bytes`` and ``eta_s`` are None when unknown.
    """

    spec_id: str
    done_bytes: int
    total_bytes: int | None
    speed_bps: float
    eta_s: float | None
    stage: str = "download"

    @property
    def fraction(self) -> float | None:
        if not self.total_bytes:
            return None
        return min(1.0, self.done_bytes / self.total_bytes)


ProgressCallback = Callable[[DownloadProgress], None]


class Meter:
    """Bytes, speed over the last few seconds, and ETA; reports at most every ``interval`` seconds."""

    def __init__(self, spec_id: str, callback: ProgressCallback | None, interval: float, stage: str = "download"):
        self.spec_id = spec_id
        self.callback = callback
        self.interval = interval
        self.stage = stage
        self.done = 0
        self.total: int | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._last_emit = 0.0

    def reset(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        self._samples.clear()
        self._samples.append((time.monotonic(), done))

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
            self._samples.popleft()
        if now - self._last_emit >= self.interval or (self.total is not None and self.done >= self.total):
            self.emit(now)

    def speed(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def emit(self, now: float | None = None) -> None:
        self._last_emit = now if now is not None else time.monotonic()
        if self.callback is None:
            return
        speed = self.speed()
        eta = (self.total - self.done) / speed if self.total and speed > 0 else None
        self.callback(DownloadProgress(self.spec_id, self.done, self.total, speed, eta, self.stage))
