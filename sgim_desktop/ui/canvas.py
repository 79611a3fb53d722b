"""The picture: the source and the edit on one canvas with a draggable before/after split, zoom and pan.

Left of the split line is the source ("before"), right of it the edit ("after"). Drag the handle to
move the split; drag elsewhere (or with the middle button) to pan; the wheel zooms at the pointer;
double-click toggles between fit and 100 %. Previews simply replace the edit image as they arrive.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

MIN_SCALE = 0.05
MAX_SCALE = 32.0
HANDLE_PX = 8


def to_qimage(image: np.ndarray) -> QImage:
    """An H x W x 3 (or x 4) uint8 array as a QImage that owns its pixels."""
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 uint8 picture, got {arr.shape} {arr.dtype}")
    h, w, c = arr.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    return QImage(arr.data, w, h, c * w, fmt).copy()


class ImageCanvas(QWidget):
    """Shows a source and an edit of the same size, split at a draggable line."""

    splitChanged = Signal(float)
    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setMinimumSize(240, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._source: QImage | None = None
        self._edit: QImage | None = None
        self._split = 0.5
        self._fit = True
        self._scale = 1.0
        self._offset = QPointF(0, 0)  # top-left of the picture in widget coordinates
        self._drag: str | None = None
        self._drag_from = QPointF()
        self._offset_from = QPointF()
        self._placeholder = "Drop a sound and a picture here"
        self._busy_text = ""

    # -- content ---------------------------------------------------------------------------------

    def set_source(self, image: np.ndarray | None) -> None:
        self._source = None if image is None else to_qimage(image)
        self._content_changed()

    def set_edit(self, image: np.ndarray | None) -> None:
        self._edit = None if image is None else to_qimage(image)
        self._content_changed()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_busy_text(self, text: str) -> None:
        """A short line drawn over the picture (e.g. 'step 12 / 300') while an edit runs."""
        self._busy_text = text
        self.update()

    def has_source(self) -> bool:
        return self._source is not None

    def has_edit(self) -> bool:
        return self._edit is not None

    def source_image(self) -> QImage | None:
        return self._source

    def edit_image(self) -> QImage | None:
        return self._edit

    def _picture_size(self) -> tuple[int, int] | None:
        img = self._edit if self._edit is not None else self._source
        return None if img is None else (img.width(), img.height())

    def _content_changed(self) -> None:
        if self._fit:
            self._apply_fit()
        self.update()

    # -- split -----------------------------------------------------------------------------------

    def split(self) -> float:
        return self._split

    def set_split(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self._split:
            self._split = fraction
            self.splitChanged.emit(fraction)
            self.update()

    def _split_x(self) -> float | None:
        size = self._picture_size()
        if size is None or self._source is None or self._edit is None:
            return None
        return self._offset.x() + self._split * size[0] * self._scale

    # -- zoom and pan ----------------------------------------------------------------------------

    def scale(self) -> float:
        return self._scale

    def is_fit(self) -> bool:
        return self._fit

    def zoom_fit(self) -> None:
        self._fit = True
        self._apply_fit()
        self.update()

    def zoom_actual(self) -> None:
        self.set_scale(1.0, QPointF(self.width() / 2, self.height() / 2))

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        self.set_scale(self._scale * factor, anchor)

    def set_scale(self, scale: float, anchor: QPointF) -> None:
        """Zoom so that the picture point under ``anchor`` stays under it."""
        scale = min(MAX_SCALE, max(MIN_SCALE, scale))
        self._fit = False
        picture_point = (anchor - self._offset) / self._scale
        self._scale = scale
        self._offset = anchor - picture_point * scale
        self._clamp_offset()
        self.zoomChanged.emit(scale)
        self.update()

    def image_point_at(self, widget_point: QPointF) -> QPointF:
        """Picture coordinates (pixels) under a widget point."""
        return (widget_point - self._offset) / self._scale

    def _apply_fit(self) -> None:
        size = self._picture_size()
        if size is None:
            return
        w, h = size
        margin = 8
        scale = min((self.width() - 2 * margin) / w, (self.height() - 2 * margin) / h)
        self._scale = max(MIN_SCALE, scale)
        self._offset = QPointF((self.width() - w * self._scale) / 2, (self.height() - h * self._scale) / 2)
        self.zoomChanged.emit(self._scale)

    def _clamp_offset(self) -> None:
        """Keep some of the picture in view: a pan can never lose it off-screen."""
        size = self._picture_size()
        if size is None:
            return
        w, h = size[0] * self._scale, size[1] * self._scale
        keep = 48.0
        x = min(max(self._offset.x(), keep - w), self.width() - keep)
        y = min(max(self._offset.y(), keep - h), self.height() - keep)
        self._offset = QPointF(x, y)

    # -- events ----------------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        if self._fit:
            self._apply_fit()
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps and self._picture_size() is not None:
            self.zoom_by(1.25**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        split_x = self._split_x()
        if event.button() == Qt.MouseButton.LeftButton and split_x is not None and abs(pos.x() - split_x) <= HANDLE_PX:
            self._drag = "split"
        elif event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag = "pan"
            self._drag_from = pos
            self._offset_from = QPointF(self._offset)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._drag == "split":
            size = self._picture_size()
            if size is not None:
                self.set_split((pos.x() - self._offset.x()) / (size[0] * self._scale))
        elif self._drag == "pan":
            self._fit = False
            self._offset = self._offset_from + (pos - self._drag_from)
            self._clamp_offset()
            self.update()
        else:
            split_x = self._split_x()
            near = split_x is not None and abs(pos.x() - split_x) <= HANDLE_PX
            self.setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.ArrowCursor)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._drag = None
        self.setCursor(Qt.CursorShape.ArrowCursor)
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._fit:
            self.set_scale(1.0, event.position())
        else:
            self.zoom_fit()
        event.accept()

    # -- painting --------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        size = self._picture_size()
        if size is None:
            p.setPen(self.palette().color(self.foregroundRole()))
            p.drawText(self.rect().adjusted(20, 20, -20, -20), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self._placeholder)
            p.end()
            return
        target = QRectF(self._offset.x(), self._offset.y(), size[0] * self._scale, size[1] * self._scale)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._scale < 3.0)
        split_x = self._split_x()
        if split_x is None:
            only = self._edit if self._edit is not None else self._source
            p.drawImage(target, only)
        else:
            p.save()
            p.setClipRect(QRectF(target.left(), target.top(), max(0.0, split_x - target.left()), target.height()))
            p.drawImage(target, self._source)
            p.restore()
            p.save()
            p.setClipRect(QRectF(split_x, target.top(), max(0.0, target.right() - split_x), target.height()))
            p.drawImage(target, self._edit)
            p.restore()
            self._draw_handle(p, split_x, target)
        if self._busy_text:
            self._draw_label(p, self._busy_text, QPointF(target.center().x(), target.bottom() - 14), center=True)
        p.end()

    def _draw_handle(self, p: QPainter, x: float, target: QRectF) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(255, 255, 255, 230), 2))
        top, bottom = max(0.0, target.top()), min(float(self.height()), target.bottom())
        p.drawLine(QPointF(x, top), QPointF(x, bottom))
        mid = (top + bottom) / 2
        p.setBrush(QColor(255, 255, 255, 230))
        p.setPen(QPen(QColor(40, 40, 40, 200), 1))
        p.drawEllipse(QPointF(x, mid), 10, 10)
        p.setPen(QPen(QColor(40, 40, 40), 1.5))
        for sign in (-1, 1):
            p.drawLine(QPointF(x + sign * 3, mid - 4), QPointF(x + sign * 7, mid))
            p.drawLine(QPointF(x + sign * 7, mid), QPointF(x + sign * 3, mid + 4))
        self._draw_label(p, "Before", QPointF(max(target.left(), 0) + 8, max(target.top(), 0) + 8))
        after_w = p.fontMetrics().horizontalAdvance("After") + 12
        self._draw_label(p, "After", QPointF(min(target.right(), self.width()) - after_w - 8, max(target.top(), 0) + 8))

    def _draw_label(self, p: QPainter, text: str, at: QPointF, center: bool = False) -> None:
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 4
        x = at.x() - w / 2 if center else at.x()
        y = at.y() - h / 2 if center else at.y()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(QRectF(x, y, w, h), 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(QRectF(x, y, w, h), Qt.AlignmentFlag.AlignCenter, text)
