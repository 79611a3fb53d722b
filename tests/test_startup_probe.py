"""The start-up probe that packaging checks rely on: it reports the window on screen, then the sound given
on the command line once it is open, and ends the app cleanly; without the variable it does nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, SAMPLE_AUDIO


def start(tmp_path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen", SGIM_CONFIG_DIR=str(tmp_path),
               SGIM_MODELS_DIR=str(tmp_path / "models"), SGIM_LOG_DIR=str(tmp_path / "log"))
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "sgim_desktop", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)


@pytest.mark.slow
def test_the_probe_reports_the_window_then_the_opened_sound_and_quits(tmp_path):
    res = start(tmp_path, str(SAMPLE_AUDIO / "giggling.wav"), SGIM_STARTUP_PROBE="1")
    assert res.returncode == 0, res.stdout + res.stderr
    shown, opened = res.stdout.splitlines()[:2]
    assert shown.startswith("shown ") and float(shown.split()[1]) > 0
    assert opened.startswith("opened giggling")
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_a_file_that_never_opens_ends_in_a_timeout(tmp_path):
    res = start(tmp_path, str(tmp_path / "missing.wav"), SGIM_STARTUP_PROBE="1", SGIM_STARTUP_PROBE_TIMEOUT="20")
    assert res.returncode == 3, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1].startswith("timeout")
