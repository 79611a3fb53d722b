"""The label embeddings cache: a warm `hear` runs no text through CLIP and answers exactly as a cold one;
another CLIP file, label list or template never reuses an entry; a damaged entry is recomputed.

Real parts: the rule-weighted CLIP and audio encoder, their files in the public formats, the CLI.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from sgim_desktop.engine import label_cache
from sgim_desktop.engine.clip_space import ClipSpace

LABELS = ["rain", "thunder", "dog barking", "people giggling"]


@pytest.fixture
def space(rule_clip, rule_audio_encoder, one_thread):
    """A fresh ClipSpace (an empty in-memory memo) that counts passes through CLIP's text tower."""
    s = ClipSpace(rule_clip, rule_audio_encoder)
    s.text_passes = 0

    def count(*_):
        s.text_passes += 1

    handle = rule_clip.transformer.register_forward_hook(count)
    yield s
    handle.remove()


@pytest.fixture
def clip_file(tmp_path):
    """The cache keys on the CLIP file and never reads it: a small stand-in keeps the tests quick."""
    path = tmp_path / "clip.safetensors"
    path.write_bytes(b"stands for the CLIP file the space was loaded from")
    return path


@pytest.fixture(autouse=True)
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SGIM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "label-embeddings"


def fresh(space: ClipSpace) -> ClipSpace:
    """Another process: the same models, nothing remembered in memory."""
    other = ClipSpace(space.clip, space.audio_encoder)
    other.text_passes = 0
    space.clip.transformer._forward_hooks.clear()
    other.clip.transformer.register_forward_hook(lambda *_: setattr(other, "text_passes", other.text_passes + 1))
    return other


def test_a_warm_cache_hears_the_same_without_any_text_pass(space, clip_file, cache_folder):
    sound = torch.randn(512, generator=torch.Generator().manual_seed(0))
    cold = label_cache.hear_cached(space, clip_file, sound, LABELS, top_k=3)
    assert space.text_passes >= 1 and len(list(cache_folder.glob("*.safetensors"))) == 1
    warm_space = fresh(space)
    warm = label_cache.hear_cached(warm_space, clip_file, sound, LABELS, top_k=3)
    assert warm_space.text_passes == 0
    assert [(h.label, h.probability, h.cosine) for h in warm] == [(h.label, h.probability, h.cosine) for h in cold]


def test_another_clip_file_label_list_or_template_gets_its_own_entry(space, clip_file, cache_folder, tmp_path):
    label_cache.text_embeddings(space, clip_file, LABELS)
    keys = {label_cache.cache_key(clip_file, LABELS)}
    copy = tmp_path / "other-clip.safetensors"
    shutil.copyfile(clip_file, copy)
    keys.add(label_cache.cache_key(copy, LABELS))
    keys.add(label_cache.cache_key(clip_file, LABELS[:-1]))
    keys.add(label_cache.cache_key(clip_file, [f"the sound of {x}" for x in LABELS]))
    st = clip_file.stat()
    os.utime(clip_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # the same file replaced
    keys.add(label_cache.cache_key(clip_file, LABELS))
    assert len(keys) == 5


@pytest.mark.parametrize("damage", ["garbage", "nan", "shape"])
def test_a_damaged_entry_is_recomputed_and_rewritten(space, clip_file, cache_folder, damage):
    from safetensors.torch import save_file

    good = label_cache.text_embeddings(space, clip_file, LABELS)
    path = cache_folder / f"{label_cache.cache_key(clip_file, LABELS)}.safetensors"
    if damage == "garbage":
        path.write_bytes(b"\x80\x04not a safetensors file")
    else:
        bad = good.clone()
        bad[0, 0] = float("nan")
        meta = {"format": str(label_cache.FORMAT_VERSION), "texts_sha256": label_cache._texts_sha(LABELS)}
        save_file({"embeddings": bad if damage == "nan" else good[:-1].contiguous()}, str(path), metadata=meta)
    again = fresh(space)
    assert torch.equal(label_cache.text_embeddings(again, clip_file, LABELS), good)
    assert again.text_passes >= 1
    assert torch.equal(label_cache._read(path, LABELS), good)


def test_entries_are_safetensors_and_only_the_most_recent_are_kept(space, clip_file, cache_folder, monkeypatch):
    monkeypatch.setattr(label_cache, "KEEP", 2)
    for n in range(1, 4):
        label_cache.text_embeddings(space, clip_file, LABELS[:n])
    files = list(cache_folder.glob("*.safetensors"))
    assert len(files) == 2 and not list(cache_folder.glob("*.tmp"))
    assert all(int.from_bytes(f.read_bytes()[:8], "little") < f.stat().st_size for f in files)  # a safetensors header


def test_an_unwritable_cache_folder_costs_time_not_a_failure(space, clip_file, cache_folder):
    cache_folder.parent.mkdir(parents=True)
    cache_folder.write_text("a file where the folder should be")
    heard = label_cache.hear_cached(space, clip_file, torch.randn(512), LABELS, top_k=2)
    assert len(heard) == 2


def test_the_hear_command_fills_the_cache_and_answers_the_same_warm_without_loading_clip(
        checkpoint_files, cache_folder, tmp_path, capsys, one_thread, monkeypatch):
    from sgim_desktop.cli import main
    from tests.conftest import SAMPLE_AUDIO

    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS))
    args = ["hear", str(SAMPLE_AUDIO / "raining.wav"), "--top", "3", "--labels", str(labels), "--json",
            "--audio-encoder", str(checkpoint_files["audio_encoder"]), "--clip", str(checkpoint_files["clip"])]
    assert main(args) == 0
    cold = capsys.readouterr().out
    assert len(list(cache_folder.glob("*.safetensors"))) == 1

    def no_clip(*_args, **_kwargs):
        raise AssertionError("a warm hear loaded CLIP")

    monkeypatch.setattr("sgim_desktop.engine.clip_space.load_clip", no_clip)
    assert main(args) == 0
    assert capsys.readouterr().out == cold
    other = [*args, "--template", "the sound of {}"]
    with pytest.raises(AssertionError, match="loaded CLIP"):
        main(other)  # another template is another entry: CLIP is needed again
