"""Instant edits end to end in real processes: a build killed (SIGKILL) or interrupted (Ctrl-C) resumes to
exactly the file an uninterrupted build writes, leaving nothing half-written meanwhile; ``edit --instant``
at strength 0 is the source picture, and ``--refine-steps`` continues with the paper's loop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open

from sgim_desktop.engine.api import load_latent
from tests.conftest import REPO, SAMPLE_AUDIO
from tests.e2e.test_cli_hear import run_cli

FLAGS = ["--basis", "4", "--probe-latents", "2", "--response-latents", "2", "--calibrate-latents", "1",
         "--labels", "esc50", "--device", "cpu", "--json"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def build_command(generator: Path, clip: Path) -> list[str]:
    return [sys.executable, "-m", "sgim_desktop", "directions", "build", "--generator", str(generator),
            "--clip", str(clip), *FLAGS]


def units_done(partial: Path) -> int:
    try:
        with safe_open(str(partial), framework="pt") as fh:
            return int(fh.metadata()["done"])
    except (OSError, KeyError, ValueError, SafetensorError):  # not written yet, or being replaced
        return 0


def interrupt_after(command: list[str], partial: Path, units: int, sig: int) -> int:
    """Start a build, wait until ``units`` units are saved, send ``sig``; the process's exit status."""
    proc = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 900
    while units_done(partial) < units and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, f"the build ended before it could be interrupted: {proc.communicate()}"
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    return proc.returncode


def tensors(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as fh:
        return {"meta": fh.metadata(), **{k: fh.get_tensor(k) for k in fh.keys()}}


@pytest.mark.slow
def test_a_killed_and_an_interrupted_build_resume_to_the_uninterrupted_result(checkpoint_files, generator_files, tmp_path):
    reference_dir, resumed_dir = tmp_path / "reference", tmp_path / "resumed"
    for folder in (reference_dir, resumed_dir):
        folder.mkdir()
        shutil.copy(generator_files[64], folder / "g.pt")
    clip = checkpoint_files["clip"]
    done = subprocess.run(build_command(reference_dir / "g.pt", clip), cwd=REPO, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reference = tensors(reference_dir / "g.directions.safetensors")

    command = build_command(resumed_dir / "g.pt", clip)
    final, partial = resumed_dir / "g.directions.safetensors", resumed_dir / "g.directions.safetensors.partial"
    assert interrupt_after(command, partial, 1, signal.SIGKILL) == -signal.SIGKILL
    kept = units_done(partial)
    assert kept >= 1 and not final.exists()
    assert sorted(p.name for p in resumed_dir.iterdir() if p.name != "g.pt") == [partial.name]  # no temp file left
    assert interrupt_after(command, partial, kept + 1, signal.SIGINT) == 130  # Ctrl-C: "cancelled", work kept
    assert units_done(partial) > kept and not final.exists()
    done = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["resumed_units"] > kept
    assert sorted(p.name for p in resumed_dir.iterdir()) == ["g.directions.safetensors", "g.pt"]
    resumed = tensors(final)
    assert resumed["meta"] == reference["meta"]
    for key in ("basis", "response"):
        assert resumed[key].equal(reference[key]), key


def edit_args(checkpoint_files, generator, *extra) -> list:
    return ["edit", "--instant", "--sound", SAMPLE_AUDIO / "giggling.wav", "--seed", "3", "--generator", generator,
            "--audio-encoder", checkpoint_files["audio_encoder"], "--clip", checkpoint_files["clip"], "--device", "cpu",
            *extra]


@pytest.mark.slow
def test_edit_instant_strength_zero_is_the_source_and_refine_continues_the_loop(checkpoint_files, generator_files, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    generator = folder / "g.pt"
    shutil.copy(generator_files[64], generator)
    built = subprocess.run(build_command(generator, checkpoint_files["clip"]), cwd=REPO, env=ENV, capture_output=True)
    assert built.returncode == 0, built.stderr
    source, still, moved = tmp_path / "source.png", tmp_path / "still.png", tmp_path / "moved.png"
    assert run_cli("render", "--generator", generator, "--seed", "3", "--out", source).returncode == 0
    res = run_cli(*edit_args(checkpoint_files, generator, "--strength", "0", "--out", still, "--save-latent", tmp_path / "w0.pt"))
    assert res.returncode == 0, res.stderr
    assert np.array_equal(np.asarray(Image.open(still)), np.asarray(Image.open(source)))
    res = run_cli(*edit_args(checkpoint_files, generator, "--layers", "4-", "--out", tmp_path / "fine.png",
                             "--save-latent", tmp_path / "fine.pt"))
    assert res.returncode == 0, res.stderr
    w0, fine = load_latent(tmp_path / "w0.pt"), load_latent(tmp_path / "fine.pt")
    assert torch.equal(fine[:, :4], w0[:, :4]) and not torch.equal(fine[:, 4:], w0[:, 4:])
    res = run_cli(*edit_args(checkpoint_files, generator, "--layers", "2-40", "--out", tmp_path / "no.png"))
    assert res.returncode == 2 and "layers are 0-" in res.stderr and not (tmp_path / "no.png").exists()
    res = run_cli(*edit_args(checkpoint_files, generator, "--refine-steps", "2", "--text", "laughing", "--out", moved, "--json"))
    assert res.returncode == 0, res.stderr
    *steps, done = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(steps) == 2 and steps[0]["sim_loss"] > 0  # the loop starts away from the source it is anchored at
    assert set(steps[0]["targets"]) == {"giggling", "laughing"} and done["refine_steps"] == 2
    assert not np.array_equal(np.asarray(Image.open(moved)), np.asarray(Image.open(source)))
