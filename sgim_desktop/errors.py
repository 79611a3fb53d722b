"""Errors a person can act on: each carries one line that says what is wrong and what to do."""

from __future__ import annotations

import re


class SgimError(Exception):
    """Base of every error shown to a person as one line (CLI: status 2; window: a message)."""


class BadInputError(SgimError):
    """A sound, image or latent file that cannot be used."""


class CheckpointError(SgimError):
    """A checkpoint that is missing, damaged or of the wrong layout."""


class Cancelled(SgimError):
    """A long task stopped because the person asked it to."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Python's MemoryError, or torch's allocator failing (its CPU message, or CUDA's OutOfMemoryError)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in text or "out of memory" in text


def _resident_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def out_of_memory_message(exc: BaseException, doing: str) -> str:
    """Says what ran out of memory and how much the app held, instead of a generic guess at the cause."""
    found = re.search(r"allocate (\d+) bytes", str(exc))
    asked = f" (it asked for {int(found.group(1)) / 1e6:,.0f} MB more)" if found else ""
    peak = _resident_mb()
    held = f"; the app held up to {peak:,.0f} MB" if peak else ""
    return (f"out of memory while {doing}{asked}{held}: close other programs, or use a smaller generator, "
            "a shorter sound or fewer steps")
