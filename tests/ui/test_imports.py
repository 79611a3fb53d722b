"""The window shows before torch loads: importing it (and every task, whose engine calls wait inside
``run``) leaves torch out of the process."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

WINDOW_AND_TASKS = ("sgim_desktop.ui.main_window", "sgim_desktop.ui.app",
                    *(f"sgim_desktop.ui.worker_tasks.{name}"
                      for name in ("edit", "photo", "export", "sounds", "picture", "models", "loading")))


def loaded_after_importing(*modules: str) -> list[str]:
    code = (f"import importlib, json, sys; [importlib.import_module(m) for m in {list(modules)!r}]; "
            "print(json.dumps(sorted(m for m in ('torch', 'torchaudio', 'torchvision', 'open_clip') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_importing_the_window_leaves_torch_out():
    assert loaded_after_importing("sgim_desktop.ui.main_window") == []


def test_the_tasks_import_the_engine_only_when_they_run():
    assert loaded_after_importing(*WINDOW_AND_TASKS) == []
