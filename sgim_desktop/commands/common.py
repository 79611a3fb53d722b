"""What the headless commands share: checkpoint flags, devices, a progress line that never crashes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sgim_desktop.engine.device import pick_device as pick_device  # the one device choice, re-exported


def add_checkpoint_arg(parser: argparse.ArgumentParser, flag: str, role: str, what: str) -> None:
    parser.add_argument(
        flag,
        default=None,
        metavar="PATH|ID",
        help=f"{what}: a file, or a catalog id (default: the catalog's {role}, fetched on first use)",
    )


def checkpoint_path(value: str | None, role: str) -> Path:
    """A checkpoint flag's value as a local file: a path as given, or a catalog id fetched and verified."""
    from sgim_desktop.checkpoints.manager import resolve_checkpoint
    from sgim_desktop.checkpoints.progress import TerminalProgress as DownloadBar
    from sgim_desktop.checkpoints.progress import terminal_manager

    bar = DownloadBar()
    try:
        return resolve_checkpoint(value, role, manager=terminal_manager(), progress=bar)
    finally:
        bar.finish()


class TerminalProgress:
    """A one-line progress bar on stderr, drawn only on a terminal (windowed builds have no stderr)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._last = 0.0
        stream = sys.stderr
        self.enabled = stream is not None and hasattr(stream, "isatty") and stream.isatty()

    def __call__(self, report) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        done = getattr(report, "done_bytes", None)
        total = getattr(report, "total_bytes", None)
        if done is None:
            done, total = getattr(report, "step", 0), getattr(report, "total", None)
        if now - self._last < 0.1 and not (total and done >= total):
            return
        self._last = now
        frac = (done / total) if total else 0.0
        bar = "#" * int(30 * frac)
        try:
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {100 * frac:5.1f}%")
            if total and done >= total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            self.enabled = False
