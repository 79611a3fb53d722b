"""Reading the dataset layouts and caching the app's exact encoder inputs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from sgim_desktop.errors import BadInputError
from sgim_desktop.training import datasets
from tests.training.helpers import make_esc50, make_folder, make_urbansound8k, make_vggsound


def test_a_plain_folder_gives_one_label_per_subfolder(tmp_path):
    root = make_folder(tmp_path / "d", per_class=2, seed=0)
    (root / "tone" / "notes.txt").write_text("not a sound")
    (root / "noise" / "deeper").mkdir()
    sf.write(str(root / "noise" / "deeper" / "x.flac"), np.zeros(4410, dtype=np.float32), 44100)
    clips = datasets.folder_clips(root)
    assert sorted({c.label for c in clips}) == ["chirp", "noise", "tone"]
    assert len(clips) == 7
    assert {c.rel for c in clips if c.label == "noise"} == {"noise/clip_0", "noise/clip_1", "noise/deeper/x"}


def test_a_folder_without_label_folders_is_refused_with_a_hint(tmp_path):
    sf.write(str(tmp_path / "a.wav"), np.zeros(100, dtype=np.float32), 8000)
    with pytest.raises(BadInputError, match="its own folder"):
        datasets.folder_clips(tmp_path)


def test_vggsound_rows_find_their_clips_and_keep_one_split(tmp_path):
    csv_path, clips = make_vggsound(tmp_path, per_class=3, seed=0)
    train = datasets.vggsound_clips(csv_path, clips, "train")
    assert len(train.clips) == 6 and train.skipped_split == 3 and train.missing == ["absentClip01 30"]
    assert all(c.path.name.startswith(c.rel) for c in train.clips)
    test = datasets.vggsound_clips(csv_path, clips, "test")
    assert len(test.clips) == 3 and {c.label for c in test.clips} == {"tone", "chirp", "noise"}
    assert len(datasets.vggsound_clips(csv_path, clips, "all").clips) == 9


def test_vggsound_finds_unpadded_names_and_tolerates_a_header(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    sf.write(str(clips / "abc_30.wav"), np.zeros(100, dtype=np.float32), 8000)
    csv_path = tmp_path / "v.csv"
    csv_path.write_text("youtube_id,start_seconds,label,split\nabc,30,dog barking,train\n")
    found = datasets.vggsound_clips(csv_path, clips)
    assert [(c.path.name, c.label) for c in found.clips] == [("abc_30.wav", "dog barking")]


def test_validation_split_holds_out_each_label_reproducibly(tmp_path):
    clips = datasets.folder_clips(make_folder(tmp_path / "d", per_class=8, seed=0))
    train, val = datasets.split_validation(clips, 0.125, seed=0)
    assert len(train) == 21 and sorted(c.label for c in val) == ["chirp", "noise", "tone"]
    assert datasets.split_validation(clips, 0.125, seed=0)[1] == val
    everything, none = datasets.split_validation(clips, 0.0, seed=0)
    assert len(everything) == 24 and none == []


def test_esc50_and_urbansound8k_are_read_with_their_folds_and_class_order(tmp_path):
    esc = datasets.esc50(make_esc50(tmp_path / "esc", per_fold_class=1, seed=0))
    assert esc.classes == ["tone", "chirp", "noise"] and len(esc.clips) == 15
    assert esc.folds().tolist() == [f for f in range(1, 6) for _ in range(3)]
    assert esc.targets().tolist() == [0, 1, 2] * 5
    us = datasets.urbansound8k(make_urbansound8k(tmp_path / "us", per_fold_class=1, seed=0))
    assert len(us.clips) == 30 and sorted(set(us.folds().tolist())) == list(range(1, 11))
    assert all(c.path.parent.name == f"fold{c.fold}" for c in us.clips)
    (tmp_path / "us" / "audio" / "fold3" / us.clips[7].path.name).unlink()
    again = datasets.urbansound8k(tmp_path / "us")
    assert len(again.clips) == 29 and len(again.missing) == 1


def test_a_metadata_file_without_its_columns_is_refused(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text("name,fold\na.wav,1\n")
    with pytest.raises(BadInputError, match="lacks the column"):
        datasets.esc50(tmp_path)


def test_folder_set_deals_each_label_into_folds(tmp_path):
    data = datasets.folder_set(make_folder(tmp_path / "d", per_class=4, seed=0), folds=2)
    for label in data.classes:
        assert sorted(c.fold for c in data.clips if c.label == label) == [1, 1, 2, 2]


def test_cached_input_is_exactly_the_apps_encoder_input(tmp_path):
    from sgim_desktop.engine import audio

    path = tmp_path / "s.wav"
    rng = np.random.default_rng(0)
    sf.write(str(path), (rng.normal(0, 0.2, 22050 * 2)).astype(np.float32), 22050)
    cache = datasets.InputCache(tmp_path / "cache")
    assert cache.ensure(path) is None
    x = cache.load(path)
    expected = audio.encoder_input(audio.prepare(audio.decode(path)), 0.0)[0]
    assert x.shape == (1, 128, 512) and torch.equal(x, expected)
    entries = list((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == 1
    stamp = entries[0].stat().st_mtime_ns
    assert cache.ensure(path) is None and entries[0].stat().st_mtime_ns == stamp


def test_a_changed_file_gets_a_fresh_cache_entry_and_a_broken_one_a_reason(tmp_path):
    path = tmp_path / "s.wav"
    sf.write(str(path), np.zeros(4410, dtype=np.float32), 44100)
    cache = datasets.InputCache(tmp_path / "cache")
    first = cache.load(path)
    sf.write(str(path), np.full(8820, 0.5, dtype=np.float32), 44100)
    assert not torch.equal(cache.load(path), first)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio at all")
    failures = cache.fill([path, bad])
    assert list(failures) == [bad] and "bad.wav" in failures[bad]
    assert cache.fill([bad]) == failures  # remembered, not decoded again
    assert "not found" in cache.fill([tmp_path / "gone.wav"])[tmp_path / "gone.wav"]


def test_pictures_are_matched_to_clips_by_name(tmp_path):
    from PIL import Image

    root = make_folder(tmp_path / "d", per_class=1, seed=0)
    (tmp_path / "img" / "tone").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "img" / "tone" / "clip_0.jpg")
    clips = datasets.attach_images(datasets.folder_clips(root), tmp_path / "img")
    assert {c.label: c.image is not None for c in clips} == {"chirp": False, "noise": False, "tone": True}


def test_label_text_reads_underscores_as_spaces():
    assert datasets.label_text("chirping_birds") == "chirping birds"
    assert datasets.label_text("dog  barking") == "dog barking"


def test_the_cache_fills_in_worker_processes(tmp_path):
    root = make_folder(tmp_path / "d", per_class=2, seed=0, classes=("tone", "noise"))
    paths = [c.path for c in datasets.folder_clips(root)]
    seen = []
    cache = datasets.InputCache(tmp_path / "cache")
    assert cache.fill(paths, workers=2, on_done=lambda n, total: seen.append((n, total))) == {}
    assert seen[-1] == (4, 4) and len(list((tmp_path / "cache").rglob("*.npy"))) == 4


@pytest.mark.parametrize("module", ["audio", "decode", "long_sound", "mel", "resample", "sound"])
def test_the_input_cache_is_keyed_by_every_module_of_the_front_end(module, tmp_path, monkeypatch):
    """A change to any code a cached input went through makes the cache's old entries unused."""
    import importlib

    mod = importlib.import_module(f"sgim_desktop.engine.{module}")
    monkeypatch.setattr(datasets, "_FRONT_END_ID", None)
    before = datasets.front_end_id()
    changed = tmp_path / f"{module}.py"
    changed.write_bytes(open(mod.__file__, "rb").read() + b"\n# changed\n")
    monkeypatch.setattr(mod, "__file__", str(changed))
    monkeypatch.setattr(datasets, "_FRONT_END_ID", None)
    assert datasets.front_end_id() != before
