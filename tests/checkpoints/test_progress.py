"""The terminal progress bar: drawn only on a terminal, with bytes, speed and time left."""

from __future__ import annotations

import io

from sgim_desktop.checkpoints.meter import DownloadProgress
from sgim_desktop.checkpoints.progress import TerminalProgress, format_progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_only_on_a_terminal():
    report = DownloadProgress("gen", 50_000_000, 100_000_000, 2_500_000.0, 20.0)
    silent = io.StringIO()
    TerminalProgress(silent)(report)
    assert silent.getvalue() == ""
    tty = _Tty()
    bar = TerminalProgress(tty, interval=0)
    bar(report)
    bar(DownloadProgress("gen", 100_000_000, 100_000_000, 2_500_000.0, 0.0))
    bar.finish()
    text = tty.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert "50%" in text and "100%" in text and "2.5 MB/s" in text and "ETA 0:20" in text


def test_progress_text_for_unknown_sizes_and_waiting():
    assert "?" in format_progress(DownloadProgress("gen", 10, None, 0.0, None))
    assert "waiting for another process" in format_progress(DownloadProgress("gen", 0, None, 0.0, None, stage="waiting"))
