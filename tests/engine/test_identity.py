"""The ArcFace identity loss computes what the original IDLoss computes, and loads only the public layout."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from sgim_desktop.engine.identity import IRSE50, IdentityLoss, load_arcface, rule_weighted_arcface
from sgim_desktop.errors import CheckpointError
from tests.conftest import load_reference

EMB_ATOL = 5e-6  # fixture README: ArcFace emb / feats (unit norm)
LOSS_ATOL = 1e-6  # fixture README: IDLoss value


@pytest.fixture(scope="module")
def ref() -> dict:
    return load_reference("arcface_irse50.pt")


@pytest.fixture(scope="module")
def net() -> IRSE50:
    return rule_weighted_arcface()


@pytest.fixture(scope="module")
def id_loss(net: IRSE50) -> IdentityLoss:
    return IdentityLoss(net)


@pytest.fixture(scope="module")
def public_file(net: IRSE50, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file in the layout of model_ir_se50.pth: a bare state dict written by torch.save."""
    path = tmp_path_factory.mktemp("arcface") / "model_ir_se50.pth"
    torch.save(net.state_dict(), path)
    return path


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


# --- layout and weights -------------------------------------------------------------------------


def test_module_names_and_shapes_are_those_of_model_ir_se50(ref: dict) -> None:
    state = IRSE50().state_dict()
    assert list(state) == ref["state_dict_keys"]
    assert [list(v.shape) for v in state.values()] == ref["state_dict_shapes"]


@pytest.mark.parametrize(
    "name",
    [
        "input_layer.0.weight",  # conv: t / sqrt(fan_in)
        "input_layer.1.running_var",  # |t| + 0.5
        "input_layer.1.num_batches_tracked",  # zeros
        "input_layer.2.weight",  # PReLU: 0.25 + 0.05 t
        "output_layer.3.bias",  # linear bias: 0.1 t
        "output_layer.4.weight",  # BatchNorm1d: 1 + 0.1 t
        "body.3.shortcut_layer.0.weight",
        "body.23.res_layer.5.fc2.weight",
    ],
)
def test_rule_weights_match_the_fixture_rule_table(net: IRSE50, ref: dict, name: str) -> None:
    row = next(r for r in ref["rule_table"] if r["name"] == name)
    value = net.state_dict()[name]
    assert list(value.shape) == row["shape"]
    assert math.fsum(value.double().flatten().tolist()) == row["sum64"]
    assert value.double().flatten()[:4].tolist() == row["first"][: value.numel()]


# --- parity with the original ---------------------------------------------------------------------


def test_embedding_of_112_faces_matches_the_original(net: IRSE50, ref: dict) -> None:
    with torch.no_grad():
        emb = net(ref["x112"])
    assert emb.shape == (2, 512)
    assert _max_diff(emb.norm(dim=1), torch.ones(2)) < 1e-6
    assert _max_diff(emb, ref["emb112"]) < EMB_ATOL


def test_features_of_a_256_face_are_taken_from_its_crop(id_loss: IdentityLoss, ref: dict) -> None:
    with torch.no_grad():
        feats = id_loss.extract_feats(ref["x256"])
    assert _max_diff(feats, ref["feats256"]) < EMB_ATOL


def test_a_face_of_another_height_is_first_resized_to_256(id_loss: IdentityLoss, ref: dict) -> None:
    with torch.no_grad():
        feats = id_loss.extract_feats(ref["x64"])
    assert _max_diff(feats, ref["feats64"]) < EMB_ATOL


def test_only_the_height_decides_whether_to_resize(id_loss: IdentityLoss) -> None:
    """The original's quirk: a 256-high image of another width is cropped as it is."""
    wide = torch.rand(1, 3, 256, 300, generator=torch.Generator().manual_seed(0)) * 2 - 1
    crop = id_loss.face_crop(wide)
    expected = torch.nn.functional.adaptive_avg_pool2d(wide[:, :, 35:223, 32:220], (112, 112))
    assert crop.shape == (1, 3, 112, 112)
    assert torch.equal(crop, expected)


@pytest.fixture(scope="module")
def loss_value(id_loss: IdentityLoss, ref: dict) -> torch.Tensor:
    with torch.no_grad():
        return id_loss(ref["x64"], ref["x256"])


def test_identity_loss_matches_the_original(loss_value: torch.Tensor, ref: dict) -> None:
    assert loss_value.shape == ()
    assert abs(loss_value.item() - ref["idloss_value"].item()) < LOSS_ATOL


def test_cached_source_features_give_the_same_loss(
    id_loss: IdentityLoss, loss_value: torch.Tensor, ref: dict
) -> None:
    source = id_loss.source_features(ref["x256"])
    assert not source.requires_grad
    assert _max_diff(source, ref["feats256"]) < EMB_ATOL
    with torch.no_grad():
        cached = id_loss.forward_cached(ref["x64"], source)
    assert torch.equal(cached, loss_value)


# --- use inside the edit loop ---------------------------------------------------------------------


def test_the_network_is_frozen_and_gradients_reach_the_edited_image(id_loss: IdentityLoss, ref: dict) -> None:
    y_hat = ref["x256"][:1].clone().requires_grad_(True)
    loss = id_loss(y_hat, ref["x256"][1:])
    loss.backward()
    assert y_hat.grad is not None and y_hat.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in id_loss.parameters())


def test_the_network_stays_in_eval_mode(id_loss: IdentityLoss) -> None:
    id_loss.train()
    assert not id_loss.net.training
    assert not any(m.training for m in id_loss.net.modules())


# --- loading ------------------------------------------------------------------------------------


def test_a_file_in_the_public_layout_loads_strictly(public_file: Path, net: IRSE50, ref: dict) -> None:
    loaded = load_arcface(public_file)
    assert not loaded.training
    loaded_state = loaded.state_dict()
    for key, value in net.state_dict().items():
        assert torch.equal(loaded_state[key], value), key
    with torch.no_grad():
        emb = loaded(ref["x112"][:1])
    assert _max_diff(emb, ref["emb112"][:1]) < EMB_ATOL


def test_a_state_dict_loads_too(net: IRSE50) -> None:
    loaded = load_arcface(net.state_dict())
    assert torch.equal(loaded.output_layer[3].weight, net.output_layer[3].weight)


def _one_line_error(source: object) -> str:
    with pytest.raises(CheckpointError) as info:
        load_arcface(source)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_missing_entry_is_refused(net: IRSE50) -> None:
    state = dict(net.state_dict())
    del state["body.5.res_layer.2.weight"]
    message = _one_line_error(state)
    assert "IR-SE50" in message and "body.5.res_layer.2.weight" in message


def test_a_prefixed_layout_is_refused(net: IRSE50) -> None:
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    assert "unexpected" in _one_line_error(state)


def test_a_wrong_shape_is_refused(net: IRSE50) -> None:
    state = dict(net.state_dict())
    state["body.0.res_layer.2.weight"] = torch.zeros(32)
    message = _one_line_error(state)
    assert "body.0.res_layer.2.weight" in message and "(64,)" in message


def test_another_models_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(4, 2).state_dict(), path)
    assert str(path) in _one_line_error(path)


def test_a_truncated_file_is_refused(public_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "model_ir_se50.pth"
    with public_file.open("rb") as src:
        cut.write_bytes(src.read(1 << 20))
    assert "truncated" in _one_line_error(cut)
