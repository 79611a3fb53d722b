"""The engine API: the one door every front end uses, from checkpoint files to an edit and back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgim_desktop.engine import api
from sgim_desktop.errors import BadInputError, CheckpointError


def _tone(seconds: float = 2.0, hz: float = 440.0) -> api.Sound:
    t = np.arange(int(44100 * seconds)) / 44100
    return api.Sound((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 44100, "tone")


@pytest.fixture(scope="module")
def files(checkpoint_files, generator_files):
    return api.ModelFiles(generator=generator_files[64], audio_encoder=checkpoint_files["audio_encoder"],
                          clip=checkpoint_files["clip"])


def test_a_model_cache_keeps_clip_and_the_audio_encoder_when_only_the_generator_changes(files, generator_files):
    cache = api.ModelCache()
    first = cache.get(files, "cpu")
    again = cache.get(files, "cpu")
    assert again.generator is first.generator and again.space is first.space
    other = cache.get(api.ModelFiles(generator_files[256], files.audio_encoder, files.clip), "cpu")
    assert other.space is first.space
    assert other.generator is not first.generator and other.generator.config.size == 256


def test_a_generator_alone_renders_but_cannot_edit(generator_files):
    models = api.load_models(api.ModelFiles(generator_files[64]), "cpu")
    assert models.space is None
    image = api.render_source(models, api.Picture(seed=3))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    with pytest.raises(CheckpointError, match="CLIP and the audio encoder"):
        api.start_edit(models, api.Picture(seed=3), [], api.EditPlan(steps=1))


def test_an_opened_sound_starts_at_its_loudest_window():
    quiet_then_loud = np.concatenate([np.zeros(44100 * 12, np.float32), _tone(4.0).samples])
    opened = api.open_sound(api.Sound(quiet_then_loud, 44100, "late"))
    assert opened.loudest_start_s > 2.0
    assert opened.sound.name == "late"


def test_targets_keep_sounds_with_weight_and_the_text(files):
    models = api.load_models(files, "cpu")
    opened = api.open_sound(_tone())
    picks = [api.SoundPick(opened.prepared, 0.0, 0.7, "a"), api.SoundPick(opened.prepared, 0.0, 0.0, "muted")]
    targets = api.build_targets(models, picks, "  rain  ", 0.3)
    assert [(t.kind, t.label, t.weight) for t in targets] == [("sound", "a", 0.7), ("text", "rain", 0.3)]
    assert targets[0].embedding is not None and torch.isfinite(targets[0].embedding).all()


def test_an_edit_through_the_api_is_the_engine_edit_with_the_plan_knobs(files):
    from sgim_desktop.engine.edit import EditRequest, start_edit

    models = api.load_models(files, "cpu")
    targets = api.build_targets(models, [], "rain", 1.0)
    plan = api.EditPlan(steps=2, preview_every=1, lambda_sim=0.02)
    via_api = api.start_edit(models, api.Picture(seed=4), targets, plan).run_to_end()
    direct = start_edit(models, EditRequest(targets=targets, seed=4, steps=2, preview_every=1,
                                            lambda_sim=0.02)).run_to_end()
    assert torch.equal(via_api.latent, direct.latent)
    assert [round(s.loss, 6) for s in via_api.steps] == [round(s.loss, 6) for s in direct.steps]


def test_strength_zero_is_the_source_and_one_the_edit(files):
    models = api.load_models(files, "cpu")
    w0 = api.source_latent(models, api.Picture(seed=1))
    w1 = w0 + 0.5
    assert np.array_equal(api.render_strength(models, w0, w1, 0.0), api.render(models, w0))
    assert np.array_equal(api.render_strength(models, w0, w1, 1.0), api.render(models, w1))


def test_an_inversion_from_an_encoder_start_uses_the_gentler_schedule():
    image = np.zeros((64, 64, 3), np.uint8)
    plain = api.inversion_request(image, 10)
    refined = api.inversion_request(image, 10, start=torch.zeros(1, 8, 512))
    assert refined.lr < plain.lr and refined.latent_noise < plain.latent_noise
    assert api.inversion_request(image, 10, lr=0.3).lr == 0.3
    with pytest.raises(BadInputError):
        api.inversion_request(image, -1)


def test_the_device_choice_refuses_what_is_not_there():
    assert api.pick_device("cpu") == "cpu"
    with pytest.raises(BadInputError):
        api.pick_device("tpu")
