"""Outputs are written in the format their name says, whole or not at all, and bad names are refused first."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sgim_desktop.engine import export
from sgim_desktop.errors import BadInputError
from tests.conftest import REPO


def picture() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:48]
    return np.stack([x * 5, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("name,fmt", [("out.png", "PNG"), ("out.jpg", "JPEG"), ("OUT.JPEG", "JPEG"), ("o.PNG", "PNG")])
def test_a_picture_is_written_in_the_format_its_ending_names(tmp_path, name, fmt):
    path = export.write_image(picture(), tmp_path / name)
    with Image.open(path) as im:
        assert im.format == fmt and im.size == (48, 64) and im.mode == "RGB"
    assert [p.name for p in tmp_path.iterdir()] == [name], "no temporary file is left behind"


def test_jpeg_is_written_at_quality_95_by_default_and_close_to_the_picture(tmp_path):
    default = export.write_image(picture(), tmp_path / "a.jpg")
    low = export.write_image(picture(), tmp_path / "b.jpg", quality=30)
    assert default.stat().st_size > low.stat().st_size
    back = np.asarray(Image.open(default)).astype(int)
    assert np.abs(back - picture()).mean() < 2.0


@pytest.mark.parametrize("name", ["out.bmp", "out.webp", "out", "out.png.tmp"])
def test_other_endings_are_refused_in_one_line_before_anything_is_written(tmp_path, name):
    with pytest.raises(BadInputError) as info:
        export.write_image(picture(), tmp_path / name)
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / name) in msg and ".png, .jpg or .jpeg" in msg
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(BadInputError, match="the folder .*nowhere does not exist"):
        export.check_image_path(tmp_path / "nowhere" / "x.png")


def test_a_latent_is_a_plain_tensor_file(tmp_path):
    w = torch.randn(1, 10, 512)
    path = export.write_latent(w, tmp_path / "w.pt")
    assert torch.equal(torch.load(path, weights_only=True), w)


def test_side_by_side_puts_before_and_after_next_to_each_other():
    left = np.zeros((4, 5, 3), np.uint8)
    right = np.full((6, 3, 3), 9, np.uint8)
    both = export.side_by_side(left, right, gap=2)
    assert both.shape == (6, 10, 3)
    assert (both[1:5, :5] == 0).all() and (both[:, 7:] == 9).all() and (both[:, 5:7] == 255).all()


def test_the_exports_import_no_torch():
    code = "import sys, sgim_desktop.engine.export; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
