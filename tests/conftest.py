"""Shared test fixtures: where the reference data lives, and loaders for it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SGIM_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "fixtures" / "reference"
SAMPLE_AUDIO = SHARED / "fixtures" / "audio"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    assert REFERENCE.is_dir(), f"reference fixtures not found at {REFERENCE} (set SGIM_SHARED)"
    return REFERENCE


@pytest.fixture(scope="session")
def sample_audio_dir() -> Path:
    assert SAMPLE_AUDIO.is_dir(), f"sample sounds not found at {SAMPLE_AUDIO} (set SGIM_SHARED)"
    return SAMPLE_AUDIO


def load_reference(name: str) -> dict:
    import torch

    return torch.load(REFERENCE / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def rule_clip():
    """CLIP ViT-B/32 with the fixture README's rule weights (built once per test run: ~10 s)."""
    from sgim_desktop.engine.clip_space import rule_weighted_clip

    return rule_weighted_clip()


@pytest.fixture(scope="session")
def rule_audio_encoder():
    from sgim_desktop.engine.audio_encoder import rule_weighted_audio_encoder

    return rule_weighted_audio_encoder()


@pytest.fixture(scope="session")
def checkpoint_files(tmp_path_factory, rule_clip, rule_audio_encoder):
    """Rule-weighted checkpoints written in the public files' formats, for CLI and app tests.

    - audio encoder: ``resnet18_57.pth`` layout, a torch-saved state dict under ``module.``
    - CLIP: open_clip's ``open_clip_model.safetensors`` state dict
    """
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("checkpoints")
    enc = folder / "resnet18_57.pth"
    import torch

    torch.save({f"module.{k}": v for k, v in rule_audio_encoder.state_dict().items()}, enc)
    clip = folder / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in rule_clip.state_dict().items()}, str(clip))
    return {"audio_encoder": enc, "clip": clip, "dir": folder}


@pytest.fixture(scope="session")
def generator_files(tmp_path_factory):
    """Rule-weighted rosinality generator files ({'g_ema': ..., 'args': Namespace}) at 64 and 256 px."""
    import argparse

    import torch

    from sgim_desktop.engine.stylegan2 import rule_weighted_generator

    folder = tmp_path_factory.mktemp("generators")
    out = {}
    for size in (64, 256):
        path = folder / f"stylegan2-{size}.pt"
        torch.save({"g_ema": rule_weighted_generator(size).state_dict(), "args": argparse.Namespace(size=size)}, path)
        out[size] = path
    return out


@pytest.fixture
def one_thread():
    """Small kernels on a busy 2-core machine run ~10x faster on one thread than on two fighting ones."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """The label-embedding cache of every test run (and the commands it starts) stays out of the user's."""
    folder = tmp_path_factory.mktemp("cache")
    before = os.environ.get("SGIM_CACHE_DIR")
    os.environ["SGIM_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("SGIM_CACHE_DIR", None)
    else:
        os.environ["SGIM_CACHE_DIR"] = before
