"""``sgim-desktop models ...``: list, download (files and sets), import, verify, remove, add a generator.

Downloads come from a real HTTP server on 127.0.0.1 (any other address fails the test).
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from sgim_desktop.cli import main
from tests.checkpoints import conftest as checkpoint_fixtures
from tests.checkpoints.helpers import HTML_PAGE, entry, generator_bytes, sha256, write_catalog

# the loopback server and the folders of the checkpoint tests, as fixtures here too
isolated_env = checkpoint_fixtures.isolated_env
loopback_only = checkpoint_fixtures.loopback_only
models_dir = checkpoint_fixtures.models_dir
server = checkpoint_fixtures.server


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


@pytest.fixture
def set_catalog(server, tmp_path, monkeypatch):
    """A 'landscape' set of two files served on 127.0.0.1; 'gen' has a published size and hash."""
    gen, face = generator_bytes(seed=7), generator_bytes(seed=8)

    def write(gen_url: str) -> None:
        path = tmp_path / "catalog.json"
        write_catalog(path, [
            entry("gen", "generator", "gen.pt", [gen_url], size=len(gen), sha256=sha256(gen), license="Gen NC"),
            entry("face", "generator", "face.pt", [server.add("/face.pt", face)], license="Face NC"),
        ])
        data = json.loads(path.read_text())
        data["sets"] = [{"id": "landscape", "title": "Edit landscapes", "summary": "Sounds on landscapes.",
                         "ids": ["gen", "face"]}]
        path.write_text(json.dumps(data))
        monkeypatch.setenv("SGIM_CATALOG", str(path))

    write(server.add("/gen.pt", gen))
    return write


def test_download_a_set_shows_its_size_and_licences_first(set_catalog, capsys, models_dir):
    assert main(["models", "sets"]) == 0
    out = capsys.readouterr().out
    assert "Edit landscapes (--set landscape): 2 files" in out and "nothing downloaded yet" in out
    assert "licence Gen NC: gen" in out and "licence Face NC: face" in out
    assert main(["models", "download", "--set", "landscape"]) == 0
    out = capsys.readouterr().out
    assert out.index("licence Gen NC") < out.index("landscape: ready (2 files")
    assert (models_dir / "gen.pt").is_file() and (models_dir / "face.pt").is_file()


def test_offline_a_set_download_ends_with_status_2_and_the_files_to_get_by_hand(set_catalog, capsys, server):
    gone = server.url("/gone/gen.pt")  # a host that no longer has the file answers at once, unlike a dead network
    set_catalog(gone)
    assert main(["models", "download", "--set", "landscape"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: cannot download gen.pt") and captured.err.count("\n") == 1
    assert "To finish 'Edit landscapes' by hand" in captured.out
    for line in ("gen.pt (gen, ", f"from: {gone}", "then: sgim-desktop models import gen gen.pt",
                 "face.pt (face, size not published)", "then: sgim-desktop models import face face.pt"):
        assert line in captured.out


def test_download_needs_ids_or_a_known_set(set_catalog, capsys):
    assert main(["models", "download"]) == 2
    assert "--set landscape" in capsys.readouterr().err
    assert main(["models", "download", "gen", "--set", "landscape"]) == 2
    assert main(["models", "download", "--set", "cats"]) == 2
    assert "unknown set 'cats' (known sets: landscape)" in capsys.readouterr().err


def test_add_generator_checks_the_file_and_lists_it_under_its_own_id(generator_files, tmp_path, capsys, models_dir):
    from sgim_desktop.checkpoints.manager import ModelManager, resolve_checkpoint
    from sgim_desktop.engine.stylegan2 import load_generator

    assert main(["models", "add-generator", str(generator_files[64]), "--name", "My dunes"]) == 0
    out = capsys.readouterr().out
    assert "user-my-dunes: added (64 px)" in out and "--generator user-my-dunes" in out
    assert main(["models", "list"]) == 0
    assert re.search(r"user-my-dunes +generator \(custom 64\) .* verified", capsys.readouterr().out)
    path = resolve_checkpoint("user-my-dunes", "generator", manager=ModelManager())
    assert path == models_dir / "user-my-dunes.pt" and load_generator(path).config.size == 64
    assert "channel multiplier 2" in ModelManager().spec("user-my-dunes").notes


def test_add_generator_refuses_what_is_not_a_generator_in_one_line(tmp_path, capsys, models_dir):
    import torch

    from tests.checkpoints.helpers import audio_encoder_bytes, reference_keys

    encoder = tmp_path / "resnet18_57.pth"
    encoder.write_bytes(audio_encoder_bytes())
    nan = tmp_path / "nan.pt"
    torch.save({"g_ema": {k: torch.full((2,), float("nan")) for k in reference_keys("stylegan2_64.pt")}}, nan)
    for bad, words in ((encoder, "is not a rosinality StyleGAN2 generator"), (nan, "NaN or infinity"),
                       (tmp_path / "none.pt", "no such file")):
        assert main(["models", "add-generator", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(bad) in err and words in err, err
    assert not models_dir.exists() or not any(models_dir.glob("user-*"))
