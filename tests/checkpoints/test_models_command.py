"""``sgim-desktop models ...`` and the terminal progress bar."""

from __future__ import annotations

import io
import sys

import pytest

from sgim_desktop.checkpoints.download import DownloadProgress
from sgim_desktop.checkpoints.progress import TerminalProgress, format_progress
from sgim_desktop.cli import main
from tests.checkpoints.helpers import HTML_PAGE, entry, generator_bytes, write_catalog


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


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_only_on_a_terminal():
    report = DownloadProgress("gen", 50_000_000, 100_000_000, 2_500_000.0, 20.0)
    silent = io.StringIO()
    TerminalProgress(silent)(report)
    assert silent.getvalue() == ""
    tty = _Tty()
    bar = TerminalProgress(tty, interval=0)
    bar(report)
    bar(DownloadProgress("gen", 100_000_000, 100_000_000, 2_500_000.0, 0.0))
    bar.finish()
    text = tty.getvalue()
    assert text.startswith("\r") and text.endswith("\n")
    assert "50%" in text and "100%" in text and "2.5 MB/s" in text and "ETA 0:20" in text


def test_progress_text_for_unknown_sizes_and_waiting():
    assert "?" in format_progress(DownloadProgress("gen", 10, None, 0.0, None))
    assert "waiting for another process" in format_progress(DownloadProgress("gen", 0, None, 0.0, None, stage="waiting"))
