"""Settings: explicit value, then environment, then the settings file, then the platform's folder."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from sgim_desktop.checkpoints.settings import (
    Settings,
    load_settings,
    resolve_mirror,
    resolve_models_dir,
    save_settings,
    settings_path,
)


def test_settings_live_in_sgim_config_dir_when_set(tmp_path):
    assert settings_path() == tmp_path / "config" / "settings.json"


def test_save_and_load_keep_other_keys(tmp_path):
    path = tmp_path / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"theme": "dark", "models_dir": "/old"}', encoding="utf-8")
    s = load_settings()
    assert s.models_dir == "/old" and s.other == {"theme": "dark"}
    s.models_dir, s.mirror = str(tmp_path / "m"), "https://mirror.example/models"
    save_settings(s)
    again = load_settings()
    assert again.models_dir == str(tmp_path / "m")
    assert again.mirror == "https://mirror.example/models"
    assert again.other == {"theme": "dark"}


def test_a_broken_settings_file_gives_defaults(tmp_path):
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{oops", encoding="utf-8")
    assert load_settings() == Settings()


def test_precedence_of_models_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SGIM_MODELS_DIR")
    assert resolve_models_dir(settings=Settings()) == platformdirs.user_data_path("sgim-desktop", appauthor=False) / "models"
    assert resolve_models_dir(settings=Settings(models_dir=str(tmp_path / "s"))) == tmp_path / "s"
    monkeypatch.setenv("SGIM_MODELS_DIR", str(tmp_path / "env"))
    assert resolve_models_dir(settings=Settings(models_dir=str(tmp_path / "s"))) == tmp_path / "env"
    assert resolve_models_dir(tmp_path / "arg", Settings(models_dir="x")) == Path(tmp_path / "arg")


def test_precedence_of_mirror(monkeypatch):
    assert resolve_mirror(settings=Settings()) is None
    assert resolve_mirror(settings=Settings(mirror="https://s")) == "https://s"
    monkeypatch.setenv("SGIM_MIRROR", "https://env")
    assert resolve_mirror(settings=Settings(mirror="https://s")) == "https://env"
    assert resolve_mirror("https://arg", Settings(mirror="https://s")) == "https://arg"
