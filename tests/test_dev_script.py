"""scripts/dev: each checkout runs its own code, from any folder, while the heavy environment is shared."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SHOW = "import sgim_desktop; print(sgim_desktop.MARK, sgim_desktop.__file__)"


def heavy_environment() -> Path:
    """The shared environment these tests run in (made by scripts/dev), so no copy builds another."""
    venv = Path(importlib.util.find_spec("pytest").origin).parents[4]
    if not (venv / ".complete").exists():
        pytest.skip("not run from an environment scripts/dev made")
    return venv


def checkout(folder: Path, mark: str) -> Path:
    """A checkout with this repository's scripts/dev and pyproject.toml and a package that says who it is."""
    (folder / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "dev", folder / "scripts" / "dev")
    shutil.copy2(REPO / "pyproject.toml", folder / "pyproject.toml")
    (folder / "sgim_desktop").mkdir()
    (folder / "sgim_desktop" / "__init__.py").write_text(f"MARK = {mark!r}\n")
    (folder / "sgim_desktop" / "cli.py").write_text("from sgim_desktop import MARK\n\n\ndef main():\n    print('cli', MARK)\n")
    return folder


def dev(folder: Path, envs: Path, *args: str, cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, SGIM_CHECKOUT_ENVS=str(envs), SGIM_VENV=str(heavy_environment()))
    env.pop("PYTHONPATH", None)
    return subprocess.Popen([str(folder / "scripts" / "dev"), *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def output(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out.strip()


@pytest.mark.slow
def test_two_checkouts_each_run_their_own_code_from_any_folder(tmp_path):
    a, b = checkout(tmp_path / "one" / "sgim", "A"), checkout(tmp_path / "two" / "sgim", "B")
    envs = tmp_path / "envs"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert output(dev(a, envs, "python", "-c", SHOW, cwd=elsewhere)) == f"A {a / 'sgim_desktop' / '__init__.py'}"
    assert output(dev(b, envs, "python", "-c", SHOW, cwd=elsewhere)) == f"B {b / 'sgim_desktop' / '__init__.py'}"
    entries = sorted(p for p in envs.iterdir() if p.is_dir())
    assert len(entries) == 2, "one light environment per checkout"
    said = {subprocess.run([str(e / "bin" / "sgim-desktop-cli")], cwd=elsewhere, capture_output=True, text=True,
                           timeout=60).stdout.strip() for e in entries}
    assert said == {"cli A", "cli B"}, "each checkout's own command runs its own code"
    shutil.rmtree(a)
    assert output(dev(b, envs, "python", "-c", SHOW, cwd=elsewhere)).startswith("B "), "B outlives A"


@pytest.mark.slow
def test_runs_started_together_wait_for_one_environment(tmp_path):
    a = checkout(tmp_path / "sgim", "A")
    envs = tmp_path / "envs"
    runs = [dev(a, envs, "python", "-c", SHOW, cwd=tmp_path) for _ in range(3)]
    assert {output(run).split()[0] for run in runs} == {"A"}
    assert len([p for p in envs.iterdir() if p.is_dir()]) == 1
