"""The LPIPS-VGG distance: zero for equal pictures, loaded from the two public files through the model manager."""

from __future__ import annotations

import pytest
import torch

from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.engine.perceptual import (
    LPIPS_ID,
    VGG_ID,
    load_perceptual,
    perceptual_from_manager,
    seeded_perceptual,
)
from sgim_desktop.errors import CheckpointError
from tests.checkpoints.helpers import entry, write_catalog


@pytest.fixture(scope="module")
def net():
    return seeded_perceptual(0)


@pytest.fixture(scope="module")
def pictures():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    return a, (a + 0.3 * torch.randn(a.shape, generator=gen)).clamp(-1, 1)


def test_equal_pictures_are_at_distance_zero_and_different_ones_are_not(net, pictures):
    a, b = pictures
    assert torch.allclose(net(a, a), torch.zeros(2), atol=1e-6)
    d = net(a, b)
    assert d.shape == (2,) and (d > 1e-3).all()
    assert torch.allclose(net(b, a), d)
    assert torch.allclose(seeded_perceptual(0)(a, b), d)
    assert not torch.allclose(seeded_perceptual(1)(a, b), d)


def test_a_cached_target_gives_the_same_distance(net, pictures):
    a, b = pictures
    assert torch.allclose(net.features_of(b).distance(a), net(a, b), rtol=1e-5, atol=1e-7)
    big = torch.nn.functional.interpolate(a[:1], size=(288, 288), mode="nearest")
    assert net.features_of(big).distance(big).item() == pytest.approx(0.0, abs=1e-6)


def _write_public_files(folder, net):
    """torchvision's VGG16 layout (features.* plus a classifier) and LPIPS' lin layer file."""
    vgg = {f"features.{k}": v.clone() for k, v in net.features.state_dict().items()}
    vgg["classifier.6.bias"] = torch.zeros(1000)
    lin = {f"lin{i}.model.1.weight": torch.rand(p.shape) for i, p in enumerate(net.lins)}
    torch.save(vgg, folder / "vgg16-397923af.pth")
    torch.save(lin, folder / "vgg.pth")
    return folder / "vgg16-397923af.pth", folder / "vgg.pth", lin


def test_the_public_files_load_weights_only(tmp_path, net, pictures):
    vgg_path, lin_path, lin = _write_public_files(tmp_path, net)
    loaded = load_perceptual(vgg_path, lin_path)
    for i, p in enumerate(loaded.lins):
        assert torch.equal(p, lin[f"lin{i}.model.1.weight"])
    assert torch.equal(loaded.features[0].weight, net.features[0].weight)
    assert not any(p.requires_grad for p in loaded.parameters())
    with pytest.raises(CheckpointError, match="LPIPS"):
        load_perceptual(vgg_path, vgg_path)
    with pytest.raises(CheckpointError, match="VGG16"):
        load_perceptual(lin_path, lin_path)


def test_the_model_manager_provides_them_once_present(tmp_path, net):
    """Under the catalog ids, here without the published hashes (these are test-made files, not the real ones)."""
    catalog = write_catalog(tmp_path / "catalog.json", [entry(VGG_ID, "inversion", "vgg16-397923af.pth", []),
                                                        entry(LPIPS_ID, "inversion", "lpips-vgg-v0.1.pth", [])])
    manager = ModelManager(models_dir=tmp_path / "models", catalog=catalog)
    assert perceptual_from_manager(manager) is None  # not downloaded: the inversion uses pixels only
    vgg_path, lin_path, _ = _write_public_files(tmp_path, net)
    manager.import_file(VGG_ID, vgg_path)
    manager.import_file(LPIPS_ID, lin_path)
    loaded = perceptual_from_manager(manager)
    assert loaded is not None
    assert torch.equal(loaded.features[28].weight, net.features[28].weight)
