"""Progress and licence notices for headless use (the ``models``, ``edit`` and ``hear`` commands).

The bar goes to stderr and draws only on a terminal: under a GUI launcher stderr may be None, and in a
pipe or a log it would only add noise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from sgim_desktop.checkpoints.catalog import CheckpointSpec
from sgim_desktop.checkpoints.meter import DownloadProgress
from sgim_desktop.checkpoints.units import clock, human_bytes

if TYPE_CHECKING:
    from sgim_desktop.checkpoints.sets import SetProgress

__all__ = ["TerminalProgress", "format_progress", "format_set_progress", "human_bytes", "licence_text", "print_licence",
           "terminal_manager"]

_STAGE_WORDS = {"download": "downloading", "verify": "checking", "import": "copying", "waiting": "waiting"}


def _is_terminal(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _bar(fraction: float | None, width: int) -> tuple[str, str]:
    if fraction is None:
        return "-" * width, "  ?%"
    filled = int(fraction * width)
    return "#" * filled + "-" * (width - filled), f"{fraction * 100:3.0f}%"


def format_set_progress(p: "SetProgress", width: int = 24) -> str:
    """One line for a whole set: every file's bytes together and the time left."""
    bar, pct = _bar(p.fraction, width)
    unknown = f" + {p.unknown_files} of unknown size" if p.unknown_files else ""
    amount = f"{human_bytes(p.done_bytes)}/{human_bytes(p.total_bytes)}{unknown}"
    return (f"{p.set_id} [{bar}] {pct} {amount} {human_bytes(p.speed_bps)}/s ETA {clock(p.eta_s)} "
            f"(file {p.index} of {p.count}: {p.spec_id})")


def format_progress(p: DownloadProgress, width: int = 24) -> str:
    word = _STAGE_WORDS.get(p.stage, p.stage)
    if p.stage == "waiting":
        return f"{p.spec_id}: waiting for another process that is fetching it"
    bar, pct = _bar(p.fraction, width)
    amount = f"{human_bytes(p.done_bytes)}/{human_bytes(p.total_bytes)}"
    return f"{p.spec_id} {word} [{bar}] {pct} {amount} {human_bytes(p.speed_bps)}/s ETA {clock(p.eta_s)}"


class TerminalProgress:
    """A progress callback that redraws one line on a terminal; a no-op anywhere else."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.1,
                 formatter: Callable[[Any], str] = format_progress):
        self.stream = stream if stream is not None else sys.stderr
        self.formatter = formatter
        self.enabled = _is_terminal(self.stream)
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = bool(p.total_bytes) and p.done_bytes >= p.total_bytes
        if not final and p.stage != "waiting" and now - self._last < self.interval:
            return
        self._last = now
        line = self.formatter(p)
        pad = max(0, self._width - len(line))
        self._width = len(line)
        try:
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def finish(self) -> None:
        """End the bar's line so the next message starts on its own."""
        if self.enabled and self._width:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
        self._width = 0


def licence_text(spec: CheckpointSpec) -> str:
    return f"{spec.display_name} ({spec.id})\n  licence: {spec.license}\n  {spec.license_summary}"


def print_licence(spec: CheckpointSpec, stream: TextIO | None = None) -> None:
    """Shown before a download starts: several checkpoints are for non-commercial use only."""
    stream = stream if stream is not None else sys.stderr
    if stream is None:
        return
    try:
        stream.write(licence_text(spec) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def terminal_manager(**kwargs: Any):
    """A ModelManager for commands: prints each licence on stderr before its download starts."""
    from sgim_desktop.checkpoints.manager import ModelManager

    kwargs.setdefault("before_download", lambda spec: print_licence(spec))
    return ModelManager(**kwargs)
