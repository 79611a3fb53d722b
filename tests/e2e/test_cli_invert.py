"""`sgim-desktop invert` and `edit --image` on a real photo, end to end on CPU with rule-weighted models."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.e2e.test_cli_hear import run_cli

SKIMAGE_DATA = Path(importlib.util.find_spec("skimage").submodule_search_locations[0]) / "data"
ASTRONAUT = SKIMAGE_DATA / "astronaut.png"


@pytest.fixture(scope="module")
def small_generator(tmp_path_factory) -> Path:
    """A rule-weighted 32 px rosinality file: the smallest size the original's CLIP input accepts."""
    from sgim_desktop.engine.stylegan2 import rule_weighted_generator

    path = tmp_path_factory.mktemp("gen") / "stylegan2-ffhq-32.pt"
    torch.save({"g_ema": rule_weighted_generator(32).state_dict(), "args": argparse.Namespace(size=32)}, path)
    return path


def _env(tmp_path):
    return {"SGIM_MODELS_DIR": str(tmp_path / "models"), "SGIM_CONFIG_DIR": str(tmp_path / "config"),
            "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_invert_a_portrait_to_a_latent_file(small_generator, tmp_path):
    out, aligned, recon = tmp_path / "w.pt", tmp_path / "aligned.png", tmp_path / "recon.png"
    res = run_cli("invert", "--image", ASTRONAUT, "--out-latent", out, "--generator", small_generator,
                  "--steps", "3", "--save-aligned", aligned, "--out", recon, "--device", "cpu", "--json",
                  env_extra=_env(tmp_path))
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.strip().splitlines()]
    assert [x["step"] for x in lines[:-1]] == [0, 1, 2] and all(x["phase"] == "invert" for x in lines[:-1])
    done = lines[-1]
    assert done["mode"] == "face" and done["faces"] == 1 and done["face"] == 1 and not done["perceptual"]
    assert "pixel loss only" in res.stderr  # the LPIPS weights are not in the (empty) models folder
    latent = torch.load(out, weights_only=True)
    assert latent.shape == (1, 8, 512)
    assert np.asarray(Image.open(aligned)).shape == (32, 32, 3) and np.asarray(Image.open(recon)).shape == (32, 32, 3)


def _main(capsys, *args) -> tuple[int, str, str]:
    """The command run in this process (each subprocess would spend ~10 s importing torch and CLIP)."""
    from sgim_desktop.cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_pictures_without_a_face_or_with_two_say_what_to_do(small_generator, tmp_path, capsys, monkeypatch):
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    common = ["--generator", small_generator, "--steps", "1", "--device", "cpu", "--perceptual", "off"]
    coffee = SKIMAGE_DATA / "coffee.png"
    code, _, err = _main(capsys, "invert", "--image", coffee, "--out-latent", tmp_path / "a.pt", *common)
    assert code == 2 and "no face was found in coffee.png; add --whole-image" in err
    assert not (tmp_path / "a.pt").exists()
    code, out, err = _main(capsys, "invert", "--image", coffee, "--out-latent", tmp_path / "a.pt", "--whole-image",
                           *common)
    assert code == 0, err
    assert "centre square" in out and (tmp_path / "a.pt").exists()
    photo = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    Image.fromarray(np.concatenate([photo, photo[:, ::-1]], axis=1)).save(tmp_path / "two.png")
    code, _, err = _main(capsys, "invert", "--image", tmp_path / "two.png", "--out-latent", tmp_path / "b.pt", *common)
    assert code == 2 and "2 faces" in err and "--face N" in err
    code, out, err = _main(capsys, "invert", "--image", tmp_path / "two.png", "--out-latent", tmp_path / "b.pt",
                           "--face", "2", *common, "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["face"] == 2
    (tmp_path / "cut.png").write_bytes(ASTRONAUT.read_bytes()[:5000])
    code, _, err = _main(capsys, "invert", "--image", tmp_path / "cut.png", "--out-latent", tmp_path / "c.pt", *common)
    assert code == 2 and "cut short or damaged" in err


@pytest.mark.slow
def test_edit_a_photo_and_paste_it_back(checkpoint_files, small_generator, tmp_path):
    out, square = tmp_path / "edited.png", tmp_path / "square.png"
    base = ["edit", "--image", ASTRONAUT, "--text", "a smiling face", "--generator", small_generator,
            "--audio-encoder", checkpoint_files["audio_encoder"], "--clip", checkpoint_files["clip"],
            "--steps", "2", "--invert-steps", "2", "--perceptual", "off", "--device", "cpu"]
    res = run_cli(*base, "--out", out, "--json", env_extra=_env(tmp_path))
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.strip().splitlines()]
    assert [x["phase"] for x in lines[:-1]] == ["invert", "invert", "joint", "joint"]
    photo = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    edited = np.asarray(Image.open(out))
    assert edited.shape == photo.shape
    changed = np.any(edited != photo, axis=2)
    ys, xs = np.nonzero(changed)
    # only the face region changed: the FFHQ square around her face lies within x 120..330, y 0..210
    assert changed.sum() > 2000 and xs.min() > 100 and xs.max() < 350 and ys.max() < 230
    res = run_cli(*base, "--out", square, "--no-paste-back", env_extra=_env(tmp_path))
    assert res.returncode == 0, res.stderr
    assert np.asarray(Image.open(square)).shape == (32, 32, 3)
