"""The window's tasks without a window: each one's ``run`` against the rule-weighted models, on this thread,
giving the same results as the engine API it calls, and reporting steps, previews and stages."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sgim_desktop.engine import api
from sgim_desktop.errors import BadInputError
from sgim_desktop.session import MixSettings, Source
from sgim_desktop.ui.providers import PrebuiltModels
from sgim_desktop.ui.worker_tasks.base import Report, Stopped
from sgim_desktop.ui.worker_tasks.context import TaskContext
from sgim_desktop.ui.worker_tasks.edit import EditTask
from sgim_desktop.ui.worker_tasks.export import ExportTask
from sgim_desktop.ui.worker_tasks.models import LoadModelsTask
from sgim_desktop.ui.worker_tasks.photo import FoundFaces, FramedPhoto, FramePhotoTask, InvertPhotoTask, PhotoRequest
from sgim_desktop.ui.worker_tasks.picture import OpenLatentTask, RenderSourceTask, StrengthTask
from sgim_desktop.ui.worker_tasks.sounds import HearTask, OpenSoundsTask
from tests.conftest import SAMPLE_AUDIO
from tests.ui.conftest import LABELS

pytestmark = pytest.mark.slow

COFFEE = Path(importlib.util.find_spec("skimage").submodule_search_locations[0]) / "data" / "coffee.png"
SETTINGS = MixSettings(device="cpu", steps=2, preview_every=1, invert_steps=2)


@dataclass
class Heard:
    """A Report that keeps what the task said."""

    progress: list[tuple[int, int, float]] = field(default_factory=list)
    previews: list[np.ndarray] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    between: int = 0
    on_progress: object = None

    def report(self) -> Report:
        def progress(step: int, total: int, value: float) -> None:
            self.progress.append((step, total, value))
            if self.on_progress is not None:
                self.on_progress(step)

        def between() -> None:
            self.between += 1

        return Report(progress, self.previews.append, self.stages.append, between)


@pytest.fixture
def ctx(rule_models, labels_file) -> TaskContext:
    return TaskContext(PrebuiltModels(rule_models, "rule-64", "Rule", "landscape").loader, str(labels_file))


@pytest.fixture(scope="module")
def record(rule_models):
    """One finished two-step edit of seed 3 toward 'rain' (text only: quick)."""
    ctx = TaskContext(PrebuiltModels(rule_models, "rule-64", "Rule").loader)
    task = EditTask(1, Source("rule-64", seed=3), (), MixSettings(device="cpu", steps=2, text="rain"))
    return task.run(ctx, Heard().report())


def test_loading_models_says_which_were_loaded_and_where(ctx):
    assert LoadModelsTask("rule-64", "cpu").run(ctx, Heard().report()) == ("rule-64", "cpu")
    assert ctx.has_models("rule-64", "cpu") and not ctx.has_models("other", "cpu")


def test_opened_sounds_start_at_their_loudest_window_and_a_bad_file_is_one_line(ctx, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage" * 10)
    task = OpenSoundsTask([(str(SAMPLE_AUDIO / "fire.wav"), None), (str(bad), None)], "add")
    opened = task.run(ctx, Heard().report())
    assert [c.name for c in opened.clips] == ["fire"] and len(opened.errors) == 1 and "broken.wav" in opened.errors[0]
    clip = opened.clips[0]
    assert clip.path == str(SAMPLE_AUDIO / "fire.wav")
    assert clip.start_s == api.open_sound(SAMPLE_AUDIO / "fire.wav").loudest_start_s
    assert ctx.prepared(clip) is ctx.prepared(clip), "prepared once, kept for hearing and editing"


def test_hearing_names_the_five_likeliest_labels(ctx, rule_models):
    clip = OpenSoundsTask([(str(SAMPLE_AUDIO / "raining.wav"), None)]).run(ctx, Heard().report()).clips[0]
    heard = HearTask(clip, "rule-64", "cpu").run(ctx, Heard().report())
    assert (heard.key, heard.start_s) == (clip.key, clip.start_s)
    assert {label for label, _ in heard.top} == set(LABELS)
    want = api.hear(rule_models, api.SoundPick(ctx.prepared(clip), clip.start_s), LABELS, top_k=5)
    assert heard.top == [(h.label, h.probability) for h in want]


def test_a_latent_file_opens_and_a_source_renders_as_the_engine_does(ctx, rule_models, tmp_path):
    path = tmp_path / "w.pt"
    torch.save(torch.zeros(1, rule_models.generator.config.n_latent, 512), path)
    latent = OpenLatentTask(str(path)).run(ctx, Heard().report())
    image = RenderSourceTask(Source("rule-64", seed=None, latent=latent), "cpu").run(ctx, Heard().report())
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image, api.render_source(rule_models, api.Picture(seed=None, latent=latent)))


def test_an_edit_reports_each_step_and_becomes_a_record(ctx, rule_models):
    clip = OpenSoundsTask([(str(SAMPLE_AUDIO / "raining.wav"), None)]).run(ctx, Heard().report()).clips[0]
    heard = Heard()
    record = EditTask(7, Source("rule-64", seed=1), (clip,), SETTINGS).run(ctx, heard.report())
    assert (record.number, record.steps, record.clips, record.settings) == (7, 2, (clip,), SETTINGS)
    assert [(s, t) for s, t, _ in heard.progress] == [(1, 2), (2, 2)] and heard.between == 2
    assert len(heard.previews) == 2 and heard.stages == ["Editing…"]
    assert np.array_equal(record.source_image, api.render_source(rule_models, api.Picture(seed=1)))
    assert record.image.shape == (64, 64, 3) and record.latent.shape == record.source_latent.shape == (1, 10, 512)


def test_an_edit_stops_between_steps_when_cancelled(ctx):
    task = EditTask(1, Source("rule-64", seed=1), (), MixSettings(device="cpu", steps=200, text="fire"))
    heard = Heard(on_progress=lambda step: task.stop() if step == 2 else None)
    with pytest.raises(Stopped) as stopped:
        task.run(ctx, heard.report())
    assert 2 <= stopped.value.done < 200
    task = EditTask(2, Source("rule-64", seed=1), (), SETTINGS)
    task.stop()
    with pytest.raises(Stopped) as before:
        task.run(ctx, Heard().report())
    assert before.value.done == 0


def test_strength_is_the_record_at_its_ends_and_rendered_between(ctx, rule_models, record):
    assert StrengthTask(record, 1.0, "cpu").run(ctx, Heard().report()) is record.image
    assert StrengthTask(record, 0.0, "cpu").run(ctx, Heard().report()) is record.source_image
    half = StrengthTask(record, 0.5, "cpu").run(ctx, Heard().report())
    assert np.array_equal(half, api.render_strength(rule_models, record.source_latent, record.latent, 0.5))


def test_exports_write_the_picture_before_after_and_the_latent(ctx, record, tmp_path):
    for kind, name in (("png", "edit.png"), ("side_by_side", "both.png"), ("latent", "edit.pt")):
        written = ExportTask(kind, str(tmp_path / name), record, 1.0, "cpu").run(ctx, Heard().report())
        assert written == str(tmp_path / name)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "edit.png")), record.image)
    assert np.asarray(Image.open(tmp_path / "both.png")).shape == (64, 64 + 8 + 64, 3)
    assert torch.equal(api.load_latent(tmp_path / "edit.pt"), record.latent)
    with pytest.raises(BadInputError, match="not of a photo"):
        ExportTask("photo", str(tmp_path / "me.png"), record, 1.0, "cpu").run(ctx, Heard().report())


def test_a_photo_without_a_face_asks_and_its_whole_picture_inverts(ctx):
    request = PhotoRequest(str(COFFEE), "rule-64", "face", SETTINGS)
    heard = Heard()
    found = FramePhotoTask(request).run(ctx, heard.report())
    assert isinstance(found, FoundFaces) and found.faces == [] and found.thumbnails == []
    assert heard.stages == ["Reading coffee.png…", "Looking for faces in coffee.png…"]
    whole = found.request.again(SETTINGS, whole=True)
    assert whole.photo is found.request.photo and whole.cancel is not request.cancel
    framed = FramePhotoTask(whole).run(ctx, heard.report())
    assert isinstance(framed, FramedPhoto) and framed.image.shape == (64, 64, 3)
    assert heard.stages[-1] == "Taking the centre square…"
    inverting = Heard()
    inverted = InvertPhotoTask(framed).run(ctx, inverting.report())
    assert [(s, t) for s, t, _ in inverting.progress] == [(1, 2), (2, 2)] and len(inverting.previews) == 2
    assert inverting.stages == ["Inverting coffee.png…"]
    assert inverted.steps == 2 and inverted.latent.shape == (1, 10, 512)
    assert inverted.origin.path == str(COFFEE) and inverted.origin.face is None and not inverted.origin.perceptual
    assert inverted.origin.aligned.alignment.kind == "centre"


def test_a_photo_opening_stops_before_its_inversion_when_cancelled(ctx):
    request = PhotoRequest(str(COFFEE), "rule-64", "scene", SETTINGS, cancel=threading.Event())
    framed = FramePhotoTask(request).run(ctx, Heard().report())
    request.cancel.set()
    with pytest.raises(Stopped) as stopped:
        InvertPhotoTask(framed).run(ctx, Heard().report())
    assert stopped.value.done == 0
