"""What the window remembers lives in SGIM_CONFIG_DIR (here a temporary folder), survives bad values,
and keeps the recent-files list short and without duplicates."""

from __future__ import annotations

from pathlib import Path

from sgim_desktop.session import MixSettings
from sgim_desktop.ui.settings import RECENT_LIMIT, WindowSettings, app_settings


def test_settings_live_in_the_config_folder(isolated_app_env):
    store = app_settings()
    store.setValue("x", 1)
    store.sync()
    assert Path(store.fileName()) == isolated_app_env / "config" / "window.ini"
    assert Path(store.fileName()).is_file()


def test_recent_files_newest_first_without_duplicates_and_bounded(tmp_path):
    prefs = WindowSettings()
    files = [tmp_path / f"s{i}.wav" for i in range(RECENT_LIMIT + 3)]
    for f in files:
        prefs.add_recent(f)
    prefs.add_recent(files[5])
    recent = prefs.recent_files()
    assert len(recent) == RECENT_LIMIT and recent[0] == str(files[5].resolve())
    assert len(set(recent)) == len(recent)
    prefs.clear_recent()
    assert prefs.recent_files() == []


def test_mixer_values_come_back_but_strength_starts_at_full(tmp_path):
    prefs = WindowSettings()
    prefs.save_mix_settings(MixSettings(text="rain", steps=12, strength=0.3))
    again = WindowSettings(app_settings()).mix_settings()
    assert (again.text, again.steps, again.strength) == ("rain", 12, 1.0)
    prefs.set_value("mixer/settings", "{not json")
    assert prefs.mix_settings() == MixSettings()


def test_the_advanced_section_is_folded_until_left_open(tmp_path):
    prefs = WindowSettings()
    assert prefs.advanced_open() is False
    prefs.save_advanced_open(True)
    prefs.sync()
    assert WindowSettings(app_settings()).advanced_open() is True
    prefs.set_value("mixer/advancedOpen", "banana")
    assert prefs.advanced_open() is False
