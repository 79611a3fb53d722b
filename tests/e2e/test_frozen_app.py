"""The double-clickable app: ``packaging/build.sh`` turns the checkout into a one-folder build, and the
frozen executable (not the source tree) passes its self-test with and without a microphone, opens a
sound named on its command line or through its desktop entry ("Open with"), and takes from the
system only the libraries docs/packaging.md names.

Building takes several minutes (PyInstaller over torch), so the build is made once per run; set
``SGIM_FROZEN_APP`` to an executable built earlier in the same CI run to test that one instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE_AUDIO

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                   reason="Windows and macOS builds are made on those systems")]
BUILD_TIMEOUT_S = 1800


@pytest.fixture(scope="module")
def frozen_app() -> Path:
    given = os.environ.get("SGIM_FROZEN_APP")
    if given:
        return Path(given).resolve()
    res = subprocess.run([str(REPO / "packaging" / "build.sh")], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, SGIM_BUILD_PYTHON=sys.executable), timeout=BUILD_TIMEOUT_S)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    print(res.stdout.strip().splitlines()[-1])  # "built dist/sgim-desktop (SIZE) in N s"
    return REPO / "dist" / "sgim-desktop" / "sgim-desktop"


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The frozen app with no access to the source tree and nothing of the machine's own settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(QT_QPA_PLATFORM="offscreen", SGIM_CONFIG_DIR=str(tmp_path / "config"),
               SGIM_MODELS_DIR=str(tmp_path / "models"), SGIM_LOG_DIR=str(tmp_path / "log"))
    env.update(extra)
    return env


def self_test(app: Path, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(app), "--self-test"], capture_output=True, text=True, cwd=tmp_path,
                          env=app_env(tmp_path, **extra), timeout=600)


def check_lines(stdout: str) -> dict[str, str]:
    return {line.split(":")[0].split(None, 1)[1]: line for line in stdout.splitlines()
            if line.startswith(("ok ", "FAIL"))}


def test_the_frozen_self_test_passes(frozen_app, tmp_path):
    res = self_test(frozen_app, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = check_lines(res.stdout)
    assert list(lines) == ["torch", "torchaudio", "soundfile", "audio devices", "tokenizer", "resources", "edit",
                           "faces", "window"]
    assert res.stdout.strip().splitlines()[-1].startswith("9 passed, 0 failed")
    if os.environ.get("SGIM_REQUIRE_AUDIO_DEVICE"):  # CI starts a virtual microphone: the frozen app must see it
        assert "input device(s)" in lines["audio devices"], lines["audio devices"]
    assert (tmp_path / "log" / "sgim-desktop.log").is_file(), "the frozen app logs to its log folder"


def test_without_a_microphone_the_audio_check_says_so_and_passes(frozen_app, tmp_path):
    res = self_test(frozen_app, tmp_path, PULSE_SERVER="unix:/nonexistent/pulse")
    assert res.returncode == 0, res.stdout + res.stderr
    audio = check_lines(res.stdout)["audio devices"]
    assert audio.startswith("ok") and "no input device" in audio


def test_a_sound_named_on_the_command_line_opens_in_the_window(frozen_app, tmp_path):
    res = subprocess.run([str(frozen_app), str(SAMPLE_AUDIO / "thunderstorm.wav")], capture_output=True, text=True,
                         cwd=tmp_path, env=app_env(tmp_path, SGIM_STARTUP_PROBE="1"), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("shown ")
    assert "opened thunderstorm" in res.stdout


def test_open_with_from_a_file_manager_opens_the_sound(frozen_app, tmp_path):
    data = tmp_path / "xdg"
    share = frozen_app.parent / "share"
    subprocess.run([str(share / "install-desktop-entry.sh")], check=True, capture_output=True,
                   env=dict(os.environ, XDG_DATA_HOME=str(data)))
    entry = data / "applications" / "sgim-desktop.desktop"
    assert f'Exec="{frozen_app}" %F' in entry.read_text()
    assert (data / "icons" / "hicolor" / "256x256" / "apps" / "io.github.sgim_desktop.png").is_file()
    if shutil.which("gio") is None:
        pytest.skip("gio (libglib2.0-bin) is not installed: cannot launch the entry as a file manager does")
    env = app_env(tmp_path, XDG_DATA_HOME=str(data), SGIM_STARTUP_PROBE="1")
    mime = subprocess.run(["gio", "mime", "audio/x-wav"], capture_output=True, text=True, env=env)
    assert "sgim-desktop.desktop" in mime.stdout, "the entry is offered for WAV files"
    # `gio launch` runs the entry's Exec line with the file, as "Open with" in a file manager does.
    res = subprocess.run(["gio", "launch", str(entry), str(SAMPLE_AUDIO / "raining.wav")], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "opened raining" in res.stdout


def test_the_folder_takes_only_the_named_libraries_from_the_system(frozen_app):
    spec = importlib.util.spec_from_file_location("system_libs", REPO / "packaging" / "linux" / "system_libs.py")
    system_libs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(system_libs)
    needed = system_libs.system_libraries(frozen_app.parent)
    unexpected = {lib: users[:3] for lib, users in needed.items() if lib not in system_libs.EXPECTED}
    assert not unexpected, f"new system libraries needed (bundle them or name them in docs/packaging.md): {unexpected}"
    assert "libportaudio.so.2" not in {p.name for p in (frozen_app.parent / "_internal").iterdir()}, (
        "PortAudio comes from the system, with the system's ALSA and its plugins")
