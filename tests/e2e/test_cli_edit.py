"""`sgim-desktop edit` and `render` end to end on CPU with rule-weighted checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import SAMPLE_AUDIO, load_reference
from tests.e2e.test_cli_hear import run_cli

TRAJ = load_reference("optimization_trajectory.pt")
SG64 = load_reference("stylegan2_64.pt")


def ckpt_args(checkpoint_files, generator_files, size=64):
    return ["--generator", generator_files[size], "--audio-encoder", checkpoint_files["audio_encoder"],
            "--clip", checkpoint_files["clip"]]


@pytest.mark.slow
def test_edit_from_a_latent_reproduces_the_originals_trajectory(checkpoint_files, generator_files, tmp_path):
    w = tmp_path / "w.pt"
    torch.save(SG64["w_plus"], w)
    out, saved = tmp_path / "out.png", tmp_path / "out.pt"
    res = run_cli("edit", "--sound", SAMPLE_AUDIO / "raining.wav", "--latent", w,
                  *ckpt_args(checkpoint_files, generator_files), "--steps", "6", "--lambda-sim", "0.008",
                  "--device", "cpu", "--out", out, "--save-latent", saved, "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.strip().splitlines()]
    steps, done = lines[:-1], lines[-1]
    assert done["done"] and len(steps) == 6
    run = TRAJ["runs"]["size64_maskingFalse"]
    assert [s["lr"] for s in steps] == run["lr"]
    np.testing.assert_allclose([s["cos_loss"] for s in steps], run["cos_loss"], atol=2e-5)
    latent = torch.load(saved, weights_only=True)
    assert latent.shape == (1, 10, 512)
    diff = (latent - run["latent"][5]).abs()
    assert diff.mean() < 2e-4 and (diff > 1e-3).float().mean() < 1e-3
    img = np.asarray(Image.open(out))
    assert img.shape == (64, 64, 3)


@pytest.mark.slow
def test_two_sounds_with_own_windows_and_weights_plus_text_and_strength(checkpoint_files, generator_files, tmp_path):
    out = tmp_path / "mix.png"
    res = run_cli("edit", "--sound", SAMPLE_AUDIO / "raining.wav", "--start", "2", "--sound-weight", "0.7",
                  "--sound", SAMPLE_AUDIO / "thunderstorm.wav", "--sound-weight", "0.3", "--text", "storm",
                  "--text-weight", "0.5", "--seed", "4", *ckpt_args(checkpoint_files, generator_files),
                  "--steps", "2", "--strength", "1.5", "--out", out, "--json")
    assert res.returncode == 0, res.stderr
    first = json.loads(res.stdout.splitlines()[0])
    assert set(first["targets"]) == {"raining", "thunderstorm", "storm"}
    assert out.exists()


@pytest.mark.slow
def test_render_draws_a_seed_and_saves_its_latent_which_renders_the_same(generator_files, tmp_path):
    a, wa, b = tmp_path / "a.png", tmp_path / "a.pt", tmp_path / "b.png"
    r1 = run_cli("render", "--generator", generator_files[64], "--seed", "11", "--out", a, "--save-latent", wa)
    assert r1.returncode == 0, r1.stderr
    r2 = run_cli("render", "--generator", generator_files[64], "--latent", wa, "--out", b)
    assert r2.returncode == 0, r2.stderr
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["wrong layout", "truncated", "latent shape", "missing folder"])
def test_bad_input_exits_2_with_one_clear_line(generator_files, tmp_path, case):
    gen = generator_files[64]
    args = ["render", "--generator", gen, "--seed", "1", "--out", tmp_path / "x.png"]
    expect = ""
    if case == "wrong layout":
        bad = tmp_path / "enc.pt"
        torch.save({"conv.weight": torch.zeros(3, 1, 3, 3)}, bad)
        args[2], expect = bad, "StyleGAN2"
    elif case == "truncated":
        bad = tmp_path / "cut.pt"
        bad.write_bytes(gen.read_bytes()[: 100_000])
        args[2], expect = bad, "truncated"
    elif case == "latent shape":
        lat = tmp_path / "w.pt"
        torch.save(torch.zeros(1, 14, 512), lat)
        args = ["render", "--generator", gen, "--latent", lat, "--out", tmp_path / "x.png"]
        expect = "1 x 10 x 512"
    else:
        args[-1], expect = tmp_path / "nowhere" / "x.png", "does not exist"
    res = run_cli(*args)
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and expect in err, err
