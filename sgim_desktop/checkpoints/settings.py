"""Where models go and where they come from: a small JSON settings file, overridden by the environment.

Order of precedence: an explicit argument, then ``SGIM_MODELS_DIR`` / ``SGIM_MIRROR``, then the settings
file (``settings.json`` in the platform's config folder, or in ``SGIM_CONFIG_DIR``), then the platform's
user data folder. Other parts of the app may keep their own keys in the same file; they are preserved.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from sgim_desktop.errors import CheckpointError

APP_NAME = "sgim-desktop"
MODELS_DIR_ENV = "SGIM_MODELS_DIR"
MIRROR_ENV = "SGIM_MIRROR"
CONFIG_DIR_ENV = "SGIM_CONFIG_DIR"


@dataclass
class Settings:
    models_dir: str | None = None
    mirror: str | None = None
    other: dict[str, Any] = field(default_factory=dict)


def settings_path() -> Path:
    env = os.environ.get(CONFIG_DIR_ENV)
    folder = Path(env).expanduser() if env else platformdirs.user_config_path(APP_NAME, appauthor=False)
    return folder / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings; a missing or unreadable file gives the defaults (the app must still start)."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return Settings()
    if not isinstance(data, dict):
        return Settings()
    models_dir = data.pop("models_dir", None)
    mirror = data.pop("mirror", None)
    return Settings(
        models_dir=models_dir if isinstance(models_dir, str) and models_dir.strip() else None,
        mirror=mirror if isinstance(mirror, str) and mirror.strip() else None,
        other=data,
    )


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write atomically, so a crash never leaves a half-written settings file."""
    path = path or settings_path()
    data = dict(settings.other)
    if settings.models_dir:
        data["models_dir"] = settings.models_dir
    if settings.mirror:
        data["mirror"] = settings.mirror
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except OSError as exc:
        raise CheckpointError(f"cannot save settings to {path} ({exc.strerror or exc})") from None
    return path


def default_models_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "models"


def resolve_models_dir(explicit: str | Path | None = None, settings: Settings | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    settings = settings if settings is not None else load_settings()
    if settings.models_dir:
        return Path(settings.models_dir).expanduser()
    return default_models_dir()


def resolve_mirror(explicit: str | None = None, settings: Settings | None = None) -> str | None:
    if explicit:
        return explicit
    env = os.environ.get(MIRROR_ENV)
    if env:
        return env
    settings = settings if settings is not None else load_settings()
    return settings.mirror
