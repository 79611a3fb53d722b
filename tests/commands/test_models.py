"""``sgim-desktop models ...``: list, download (files and sets), import, verify, remove, add a generator.

Downloads come from a real HTTP server on 127.0.0.1 (any other address fails the test).
"""

from __future__ import annotations

import sys

import pytest

from sgim_desktop.cli import main
from tests.checkpoints.conftest import isolated_env, loopback_only, models_dir, server  # noqa: F401 (fixtures)
from tests.checkpoints.helpers import HTML_PAGE, entry, generator_bytes, sha256, write_catalog


@pytest.fixture
def catalog(server, tmp_path, monkeypatch):
    data = generator_bytes()
    path = write_catalog(
        tmp_path / "catalog.json",
        [
            entry("gen", "generator", "gen.pt", [server.add("/gen.pt", data)], license="NVIDIA Source Code License-NC"),
            entry("broken", "generator", "broken.pt", [server.add("/broken.pt", HTML_PAGE, content_type="text/html")]),
        ],
    )
    monkeypatch.setenv("SGIM_CATALOG", str(path))
    return data


def test_list_download_verify_path_remove(catalog, capsys, models_dir):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "gen" in out and "missing" in out and "Non-commercial test licence" in out
    assert str(models_dir) in out

    assert main(["models", "download", "gen"]) == 0
    captured = capsys.readouterr()
    assert "licence: NVIDIA Source Code License-NC" in captured.err
    assert "\r" not in captured.err  # not a terminal: no bar drawn
    assert str(models_dir / "gen.pt") in captured.out

    assert main(["models", "verify"]) == 0
    assert "ok     gen" in capsys.readouterr().out
    assert main(["models", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(models_dir)
    assert main(["models", "path", "gen"]) == 0
    assert capsys.readouterr().out.strip() == str(models_dir / "gen.pt")
    assert main(["models", "remove", "gen"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (models_dir / "gen.pt").exists()


def test_list_says_which_files_are_trusted_on_first_use_and_shows_their_recorded_hash(
        server, tmp_path, monkeypatch, capsys, models_dir):
    data, other = generator_bytes(seed=1), generator_bytes(seed=2)
    path = write_catalog(tmp_path / "catalog.json", [
        entry("tofu", "generator", "tofu.pt", [server.add("/tofu.pt", data)]),
        entry("hashed", "generator", "hashed.pt", [server.add("/hashed.pt", other)], size=len(data), sha256=sha256(data)),
    ])
    monkeypatch.setenv("SGIM_CATALOG", str(path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tofu: no hash recorded yet" in out and "published sha256" in out and "first use" in out
    assert main(["models", "download", "tofu"]) == 0
    assert main(["models", "download", "hashed"]) == 2
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert f"tofu: sha256 {sha256(data)}" in out
    assert f"kept aside, never used: hashed.pt.mismatch-{sha256(other)[:12]}" in out


def test_import_and_a_failed_verify(catalog, capsys, tmp_path, models_dir):
    mine = tmp_path / "by hand.pt"
    mine.write_bytes(catalog)
    assert main(["models", "import", "gen", str(mine)]) == 0
    assert "imported" in capsys.readouterr().out
    (models_dir / "gen.pt").write_bytes(catalog[:-10] + b"0123456789")
    assert main(["models", "verify", "gen"]) == 2
    assert "FAILED gen" in capsys.readouterr().out


def test_failures_are_one_line_errors_with_status_2(catalog, capsys):
    assert main(["models", "download", "broken"]) == 2
    err = capsys.readouterr().err
    assert "error: cannot download broken.pt" in err and "sgim-desktop models import broken FILE" in err
    assert main(["models", "download", "nope"]) == 2
    assert "unknown checkpoint id 'nope'" in capsys.readouterr().err
    assert main(["models", "import", "gen", "/no/such/file.pt"]) == 2


def test_models_dir_option_overrides_the_environment(catalog, capsys, tmp_path):
    assert main(["models", "path", "--models-dir", str(tmp_path / "elsewhere")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "elsewhere")


def test_download_works_without_any_stderr_or_stdout(catalog, monkeypatch, models_dir):
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["models", "download", "gen"]) == 0
    assert (models_dir / "gen.pt").is_file()
