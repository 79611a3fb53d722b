"""The speed-ups compute the same thing (exact mode) or a close, faster thing (fast mode)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sgim_desktop.engine import speed
from sgim_desktop.engine.clip_space import ClipSpace, normalize
from sgim_desktop.engine.edit import EditModels, EditRequest, TargetSpec, get_lr, render, start_edit
from sgim_desktop.engine.stylegan2 import conv2d, rule_weighted_generator


def test_clip_view_matrices_equal_nearest_x7_then_average_pooling():
    for size in (64, 256, 512):
        img = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        pooled = F.avg_pool2d(F.interpolate(img, scale_factor=7, mode="nearest"), kernel_size=size // 32)
        view = speed.original_clip_view(img)
        assert view.shape == (2, 3, 224, 224)
        torch.testing.assert_close(view, pooled, atol=1e-5, rtol=0)
        a = speed.clip_view_matrix(size, torch.device("cpu"))
        assert torch.allclose(a.sum(dim=1), torch.ones(224))


def test_keeping_freed_memory_is_safe_to_ask_for_twice():
    first = speed.keep_freed_memory()
    assert speed.keep_freed_memory() == first


def test_the_smaller_footprint_can_be_chosen_in_the_environment(monkeypatch):
    monkeypatch.setattr(speed, "_kept", False)
    monkeypatch.setenv(speed.KEEP_FREED_ENV, "0")
    assert speed.keep_freed_memory() is False


def test_fast_mode_optimises_the_full_image_in_fewer_steps():
    assert speed.optimisation_resolution(1024, "fast") == 1024
    assert speed.optimisation_resolution(1024, "exact") == 1024
    assert speed.fast_steps(300) < 300 and speed.fast_steps(1) == 1
    assert speed.fast_steps(300, torch.bfloat16) == 300


def test_fast_mode_uses_bfloat16_convolutions_only_where_they_are_native(monkeypatch):
    monkeypatch.setattr(speed, "native_bfloat16", lambda device: True)
    assert speed.fast_convolution_dtype("cpu", 256) == torch.bfloat16
    assert speed.fast_convolution_dtype("cpu", 1024) is None  # measured slower to a worse objective there
    monkeypatch.setattr(speed, "FAST_BFLOAT16", False)
    assert speed.fast_convolution_dtype("cpu", 256) is None
    monkeypatch.setattr(speed, "FAST_BFLOAT16", True)
    monkeypatch.setattr(speed, "native_bfloat16", lambda device: False)
    assert speed.fast_convolution_dtype("cpu", 256) is None


def test_bfloat16_convolutions_run_in_bfloat16_and_keep_the_image_and_gradient_close():
    from sgim_desktop.engine import lean_autograd as lean

    g = rule_weighted_generator(64)
    w = torch.randn(1, 10, 512, generator=torch.Generator().manual_seed(4))
    r = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    results = []
    for dtype in (None, torch.bfloat16):
        dtypes: set[torch.dtype] = set()

        def pack(t: torch.Tensor, seen: set[torch.dtype] = dtypes) -> torch.Tensor:
            seen.add(t.dtype)
            return t

        x = w.clone().requires_grad_(True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), lean.convolutions_in(dtype):
            img = g.synthesis(x)
        assert lean.convolution_dtype() is None
        (img * r).sum().backward()
        results.append((img.detach().float(), x.grad, dtypes))
    (img_e, grad_e, kept_e), (img_b, grad_b, kept_b) = results
    assert torch.bfloat16 in kept_b and torch.bfloat16 not in kept_e
    assert not torch.equal(img_e, img_b)
    assert (img_e - img_b).abs().max() < 0.05 * img_e.abs().max()
    assert (grad_e - grad_b).norm() < 0.1 * grad_e.norm()


def test_the_low_resolution_trade_when_switched_on_stops_at_the_smallest_size_clip_can_use(monkeypatch):
    monkeypatch.setattr(speed, "FAST_LOW_RESOLUTION", True)
    assert speed.optimisation_resolution(1024, "fast") == 256
    assert speed.optimisation_resolution(256, "fast") == 256
    assert speed.optimisation_resolution(64, "fast") == 64
    assert speed.optimisation_resolution(1024, "exact") == 1024


def test_fast_schedule_is_the_originals_while_the_loss_keeps_falling():
    schedule = speed.FastSchedule(100, 0.1)
    for i in range(100):
        assert schedule.lr(i) == get_lr(i / 100, 0.1)
        schedule.observe(i, 1.0 - 0.01 * i)
    assert schedule.end == 100 and schedule.done(100) and not schedule.done(99)


def test_the_schedule_is_shared_without_an_import_loop():
    """speed, edit and the inversion take the original schedule from engine.schedule, which imports
    nothing of the engine: speed no longer reaches it through edit, which imports speed."""
    code = (
        "import sys\n"
        "from sgim_desktop.engine import schedule, speed\n"
        "speed.FastSchedule(10, 0.1).lr(3)\n"
        "print(sorted(m for m in sys.modules if m.startswith('sgim_desktop.engine.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['sgim_desktop.engine.schedule', 'sgim_desktop.engine.speed']"
    from sgim_desktop.engine import edit, invert, schedule

    assert edit.get_lr is invert.get_lr is speed.get_lr is schedule.get_lr


def test_fast_schedule_starts_its_ramp_down_where_the_loss_stalls():
    schedule = speed.FastSchedule(100, 0.1)
    i = 0
    while schedule.end == 100:
        schedule.observe(i, 0.9 + 0.01 * (-1) ** i)  # jitter around a level
        i += 1
    assert i < 50 and schedule.end == i + schedule.landing
    lrs = [schedule.lr(k) for k in range(i, schedule.end)]
    assert lrs[0] == pytest.approx(0.1) and all(a >= b for a, b in zip(lrs, lrs[1:])) and 0 < lrs[-1] < 0.01
    assert schedule.done(schedule.end)


def test_synthesis_stopped_early_is_the_smaller_generators_image():
    w = torch.randn(1, 10, 512, generator=torch.Generator().manual_seed(3))
    big, small = rule_weighted_generator(64), rule_weighted_generator(32)
    torch.testing.assert_close(big.synthesis(w, resolution=32), small.synthesis(w[:, :8]), atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        big.synthesis(w, resolution=48)


@pytest.mark.skipif(not speed.winograd_available(), reason="this torch has no NNPACK")
def test_winograd_convolution_and_its_gradient_are_close_to_the_accurate_ones():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 128, 32, 32, generator=gen, requires_grad=True)
    w = torch.randn(128, 128, 3, 3, generator=gen) / 34
    assert speed.use_winograd(x, w)
    fast = conv2d(x, w, fast=True)
    accurate = F.conv2d(x.detach().double(), w.double(), padding=1)
    assert (fast.double() - accurate).abs().max() < 1e-4 * accurate.abs().max()
    gy = torch.randn(fast.shape, generator=gen)
    (grad,) = torch.autograd.grad(fast, x, gy)
    xd = x.detach().double().requires_grad_(True)
    (want,) = torch.autograd.grad(F.conv2d(xd, w.double(), padding=1), xd, gy.double())
    assert (grad.double() - want).abs().max() < 1e-4 * want.abs().max()


def test_fast_synthesis_and_gradient_stay_close_to_the_exact_ones():
    g = rule_weighted_generator(64)
    w = torch.randn(1, 10, 512, generator=torch.Generator().manual_seed(4))
    r = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    grads = []
    for precise in (True, False):
        x = w.clone().requires_grad_(True)
        img = g.synthesis(x, precise=precise)
        (img * r).sum().backward()
        grads.append((img.detach(), x.grad))
    (img_e, grad_e), (img_f, grad_f) = grads
    assert (img_e - img_f).abs().max() < 1e-4
    assert (grad_e - grad_f).norm() < 1e-2 * grad_e.norm()


@pytest.fixture(scope="module")
def space(rule_clip, rule_audio_encoder):
    return ClipSpace(rule_clip, rule_audio_encoder)


def test_a_low_resolution_fast_edit_optimises_small_and_shows_full_size_previews_and_result(space, monkeypatch):
    monkeypatch.setattr(speed, "FAST_LOW_RESOLUTION", True)
    monkeypatch.setattr(speed, "FAST_MIN_RESOLUTION", 32)
    g = rule_weighted_generator(64)
    target = TargetSpec(kind="sound", weight=1.0, label="sound", embedding=normalize(torch.randn(512)))
    req = EditRequest(targets=[target], seed=1, steps=10, preview_every=2, speed="fast")
    edit = start_edit(EditModels(generator=g, space=space), req)
    steps = list(edit)
    assert len(steps) <= speed.fast_steps(10, speed.fast_convolution_dtype("cpu", 64)) and steps[-1].total == len(steps)
    assert all(s.preview.shape == (64, 64, 3) for s in steps if s.preview is not None)
    assert steps[0].preview is not None and steps[-1].preview is not None
    result = edit.result
    assert np.array_equal(result.image, render(EditModels(generator=g, space=space), result.latent))
    assert result.latent.shape == (1, 10, 512)
