"""The lean autograd functions compute the plain ops' values exactly and keep less for backward."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sgim_desktop.engine import lean_autograd as lean
from sgim_desktop.engine.stylegan2 import ops as stylegan2_ops
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
    monkeypatch.setattr(stylegan2_ops, "_CPU_GEMM_MAX_PIXELS", direct_above)
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


def grads_in_and_out(fn, *inputs: torch.Tensor, seed: int = 6):
    """fn's output, the input gradients, and whether the output's incoming gradient was reused for inputs[0]."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    seen: dict[str, int] = {}
    out = fn(*leaves)

    def note(name: str):
        def hook(g: torch.Tensor) -> None:
            seen[name] = g.untyped_storage().data_ptr()
        return hook

    out.register_hook(note("out"))
    leaves[0].register_hook(note("in"))
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    out.backward(grad_out.clone())
    return out.detach(), [t.grad for t in leaves], seen["out"] == seen["in"]


@pytest.mark.parametrize("chunk", [lean._PRODUCT_CHUNK, 1000])
def test_a_channel_scaling_matches_the_plain_product_bit_for_bit_and_scales_its_gradient_in_place(monkeypatch, chunk):
    """The style's and the demodulation's scaling, also when the factor's gradient is summed a channel at a time."""
    monkeypatch.setattr(lean, "_PRODUCT_CHUNK", chunk)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 5, 24, 24, generator=gen)
    s = torch.randn(1, 5, 1, 1, generator=gen)
    out_l, (gx_l, gs_l), reused = grads_in_and_out(lambda a, b: lean.channel_scale(a, b), x, s)
    out_p, (gx_p, gs_p), _ = grads_in_and_out(lambda a, b: a * b, x, s)
    assert torch.equal(out_l, out_p) and torch.equal(gx_l, gx_p) and torch.equal(gs_l, gs_p)
    assert reused


def plain_demodulate_activate(out, demod, noise, bias):
    y = out * demod
    return F.leaky_relu(y + noise + bias, 0.2) * 2**0.5


@pytest.mark.parametrize("chunk", [lean._PRODUCT_CHUNK, 1000])
def test_demodulate_noise_bias_and_activation_match_the_plain_ops_bit_for_bit_with_an_in_place_backward(monkeypatch, chunk):
    monkeypatch.setattr(lean, "_PRODUCT_CHUNK", chunk)
    gen = torch.Generator().manual_seed(8)
    out = torch.randn(1, 4, 20, 20, generator=gen)
    out[0, 0, 0, :6] = torch.tensor([-3.0, -1e-39, -0.0, 0.0, 1e-39, 2.5])
    demod = torch.rand(1, 4, 1, 1, generator=gen) + 0.5
    noise = torch.randn(1, 1, 20, 20, generator=gen) * 0.1
    bias = torch.randn(1, 4, 1, 1, generator=gen)
    y_l, (go_l, gd_l), reused = grads_in_and_out(
        lambda o, d: lean.demodulate_activate(o, d, noise, bias, 0.2, 2**0.5), out, demod)
    y_p, (go_p, gd_p), _ = grads_in_and_out(lambda o, d: plain_demodulate_activate(o, d, noise, bias), out, demod)
    assert torch.equal(y_l, y_p) and torch.equal(go_l, go_p) and torch.equal(gd_l, gd_p)
    assert reused
    _, saved = saved_during(lambda: lean.demodulate_activate(out.requires_grad_(), demod, noise, bias, 0.2, 2**0.5))
    assert sum(saved.values()) == 2 * out.untyped_storage().nbytes() + demod.untyped_storage().nbytes()


def resident_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_convolution_backwards_shape_stand_in_costs_no_resident_memory():
    before = resident_mb()
    big = lean.untouched((1, 64, 1024, 1024), torch.float32, torch.device("cpu"))
    again = lean.untouched((1, 32, 1024, 1024), torch.float32, torch.device("cpu"))
    assert big.shape == (1, 64, 1024, 1024) and big.is_contiguous()
    assert again.data_ptr() == big.data_ptr()
    assert resident_mb() - before < 16


def peak_allocated_mb(fn, trace: Path) -> float:
    """The most CPU memory torch held at once while fn ran, above what it held before (profiler's count)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    prof.export_chrome_trace(str(trace))
    events = [e for e in json.loads(trace.read_text())["traceEvents"] if e.get("name") == "[memory]"]
    events.sort(key=lambda e: e["ts"])
    start = events[0]["args"]["Total Allocated"] - events[0]["args"]["Bytes"]
    return (max(e["args"]["Total Allocated"] for e in events) - start) / 2**20


def test_a_generator_step_holds_far_less_memory_at_once_than_with_the_plain_ops(monkeypatch, tmp_path):
    """Measured at 256 px: 300 MB at most at once, against 622 MB with the plain ops and 348 MB
    with only the lean convolutions and activation (before the in-place channel scalings)."""
    g = rule_weighted_generator(256)
    w = g.z_to_w_plus(torch.randn(1, 512, generator=torch.Generator().manual_seed(5)))

    def step():
        latent = w.clone().requires_grad_(True)
        torch.autograd.grad(g.synthesis(latent).square().mean(), latent)

    step()
    lean_mb = peak_allocated_mb(step, tmp_path / "lean.json")
    monkeypatch.setattr(lean, "_wants_lean", lambda *a: False)
    monkeypatch.setattr(lean, "_wants_fused", lambda *a: False)
    plain_mb = peak_allocated_mb(step, tmp_path / "plain.json")
    assert lean_mb < 0.52 * plain_mb, (lean_mb, plain_mb)
