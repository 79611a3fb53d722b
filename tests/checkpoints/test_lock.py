"""The per-file lock: one holder at a time, across processes; a killed holder leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sgim_desktop.checkpoints.lock import FileLock
from sgim_desktop.errors import Cancelled, CheckpointError

_HOLDER = """
import sys, time
from pathlib import Path
from sgim_desktop.checkpoints.lock import FileLock
lock = FileLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


def _hold_in_subprocess(path):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_holder_waits_until_the_first_releases(tmp_path):
    path = tmp_path / "locks" / "x.lock"
    first = FileLock(path)
    first.acquire()
    waited = []
    got = threading.Event()

    def second():
        with FileLock(path, on_wait=lambda: waited.append(True), poll=0.02):
            got.set()

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.2)
    assert not got.is_set() and waited == [True]
    first.release()
    t.join(5)
    assert got.is_set()


def test_waiting_can_time_out_or_be_cancelled(tmp_path):
    path = tmp_path / "x.lock"
    with FileLock(path):
        with pytest.raises(CheckpointError, match="another process"):
            FileLock(path, timeout=0.1, poll=0.02).acquire()
        cancel = threading.Event()
        threading.Timer(0.1, cancel.set).start()
        with pytest.raises(Cancelled):
            FileLock(path, cancel=cancel).acquire()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "x.lock"
    proc = _hold_in_subprocess(path)
    try:
        with pytest.raises(CheckpointError):
            FileLock(path, timeout=0.2, poll=0.02).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert path.exists() and b"pid" in path.read_bytes()  # the stale file is still there ...
    with FileLock(path, timeout=2):  # ... and does not block anyone
        pass
