"""The lean autograd functions compute the plain ops' values exactly and keep less for backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.engine import stylegan2
from sgim_desktop.engine.stylegan2 import rule_weighted_generator


def saved_during(fn, images_only: bool = False):
    """Runs fn with grad on; returns its result and the storages autograd kept for backward
    (``images_only``: only activations, (batch, channels, H, W) with H of 8 or more, not weights)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not images_only or (t.ndim == 4 and t.shape[0] == 1 and t.shape[-2] >= 8):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, storages


def input_and_grad(fn, x: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    out, saved = saved_during(lambda: fn(x))
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    (grad,) = torch.autograd.grad(out, x, grad_out)
    return out.detach(), grad, saved, x


CONVS = {
    "3x3 same": (lambda x, w: lean.conv2d(x, w, padding=1), lambda x, w: F.conv2d(x, w, padding=1), (6, 4, 3, 3), 40),
    "depthwise FIR": (lambda x, w: lean.conv2d(x, w, groups=4), lambda x, w: F.conv2d(x, w, groups=4), (4, 1, 4, 4), 41),
    "transposed x2": (lambda x, w: lean.conv_transpose2d(x, w, stride=2), lambda x, w: F.conv_transpose2d(x, w, stride=2),
                      (4, 6, 3, 3), 20),
}


@pytest.mark.parametrize("name", list(CONVS))
def test_a_frozen_weight_convolution_matches_autograd_bit_for_bit_without_keeping_its_input(name):
    lean_fn, plain_fn, wshape, size = CONVS[name]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, size, size, generator=gen)
    w = torch.randn(wshape, generator=gen)
    out_l, grad_l, saved_l, x_l = input_and_grad(lambda t: lean_fn(t, w), x)
    out_p, grad_p, saved_p, x_p = input_and_grad(lambda t: plain_fn(t, w), x)
    assert torch.equal(out_l, out_p) and torch.equal(grad_l, grad_p)
    assert x_p.untyped_storage().data_ptr() in saved_p
    assert x_l.untyped_storage().data_ptr() not in saved_l
    assert sum(saved_l.values()) == w.untyped_storage().nbytes()


def test_a_trainable_weight_gets_its_gradient_through_the_plain_op():
    w = torch.randn(6, 4, 3, 3, requires_grad=True)
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    lean.conv2d(x, w, padding=1).sum().backward()
    assert w.grad is not None and x.grad is not None


def test_the_scaled_leaky_relu_keeps_only_its_output_and_gives_the_same_gradient():
    x = torch.tensor([-3.0, -1e-39, -0.0, 0.0, 1e-39, 2.5]).repeat(50)
    x = torch.cat([x, torch.randn(700, generator=torch.Generator().manual_seed(2))])
    out_l, grad_l, saved_l, _ = input_and_grad(lambda t: lean.scaled_leaky_relu(t, 0.2, 2**0.5), x)
    out_p, grad_p, _, _ = input_and_grad(lambda t: F.leaky_relu(t, 0.2) * 2**0.5, x)
    assert torch.equal(out_l, out_p) and torch.equal(grad_l, grad_p)
    assert list(saved_l.values()) == [out_l.untyped_storage().nbytes()]


@pytest.mark.parametrize("direct_above", [16 * 16, 64 * 64])
def test_the_generator_renders_and_back_propagates_exactly_as_before_while_keeping_far_less(monkeypatch, direct_above):
    """Both convolution paths: the backend's direct kernels (above ``direct_above`` pixels) and GEMMs."""
    monkeypatch.setattr(stylegan2, "_CPU_GEMM_MAX_PIXELS", direct_above)
    g = rule_weighted_generator(64)
    w = g.z_to_w_plus(torch.randn(1, 512, generator=torch.Generator().manual_seed(5)))

    def run():
        latent = w.clone().requires_grad_(True)
        image, saved = saved_during(lambda: g.synthesis(latent), images_only=True)
        (grad,) = torch.autograd.grad(image.square().mean(), latent)
        return image.detach(), grad, sum(saved.values())

    image_l, grad_l, bytes_l = run()
    monkeypatch.setattr(lean, "_wants_lean", lambda *a: False)
    monkeypatch.setattr(lean, "_wants_fused", lambda *a: False)
    image_p, grad_p, bytes_p = run()
    assert torch.equal(image_l, image_p) and torch.equal(grad_l, grad_p)
    assert bytes_l < 0.6 * bytes_p, (bytes_l, bytes_p)


def test_the_in_place_scaled_leaky_relu_reuses_its_input_and_gives_the_same_values_and_gradient():
    x = torch.randn(2, 3, 9, 9, generator=torch.Generator().manual_seed(4))
    out_p, grad_p, _, _ = input_and_grad(lambda t: F.leaky_relu(t, 0.2) * 2**0.5, x)

    def in_place(t: torch.Tensor) -> torch.Tensor:
        u = t * 1.0
        y = lean.scaled_leaky_relu_(u, 0.2, 2**0.5)
        assert y.untyped_storage().data_ptr() == u.untyped_storage().data_ptr()
        return y

    out_l, grad_l, _, _ = input_and_grad(in_place, x)
    assert torch.equal(out_l, out_p) and torch.equal(grad_l, grad_p)
    with torch.no_grad():
        u = x.clone()
        assert torch.equal(lean.scaled_leaky_relu_(u, 0.2, 2**0.5), out_p) and torch.equal(u, out_p)
