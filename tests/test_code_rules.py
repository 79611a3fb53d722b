"""The house's rules, enforced by the test command: lint, import contracts, types, module size.

Each runs the real tool over the real tree, so CI (which runs `scripts/dev test`) fails when a
change breaks one; the configuration lives in ruff.toml, .importlinter and mypy.ini.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MAX_LINES = 500


def _run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _report(done: subprocess.CompletedProcess) -> str:
    return (done.stdout + done.stderr)[-6000:]


def test_ruff_finds_nothing():
    done = _run(str(BIN / "ruff"), "check", "sgim_desktop", "tests", "scripts", "packaging")
    assert done.returncode == 0, _report(done)


def test_the_import_contracts_hold():
    done = _run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, _report(done)


@pytest.mark.slow
def test_the_engine_session_and_checkpoints_type_check():
    done = _run(sys.executable, "-m", "mypy", "--config-file", "mypy.ini", timeout=1200)
    assert done.returncode == 0, _report(done)


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(REPO)): n for p in sorted((REPO / "sgim_desktop").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_window_opens_without_torch():
    """The window module imports no torch: the window can show before the engine's maths has loaded."""
    code = ("import sys, sgim_desktop.ui.main_window, sgim_desktop.session; "
            "print(sorted(m for m in ('torch', 'torchaudio', 'open_clip') if m in sys.modules))")
    done = _run(sys.executable, "-c", code)
    assert done.returncode == 0, _report(done)
    assert done.stdout.strip() == "[]"


def test_the_engine_door_and_the_audio_encoder_leave_torchvision_and_open_clip_out():
    """A warm `hear` needs torch and the audio encoder only: torchvision's model zoo drags in torch._dynamo
    (about a second) and open_clip is wanted only when CLIP is built."""
    code = ("import sys, sgim_desktop.engine.api, sgim_desktop.engine.audio_encoder, sgim_desktop.commands.hear; "
            "print(sorted(m for m in ('torchvision', 'torch._dynamo', 'open_clip', 'timm') if m in sys.modules))")
    done = _run(sys.executable, "-c", code)
    assert done.returncode == 0, _report(done)
    assert done.stdout.strip() == "[]"
