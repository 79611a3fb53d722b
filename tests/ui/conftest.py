"""Window tests run on Qt's offscreen platform, with settings, models and catalog in temporary folders.

``window`` is the real main window driving real rule-weighted models (64 px generator, rule CLIP and
audio encoder) through its real worker thread; ``bare_window`` is the window as a first-time user
sees it: no models downloaded at all.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QMessageBox, QWidget

LABELS = ["rain", "thunder", "fire crackling", "people giggling", "wind noise"]


@pytest.fixture(autouse=True)
def isolated_app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings and models under tmp_path: nothing from (or into) the machine's real configuration."""
    monkeypatch.setenv("SGIM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SGIM_MODELS_DIR", str(tmp_path / "models"))
    for var in ("SGIM_CATALOG", "SGIM_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def rule_models(rule_clip, rule_audio_encoder):
    """Rule-weighted models, built once: the real engine at test size."""
    from sgim_desktop.engine.clip_space import ClipSpace
    from sgim_desktop.engine.edit import EditModels
    from sgim_desktop.engine.stylegan2 import rule_weighted_generator

    models = EditModels(generator=rule_weighted_generator(64), space=ClipSpace(rule_clip, rule_audio_encoder))
    models.mean_latent()
    return models


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return path


def make_window(models=None, labels: str = "vggsound", domain: str | None = None):
    from sgim_desktop.ui.main_window import MainWindow
    from sgim_desktop.ui.providers import PrebuiltModels

    provider = PrebuiltModels(models, "rule-64", "Rule-weighted 64 px", domain) if models is not None else None
    window = MainWindow(models=provider, labels=labels)
    window.show()
    return window


@pytest.fixture
def window(qtbot, rule_models, labels_file):
    w = make_window(rule_models, str(labels_file))
    qtbot.addWidget(w)
    yield w
    w.close()


@pytest.fixture
def bare_window(qtbot):
    w = make_window()
    qtbot.addWidget(w)
    yield w
    w.close()


def wait_until(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Process events until ``condition()`` is true (usable where qtbot is not, e.g. module fixtures)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        QApplication.processEvents()
        time.sleep(interval)


def drop_files(target: QWidget, paths: list[Path | str | QUrl], at: QPoint | None = None) -> bool:
    """A real drag-enter and drop of file URLs on ``target``; returns whether the drop was accepted."""
    mime = QMimeData()
    mime.setUrls([p if isinstance(p, QUrl) else QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(at if at is not None else QPoint(target.width() // 2, target.height() // 2))
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()


def open_box(parent: QWidget, name: str) -> QMessageBox | None:
    return next((b for b in parent.findChildren(QMessageBox, name) if b.isVisible()), None)


def click(box: QMessageBox, text: str) -> None:
    """Press the message box button whose label contains ``text``, as a person would."""
    button = next((b for b in box.findChildren(QAbstractButton) if text.lower() in b.text().lower()), None)
    assert button is not None, f"no button '{text}' in {[b.text() for b in box.findChildren(QAbstractButton)]}"
    button.click()
