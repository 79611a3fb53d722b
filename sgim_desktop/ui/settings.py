"""What the window remembers between runs: geometry, splitters, recent files, generator, mixer values and
whether the mixer's Advanced section was open.

Stored with QSettings in an INI file: in ``SGIM_CONFIG_DIR`` when it is set (tests and portable
installs), else in the platform's usual place for the app's settings.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings

from sgim_desktop.checkpoints.settings import APP_NAME, CONFIG_DIR_ENV
from sgim_desktop.session import MixSettings

RECENT_LIMIT = 10


def app_settings() -> QSettings:
    folder = os.environ.get(CONFIG_DIR_ENV)
    if folder:
        return QSettings(str(Path(folder).expanduser() / "window.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, APP_NAME, APP_NAME)


class WindowSettings:
    """Typed access to the few values the window keeps."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else app_settings()

    def recent_files(self) -> list[str]:
        value = self.store.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if str(v).strip()]

    def add_recent(self, path: str | Path) -> list[str]:
        path = str(Path(path).expanduser().resolve())
        files = [path] + [f for f in self.recent_files() if f != path]
        files = files[:RECENT_LIMIT]
        self.store.setValue("recent/files", files)
        return files

    def clear_recent(self) -> None:
        self.store.remove("recent/files")

    def mix_settings(self) -> MixSettings:
        """The mixer as it was left, except strength: that belongs to an edit, and a new run has none."""
        raw = self.store.value("mixer/settings", "")
        try:
            data = json.loads(raw) if isinstance(raw, str) and raw else {}
        except ValueError:
            data = {}
        return replace(MixSettings.from_dict(data if isinstance(data, dict) else {}), strength=1.0)

    def save_mix_settings(self, settings: MixSettings) -> None:
        self.store.setValue("mixer/settings", json.dumps(settings.to_dict()))

    def advanced_open(self) -> bool:
        """Folded unless the person left it open (a new user sees the few choices that matter first)."""
        return str(self.store.value("mixer/advancedOpen", "false")).strip().lower() in ("true", "1", "yes")

    def save_advanced_open(self, open_: bool) -> None:
        self.store.setValue("mixer/advancedOpen", bool(open_))

    def generator(self) -> str:
        return str(self.store.value("source/generator", "") or "")

    def save_generator(self, generator_id: str) -> None:
        self.store.setValue("source/generator", generator_id)

    def value(self, key: str) -> object:
        return self.store.value(key)

    def set_value(self, key: str, value: object) -> None:
        self.store.setValue(key, value)

    def sync(self) -> None:
        self.store.sync()
