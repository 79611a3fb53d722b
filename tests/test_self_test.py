"""`sgim-desktop --self-test` checks every native part for real and fails loudly on any failure."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def self_test(tmp_path, **env_extra):
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen", SGIM_CONFIG_DIR=str(tmp_path),
               SGIM_MODELS_DIR=str(tmp_path / "models"))
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "sgim_desktop", "--self-test"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=600)


@pytest.mark.slow
def test_self_test_passes_and_prints_one_line_per_check(tmp_path):
    res = self_test(tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [line for line in res.stdout.splitlines() if line.startswith(("ok ", "FAIL"))]
    names = [line.split(":")[0].split(None, 1)[1] for line in lines]
    assert names == ["torch", "torchaudio", "soundfile", "audio devices", "tokenizer", "resources", "edit", "faces", "window"]
    assert res.stdout.strip().splitlines()[-1].startswith("9 passed, 0 failed")


@pytest.mark.slow
def test_without_a_sound_server_the_audio_check_reports_no_device_but_passes(tmp_path):
    res = self_test(tmp_path, PULSE_SERVER="unix:/nonexistent/pulse")
    assert res.returncode == 0, res.stdout + res.stderr
    audio_line = next(line for line in res.stdout.splitlines() if "audio devices" in line)
    assert audio_line.startswith("ok") and "no input device" in audio_line


def test_a_failing_check_makes_the_exit_status_non_zero(monkeypatch, capsys):
    from sgim_desktop import self_test as st

    def broken():
        raise OSError("libportaudio.so.2: cannot open shared object file")

    monkeypatch.setattr(st, "CHECKS", [("audio devices", broken)])
    assert st.run_self_test() == 1
    out = capsys.readouterr().out
    assert "FAIL audio devices: OSError: libportaudio.so.2" in out and "0 passed, 1 failed" in out
