"""Thumbnails of the faces in a photo, for choosing which one to edit."""

from __future__ import annotations

import numpy as np

from sgim_desktop.engine.faces import Face
from sgim_desktop.engine.photo import face_thumbnails


def face(box: tuple[float, float, float, float]) -> Face:
    return Face(box=box, score=1.0, landmarks=np.zeros((5, 2)))


def test_each_face_gets_a_square_centred_on_its_box_even_at_the_edge():
    photo = np.zeros((100, 200, 3), np.uint8)
    photo[40:60, 40:60] = (255, 0, 0)
    photo[:, 190:] = (0, 0, 255)
    inner, edge = face_thumbnails(photo, [face((40, 40, 60, 60)), face((185, 40, 205, 60))], size=32)
    assert inner.shape == edge.shape == (32, 32, 3) and inner.dtype == np.uint8
    assert tuple(inner[16, 16]) == (255, 0, 0) and tuple(inner[1, 1]) == (0, 0, 0)
    assert edge[16, 12, 2] == 255 and edge[16, 30].max() == 0, "past the photo's edge is black"
    assert face_thumbnails(photo, []) == []
