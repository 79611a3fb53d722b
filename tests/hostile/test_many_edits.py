"""A long session: 100 edits in one process hold their resident memory level (the trial held 20 flat)."""

from __future__ import annotations

import numpy as np
import pytest

from sgim_desktop.engine import api
from sgim_desktop.engine.clip_space import ClipSpace
from sgim_desktop.engine.edit import EditModels
from sgim_desktop.engine.stylegan2 import rule_weighted_generator
from sgim_desktop.self_test import tiny_clip

EDITS = 100
GROWTH_LIMIT_MB = 24.0  # over the last 50 edits: a leak of one 64 px edit's images and graph would pass it


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.slow
def test_a_hundred_edits_at_64_px_level_off(rule_audio_encoder, one_thread):
    # A two-layer CLIP of the same interface: the loop, the graphs and the images are what could leak,
    # and the full ViT-B/32 would make this test ten minutes of CI for the same answer.
    models = EditModels(generator=rule_weighted_generator(64), space=ClipSpace(tiny_clip(), rule_audio_encoder, "cpu"))
    tone = api.Sound((np.sin(np.arange(44100 * 3) * 0.05) * 0.3).astype(np.float32), 44100, "tone")
    opened = api.open_sound(tone)
    targets = api.build_targets(models, [api.SoundPick(opened.prepared, 0.0, 1.0, "tone")], "a smile", 0.5)
    resident = []
    for i in range(EDITS):
        run = api.start_edit(models, api.Picture(seed=i), targets, api.EditPlan(steps=1, preview_every=1))
        for _ in run:
            pass
        assert np.isfinite(run.result.image).all()
        resident.append(resident_mb())
    growth = resident[-1] - resident[EDITS // 2 - 1]
    assert growth < GROWTH_LIMIT_MB, f"resident memory grew {growth:.1f} MB over the last 50 edits: {resident[::10]}"
