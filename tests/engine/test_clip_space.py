"""CLIP via open_clip computes what the original's CLIP computes, and one space serves text, images and sounds."""

from __future__ import annotations

import pytest
import torch

from sgim_desktop.engine.clip_space import ClipSpace, TargetPart, load_clip, normalize
from sgim_desktop.errors import BadInputError, CheckpointError
from tests.conftest import load_reference

REF = load_reference("clip_vitb32.pt")


def test_open_clip_quickgelu_layout_is_the_openai_layout(rule_clip):
    assert sorted(rule_clip.state_dict()) == sorted(REF["state_dict_keys"])


def test_encode_image_matches_the_original(rule_clip):
    with torch.no_grad():
        out = rule_clip.encode_image(REF["x224"])
    assert (out - REF["encode_image"]).abs().max().item() < 5e-5


def test_loads_open_clips_safetensors_file(checkpoint_files):
    model = load_clip(checkpoint_files["clip"])
    with torch.no_grad():
        assert (model.encode_image(REF["x224"]) - REF["encode_image"]).abs().max() < 5e-5


def test_loading_a_file_logs_no_false_alarm_and_leaves_torch_init_as_it_was(checkpoint_files, caplog):
    """open_clip's "initialized randomly" note is false when the weights are loaded right after; the
    build skips drawing random weights only for the duration of the build."""
    inits = {name: getattr(torch.nn.init, name) for name in ("normal_", "zeros_", "kaiming_uniform_")}
    with caplog.at_level("WARNING"):
        model = load_clip(checkpoint_files["clip"])
    assert not [r for r in caplog.records if "initialized randomly" in r.getMessage()]
    assert {name: getattr(torch.nn.init, name) for name in inits} == inits
    assert all(torch.isfinite(p).all() for p in model.parameters())
    layer = torch.nn.Linear(64, 64)
    assert layer.weight.std() > 0  # torch's own init draws again after the build


def test_openai_torchscript_archives_are_refused(tmp_path):
    m = torch.jit.script(torch.nn.Linear(2, 2))
    path = tmp_path / "ViT-B-32.pt"
    torch.jit.save(m, str(path))
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_clip(path)


def test_a_non_clip_state_dict_is_refused(tmp_path):
    path = tmp_path / "x.bin"
    torch.save({"visual.proj": torch.zeros(768, 512)}, path)
    with pytest.raises(CheckpointError, match="not CLIP"):
        load_clip(path)


def test_a_clip_missing_an_entry_says_which(tmp_path, rule_clip):
    sd = dict(rule_clip.state_dict())
    del sd["visual.proj"]
    with pytest.raises(CheckpointError, match=r"not CLIP ViT-B/32 in open_clip/OpenAI naming: 1 missing entries "
                                              r"\(first: visual.proj\)$"):
        load_clip(sd)


@pytest.fixture(scope="module")
def space(rule_clip, rule_audio_encoder):
    return ClipSpace(rule_clip, rule_audio_encoder)


def test_text_sound_and_image_embeddings_are_unit_vectors_in_one_space(space):
    text = space.encode_text(["rain", "a dog barking"])
    sound = space.encode_sound(load_reference("audio_frontend.pt")["files"]["raining"]["x"])
    image = space.encode_image(torch.rand(1, 3, 64, 64))
    for e in (text, sound, image):
        assert e.shape[-1] == 512
        assert torch.allclose(e.norm(dim=-1), torch.ones(e.shape[0]), atol=1e-5)
    assert not torch.allclose(text[0], text[1])


def test_a_target_mixes_sound_and_text_by_weight(space):
    a, b = normalize(torch.randn(1, 512)), normalize(torch.randn(1, 512))
    only_a = space.target([TargetPart(a, 1.0, "a"), TargetPart(b, 0.0, "b")])
    assert torch.allclose(only_a, a, atol=1e-6)
    mix = space.target([TargetPart(a, 0.7, "a"), TargetPart(b, 0.3, "b")])
    assert (mix @ a.T).item() > (mix @ b.T).item()
    assert mix.norm().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(BadInputError):
        space.target([TargetPart(a, 0.0, "a")])
    with pytest.raises(BadInputError):
        space.target([])


def test_hearing_ranks_the_label_whose_text_is_the_sound_embedding_first(space):
    labels = ["rain", "dog barking", "siren", "church bells"]
    target = space.encode_text(["siren"])[0]
    heard = space.hear(target, labels, top_k=3)
    assert heard[0].label == "siren" and heard[0].cosine == pytest.approx(1.0, abs=1e-5)
    assert len(heard) == 3 and heard[0].probability >= heard[1].probability >= heard[2].probability
