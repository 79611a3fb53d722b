"""The canvas shows before | after split at a draggable line, zooms at the pointer, fits, and pans."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from sgim_desktop.ui.canvas import ImageCanvas, to_qimage

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def solid(color, size=64):
    return np.tile(np.array(color, np.uint8), (size, size, 1))


@pytest.fixture
def canvas(qtbot):
    c = ImageCanvas()
    c.resize(400, 300)
    qtbot.addWidget(c)
    c.show()
    c.set_source(solid(RED))
    c.set_edit(solid(BLUE))
    return c


def pixel(widget, x, y):
    image = widget.grab().toImage()
    c = image.pixelColor(int(x), int(y))
    return c.red(), c.green(), c.blue()


def wheel(widget, at: QPointF, clicks: int):
    event = QWheelEvent(at, widget.mapToGlobal(at), QPoint(0, 0), QPoint(0, 120 * clicks), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_before_is_left_of_the_split_and_after_right_of_it(canvas):
    assert canvas.is_fit() and canvas.split() == 0.5
    cx, cy = canvas.width() / 2, canvas.height() / 2
    assert pixel(canvas, cx - 60, cy + 40) == RED
    assert pixel(canvas, cx + 60, cy + 40) == BLUE


def test_dragging_the_handle_moves_the_split(canvas, qtbot):
    cx, cy = canvas.width() // 2, canvas.height() // 2
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(cx, cy))
    qtbot.mouseMove(canvas, QPoint(cx + 100, cy))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(cx + 100, cy))
    assert canvas.split() > 0.8
    assert pixel(canvas, cx + 60, cy + 40) == RED


def test_the_wheel_zooms_at_the_pointer(canvas):
    at = QPointF(150, 120)
    before = canvas.image_point_at(at)
    scale = canvas.scale()
    wheel(canvas, at, 2)
    assert canvas.scale() == pytest.approx(scale * 1.25**2)
    after = canvas.image_point_at(at)
    assert (after.x(), after.y()) == pytest.approx((before.x(), before.y()))
    assert not canvas.is_fit()


def test_fit_and_actual_size(canvas):
    canvas.zoom_actual()
    assert canvas.scale() == 1.0 and not canvas.is_fit()
    canvas.zoom_fit()
    assert canvas.is_fit() and canvas.scale() == pytest.approx((300 - 16) / 64)
    canvas.resize(600, 500)
    QApplication.processEvents()
    assert canvas.scale() == pytest.approx((500 - 16) / 64)


def test_dragging_the_picture_pans_it(canvas, qtbot):
    canvas.zoom_actual()
    start = canvas.image_point_at(QPointF(100, 100))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(130, 110))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(130, 110))
    moved = canvas.image_point_at(QPointF(100, 100))
    assert (start.x() - moved.x(), start.y() - moved.y()) == pytest.approx((30, 10))


def test_previews_replace_the_edit_and_keep_the_zoom(canvas):
    canvas.zoom_by(2.0)
    scale = canvas.scale()
    for value in (10, 90, 170):
        canvas.set_edit(solid((value, value, value)))
    assert canvas.scale() == scale
    assert canvas.edit_image().pixelColor(0, 0).red() == 170


def test_one_picture_alone_fills_the_view_and_nothing_shows_the_hint(qtbot):
    c = ImageCanvas()
    c.resize(200, 200)
    qtbot.addWidget(c)
    c.show()
    c.set_placeholder("Drop a sound")
    assert not c.has_source()
    c.set_source(solid(RED))
    assert pixel(c, 40, 100) == RED and pixel(c, 160, 100) == RED


def test_to_qimage_copies_and_checks_the_array():
    arr = solid(RED, 8)
    img = to_qimage(arr)
    arr[:] = 0
    assert img.pixelColor(3, 3).red() == 220
    with pytest.raises(ValueError):
        to_qimage(np.zeros((4, 4), np.uint8))
