"""The StyleGAN2 generator computes what the original rosinality code computes, and loads only its checkpoints.

The reference numbers come from the original code run on rule weights (shared/fixtures/reference);
tolerances are the ones its README suggests for a float32 re-implementation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sgim_desktop.engine.stylegan2 import (
    StyleGAN2Config,
    StyleGAN2Generator,
    conv2d,
    conv_transpose2d,
    load_generator,
    rule_weighted_generator,
)
from sgim_desktop.errors import BadInputError, CheckpointError
from tests.conftest import load_reference

NOT_A_GENERATOR = "is not a rosinality StyleGAN2 generator"


@pytest.fixture(scope="module", params=[64, 256], ids=lambda s: f"{s}px")
def case(request: pytest.FixtureRequest) -> tuple[dict, StyleGAN2Generator]:
    """The original's outputs for one size, and our generator with the same rule weights."""
    ref = load_reference(f"stylegan2_{request.param}.pt")
    return ref, rule_weighted_generator(request.param)


@pytest.fixture(scope="module")
def ref64() -> dict:
    return load_reference("stylegan2_64.pt")


@pytest.fixture(scope="module")
def g64() -> StyleGAN2Generator:
    return rule_weighted_generator(64)


def save_checkpoint(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


def assert_one_line_error(exc: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert part in message


# --- layout -------------------------------------------------------------------------------------


def test_state_dict_has_the_original_keys_shapes_and_kernels(case):
    ref, g = case
    sd = g.state_dict()
    assert list(sd) == ref["state_dict_keys"]
    assert [list(t.shape) for t in sd.values()] == ref["state_dict_shapes"]
    for name, kernel in ref["kernels"].items():
        assert torch.equal(sd[name], kernel), name
    assert (g.n_latent, g.num_layers) == (ref["n_latent"], ref["num_layers"])


@pytest.mark.parametrize(("size", "n_latent", "num_layers"), [(64, 10, 9), (256, 14, 13), (512, 16, 15), (1024, 18, 17)])
def test_config_counts_latents_and_layers_like_the_original(size, n_latent, num_layers):
    config = StyleGAN2Config(size)
    assert (config.n_latent, config.num_layers) == (n_latent, num_layers)


@pytest.mark.parametrize("size", [3, 100, 2048])
def test_config_rejects_sizes_the_architecture_does_not_have(size):
    with pytest.raises(ValueError):
        StyleGAN2Config(size)


# --- parity with the original ---------------------------------------------------------------------


def test_mapping_reproduces_style_z(case):
    ref, g = case
    with torch.no_grad():
        torch.testing.assert_close(g.mapping(ref["z"]), ref["style_z"], atol=2e-5, rtol=1e-5)


def test_mean_latent_reproduces_the_seeded_mean(case):
    ref, g = case
    mean = g.mean_latent(4096, generator=torch.Generator().manual_seed(3))
    assert mean.shape == (1, 512)
    torch.testing.assert_close(mean, ref["mean_latent"], atol=2e-5, rtol=1e-5)


def test_mapping_reproduces_w_plus(case):
    ref, g = case
    z = torch.randn(g.n_latent, 512, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(g.mapping(z).unsqueeze(0), ref["w_plus"], atol=2e-5, rtol=1e-5)


def test_synthesis_reproduces_the_image_of_a_w_plus(case):
    ref, g = case
    with torch.no_grad():
        img = g.synthesis(ref["w_plus"])
    assert img.shape == ref["img_wplus"].shape
    torch.testing.assert_close(img, ref["img_wplus"], atol=2e-5, rtol=0)
    torch.testing.assert_close(g(ref["w_plus"]), img, atol=0, rtol=0)


def test_truncation_reproduces_latents_and_image(case):
    ref, g = case
    with torch.no_grad():
        w_plus = g.z_to_w_plus(ref["z"][:1], truncation=0.7, mean_latent=ref["mean_latent"])
        torch.testing.assert_close(w_plus, ref["latents_trunc"], atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(g.synthesis(w_plus), ref["img_trunc"], atol=2e-5, rtol=0)


def test_a_batch_of_z_reproduces_each_image(case):
    ref, g = case
    batch = ref["img_zbatch"].shape[0]
    with torch.no_grad():
        img = g.synthesis(g.z_to_w_plus(ref["z"][:batch]))
    torch.testing.assert_close(img, ref["img_zbatch"], atol=2e-5, rtol=0)


def test_z_to_w_plus_without_truncation_repeats_w():
    g = StyleGAN2Generator(StyleGAN2Config(64))
    z = torch.randn(2, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w_plus = g.z_to_w_plus(z)
        assert torch.equal(w_plus, g.mapping(z).unsqueeze(1).expand(2, 10, 512))
        assert torch.equal(g.z_to_w_plus(z, truncation=1.0, mean_latent=torch.zeros(1, 512)), w_plus)
    with pytest.raises(ValueError):
        g.z_to_w_plus(z, truncation=0.5)


def test_gradient_reaches_w_plus_and_matches_the_original(case):
    ref, g = case
    w = ref["w_plus"].clone().requires_grad_(True)
    (g.synthesis(w) * ref["R"]).sum().backward()
    assert all(p.grad is None and not p.requires_grad for p in g.parameters())
    if g.config.size == 64:
        torch.testing.assert_close(w.grad, ref["grad_wplus"], atol=1e-3, rtol=0)
        torch.testing.assert_close(w.grad, ref["grad_wplus_f64ref"], atol=1e-4, rtol=0)
    else:
        # float32 backward through the 128/256 layers is noisy for any implementation (README section 4).
        torch.testing.assert_close(w.grad, ref["grad_wplus_f64ref"], atol=3e-2, rtol=1e-3)


def test_float64_gradient_matches_the_float64_original(ref64):
    g = rule_weighted_generator(64).double()
    w = ref64["w_plus"].double().requires_grad_(True)
    (g.synthesis(w) * ref64["R"].double()).sum().backward()
    torch.testing.assert_close(w.grad.float(), ref64["grad_wplus_f64ref"], atol=1e-5, rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_reproduces_the_cpu_fixtures(ref64):
    g = rule_weighted_generator(64).to("cuda")
    w = ref64["w_plus"].cuda().requires_grad_(True)
    img = g.synthesis(w)
    (img * ref64["R"].cuda()).sum().backward()
    torch.testing.assert_close(img.detach().cpu(), ref64["img_wplus"], atol=2e-5, rtol=0)
    torch.testing.assert_close(w.grad.cpu(), ref64["grad_wplus"], atol=1e-3, rtol=0)
    mean = g.mean_latent(4096, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(mean.cpu(), ref64["mean_latent"], atol=2e-5, rtol=1e-5)


def test_synthesis_rejects_a_latent_for_another_size(g64):
    with pytest.raises(BadInputError) as exc:
        g64.synthesis(torch.zeros(1, 14, 512))
    assert_one_line_error(exc, "(1, 14, 512)", "(batch, 10, 512)")


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_matrix_product_convolutions_equal_the_stock_ones(kernel_size):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 9, 7, generator=gen, dtype=torch.float64)
    weight = torch.randn(5, 6, kernel_size, kernel_size, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(conv2d(x, weight, gemm=True), F.conv2d(x, weight, padding=kernel_size // 2))
    torch.testing.assert_close(conv2d(x, weight, gemm=False), F.conv2d(x, weight, padding=kernel_size // 2))
    weight_t = weight.transpose(0, 1).contiguous()
    torch.testing.assert_close(conv_transpose2d(x, weight_t, gemm=True), F.conv_transpose2d(x, weight_t, stride=2))


# --- checkpoints ----------------------------------------------------------------------------------


def test_a_rosinality_checkpoint_loads_strictly_and_reproduces_the_image(tmp_path, ref64, g64):
    path = save_checkpoint(tmp_path / "g.pt", {"g_ema": g64.state_dict(), "args": argparse.Namespace(size=64)})
    g = load_generator(path, device="cpu")
    assert g.config == StyleGAN2Config(64, 512, 8, 2)
    assert not any(p.requires_grad for p in g.parameters()) and not g.training
    with torch.no_grad():
        img = g.synthesis(ref64["w_plus"])
        torch.testing.assert_close(img, g64.synthesis(ref64["w_plus"]), atol=0, rtol=0)
    torch.testing.assert_close(img, ref64["img_wplus"], atol=2e-5, rtol=0)


def test_a_bare_state_dict_loads_from_a_file_or_memory(tmp_path, g64):
    path = save_checkpoint(tmp_path / "bare.pt", g64.state_dict())
    assert load_generator(path).config.size == 64
    assert load_generator(g64.state_dict()).config.size == 64
    assert load_generator({"g_ema": g64.state_dict()}).config.size == 64


def test_size_and_channel_multiplier_are_inferred_from_the_file(tmp_path):
    original = rule_weighted_generator(256, channel_multiplier=1)
    path = save_checkpoint(tmp_path / "cm1.pt", {"g_ema": original.state_dict(), "args": argparse.Namespace(size=256)})
    g = load_generator(path)
    assert g.config == StyleGAN2Config(256, channel_multiplier=1)
    assert g.n_latent == 14
    w_plus = original.z_to_w_plus(torch.randn(1, 512, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        assert torch.equal(g.synthesis(w_plus), original.synthesis(w_plus))


@pytest.mark.parametrize(("size", "multiplier"), [(32, 2), (128, 1), (512, 2), (1024, 1), (1024, 2)])
def test_every_architecture_is_inferred_from_its_shapes(size, multiplier):
    state = StyleGAN2Generator(StyleGAN2Config(size, channel_multiplier=multiplier)).state_dict()
    config = load_generator(state).config
    assert config.size == size
    if size >= 64:
        assert config.channel_multiplier == multiplier


def test_a_missing_entry_is_refused(tmp_path, g64):
    state = g64.state_dict()
    del state["convs.3.noise.weight"]
    path = save_checkpoint(tmp_path / "missing.pt", {"g_ema": state})
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert_one_line_error(exc, str(path), NOT_A_GENERATOR, "'convs.3.noise.weight'")


def test_a_refusal_reads_like_every_other_loaders(g64):
    """The layout is checked by checkpoints.safe_load.layout_problem, as for the other models."""
    state = g64.state_dict()
    state["stray.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as exc:
        load_generator({"g_ema": state})
    assert_one_line_error(exc, NOT_A_GENERATOR, "of size 64, channel multiplier 2: 1 unexpected entries (first: 'stray.weight')")


def test_a_wrong_shape_is_refused(g64):
    state = g64.state_dict()
    state["to_rgbs.1.bias"] = torch.zeros(3)
    with pytest.raises(CheckpointError) as exc:
        load_generator({"g_ema": state})
    assert_one_line_error(exc, NOT_A_GENERATOR, "'to_rgbs.1.bias'", "(3,)", "(1, 3, 1, 1)")


def _audio_encoder_layout() -> dict[str, torch.Tensor]:
    """The real key layout of another checkpoint (the audio encoder), with weightless zero tensors."""
    ref = load_reference("audio_encoder.pt")
    return {k: torch.zeros(()).expand(tuple(shape)) for k, shape in zip(ref["state_dict_keys"], ref["state_dict_shapes"])}


@pytest.mark.parametrize("wrapped", [True, False], ids=["under-state_dict", "bare"])
def test_another_models_checkpoint_is_refused(tmp_path, wrapped):
    layout = _audio_encoder_layout()
    path = save_checkpoint(tmp_path / "encoder.pt", {"state_dict": layout, "epoch": 57} if wrapped else layout)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    found = "found a dict with keys 'state_dict', 'epoch'" if wrapped else "found a state dict of 124 tensors"
    assert_one_line_error(exc, str(path), NOT_A_GENERATOR, "no 'g_ema' entry", found)


def test_a_g_ema_with_another_layout_is_refused():
    with pytest.raises(CheckpointError) as exc:
        load_generator({"g_ema": _audio_encoder_layout()})
    assert_one_line_error(exc, NOT_A_GENERATOR, "124 tensors", "'conv.weight'")


def test_a_truncated_file_is_refused(tmp_path, g64):
    path = save_checkpoint(tmp_path / "cut.pt", {"g_ema": g64.state_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert_one_line_error(exc, str(path))
