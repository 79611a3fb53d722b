"""Face detection on real photos shipped by scikit-image: one face, none, and two."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sgim_desktop.engine.faces import FaceDetector, weights_dir
from sgim_desktop.engine.images import load_image
from sgim_desktop.engine.invert import NoFaceError, SeveralFacesError, prepare_photo
from sgim_desktop.errors import BadInputError, CheckpointError

SKIMAGE_DATA = Path(importlib.util.find_spec("skimage").submodule_search_locations[0]) / "data"

# Eileen Collins' portrait (skimage.data.astronaut, NASA, public domain), read off the photo: her eyes,
# nose tip and mouth corners, to within a few pixels
ASTRONAUT_LANDMARKS = np.array([[205, 102], [247, 104], [225, 129], [202, 139], [245, 142]], dtype=float)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return load_image(SKIMAGE_DATA / "astronaut.png")


def test_the_weights_come_from_the_installed_wheel():
    folder = weights_dir()
    assert folder is not None and sorted(p.name for p in folder.glob("?net.pt")) == ["onet.pt", "pnet.pt", "rnet.pt"]


def test_one_face_in_a_real_portrait(detector, astronaut):
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.99
    x0, y0, x1, y1 = face.box
    assert 60 < x1 - x0 < 120 and x0 < face.landmarks[:, 0].min() and face.landmarks[:, 0].max() < x1
    np.testing.assert_allclose(face.landmarks, ASTRONAUT_LANDMARKS, atol=5)


def test_no_face_in_pictures_of_things(detector):
    for name in ("coffee.png", "rocket.jpg", "brick.png"):
        assert detector.detect(load_image(SKIMAGE_DATA / name)) == [], name


@pytest.mark.slow
def test_two_faces_are_reported_left_to_right(detector, astronaut):
    """The portrait next to its mirror image: two real faces, the second the mirror of the first."""
    pair = np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))
    faces = detector.detect(pair)
    assert len(faces) == 2
    left, right = faces
    assert left.centre[0] < 512 < right.centre[0]
    np.testing.assert_allclose(left.landmarks, ASTRONAUT_LANDMARKS, atol=5)
    mirrored = right.landmarks.copy()
    mirrored[:, 0] = 1023 - mirrored[:, 0]
    # mirroring swaps which eye and which mouth corner is on the picture's left
    np.testing.assert_allclose(mirrored[[1, 0, 2, 4, 3]], left.landmarks, atol=4)
    with pytest.raises(SeveralFacesError, match="2 faces") as err:
        prepare_photo(pair, 64, detector=detector)
    assert len(err.value.faces) == 2
    chosen = prepare_photo(pair, 64, face=1, detector=detector)
    assert chosen.face_index == 1
    assert chosen.aligned.alignment.quad[:, 0].mean() > 512
    with pytest.raises(BadInputError, match="no face 3"):
        prepare_photo(pair, 64, face=2, detector=detector)


@pytest.mark.slow
def test_a_large_photo_is_searched_scaled_down_and_answered_at_full_size(detector, astronaut):
    from PIL import Image

    big = np.asarray(Image.fromarray(astronaut).resize((2048, 2048), Image.Resampling.BICUBIC))
    faces = detector.detect(big)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].landmarks / 4, ASTRONAUT_LANDMARKS, atol=5)


def test_prepare_photo_aligns_the_face_or_takes_the_whole_picture(detector, astronaut):
    prepared = prepare_photo(astronaut, 128, detector=detector)
    assert prepared.mode == "face" and prepared.face_index == 0 and prepared.aligned.image.shape == (128, 128, 3)
    eyes = prepared.aligned.alignment.to_crop(prepared.faces[0].landmarks[:2] + 0.5)
    assert abs(eyes[0, 1] - eyes[1, 1]) < 2 and 40 < eyes[0, 0] < 56 and 72 < eyes[1, 0] < 88
    whole = prepare_photo(astronaut, 64, whole_image=True)
    assert whole.mode == "whole" and whole.faces == [] and whole.aligned.image.shape == (64, 64, 3)
    scene = prepare_photo(astronaut, 64, domain="scene")
    assert scene.mode == "whole"
    coffee = load_image(SKIMAGE_DATA / "coffee.png")
    with pytest.raises(NoFaceError, match="no face"):
        prepare_photo(coffee, 64, detector=detector)
    tiny = np.zeros((1, 1, 3), np.uint8)
    assert detector.detect(tiny) == []


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        FaceDetector(tmp_path)


def test_the_packaged_app_reads_the_detector_weights_it_carries(tmp_path, monkeypatch):
    import shutil
    import sys

    from sgim_desktop.engine import faces

    installed = faces.weights_dir()
    bundled = tmp_path / faces.BUNDLED_DIR
    bundled.mkdir()
    for name in faces.WEIGHT_FILES:
        shutil.copy(installed / name, bundled / name)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert faces.weights_dir() == bundled
    (bundled / faces.WEIGHT_FILES[0]).unlink()
    assert faces.weights_dir() == installed, "an incomplete copy is not used"
