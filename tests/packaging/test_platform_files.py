"""The files that make the build an app on each platform: icon renders, the Linux desktop entry and
AppStream metainfo, the Windows version resource, the macOS Info.plist, and the script that installs
the desktop entry for a user. These checks need no build, so they run on every test run."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO

PACKAGING = REPO / "packaging"
LINUX = PACKAGING / "linux"
APP_ID = "io.github.sgim_desktop"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read(LINUX / "sgim-desktop.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_icon_renders_to_every_size_each_platform_needs(tmp_path):
    render_icons = load(PACKAGING / "render_icons.py")
    res = subprocess.run([sys.executable, str(PACKAGING / "render_icons.py"), str(tmp_path)], capture_output=True,
                         text=True, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), timeout=120)
    assert res.returncode == 0, res.stderr
    for size in render_icons.PNG_SIZES:
        png = Image.open(tmp_path / f"icon-{size}.png")
        assert png.size == (size, size) and png.mode == "RGBA"
        assert png.getpixel((size // 2, size // 2))[3] == 255, "the middle of the icon is opaque"
        assert png.getpixel((0, 0))[3] == 0, "the rounded corner is transparent"
    assert {(s, s) for s in render_icons.ICO_SIZES} <= set(Image.open(tmp_path / "icon.ico").info["sizes"])
    icns_sizes = {s[:2] for s in Image.open(tmp_path / "icon.icns").info["sizes"]}
    assert {(16, 16), (32, 32), (128, 128), (256, 256), (512, 512)} <= icns_sizes
    assert render_icons.up_to_date(tmp_path)


def test_the_desktop_entry_opens_sounds_and_pictures_with_the_app():
    entry = desktop_entry()
    assert entry["Type"] == "Application" and entry["Exec"].endswith("%F"), "several files from 'Open with'"
    assert entry["Icon"] == APP_ID and entry["Terminal"] == "false"
    mime = set(entry["MimeType"].rstrip(";").split(";"))
    assert {"audio/wav", "audio/x-wav", "audio/flac", "audio/ogg", "audio/mpeg", "audio/x-aiff"} <= mime
    assert {"image/png", "image/jpeg"} <= mime


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_the_desktop_entry_is_valid():
    res = subprocess.run(["desktop-file-validate", str(LINUX / "sgim-desktop.desktop")], capture_output=True,
                         text=True)
    assert res.returncode == 0 and "error" not in res.stdout, res.stdout


def test_the_metainfo_describes_this_app_and_this_version():
    root = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert root.get("type") == "desktop-application" and root.findtext("id") == APP_ID
    assert root.findtext("launchable") == "sgim-desktop.desktop"
    assert root.find("provides/binary").text == "sgim-desktop"
    assert root.find("releases/release").get("version") == VERSION, "update the metainfo's releases on a release"


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_the_metainfo_is_valid():
    res = subprocess.run(["appstreamcli", "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_windows_version_resource_carries_the_project_version():
    text = load(PACKAGING / "windows" / "version_info.py").version_info_text(VERSION)
    strings = {}

    def record(name: str):
        def make(*args, **kwargs):
            if name == "StringStruct":
                strings[args[0]] = args[1]
            return (name, args, kwargs)
        return make

    names = {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}
    eval(compile(text, "version_info", "eval"), {n: record(n) for n in names})
    assert strings["FileVersion"] == strings["ProductVersion"] == VERSION
    assert strings["OriginalFilename"] == "sgim-desktop.exe"


def test_the_macos_bundle_asks_for_the_microphone_and_opens_sounds():
    spec = (PACKAGING / "sgim-desktop.spec").read_text()
    assert "NSMicrophoneUsageDescription" in spec and "CFBundleDocumentTypes" in spec
    assert "argv_emulation=IS_MAC" in spec, "files opened from Finder reach the app as command-line arguments"


def test_installing_the_desktop_entry_points_it_at_the_unpacked_folder(tmp_path):
    folder = tmp_path / 'Apps with "quotes" and $igns' / "sgim-desktop"
    (folder / "share").mkdir(parents=True)
    shutil.copytree(LINUX, folder / "share" / "applications", ignore=shutil.ignore_patterns("*.xml", "*.py", "*.sh"))
    (folder / "share" / "metainfo").mkdir()
    shutil.copy(LINUX / f"{APP_ID}.metainfo.xml", folder / "share" / "metainfo")
    icons = folder / "share" / "icons" / "hicolor" / "scalable" / "apps"
    icons.mkdir(parents=True)
    shutil.copy(REPO / "resources" / "icon.svg", icons / f"{APP_ID}.svg")
    shutil.copy(LINUX / "install-desktop-entry.sh", folder / "share")
    app = folder / "sgim-desktop"
    app.write_text('#!/bin/sh\nfor a in "$@"; do echo "arg: $a"; done\n')
    app.chmod(0o755)
    data = tmp_path / "data"
    env = dict(os.environ, XDG_DATA_HOME=str(data))

    subprocess.run([str(folder / "share" / "install-desktop-entry.sh")], check=True, capture_output=True, env=env)
    installed = data / "applications" / "sgim-desktop.desktop"
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    if shutil.which("gio"):
        sound = tmp_path / "a sound.wav"
        sound.write_bytes(b"")
        res = subprocess.run(["gio", "launch", str(installed), str(sound)], capture_output=True, text=True, env=env,
                             timeout=60)
        assert res.stdout.splitlines() == [f"arg: {sound}"], res.stdout + res.stderr
    subprocess.run([str(folder / "share" / "install-desktop-entry.sh"), "--remove"], check=True,
                   capture_output=True, env=env)
    assert not installed.exists()
