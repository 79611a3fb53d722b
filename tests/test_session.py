"""The session is the document: its state changes as one undoable step each, edits and settings alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgim_desktop.engine.audio import Sound, decode
from sgim_desktop.session import EditRecord, MixSettings, PhotoOrigin, Session, SoundClip, Source
from tests.conftest import SAMPLE_AUDIO


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def clip(name: str = "raining") -> SoundClip:
    return SoundClip(sound=decode(SAMPLE_AUDIO / f"{name}.wav"), path=str(SAMPLE_AUDIO / f"{name}.wav"))


def record(session: Session, source: Source, value: float = 1.0) -> EditRecord:
    w0 = torch.zeros(1, 10, 512)
    return EditRecord(
        number=session.next_edit_number(), settings=session.settings, source=source, clips=session.state.clips,
        source_latent=w0, latent=w0 + value, source_image=np.zeros((8, 8, 3), np.uint8),
        image=np.full((8, 8, 3), 200, np.uint8), steps=3, seconds=0.1,
    )


def test_a_settings_change_is_undone_and_redone():
    s = Session()
    s.set_settings(MixSettings(steps=50))
    assert s.settings.steps == 50 and s.undo_label() == "Change steps"
    assert s.undo() and s.settings.steps == 300
    assert s.redo() and s.settings.steps == 50
    assert not s.redo()


def test_dragging_a_slider_is_one_undo_step_but_a_pause_starts_another():
    clock = Clock()
    s = Session(clock=clock)
    for a in (0.9, 0.8, 0.7):
        clock.now += 0.1
        s.update_settings(strength=a)
    s.undo()
    assert s.settings.strength == 1.0 and not s.can_undo()
    s.redo()
    clock.now += 10
    s.update_settings(strength=0.5)
    s.undo()
    assert s.settings.strength == 0.7


def test_different_settings_are_separate_steps():
    s = Session()
    s.update_settings(text="storm")
    s.update_settings(steps=20)
    s.undo()
    assert s.settings.text == "storm" and s.settings.steps == 300


def test_an_edit_is_undone_with_its_picture_and_redone():
    s = Session()
    source = Source(generator_id="g", seed=3)
    s.set_source(source)
    s.replace_sounds([clip()])
    rec = record(s, source)
    s.add_edit(rec)
    assert s.state.edit is rec and s.edits == [rec]
    s.undo()
    assert s.state.edit is None and len(s.state.clips) == 1
    s.redo()
    assert s.state.edit is rec


def test_a_new_change_after_undo_drops_the_redo_branch():
    s = Session()
    s.update_settings(steps=10)
    s.undo()
    s.update_settings(steps=20)
    assert not s.can_redo()


def test_a_new_source_starts_a_new_picture_and_an_old_edit_can_be_shown_again():
    s = Session()
    first = Source(generator_id="g", seed=1)
    s.set_source(first)
    rec = record(s, first)
    s.add_edit(rec)
    s.set_source(Source(generator_id="g", seed=2))
    assert s.state.edit is None
    s.show_edit(rec)
    assert s.state.edit is rec and s.state.source is first


def test_sounds_are_replaced_added_moved_reweighted_and_removed():
    s = Session()
    a, b = clip("raining"), clip("fire")
    s.replace_sounds([a])
    s.add_sounds([b])
    assert [c.name for c in s.state.clips] == ["raining", "fire"]
    s.update_clip(b.key, start_s=1.5)
    s.update_clip(b.key, weight=0.5)
    moved = s.state.clip(b.key)
    assert moved.start_s == 1.5 and moved.weight == 0.5 and moved.key == b.key
    s.remove_sound(a.key)
    assert [c.name for c in s.state.clips] == ["fire"]
    s.undo()
    s.undo()
    assert s.state.clip(b.key).weight == 1.0


def test_listeners_see_every_state_change():
    s = Session()
    seen = []
    s.listeners.append(lambda state, reason: seen.append((state.settings.steps, reason)))
    s.update_settings(steps=5)
    s.undo()
    s.redo()
    assert seen == [(5, "Change steps"), (300, "undo"), (5, "redo")]


def test_settings_come_back_from_saved_values_and_ignore_garbage():
    saved = MixSettings(text="rain", steps=40, layer_masking=True, mix_mode="splice").to_dict()
    assert MixSettings.from_dict(saved) == MixSettings(text="rain", steps=40, layer_masking=True, mix_mode="splice")
    odd = MixSettings.from_dict({"steps": "many", "mix_mode": "blend", "unknown": 1, "lr": "0.05",
                                 "layer_masking": "true"})
    assert odd.steps == 300 and odd.mix_mode == "joint" and odd.lr == 0.05 and odd.layer_masking


def test_the_edit_at_any_strength_is_a_blend_of_latents():
    s = Session()
    rec = record(s, Source(generator_id="g"), value=2.0)
    assert torch.equal(rec.latent_at(0.0), rec.source_latent)
    assert torch.allclose(rec.latent_at(0.5), torch.ones(1, 10, 512))


def test_undo_history_is_bounded():
    s = Session()
    for i in range(250):
        s.set_settings(MixSettings(steps=i + 1), merge_key=None)
        s.set_settings(MixSettings(steps=i + 1, text=str(i)), merge_key=None)
    count = 0
    while s.undo():
        count += 1
    assert count == 200


@pytest.mark.parametrize("latent_path, expected", [(None, "seed 4, truncation 0.5"), ("/x/w.pt", "latent w.pt")])
def test_a_source_describes_itself(latent_path, expected):
    latent = torch.zeros(1, 10, 512) if latent_path else None
    assert Source(generator_id="g", seed=4, truncation=0.5, latent=latent, latent_path=latent_path).describe() == expected


def test_a_photo_source_is_a_latent_that_keeps_its_photo_for_paste_back():
    from sgim_desktop.engine.align import centre_crop

    photo = np.zeros((30, 40, 3), np.uint8)
    aligned = centre_crop(photo, 16)
    face = PhotoOrigin(photo=photo, aligned=aligned, path="/x/me.jpg", face=1, faces=3)
    source = Source(generator_id="g", seed=None, latent=torch.zeros(1, 10, 512), photo=face)
    assert source.kind == "photo" and source.describe() == "photo me.jpg (face 2 of 3)"
    assert source.photo.aligned.alignment.photo_size == (40, 30)
    whole = Source(generator_id="g", seed=None, latent=torch.zeros(1, 10, 512),
                   photo=PhotoOrigin(photo=photo, aligned=aligned, path="/x/me.jpg"))
    assert whole.describe() == "photo me.jpg (whole picture)"


def test_a_recorded_sound_has_no_path_but_a_name():
    sound = Sound(samples=np.zeros(100, np.float32), sample_rate=8000, name="recording")
    assert SoundClip(sound=sound).describe() == "recording (0.0 s)"
