"""The benchmark's baseline computes what the original computes, so comparing against it is fair:
the same image, the same latent gradient and the same edit as the engine's exact mode, by the
original's (costlier) route."""

from __future__ import annotations

import torch

from sgim_desktop.bench.original_step import (
    OriginalRun,
    clip_view_reference,
    synthesis_reference,
    upfirdn2d_reference_layout,
)
from sgim_desktop.engine.clip_space import ClipSpace
from sgim_desktop.engine.edit import EditModels, EditRequest, TargetSpec, clip_view, start_edit
from sgim_desktop.engine.stylegan2 import rule_weighted_generator, upfirdn2d
from tests.conftest import load_reference

REF64 = load_reference("stylegan2_64.pt")


def test_reference_layout_upfirdn2d_equals_the_engines_filter():
    x = torch.randn(2, 5, 9, 9, generator=torch.Generator().manual_seed(0))
    kernel = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = kernel[:, None] * kernel[None] / 16
    for up, pad in [(1, (1, 1)), (2, (2, 1)), (1, (2, 2))]:
        torch.testing.assert_close(upfirdn2d_reference_layout(x, kernel * up * up, up=up, pad=pad),
                                   upfirdn2d(x, kernel * up * up, up=up, pad=pad), atol=1e-6, rtol=0)


def test_the_original_route_renders_the_fixture_image_and_its_gradient():
    g = rule_weighted_generator(64)
    w = REF64["w_plus"].clone().requires_grad_(True)
    img = synthesis_reference(g, w)
    torch.testing.assert_close(img, REF64["img_wplus"], atol=2e-5, rtol=0)
    torch.testing.assert_close(img, g.synthesis(REF64["w_plus"]), atol=2e-5, rtol=0)
    (img * REF64["R"]).sum().backward()
    # float32 weight-gradient convolutions sum less accurately (the README's f32 tolerance is 1e-3)
    torch.testing.assert_close(w.grad, REF64["grad_wplus_f64ref"], atol=5e-3, rtol=0)

    g64 = rule_weighted_generator(64).double()
    w64 = REF64["w_plus"].double().requires_grad_(True)
    (synthesis_reference(g64, w64) * REF64["R"].double()).sum().backward()
    exact = REF64["w_plus"].double().requires_grad_(True)
    (g64.synthesis(exact) * REF64["R"].double()).sum().backward()
    torch.testing.assert_close(w64.grad, exact.grad, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(w64.grad.float(), REF64["grad_wplus_f64ref"], atol=1e-5, rtol=0)


def test_the_7x_upsampled_clip_input_equals_the_engines():
    for size in (64, 256):
        img = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size)) * 2 - 1
        torch.testing.assert_close(clip_view_reference(img), clip_view(img), atol=1e-6, rtol=0)


def test_an_original_run_makes_the_same_edit_as_the_exact_mode_and_leaves_the_models_frozen(rule_clip, rule_audio_encoder):
    space = ClipSpace(rule_clip, rule_audio_encoder)
    g = rule_weighted_generator(64)
    audio = torch.rand(1, 1, 128, 512, generator=torch.Generator().manual_seed(0))
    target = TargetSpec(kind="sound", weight=1.0, label="sound", embedding=space.encode_sound(audio)[0])
    w0 = REF64["w_plus"]
    run = OriginalRun(g, space, audio, w0, steps=3, record=True)
    original = list(run.steps())
    exact = list(start_edit(EditModels(generator=g, space=space),
                            EditRequest(targets=[target], latent=w0, steps=3, record=True, preview_every=20)))
    assert [s.step for s in original] == [0, 1, 2]
    assert original[0].preview is not None and original[1].preview is None
    for o, e in zip(original, exact):
        assert abs(o.cos_loss - e.cos_loss) < 1e-5
        assert abs(o.loss - e.loss) < 1e-4
    assert (original[0].grad - exact[0].grad).abs().max() < 5e-3
    assert (run.latent.detach() - exact[-1].latent).abs().mean() < 1e-3
    for module in (g, rule_clip, rule_audio_encoder):
        assert all(not p.requires_grad and p.grad is None for p in module.parameters())
