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
