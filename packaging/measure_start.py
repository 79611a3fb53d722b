"""Time from launching the app to its window on screen (what a double-click feels like).

Usage: ``python packaging/measure_start.py [EXECUTABLE] [--runs N] [--drop-caches] [FILE...]``
(default executable ``dist/sgim-desktop/sgim-desktop``). Each run starts the app with
``SGIM_STARTUP_PROBE=1`` (see ``sgim_desktop/startup_probe.py``), which prints ``shown`` when the main
window is exposed and then quits; the time is measured here, from ``Popen`` to that line. Use the Qt
platform in the environment (run under ``xvfb-run`` for a real X11 window, or ``QT_QPA_PLATFORM=offscreen``).
``--drop-caches`` (Linux, root) empties the page cache before each run: a cold start as after a reboot.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def one_start(executable: str, files: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the window, seconds until the files named were open and the app had quit)."""
    started = time.perf_counter()
    proc = subprocess.Popen([executable, *files], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    shown = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("shown") and shown is None:
            shown = time.perf_counter() - started
    status = proc.wait(timeout=300)
    if status != 0 or shown is None:
        raise SystemExit(f"{executable} exited with status {status} before showing its window")
    return shown, time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("executable", nargs="?", default="dist/sgim-desktop/sgim-desktop")
    parser.add_argument("files", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drop-caches", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, SGIM_STARTUP_PROBE="1", SGIM_CONFIG_DIR=home, SGIM_MODELS_DIR=str(Path(home) / "m"),
                   SGIM_LOG_DIR=str(Path(home) / "log"))
        shown_times = []
        for run in range(args.runs):
            if args.drop_caches:
                drop_caches()
            shown, total = one_start(args.executable, args.files, env)
            shown_times.append(shown)
            kind = "cold" if args.drop_caches else ("first" if run == 0 else "warm")
            print(f"run {run + 1} ({kind}): window shown after {shown:.2f} s; done after {total:.2f} s")
    print(f"median {statistics.median(shown_times):.2f} s to a visible window over {len(shown_times)} runs "
          f"(platform {os.environ.get('QT_QPA_PLATFORM') or 'default'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
