"""What the screenshot scripts share: waiting on the real event loop, and saving the window as shown."""

from __future__ import annotations

import time
from pathlib import Path


def wait(app, condition, timeout: float) -> None:
    """Runs the event loop until ``condition()`` holds; exits the script after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit(f"timed out after {timeout} s")
        app.processEvents()
        time.sleep(0.01)


def save_shot(app, window, out: str | Path) -> Path:
    """The canvas split in half, the message bar out of the way, a moment to paint, then the grab saved."""
    window.canvas.set_split(0.5)
    window.message_bar.hide()
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out}")
    return out
