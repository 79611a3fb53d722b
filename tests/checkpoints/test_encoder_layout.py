"""The e4e encoder's catalog entry: its file is recognised by key layout, imported and fetched like the others."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from sgim_desktop.checkpoints.catalog import load_catalog
from sgim_desktop.checkpoints.layout import check_layout, encoder_styles
from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.safe_load import load_checkpoint
from sgim_desktop.errors import CheckpointError
from sgim_desktop.paths import resource
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import entry, identity_bytes, write_catalog
from tests.engine.test_e4e import E4E_OPTS, decoder_placeholders, meta_encoder


def e4e_bytes(n_styles: int = 18, size: int = 1024, latent_avg: bool = True) -> bytes:
    """The public file's layout with one-element tensors: what the layout check sees, without 1 GB."""
    state = {f"encoder.{k}": torch.zeros(1) for k in meta_encoder(n_styles).state_dict()}
    state.update(decoder_placeholders(size))
    obj: dict = {"state_dict": state, "opts": dict(E4E_OPTS, stylegan_size=size)}
    if latent_avg:
        obj["latent_avg"] = torch.zeros(n_styles, 512)
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _load(tmp_path: Path, data: bytes, name: str = "e4e.pt"):
    path = tmp_path / name
    path.write_bytes(data)
    return load_checkpoint(path)


def test_the_shipped_entry_says_what_the_file_is_and_under_which_terms():
    spec = load_catalog(resource("catalog.json")).get("e4e-ffhq-encode")
    assert (spec.role, spec.domain, spec.resolution, spec.filename) == ("encoder", "face", 1024, "e4e_ffhq_encode.pt")
    assert not spec.default and spec.sha256 == "2ace1d9a8c05c10a399bcd500b8dda118f759ff1aac89dbdab7435f2136a0999"
    assert spec.license.startswith("MIT") and "CC BY-NC-SA 4.0" in spec.license
    assert "non-commercial" in spec.license_summary.lower()
    assert "models import e4e-ffhq-encode" in spec.notes and "1cUv_reLE6k3604or78EranS7XzuVMWeO" in spec.notes
    assert "1cUv_reLE6k3604or78EranS7XzuVMWeO" in spec.urls[-1]  # Drive last: its quota page is refused, the hash holds
    assert not any("HairFastGAN" in u for u in spec.urls)  # a copy with no published hash


def test_the_public_layout_is_an_encoder_for_a_1024_generator(tmp_path):
    obj = _load(tmp_path, e4e_bytes())
    check_layout(obj, "encoder")
    check_layout(obj, "encoder", resolution=1024)
    assert encoder_styles(list(obj["state_dict"])) == 18
    small = _load(tmp_path, e4e_bytes(14, 256), "small.pt")
    check_layout(small, "encoder", resolution=256)
    with pytest.raises(CheckpointError, match="makes 14 latent layers; a 1024x1024 generator needs 18"):
        check_layout(small, "encoder", resolution=1024)


def test_files_that_are_not_an_e4e_encoder_are_named_as_such(tmp_path):
    with pytest.raises(CheckpointError, match="missing encoder.input_layer.0.weight"):
        check_layout(_load(tmp_path, identity_bytes(), "i.pth"), "encoder")
    with pytest.raises(CheckpointError, match="no 'latent_avg'"):
        check_layout(_load(tmp_path, e4e_bytes(latent_avg=False), "n.pt"), "encoder")
    state = {f"encoder.{k}": torch.zeros(1) for k in meta_encoder(18).state_dict() if not k.startswith("body.23.")}
    buf = io.BytesIO()
    torch.save({"state_dict": state, "latent_avg": torch.zeros(18, 512)}, buf)
    with pytest.raises(CheckpointError, match=r"missing encoder.body.23.\*"):
        check_layout(_load(tmp_path, buf.getvalue(), "cut.pt"), "encoder")


def test_models_import_takes_the_hand_downloaded_file_and_refuses_another_size(tmp_path):
    """An entry with no published hash (as the shipped e4e entry was) is checked by its layout."""
    catalog = write_catalog(tmp_path / "c.json", [entry("e4e-ffhq-encode", "encoder", "e4e_ffhq_encode.pt", [],
                                                        domain="face", resolution=1024)])
    manager = ModelManager(catalog=catalog, options=FAST)
    good, wrong = tmp_path / "e4e_ffhq_encode.pt", tmp_path / "e4e_256.pt"
    good.write_bytes(e4e_bytes())
    wrong.write_bytes(e4e_bytes(14, 256))
    with pytest.raises(CheckpointError, match="does not fit 'e4e-ffhq-encode'.*makes 14 latent layers"):
        manager.import_file("e4e-ffhq-encode", wrong)
    path = manager.import_file("e4e-ffhq-encode", good)
    assert path == manager.models_dir / "e4e_ffhq_encode.pt"
    assert manager.status("e4e-ffhq-encode").state == "verified"


def test_the_shipped_entry_takes_only_the_published_file(tmp_path):
    mine = tmp_path / "e4e_ffhq_encode.pt"
    mine.write_bytes(e4e_bytes())
    with pytest.raises(CheckpointError, match=f"{mine} is .* bytes, expected 1,201,649,680"):
        ModelManager(options=FAST).import_file("e4e-ffhq-encode", mine)


def test_an_encoder_entry_downloads_from_its_url(tmp_path, server):
    data = e4e_bytes(8, 32)
    url = server.add("/e4e_32.pt", data)
    catalog = write_catalog(tmp_path / "c.json", [entry("e4e-32", "encoder", "e4e_32.pt", [url], domain="face",
                                                        resolution=32)])
    manager = ModelManager(catalog=catalog, options=FAST, before_download=lambda spec: None)
    path = manager.ensure("e4e-32")
    assert path.read_bytes() == data and manager.status("e4e-32").state == "verified"
