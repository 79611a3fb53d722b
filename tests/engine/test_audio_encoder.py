"""The audio encoder loads the public checkpoint layout strictly and computes what the original computes."""

from __future__ import annotations

import math

import pytest
import torch

from sgim_desktop.engine.audio_encoder import AudioEncoder, load_audio_encoder, rule_weighted_audio_encoder
from sgim_desktop.errors import CheckpointError
from tests.conftest import load_reference

REF = load_reference("audio_encoder.pt")
FRONTEND = load_reference("audio_frontend.pt")


def test_layout_is_the_originals_key_for_key():
    sd = AudioEncoder().state_dict()
    assert list(sd) == REF["state_dict_keys"]
    assert [tuple(v.shape) for v in sd.values()] == [tuple(s) for s in REF["state_dict_shapes"]]


def test_rule_weights_match_the_fixture_tables():
    sd = rule_weighted_audio_encoder().state_dict()
    for row in REF["rule_table"]:
        t = sd[row["name"]]
        assert math.fsum(t.double().flatten().tolist()) == row["sum64"], row["name"]


def test_embeddings_match_the_original_for_all_eight_sounds():
    enc = rule_weighted_audio_encoder()
    with torch.no_grad():
        out = torch.cat([enc(FRONTEND["files"][n]["x"]) for n in REF["names"]])
    assert (out - REF["embeddings"]).abs().max().item() < 1e-5


@pytest.mark.parametrize("prefix", ["", "module."])
def test_checkpoint_loads_with_or_without_module_prefix(tmp_path, prefix):
    sd = rule_weighted_audio_encoder().state_dict()
    path = tmp_path / "resnet18_57.pth"
    torch.save({prefix + k: v for k, v in sd.items()}, path)
    enc = load_audio_encoder(path)
    x = FRONTEND["files"]["raining"]["x"]
    with torch.no_grad():
        assert (enc(x) - REF["embeddings"][REF["names"].index("raining")]).abs().max() < 1e-5
    assert not any(p.requires_grad for p in enc.parameters())


def test_a_checkpoint_of_another_layout_is_refused_with_one_line(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError) as info:
        load_audio_encoder(path)
    assert "audio encoder" in str(info.value) and "\n" not in str(info.value)


def test_a_wrong_shape_is_named_with_the_shape_expected(tmp_path):
    sd = dict(AudioEncoder().state_dict())
    sd["conv.weight"] = torch.zeros(3, 1, 5, 5)
    path = tmp_path / "wide.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"not the audio encoder layout \(resnet18_57.pth\): entry conv.weight has "
                                              r"shape \(3, 1, 5, 5\), expected \(3, 1, 3, 3\)$"):
        load_audio_encoder(path)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "cut.pth"
    torch.save(rule_weighted_audio_encoder().state_dict(), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load_audio_encoder(path)


def test_construction_never_touches_the_network(monkeypatch):
    import socket

    def refuse(*a, **k):
        raise AssertionError("network used while building the encoder")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    AudioEncoder()
