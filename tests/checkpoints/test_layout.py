"""Layout checks: each role's key names, found without building a model; web pages are never checkpoints."""

from __future__ import annotations

import io

import pytest
import torch

from sgim_desktop.checkpoints.layout import check_layout, generator_resolution, sniff_format
from sgim_desktop.checkpoints.safe_load import load_checkpoint
from sgim_desktop.errors import CheckpointError
from tests.checkpoints.helpers import (
    HTML_PAGE,
    audio_encoder_bytes,
    clip_safetensors_bytes,
    generator_bytes,
    identity_bytes,
    reference_keys,
)


def _load(tmp_path, data: bytes, name: str = "x.pt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path, load_checkpoint(path)


def test_each_role_accepts_its_real_key_layout(tmp_path):
    cases = [
        ("generator", generator_bytes(), "g.pt"),
        ("audio_encoder", audio_encoder_bytes(module_prefix=True), "a.pth"),
        ("audio_encoder", audio_encoder_bytes(module_prefix=False), "a2.pth"),
        ("identity", identity_bytes(), "i.pth"),
        ("clip", clip_safetensors_bytes(), "c.safetensors"),
    ]
    for role, data, name in cases:
        _, obj = _load(tmp_path, data, name)
        check_layout(obj, role)


def test_generator_resolution_is_read_from_its_layers(tmp_path):
    assert generator_resolution(list(reference_keys("stylegan2_64.pt"))) == 64
    assert generator_resolution(list(reference_keys("stylegan2_256.pt"))) == 256
    _, obj = _load(tmp_path, generator_bytes())
    check_layout(obj, "generator", resolution=64)
    with pytest.raises(CheckpointError, match="makes 64x64 images, expected 1024x1024"):
        check_layout(obj, "generator", resolution=1024)


@pytest.mark.parametrize(
    "role, data, message",
    [
        ("generator", audio_encoder_bytes, "no 'g_ema'"),
        ("audio_encoder", identity_bytes, "not a audio encoder checkpoint: missing conv.weight"),
        ("identity", audio_encoder_bytes, "missing input_layer.0.weight"),
        ("clip", identity_bytes, "missing visual.proj"),
    ],
)
def test_the_wrong_checkpoint_for_a_role_is_named_as_such(tmp_path, role, data, message):
    _, obj = _load(tmp_path, data())
    with pytest.raises(CheckpointError, match=message):
        check_layout(obj, role)


def test_a_shallow_identity_network_is_refused(tmp_path):
    sd = {k: torch.zeros(1) for k in reference_keys("arcface_irse50.pt") if not k.startswith("body.23.")}
    buf = io.BytesIO()
    torch.save(sd, buf)
    _, obj = _load(tmp_path, buf.getvalue())
    with pytest.raises(CheckpointError, match=r"body\.23\.\*"):
        check_layout(obj, "identity")


def test_format_sniffing(tmp_path):
    zip_file = tmp_path / "z.pt"
    zip_file.write_bytes(generator_bytes())
    assert sniff_format(zip_file) == "zip"
    legacy = tmp_path / "legacy.pt"
    torch.save({"a": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    assert sniff_format(legacy) == "pickle"
    st = tmp_path / "c.bin"
    st.write_bytes(clip_safetensors_bytes())
    assert sniff_format(st) == "safetensors"
    page = tmp_path / "landscape.pt"
    page.write_bytes(b"\n  " + HTML_PAGE)
    with pytest.raises(CheckpointError, match="web page"):
        sniff_format(page)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello world, not a model")
    with pytest.raises(CheckpointError, match="neither a PyTorch nor a safetensors"):
        sniff_format(junk)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        sniff_format(empty)
