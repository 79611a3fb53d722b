"""Directions are measured once per generator, stamped with what they were built for, written only whole,
refused for anything else, and a cancelled build resumes to exactly the result of an uninterrupted one."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sgim_desktop.engine.directions import (
    DirectionsSettings,
    _probe_directions,
    build_directions,
    default_path,
    partial_path,
)
from sgim_desktop.engine.directions_file import (
    METHOD,
    VERSION,
    clip_fingerprint,
    file_sha256,
    read_directions,
    read_partial,
    write_directions,
)
from sgim_desktop.engine.edit import EditModels
from sgim_desktop.engine.stylegan2 import rule_weighted_generator
from sgim_desktop.errors import Cancelled, CheckpointError

# The smallest build that still measures every stage: 1 probe, 1 response and 3 calibration units.
TINY = DirectionsSettings(basis=4, chunk=4, probe_latents=1, response_latents=1, calibrate_latents=1, labels=("esc50",))
_BUILT: dict[str, object] = {}


def tiny_build(folder: Path, rule_clip):
    """Generator file, models and a tiny directions file, built once per test run (shared by the instant tests)."""
    if "directions" not in _BUILT:
        g = rule_weighted_generator(64)
        gen_file = folder / "stylegan2-64.pt"
        torch.save({"g_ema": g.state_dict()}, gen_file)
        models = EditModels(generator=g)
        build = build_directions(models, rule_clip, gen_file, settings=TINY)
        with single_thread():
            build.run_to_end()
        _BUILT.update(generator=g, generator_file=gen_file, directions=build.result, path=build.out)
    return _BUILT


@contextmanager
def single_thread():
    """One thread: quicker on the busy 2-core machine, and the same sums in the same order every time."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def built(tmp_path_factory, rule_clip):
    return tiny_build(tmp_path_factory.mktemp("directions"), rule_clip)


def test_a_build_writes_a_file_beside_the_generator_stamped_with_what_it_was_built_for(built, rule_clip):
    path = built["path"]
    assert path == default_path(built["generator_file"]) and path.parent == built["generator_file"].parent
    assert sorted(p.name for p in path.parent.iterdir()) == ["stylegan2-64.directions.safetensors", "stylegan2-64.pt"]
    d = read_directions(path, file_sha256(built["generator_file"]), clip_fingerprint(rule_clip))
    assert d.info["method"] == METHOD and d.info["version"] == VERSION and d.info["n_latent"] == 10
    assert d.info["generator_sha256"] == file_sha256(built["generator_file"])
    k = TINY.basis
    assert d.basis.shape == (k, 10, 512) and d.response.shape == (k, 512) and d.gain > 0
    flat = d.basis.reshape(k, -1).double()
    torch.testing.assert_close(flat @ flat.T, torch.eye(k, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.equal(d.basis, built["directions"].basis) and d.gain == built["directions"].gain


def test_a_cancelled_build_keeps_its_work_and_resumes_to_the_same_result(built, rule_clip, tmp_path):
    out = tmp_path / "resumed.safetensors"
    models = EditModels(generator=built["generator"])
    first = build_directions(models, rule_clip, built["generator_file"], out, TINY)
    with single_thread():
        step = next(first)
    assert (step.done, step.total) == (1, 5) and step.eta_s is not None and 0 < step.fraction < 1
    first.cancel()
    with pytest.raises(Cancelled, match="1 of 5"):
        next(first)
    assert not out.exists() and partial_path(out).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [partial_path(out).name]  # nothing half-written
    second = build_directions(models, rule_clip, built["generator_file"], out, TINY)
    with single_thread():
        steps = list(second)
    assert second.resumed_units == 1 and [s.done for s in steps] == [2, 3, 4, 5]
    assert not partial_path(out).exists()
    again = read_directions(out)
    assert torch.equal(again.basis, built["directions"].basis)
    assert torch.equal(again.response, built["directions"].response)
    assert again.gain == built["directions"].gain


def test_a_partial_from_other_settings_is_not_resumed(built, rule_clip, tmp_path):
    out = tmp_path / "d.safetensors"
    models = EditModels(generator=built["generator"])
    first = build_directions(models, rule_clip, built["generator_file"], out, TINY)
    other = DirectionsSettings(**{**TINY.__dict__, "probe_step": 0.25})
    second = build_directions(models, rule_clip, built["generator_file"], out, other)
    with single_thread():
        next(first)
        next(second)
    assert second.resumed_units == 0
    assert read_partial(partial_path(out), {"not": "the key"}) is None


def _rewrite(src: Path, dst: Path, **meta_changes) -> Path:
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    info = json.loads(meta["info"])
    info.update(meta_changes)
    meta["info"] = json.dumps(info)
    save_file(tensors, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("case, message", [
    ("another generator", "was built for another generator"),
    ("other clip", "other CLIP weights"),
    ("older method", "method"),
    ("truncated", "damaged (truncated?)"),
    ("not ours", "not an sgim-desktop directions file"),
    ("text file", "not a directions file"),
    ("missing", "no directions file"),
])
def test_a_file_for_something_else_is_refused_with_one_line(built, tmp_path, case, message):
    path, sha = built["path"], file_sha256(built["generator_file"])
    clip = built["directions"].info["clip"]
    target = tmp_path / "d.safetensors"
    if case == "another generator":
        target, sha = path, "0" * 64
    elif case == "other clip":
        target, clip = path, "f" * 64
    elif case == "older method":
        _rewrite(path, target, version=VERSION - 1)
    elif case == "truncated":
        target.write_bytes(path.read_bytes()[: path.stat().st_size - 1000])
    elif case == "not ours":
        save_file({"basis": torch.zeros(2, 10, 512)}, str(target))
    elif case == "text file":
        target.write_text("hello")
    with pytest.raises(CheckpointError) as err:
        read_directions(target, sha, clip)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "sgim-desktop directions build" in str(err.value)


def test_writing_replaces_a_file_only_whole(built, tmp_path):
    target = tmp_path / "d.safetensors"
    target.write_bytes(b"old")
    write_directions(target, built["directions"])
    assert read_directions(target).gain == built["directions"].gain
    assert [p.name for p in tmp_path.iterdir()] == ["d.safetensors"]


def test_probe_directions_are_orthonormal_and_lead_with_the_labels_mean():
    texts = torch.nn.functional.normalize(torch.randn(6, 512, dtype=torch.float64) + 3, dim=1)
    omega = _probe_directions(texts, 10, seed=0)
    assert omega.shape == (10, 512)
    torch.testing.assert_close(omega @ omega.T, torch.eye(10, dtype=torch.float64), atol=1e-10, rtol=0)
    mean = texts.mean(0)
    assert float(omega[0] @ mean / mean.norm()) == pytest.approx(1.0)


@pytest.mark.parametrize("field, value", [("basis", 0), ("basis", 513), ("probe_latents", 0), ("probe_step", 0.0)])
def test_settings_out_of_range_are_refused(field, value):
    from sgim_desktop.errors import BadInputError

    with pytest.raises(BadInputError):
        DirectionsSettings(**{field: value}).check()
