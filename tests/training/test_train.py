"""Training the audio encoder into a (tiny) frozen CLIP: it learns, resumes exactly, and writes the app's layout."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from sgim_desktop.errors import BadInputError
from tests.training.conftest import train_config
from tests.training.helpers import make_esc50, make_vggsound

pytestmark = pytest.mark.slow


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_training_lowers_the_loss(trained_run):
    steps = rows(trained_run.out / "progress.csv")
    assert len(steps) == 8 * 3 and [int(r["step"]) for r in steps] == list(range(1, 25))
    first, last = steps[:6], steps[-6:]
    text_before, text_after = mean(float(r["loss_text"]) for r in first), mean(float(r["loss_text"]) for r in last)
    loss_before, loss_after = mean(float(r["loss"]) for r in first), mean(float(r["loss"]) for r in last)
    print(f"audio-text loss {text_before:.3f} -> {text_after:.3f}; total {loss_before:.3f} -> {loss_after:.3f}")
    assert text_after < 0.5 * text_before
    assert loss_after < loss_before
    assert all(r["global_batch"] == "6" for r in steps)


def test_trained_encoder_hears_held_out_clips_far_above_chance(trained_run, tiny_clip, tmp_path):
    from sgim_desktop.engine.audio_encoder import load_audio_encoder
    from sgim_desktop.training.clip_tower import load_clip_tower
    from sgim_desktop.training.datasets import InputCache, esc50
    from sgim_desktop.training.evaluate import evaluate_set

    held_out = esc50(make_esc50(tmp_path / "esc", per_fold_class=3, seed=99, folds=2))
    encoder = load_audio_encoder(trained_run.result.encoder_best)
    tower = load_clip_tower(*tiny_clip)
    result = evaluate_set(held_out, encoder, tower.encode_texts, InputCache(tmp_path / "cache"), input_pool=8)
    print(f"held-out zero-shot {result.zero_shot:.3f} (chance {result.chance:.3f}), linear probe {result.linear_probe:.3f}")
    assert result.clips == 18 and result.chance == pytest.approx(1 / 3)
    assert result.zero_shot >= 0.7
    assert trained_run.result.val_zero_shot is not None


def test_resuming_a_stopped_run_reaches_the_same_weights(trained_run, tiny_clip, sound_folder, input_cache, tmp_path):
    from sgim_desktop.training.train import train

    cfg = train_config(tmp_path / "run", tiny_clip, sound_folder, input_cache)
    cancel = threading.Event()

    def stop_mid_epoch(p):
        if p.phase == "train" and p.step == 10:  # epoch 4, after its first batch
            cancel.set()

    stopped = train(cfg, progress=stop_mid_epoch, cancel=cancel)
    assert stopped.cancelled and stopped.step == 10 and stopped.resume_file is not None
    from dataclasses import replace

    resumed = train(replace(cfg, resume=True, clip=None, epochs=None))  # the run's own CLIP file and epochs
    assert not resumed.cancelled and resumed.step == 24
    straight = torch.load(trained_run.result.encoder_last, weights_only=True)
    again = torch.load(resumed.encoder_last, weights_only=True)
    assert straight.keys() == again.keys()
    differing = [k for k in straight if not torch.equal(straight[k], again[k])]
    assert differing == []
    losses = lambda p: [r["loss"] for r in rows(p / "progress.csv")]  # noqa: E731
    assert losses(Path(cfg.out)) == losses(trained_run.out)
    assert len(rows(Path(cfg.out) / "epochs.csv")) == 8


def test_checkpoint_is_the_public_layout_and_imports_into_the_model_manager(trained_run, tmp_path):
    from sgim_desktop.checkpoints.manager import ModelManager
    from sgim_desktop.engine.audio_encoder import AudioEncoder, load_audio_encoder

    path = trained_run.result.encoder_best
    sd = torch.load(path, weights_only=True)
    assert all(k.startswith("module.") for k in sd)
    assert {k[len("module."):] for k in sd} == set(AudioEncoder().state_dict())
    installed = ModelManager(models_dir=tmp_path / "models").import_file("audio-encoder-resnet18", path)
    assert installed.name == "resnet18_57.pth"
    a, b = load_audio_encoder(path), load_audio_encoder(installed)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_progress_and_curves_are_written_as_files(trained_run):
    out = trained_run.out
    epochs = rows(out / "epochs.csv")
    assert [int(r["epoch"]) for r in epochs] == list(range(1, 9))
    assert all(r["val_loss"] and r["val_zero_shot"] for r in epochs)
    with Image.open(out / "loss.png") as im:
        assert im.format == "PNG" and im.size == (960, 720)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "done" and run["world_size"] == 1
    assert run["data"]["train_clips"] == 21 and run["data"]["val_clips"] == 3
    assert "paper" in run["defaults"]["lr"] and "ours" in run["defaults"]["schedule"]
    assert run["result"]["in_step"] is True
    phases = {p.phase for p in trained_run.reports}
    assert {"prepare", "clip", "train", "validate", "epoch"} <= phases
    assert any("validation zero-shot" in p.message for p in trained_run.reports)


def test_a_finished_run_is_not_overwritten(trained_run):
    from sgim_desktop.training.train import train

    with pytest.raises(BadInputError, match="--resume"):
        train(trained_run.cfg)


def test_vggsound_layout_with_pictures_adds_the_audio_image_term(tiny_clip, input_cache, tmp_path):
    from sgim_desktop.training.train import TrainConfig, train

    csv_path, clips = make_vggsound(tmp_path / "vgg", per_class=5, seed=3)
    images = tmp_path / "frames"
    images.mkdir()
    colours = {"to": (255, 0, 0), "ch": (0, 255, 0), "no": (0, 0, 255)}
    for clip in clips.iterdir():
        Image.new("RGB", (40, 30), colours[clip.name[:2]]).save(images / f"{clip.stem}.png")
    weights, config = tiny_clip
    cfg = TrainConfig(
        out=tmp_path / "run", clip=weights, clip_config=str(config), vggsound_csv=csv_path, clips=clips, images=images,
        cache_dir=input_cache, epochs=1, batch_size=6, workers=1, input_pool=8, val_fraction=0.0, bn_batches=1,
    )
    result = train(cfg)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["data"]["missing_rows"] == 1 and run["data"]["other_split_rows"] == 3
    assert run["data"]["train_clips"] == 12 and run["data"]["clips_with_images"] == 12
    assert run["terms"] == ["text", "audio", "image"]
    steps = rows(tmp_path / "run" / "progress.csv")
    assert len(steps) == 2 and all(float(r["loss_image"]) > 0 for r in steps)
    assert result.encoder_best is not None and result.encoder_last is not None


def test_a_single_label_cannot_train_the_audio_text_term(tiny_clip, input_cache, tmp_path):
    from sgim_desktop.training.train import train
    from tests.training.helpers import make_folder

    folder = make_folder(tmp_path / "one", per_class=2, seed=5, classes=("tone",))
    with pytest.raises(BadInputError, match="at least 2 labels"):
        train(train_config(tmp_path / "run", tiny_clip, folder, input_cache))
