"""Session fixtures for the training tests: a tiny CLIP, a folder of generated sounds, and one trained run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.training.helpers import make_folder, tiny_clip_files

# Small enough for a shared 2-core machine: 3 labels x 8 three-second clips, 1 held out per label, batches of 6
# (3 steps an epoch), and the encoder input average-pooled 8x (a test-only knob; the default is the app's input).
# Batches this small train steadier at a third of the paper's learning rate.
TRAIN_SETTINGS = dict(
    epochs=8, batch_size=6, lr=3e-4, workers=0, input_pool=8, text_augment="none", val_fraction=0.125, log_every=1,
)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> tuple[Path, Path]:
    return tiny_clip_files(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def sound_folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("sounds") / "data", per_class=8, seed=1)


@pytest.fixture(scope="session")
def input_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("input-cache")


def train_config(out: Path, tiny_clip, sound_folder: Path, input_cache: Path, **changes):
    from sgim_desktop.training.train import TrainConfig

    weights, config = tiny_clip
    settings = {**TRAIN_SETTINGS, **changes}
    return TrainConfig(out=out, clip=weights, clip_config=str(config), folder=sound_folder, cache_dir=input_cache, **settings)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_clip, sound_folder, input_cache):
    """One 8-epoch training run, shared by the tests that inspect its outputs."""
    from sgim_desktop.training.train import train

    cfg = train_config(tmp_path_factory.mktemp("trained") / "run", tiny_clip, sound_folder, input_cache)
    reports = []
    result = train(cfg, progress=reports.append)
    return SimpleNamespace(cfg=cfg, result=result, reports=reports, out=Path(cfg.out))
