"""The sound's waveform: zoom, scroll, and the ~10 s window the audio encoder hears.

The drawing maths is in ``ui/envelope.py``; here are the widget, the mouse and the keys. The window
the encoder hears is dragged with the mouse; ``windowChanged`` reports its start when the person
lets go.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QHBoxLayout, QScrollBar, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from sgim_desktop import audio_io
from sgim_desktop.engine.sound import WINDOW_SECONDS, Sound
from sgim_desktop.errors import BadInputError
from sgim_desktop.ui.envelope import (
    Envelope,
    column_extents,
    envelope_for,
    format_heard,
    format_time,
    nice_step,
    render_columns,
    ruler_label,
)
from sgim_desktop.ui.labels import ElidedLabel

MIN_VIEW_SAMPLES = 64
ZOOM_STEP = 1.5


def _argb(color: QColor) -> int:
    return (color.alpha() << 24) | (color.red() << 16) | (color.green() << 8) | color.blue()





class _Canvas(QWidget):
    """The drawing surface; all state lives in the WaveformView."""

    def __init__(self, view: "WaveformView") -> None:
        super().__init__(view)
        self._view = view
        self.setMinimumHeight(80)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        self._view._paint(self)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt naming)
        self._view._press(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt naming)
        self._view._move(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt naming)
        self._view._release(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt naming)
        self._view._wheel(event)


class WaveformView(QWidget):
    """A sound's waveform with the highlighted window the encoder hears, zoom, scroll and playback."""

    windowChanged = Signal(float)
    playbackFailed = Signal(str)
    playbackStarted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sound: Sound | None = None
        self._env: Envelope | None = None
        self._window_start = 0.0
        self._view_start = 0.0
        self._view_span = 1.0
        self._drag_offset: float | None = None
        self._press_start = 0.0
        self._playhead: float | None = None
        self._wave = QColor(90, 110, 140)
        self._wave_selected = QColor(40, 120, 220)
        self._selection = QColor(40, 120, 220, 45)

        self.play_button = QToolButton(text="Play window")
        self.play_button.setToolTip("Play the highlighted window (Space)")
        self.play_button.clicked.connect(self.toggle_playback)
        self.zoom_in_button = QToolButton(text="+")
        self.zoom_in_button.setToolTip("Zoom in (+, Ctrl+wheel)")
        self.zoom_in_button.clicked.connect(self.zoom_in)
        self.zoom_out_button = QToolButton(text="−")
        self.zoom_out_button.setToolTip("Zoom out (-, Ctrl+wheel)")
        self.zoom_out_button.clicked.connect(self.zoom_out)
        self.zoom_fit_button = QToolButton(text="Fit")
        self.zoom_fit_button.setToolTip("Show the whole sound (0)")
        self.zoom_fit_button.clicked.connect(self.zoom_fit)
        self.info_label = ElidedLabel("no sound")
        self.canvas = _Canvas(self)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.valueChanged.connect(self._scrolled)
        self.heard_label = ElidedLabel(format_heard([]))
        self.heard_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (self.play_button, self.zoom_in_button, self.zoom_out_button, self.zoom_fit_button):
            bar.addWidget(w)
        bar.addWidget(self.info_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.scrollbar)
        layout.addWidget(self.heard_label)

        self._play_timer = QTimer(self)
        self._play_timer.setInterval(33)
        self._play_timer.timeout.connect(self._follow_playback)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._update_controls()

    # -- the sound and the window ------------------------------------------------------------

    def set_sound(self, sound: Sound | None) -> None:
        """Show ``sound`` whole, with the window at its start (does not emit windowChanged)."""
        self.stop_playback()
        self._sound = sound
        self._env = envelope_for(sound) if sound is not None and len(sound.samples) else None
        self._window_start = 0.0
        self.set_heard([])
        self.zoom_fit()
        self._update_controls()

    def sound(self) -> Sound | None:
        return self._sound

    def duration(self) -> float:
        return self._sound.duration_s if self._sound is not None else 0.0

    def window_start(self) -> float:
        return self._window_start

    def window_range(self) -> tuple[float, float]:
        """The part of the sound the encoder hears (shorter than WINDOW_SECONDS for a short sound)."""
        return self._window_start, min(self.duration(), self._window_start + WINDOW_SECONDS)

    def _clamp_window(self, start: float) -> float:
        if not math.isfinite(start):
            start = 0.0
        return max(0.0, min(start, max(0.0, self.duration() - WINDOW_SECONDS)))

    def set_window_start(self, start_s: float) -> None:
        """Move the window (clamped to the sound); emits windowChanged when it moved."""
        if self._apply_window(start_s):
            self.windowChanged.emit(self._window_start)

    def _apply_window(self, start_s: float) -> bool:
        start = self._clamp_window(start_s)
        moved = abs(start - self._window_start) > 1e-9
        self._window_start = start
        self._update_info()
        self.canvas.update()
        return moved

    def set_heard(self, items: Sequence[tuple[str, float] | Any] | None) -> None:
        """What the encoder hears in the window: (label, probability 0..1) pairs or engine ``Heard``s;
        None while it is being worked out."""
        self.heard_label.setText(format_heard(items))

    def heard_text(self) -> str:
        return self.heard_label.text()

    # -- zoom and scroll ---------------------------------------------------------------------

    def view_range(self) -> tuple[float, float]:
        return self._view_start, self._view_start + self._view_span

    def set_view(self, start_s: float, span_s: float) -> None:
        """Show ``span_s`` seconds from ``start_s`` (kept inside the sound, at least 64 samples wide)."""
        duration = self.duration()
        if duration <= 0:
            self._view_start, self._view_span = 0.0, 1.0
        else:
            rate = self._sound.sample_rate
            shortest = min(duration, MIN_VIEW_SAMPLES / rate)
            span = max(shortest, min(duration, span_s))
            self._view_span = span
            self._view_start = max(0.0, min(start_s, duration - span))
        self._sync_scrollbar()
        self.canvas.update()

    def zoom(self, factor: float, anchor_s: float | None = None) -> None:
        """Zoom by ``factor`` (>1: closer) keeping ``anchor_s`` (default: the view's centre) in place."""
        start, end = self.view_range()
        anchor = (start + end) / 2 if anchor_s is None else anchor_s
        frac = (anchor - start) / self._view_span if self._view_span > 0 else 0.5
        span = self._view_span / factor
        self.set_view(anchor - frac * span, span)

    def zoom_in(self) -> None:
        self.zoom(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom(1 / ZOOM_STEP)

    def zoom_fit(self) -> None:
        self.set_view(0.0, self.duration() or 1.0)

    def scroll_by(self, fraction: float) -> None:
        """Scroll by a fraction of the visible span (negative: towards the start)."""
        self.set_view(self._view_start + fraction * self._view_span, self._view_span)

    _SCROLL_UNIT = 1000.0

    def _sync_scrollbar(self) -> None:
        unit = self._SCROLL_UNIT
        hidden = max(0.0, self.duration() - self._view_span)
        self.scrollbar.blockSignals(True)
        self.scrollbar.setRange(0, int(round(hidden * unit)))
        self.scrollbar.setPageStep(max(1, int(round(self._view_span * unit))))
        self.scrollbar.setSingleStep(max(1, int(round(self._view_span * unit / 10))))
        self.scrollbar.setValue(int(round(self._view_start * unit)))
        self.scrollbar.blockSignals(False)
        self.scrollbar.setVisible(hidden > 0)

    def _scrolled(self, value: int) -> None:
        self._view_start = max(0.0, min(value / self._SCROLL_UNIT, self.duration() - self._view_span))
        self.canvas.update()

    # -- coordinates ---------------------------------------------------------------------------

    def time_at(self, x: float) -> float:
        """Seconds at canvas x (logical pixels)."""
        width = max(1, self.canvas.width())
        return self._view_start + x / width * self._view_span

    def x_of(self, seconds: float) -> float:
        width = max(1, self.canvas.width())
        return (seconds - self._view_start) / self._view_span * width

    # -- playback ----------------------------------------------------------------------------

    def play_window(self) -> None:
        """Play the highlighted window through the default output; failures go to playbackFailed."""
        if self._sound is None:
            return
        start, end = self.window_range()
        try:
            audio_io.play(self._sound, start, end - start)
        except BadInputError as exc:
            self.info_label.setText(str(exc))
            self.playbackFailed.emit(str(exc))
            return
        self.play_button.setText("Stop")
        self._play_timer.start()
        self.playbackStarted.emit()

    def stop_playback(self) -> None:
        if self._play_timer.isActive():
            self._play_timer.stop()
            audio_io.stop_playback()
        self._playhead = None
        self.play_button.setText("Play window")
        self.canvas.update()

    def toggle_playback(self) -> None:
        if self.is_playing():
            self.stop_playback()
        else:
            self.play_window()

    def is_playing(self) -> bool:
        return self._play_timer.isActive()

    def _follow_playback(self) -> None:
        position = audio_io.playback_position_s()
        if position is None:
            self.stop_playback()
            return
        self._playhead = position
        self.canvas.update()

    # -- painting ----------------------------------------------------------------------------

    def _paint(self, canvas: QWidget) -> None:
        painter = QPainter(canvas)
        rect = canvas.rect()
        painter.fillRect(rect, canvas.palette().base())
        if self._sound is None or self._env is None:
            painter.setPen(canvas.palette().placeholderText().color())
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Drop a sound here, open one, or record")
            painter.end()
            return
        w0, w1 = self.window_range()
        x0, x1 = self.x_of(w0), self.x_of(w1)
        painter.fillRect(QRectF(x0, 0, x1 - x0, rect.height()), self._selection)
        image = self.render_image(rect.width(), rect.height(), canvas.devicePixelRatioF())
        painter.drawImage(QPointF(0, 0), image)
        painter.setPen(QPen(self._wave_selected, 1))
        painter.drawLine(QPointF(x0, 0), QPointF(x0, rect.height()))
        painter.drawLine(QPointF(x1, 0), QPointF(x1, rect.height()))
        self._paint_ruler(painter, rect.width())
        if self._playhead is not None:
            painter.setPen(QPen(QColor(220, 50, 50), 1))
            xp = self.x_of(self._playhead)
            painter.drawLine(QPointF(xp, 0), QPointF(xp, rect.height()))
        painter.end()

    def render_image(self, width: int, height: int, ratio: float = 1.0) -> QImage:
        """The waveform of the current view as an image (device pixels: ``ratio`` times the size)."""
        pw, ph = max(1, int(round(width * ratio))), max(1, int(round(height * ratio)))
        sound, env = self._sound, self._env
        rate = sound.sample_rate
        lo, hi = column_extents(sound.samples, env, self._view_start * rate, self._view_span * rate / pw, pw)
        t = self._view_start + (np.arange(pw) + 0.5) * (self._view_span / pw)
        w0, w1 = self.window_range()
        colors = np.where((t >= w0) & (t <= w1), np.uint32(_argb(self._wave_selected)), np.uint32(_argb(self._wave)))
        pixels = render_columns(lo, hi, ph, colors)
        image = QImage(pixels.data, pw, ph, 4 * pw, QImage.Format.Format_ARGB32_Premultiplied).copy()
        image.setDevicePixelRatio(ratio)
        return image

    def _paint_ruler(self, painter: QPainter, width: int) -> None:
        step = nice_step(self._view_span / max(1.0, width / 90.0))
        painter.setPen(self.canvas.palette().placeholderText().color())
        first = math.ceil(self._view_start / step) * step
        t = first
        end = self._view_start + self._view_span
        while t <= end:
            x = self.x_of(t)
            painter.drawLine(QPointF(x, 0), QPointF(x, 4))
            painter.drawText(QPointF(x + 2, 12), ruler_label(t, step))
            t += step

    # -- input ---------------------------------------------------------------------------------

    def _press(self, event: QMouseEvent) -> None:
        if self._sound is None or event.button() != Qt.MouseButton.LeftButton:
            return
        t = self.time_at(event.position().x())
        w0, w1 = self.window_range()
        self._press_start = self._window_start
        if w0 <= t <= w1:
            self._drag_offset = t - w0
        else:
            self._drag_offset = min(WINDOW_SECONDS, self.duration()) / 2
            self._apply_window(t - self._drag_offset)
        self.canvas.setCursor(Qt.CursorShape.ClosedHandCursor)

    def _move(self, event: QMouseEvent) -> None:
        t = self.time_at(event.position().x())
        if self._drag_offset is not None:
            self._apply_window(t - self._drag_offset)
            return
        w0, w1 = self.window_range()
        inside = self._sound is not None and w0 <= t <= w1
        self.canvas.setCursor(Qt.CursorShape.OpenHandCursor if inside else Qt.CursorShape.ArrowCursor)

    def _release(self, event: QMouseEvent) -> None:
        if self._drag_offset is None or event.button() != Qt.MouseButton.LeftButton:
            return
        self._apply_window(self.time_at(event.position().x()) - self._drag_offset)
        self._drag_offset = None
        self.canvas.setCursor(Qt.CursorShape.OpenHandCursor)
        if abs(self._window_start - self._press_start) > 1e-9:
            self.windowChanged.emit(self._window_start)

    def _wheel(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = delta.y() / 120.0
            if steps:
                self.zoom(ZOOM_STEP**steps, self.time_at(event.position().x()))
        else:
            amount = delta.x() or delta.y()
            self.scroll_by(-amount / 120.0 * 0.1)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt naming)
        key = event.key()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key == Qt.Key.Key_Minus:
            self.zoom_out()
        elif key == Qt.Key.Key_0:
            self.zoom_fit()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            sign = -1 if key == Qt.Key.Key_Left else 1
            if shift:
                self.set_window_start(self._window_start + sign * 1.0)
            else:
                self.scroll_by(sign * 0.1)
        elif key == Qt.Key.Key_Home:
            self.set_view(0.0, self._view_span)
        elif key == Qt.Key.Key_End:
            self.set_view(self.duration(), self._view_span)
        elif key == Qt.Key.Key_Space:
            self.toggle_playback()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # -- labels --------------------------------------------------------------------------------

    def _update_controls(self) -> None:
        has = self._sound is not None and self._env is not None
        for w in (self.play_button, self.zoom_in_button, self.zoom_out_button, self.zoom_fit_button):
            w.setEnabled(has)
        self._update_info()

    def _update_info(self) -> None:
        if self._sound is None:
            self.info_label.setText("no sound")
            return
        w0, w1 = self.window_range()
        self.info_label.setText(
            f"{self._sound.name}: window {format_time(w0)}–{format_time(w1)} of {format_time(self.duration())}"
        )
