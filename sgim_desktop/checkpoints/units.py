"""Sizes and durations as a person reads them, the same in the terminal and the window.

Sizes are decimal (1 kB = 1000 bytes), as file managers, download pages and the published checkpoint
sizes write them, so "132.7 MB" here is the "132.7 MB" a user sees elsewhere.
"""

from __future__ import annotations


def human_bytes(n: float | None) -> str:
    """``None`` -> '?', else B, kB, MB or GB with one decimal (bytes as a whole number)."""
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"


def clock(seconds: float | None) -> str:
    """'m:ss' or 'h:mm:ss'; '--:--' when unknown or absurd."""
    if seconds is None or seconds != seconds or seconds > 360000:
        return "--:--"
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def time_left(seconds: float | None) -> str:
    """'about 3 min left', '12 s left', or '' when unknown: for one line of a window."""
    if seconds is None or seconds != seconds or seconds < 1 or seconds > 360000:
        return ""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"about {hours} h {minutes:02d} min left"
    return f"{minutes} min {secs:02d} s left" if minutes else f"{secs} s left"
