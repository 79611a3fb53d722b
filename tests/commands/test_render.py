"""`sgim-desktop render` writes the format its --out names and says what it wrote."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.e2e.test_cli_hear import run_cli


@pytest.mark.slow
def test_render_to_jpg_writes_jpeg_and_prints_what_it_wrote(generator_files, tmp_path):
    out, latent = tmp_path / "r.jpg", tmp_path / "w.pt"
    res = run_cli("render", "--generator", generator_files[64], "--seed", "3", "--out", out, "--save-latent", latent)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"wrote {out} and {latent}"
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (64, 64)


def test_an_ending_that_is_no_picture_format_is_refused_before_any_model_loads(tmp_path):
    res = run_cli("render", "--generator", tmp_path / "not-there.pt", "--seed", "3", "--out", tmp_path / "r.bmp")
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: cannot write {tmp_path / 'r.bmp'} as a picture ('.bmp'): name it .png, .jpg or .jpeg"
