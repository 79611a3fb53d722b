"""Alignment geometry: FFHQ's square from eyes and mouth, centre crops, and pasting an edit back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sgim_desktop.engine.align import (
    align_face,
    centre_crop,
    face_alignment,
    face_mask,
    ffhq_quad,
    paste_back,
    quad_alignment,
)
from sgim_desktop.errors import BadInputError

# an upright face: eyes 20 px apart at y=50, mouth corners 20 px below them
EYES = np.array([[40.0, 50.0], [60.0, 50.0]])
MOUTH = np.array([[42.0, 70.0], [58.0, 70.0]])


def _rotate(points: np.ndarray, degrees: float, centre=(50.0, 50.0)) -> np.ndarray:
    a = math.radians(degrees)
    r = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (np.asarray(points) - centre) @ r.T + centre


def test_ffhq_quad_of_an_upright_face():
    # eye_to_eye (20, 0), eye_to_mouth (0, 20): x = (40, 0) scaled to max(2 * 20, 1.8 * 20) = 40,
    # y = (0, 40), centre = eye average + 0.1 * eye_to_mouth = (50, 52)
    quad = ffhq_quad(EYES[0], EYES[1], MOUTH[0], MOUTH[1])
    np.testing.assert_allclose(quad, [[10, 12], [10, 92], [90, 92], [90, 12]])


def test_a_long_face_is_sized_by_its_eye_to_mouth_distance():
    quad = ffhq_quad([45, 50], [55, 50], [45, 90], [55, 90])  # eyes 10 apart, mouth 40 below
    side = np.linalg.norm(quad[3] - quad[0])
    # x = (10, 0) - rot90((0, 40)) = (50, 0), length max(2 * 10, 1.8 * 40) = 72
    assert side == pytest.approx(2 * 72)
    np.testing.assert_allclose(quad.mean(axis=0), [50, 54])


@pytest.mark.parametrize("degrees", [-35.0, 20.0, 90.0])
def test_the_square_turns_and_scales_with_the_face(degrees):
    base = ffhq_quad(EYES[0], EYES[1], MOUTH[0], MOUTH[1])
    e, m = _rotate(EYES, degrees), _rotate(MOUTH, degrees)
    np.testing.assert_allclose(ffhq_quad(e[0], e[1], m[0], m[1]), _rotate(base, degrees), atol=1e-9)
    np.testing.assert_allclose(ffhq_quad(EYES[0] * 3, EYES[1] * 3, MOUTH[0] * 3, MOUTH[1] * 3), base * 3, atol=1e-9)


def test_degenerate_landmarks_are_refused():
    with pytest.raises(BadInputError, match="degenerate"):
        ffhq_quad([5, 5], [5, 5], [5, 5], [5, 5])
    with pytest.raises(BadInputError, match="five"):
        face_alignment(np.zeros((4, 2)), 64, (100, 100))


def _landmarks(eyes=EYES, mouth=MOUTH) -> np.ndarray:
    nose = (eyes.mean(axis=0) + mouth.mean(axis=0)) / 2
    return np.array([eyes[0], eyes[1], nose, mouth[0], mouth[1]])


def _dot_centroid(image: np.ndarray, channel: int) -> np.ndarray:
    w = image[:, :, channel].astype(np.float64) - image[:, :, [c for c in range(3) if c != channel]].mean(axis=2)
    w = np.clip(w - 60, 0, None)
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]] + 0.5
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def test_aligned_crop_puts_the_eyes_where_ffhq_puts_them():
    """Coloured dots at the landmarks land at the crop positions the geometry predicts, for a tilted face."""
    photo = np.full((200, 240, 3), 128, np.uint8)
    lm = np.round(_landmarks(_rotate(EYES, 25.0) + [60, 40], _rotate(MOUTH, 25.0) + [60, 40]))
    for (x, y), channel in zip(lm[[0, 1, 3]], (0, 1, 2)):
        photo[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3] = 0
        photo[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3, channel] = 255
    aligned = align_face(photo, lm, 128)
    assert aligned.image.shape == (128, 128, 3)
    # in the crop the eyes are level, 1/4 of the side apart, at 0.475 of the height: (40-10)/80, (50-12)/80
    # each dot lands where the alignment maps its landmark (pixel indices: centres at +0.5) ...
    expected = aligned.alignment.to_crop(lm[[0, 1, 3]] + 0.5)
    for channel in range(3):
        np.testing.assert_allclose(_dot_centroid(aligned.image, channel), expected[channel], atol=0.75)
    # ... and the eyes are level, a quarter of the side from the middle, at 0.475 of the height, as in
    # the upright case: (40 - 10) / 80 and (50 - 12) / 80 (rounding the landmarks moves them < 1 px)
    np.testing.assert_allclose(expected[:2], [[0.375 * 128, 0.475 * 128], [0.625 * 128, 0.475 * 128]], atol=2.0)
    np.testing.assert_allclose(aligned.alignment.to_photo(expected), lm[[0, 1, 3]] + 0.5, atol=1e-9)


def test_a_face_at_the_border_is_filled_not_black():
    photo = np.full((100, 100, 3), 90, np.uint8)
    lm = _landmarks(EYES - [45, 45], MOUTH - [45, 45])  # the square reaches far above and left of the photo
    crop = align_face(photo, lm, 64).image
    assert crop.min() >= 80 and crop.max() <= 100


def test_a_large_face_is_shrunk_before_sampling():
    """A face 40x larger than the crop: a fine checkerboard must average to grey, not alias to stripes."""
    photo = np.zeros((2000, 2000, 3), np.uint8)
    photo[(np.indices((2000, 2000)).sum(axis=0) % 2) == 1] = 255
    lm = _landmarks(EYES * 20, MOUTH * 20)
    crop = align_face(photo, lm, 32).image.astype(float)
    assert abs(crop.mean() - 127.5) < 3 and crop.std() < 8


def test_centre_crop_takes_the_middle_square():
    photo = np.zeros((200, 300, 3), np.uint8)
    photo[:, 50:250] = 200
    aligned = centre_crop(photo, 64)
    assert aligned.image.shape == (64, 64, 3) and aligned.image.min() == 200
    np.testing.assert_allclose(aligned.alignment.quad, [[50, 0], [50, 200], [250, 200], [250, 0]])
    assert centre_crop(np.zeros((1, 1, 3), np.uint8), 16).image.shape == (16, 16, 3)


def _rng_photo(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_paste_back_keeps_the_photo_size_and_everything_outside_the_face():
    photo = _rng_photo(180, 260)
    lm = _landmarks(EYES + [80, 20], MOUTH + [80, 20])
    aligned = align_face(photo, lm, 64)
    edited = np.full((256, 256, 3), (255, 0, 0), np.uint8)  # any square size is accepted
    out = paste_back(photo, edited, aligned.alignment)
    assert out.shape == photo.shape and out.dtype == np.uint8
    quad = aligned.alignment.quad
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    outside = np.ones(photo.shape[:2], bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    np.testing.assert_array_equal(out[outside], photo[outside])
    # inside the face region the edit replaced the photo, softly: full red at the face centre
    cx, cy = aligned.alignment.to_photo([[32, 33]])[0].astype(int)
    assert out[cy, cx].tolist() == [255, 0, 0]
    changed = np.any(out != photo, axis=2)
    assert changed[~outside].mean() > 0.3
    # the mask is zero in the crop's corners, so the square's corners stay the photo's
    assert face_mask(64)[0, 0] == 0 and face_mask(64)[32, 32] == 1


def test_pasting_back_the_unedited_crop_changes_little():
    yy, xx = np.mgrid[:200, :200]
    photo = np.stack([xx, yy, (xx + yy) // 2], axis=2).astype(np.uint8)
    aligned = align_face(photo, _landmarks(EYES * 1.5 + 20, MOUTH * 1.5 + 20), 128)
    out = paste_back(photo, aligned.image, aligned.alignment)
    assert np.abs(out.astype(int) - photo.astype(int)).max() <= 3


def test_paste_back_of_a_centre_crop_fades_only_inside_the_photo():
    photo = _rng_photo(100, 160, seed=2)
    aligned = centre_crop(photo, 32)
    out = paste_back(photo, np.zeros((32, 32, 3), np.uint8), aligned.alignment)
    np.testing.assert_array_equal(out[:, :30], photo[:, :30])
    np.testing.assert_array_equal(out[:, 130:], photo[:, 130:])
    assert out[:, 45:115].max() == 0  # the middle, top to bottom, is the edit
    assert 0 < out[50, 31:35].mean() < photo[50, 31:35].mean()


def test_paste_back_refuses_a_mismatched_photo_or_crop():
    photo = _rng_photo(50, 50)
    alignment = quad_alignment(np.array([[10, 10], [10, 40], [40, 40], [40, 10]]), 16, (50, 50), "face")
    with pytest.raises(BadInputError, match="aligned on a 50 x 50"):
        paste_back(_rng_photo(60, 50), np.zeros((16, 16, 3), np.uint8), alignment)
    with pytest.raises(BadInputError, match="square RGB"):
        paste_back(photo, np.zeros((16, 8, 3), np.uint8), alignment)
