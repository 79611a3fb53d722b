"""`sgim-desktop invert --encoder`: the e4e latent is the inversion's start, end to end on CPU with rule weights."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sgim_desktop.engine.e4e import encode, load_e4e, rule_weighted_e4e
from sgim_desktop.engine.stylegan2 import rule_weighted_generator
from tests.checkpoints.helpers import CheckpointServer, entry, write_catalog
from tests.e2e.test_cli_hear import run_cli
from tests.e2e.test_cli_invert import ASTRONAUT
from tests.engine.test_e4e import public_checkpoint


def _generator_file(folder: Path, size: int) -> Path:
    path = folder / f"stylegan2-ffhq-{size}.pt"
    torch.save({"g_ema": rule_weighted_generator(size).state_dict(), "args": argparse.Namespace(size=size)}, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A 32 px face generator and an e4e file for it (8 latent layers, ~490 MB) in the public layout."""
    folder = tmp_path_factory.mktemp("e4e")
    generator = _generator_file(folder, 32)
    g = rule_weighted_generator(32)
    with torch.no_grad():
        mean = g.mapping(torch.randn(256, 512, generator=torch.Generator().manual_seed(0))).mean(0)
    encoder = rule_weighted_e4e(8)
    path = folder / "e4e_ffhq_32.pt"
    torch.save(public_checkpoint(encoder.state_dict(), mean.repeat(8, 1), 32), path)
    return {"generator": generator, "encoder": path, "dir": folder}


def _env(tmp_path: Path) -> dict[str, str]:
    return {"SGIM_MODELS_DIR": str(tmp_path / "models"), "SGIM_CONFIG_DIR": str(tmp_path / "config"),
            "OMP_NUM_THREADS": "1"}


def _main(capsys, *args) -> tuple[int, str, str]:
    from sgim_desktop.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.strip().splitlines()]


@pytest.mark.slow
def test_zero_steps_write_the_encoder_latent_itself(files, tmp_path):
    out, aligned = tmp_path / "w.pt", tmp_path / "aligned.png"
    res = run_cli("invert", "--image", ASTRONAUT, "--out-latent", out, "--generator", files["generator"],
                  "--encoder", files["encoder"], "--steps", "0", "--save-aligned", aligned, "--device", "cpu",
                  "--json", env_extra=_env(tmp_path))
    assert res.returncode == 0, res.stderr
    lines = _lines(res.stdout)
    assert [x["phase"] for x in lines[:-1]] == ["encode"]
    done = lines[-1]
    assert done["encoder"] is True and done["steps"] == 0 and done["mode"] == "face"
    assert "pixel loss only" not in res.stderr  # nothing is optimised, so no perceptual weights are looked for
    expected = encode(load_e4e(files["encoder"]), np.asarray(Image.open(aligned).convert("RGB")))
    torch.testing.assert_close(torch.load(out, weights_only=True), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_the_encoder_start_is_refined_gently_and_reported(files, tmp_path, capsys, monkeypatch):
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    common = ["invert", "--image", ASTRONAUT, "--generator", files["generator"], "--device", "cpu",
              "--perceptual", "off", "--json"]
    code, out, err = _main(capsys, *common, "--out-latent", tmp_path / "a.pt", "--encoder", files["encoder"],
                           "--steps", "3")
    assert code == 0, err
    lines = _lines(out)
    assert [x["phase"] for x in lines[:-1]] == ["encode", "invert", "invert", "invert"]
    assert max(x["lr"] for x in lines[1:-1]) == pytest.approx(0.01)  # REFINE_LR, not the mean start's 0.1
    assert lines[-1]["encoder"] is True and lines[-1]["steps"] == 3
    code, out, err = _main(capsys, *common, "--out-latent", tmp_path / "b.pt", "--steps", "3")
    assert code == 0, err
    lines = _lines(out)
    assert lines[0]["phase"] == "invert" and lines[-1]["encoder"] is False  # auto: no encoder for 32 px here
    assert max(x["lr"] for x in lines[:-1]) == pytest.approx(0.1)
    code, _, err = _main(capsys, *common, "--out-latent", tmp_path / "c.pt", "--steps", "0", "--encoder", "off")
    assert code == 2 and "at least 1" in err
    code, _, err = _main(capsys, *common, "--out-latent", tmp_path / "c.pt", "--steps", "0")
    assert code == 2 and "no encoder is in use" in err
    code, _, err = _main(capsys, *common, "--out-latent", tmp_path / "c.pt", "--steps", "1", "--encoder", "on")
    assert code == 2 and "no encoder for face generators of 32 px" in err
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.slow
def test_an_encoder_for_another_generator_size_stops_with_what_to_do(files, tmp_path, capsys, monkeypatch):
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    generator64 = _generator_file(tmp_path, 64)
    code, _, err = _main(capsys, "invert", "--image", ASTRONAUT, "--out-latent", tmp_path / "w.pt",
                         "--generator", generator64, "--encoder", files["encoder"], "--steps", "1",
                         "--device", "cpu", "--perceptual", "off")
    assert code == 2
    assert "makes 8 latent layers" in err and "64 px generator needs 10" in err and "--encoder off" in err
    assert not (tmp_path / "w.pt").exists()


@pytest.mark.slow
def test_on_fetches_the_catalog_encoder_and_auto_then_uses_it(files, tmp_path, capsys, monkeypatch):
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    server = CheckpointServer().start()
    try:
        url = server.add("/e4e_ffhq_32.pt", files["encoder"].read_bytes())
        catalog = write_catalog(tmp_path / "catalog.json", [
            entry("e4e-test-32", "encoder", "e4e_ffhq_32.pt", [url], domain="face", resolution=32, default=True),
        ])
        monkeypatch.setenv("SGIM_CATALOG", str(catalog))
        common = ["invert", "--image", ASTRONAUT, "--generator", files["generator"], "--device", "cpu",
                  "--perceptual", "off", "--steps", "0", "--json"]
        code, out, err = _main(capsys, *common, "--out-latent", tmp_path / "on.pt", "--encoder", "on")
        assert code == 0, err
        assert "Non-commercial test licence" in err  # the licence is shown before the download
        assert _lines(out)[-1]["encoder"] is True
        assert (tmp_path / "models" / "e4e_ffhq_32.pt").is_file()
        code, out, err = _main(capsys, *common, "--out-latent", tmp_path / "auto.pt")
        assert code == 0, err
        assert _lines(out)[-1]["encoder"] is True
        assert len(server.requests_for("/e4e_ffhq_32.pt")) == 1  # auto used the cached file
        torch.testing.assert_close(torch.load(tmp_path / "auto.pt", weights_only=True),
                                   torch.load(tmp_path / "on.pt", weights_only=True))
        code, out, err = _main(capsys, *common[:-3], "--steps", "1", "--json", "--whole-image",
                               "--out-latent", tmp_path / "whole.pt")
        assert code == 0, err
        assert _lines(out)[-1]["encoder"] is False  # auto encodes aligned faces only
    finally:
        server.close()
