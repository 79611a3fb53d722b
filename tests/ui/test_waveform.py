"""WaveformView: min/max drawing of any length, zoom and scroll, the window the encoder hears."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from sgim_desktop.engine.audio import WINDOW_SECONDS, Sound
from sgim_desktop.engine.clip_space import Heard
from sgim_desktop.ui.envelope import Envelope, column_extents, envelope_for, format_heard
from sgim_desktop.ui.waveform import WaveformView


def brute_force(samples: np.ndarray, first: float, per_px: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full(width, np.nan)
    hi = np.full(width, np.nan)
    for i in range(width):
        a = max(0, int(np.floor(first + i * per_px)))
        b = min(len(samples), int(np.floor(first + (i + 1) * per_px)))
        if b > a:
            lo[i], hi[i] = samples[a:b].min(), samples[a:b].max()
    return lo, hi


def make_sound(seconds: float, rate: int = 8000, seed: int = 0) -> Sound:
    rng = np.random.default_rng(seed)
    return Sound(samples=rng.uniform(-1, 1, int(seconds * rate)).astype(np.float32), sample_rate=rate, name="noise")


@pytest.fixture
def view(qtbot):
    w = WaveformView()
    qtbot.addWidget(w)
    w.resize(800, 200)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.mark.parametrize("per_px", [64.0, 100.0, 256.0, 1000.0, 5000.0])
def test_columns_hold_the_extremes_of_their_samples(per_px):
    samples = make_sound(30).samples
    env = Envelope.of(samples)
    first = 12345.0
    lo, hi = column_extents(samples, env, first, per_px, 200)
    ref_lo, ref_hi = brute_force(samples, first, per_px, 200)
    valid = ~np.isnan(ref_lo)
    # a column drawn from envelope blocks may take in up to one block beyond its edges, never less
    assert np.all(lo[valid] <= ref_lo[valid]) and np.all(hi[valid] >= ref_hi[valid])
    block = env.block(max(i for i in range(len(env.mins)) if env.block(i) <= per_px))
    widened_lo, widened_hi = brute_force(samples, first - block, per_px, 200)
    shifted_lo, shifted_hi = brute_force(samples, first + block, per_px, 200)
    assert np.all(lo[valid] >= np.fmin(ref_lo, np.fmin(widened_lo, shifted_lo))[valid] - 1e-6)
    assert np.all(hi[valid] <= np.fmax(ref_hi, np.fmax(widened_hi, shifted_hi))[valid] + 1e-6)


def test_close_up_columns_join_neighbouring_samples():
    samples = np.array([0, 1, 0, -1, 0, 1, 0, -1], dtype=np.float32)
    env = Envelope.of(samples)
    lo, hi = column_extents(samples, env, 0.0, 0.5, 16)
    # two columns per sample: each spans the straight line to the next sample
    assert hi[0] == pytest.approx(0.5) and lo[0] == 0.0
    assert hi[1] == pytest.approx(1.0) and lo[1] == pytest.approx(0.5)
    # two samples per column, plus the next column's first sample so the trace stays connected
    lo, hi = column_extents(samples, env, 0.0, 2.0, 4)
    assert list(hi) == [1, 0, 1, 0] and list(lo) == [0, -1, 0, -1]


def test_columns_outside_the_sound_are_empty():
    samples = np.ones(1000, dtype=np.float32)
    lo, _ = column_extents(samples, Envelope.of(samples), -500.0, 10.0, 200)
    assert np.isnan(lo[:50]).all() and (lo[50:150] == 1).all() and np.isnan(lo[150:]).all()


def test_the_envelope_is_computed_once_per_sound():
    a, b = make_sound(3, seed=1), make_sound(3, seed=2)
    assert envelope_for(a) is envelope_for(a)
    assert envelope_for(a) is not envelope_for(b)


def test_a_fifteen_minute_sound_draws_in_milliseconds(view):
    rate = 44100
    rng = np.random.default_rng(0)
    sound = Sound(samples=rng.standard_normal(15 * 60 * rate, dtype=np.float32) * 0.2, sample_rate=rate, name="long")
    t0 = time.perf_counter()
    view.set_sound(sound)
    prepare_s = time.perf_counter() - t0
    timings = []
    for span in (sound.duration_s, 60.0, 1.0, 0.01):
        view.set_view(400.0, span)
        t0 = time.perf_counter()
        view.render_image(1600, 200)
        timings.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    view.grab()
    paint_s = time.perf_counter() - t0
    print(f"15 min @44.1 kHz: envelope {prepare_s * 1e3:.0f} ms; 1600x200 render "
          + ", ".join(f"{t * 1e3:.1f}" for t in timings) + f" ms; whole widget paint {paint_s * 1e3:.1f} ms")
    assert max(timings) < 0.05
    assert prepare_s < 2.0


def test_the_drawing_follows_the_sound(view):
    rate = 8000
    samples = np.zeros(rate * 4, dtype=np.float32)
    samples[rate * 2 :] = np.where(np.arange(rate * 2) % 2, 0.9, -0.9)
    view.set_sound(Sound(samples=samples, sample_rate=rate))
    image = view.render_image(400, 101)
    alpha = np.array([[image.pixelColor(x, y).alpha() for x in range(400)] for y in range(101)])
    painted_rows = (alpha > 0).sum(axis=0)
    assert painted_rows[:195].max() <= 2  # silence: a hairline at the centre
    assert painted_rows[205:].min() >= 90  # +-0.9: nearly the whole height


def test_the_window_is_about_ten_seconds_and_stays_inside_the_sound(view, qtbot):
    view.set_sound(make_sound(30))
    assert view.window_range() == (0.0, pytest.approx(WINDOW_SECONDS))
    with qtbot.waitSignal(view.windowChanged) as changed:
        view.set_window_start(25.0)
    assert changed.args[0] == pytest.approx(30 - WINDOW_SECONDS)
    assert view.window_range()[1] == pytest.approx(30.0)
    view.set_window_start(-4)
    assert view.window_start() == 0.0


def test_a_short_sound_is_heard_whole(view):
    view.set_sound(make_sound(3))
    view.set_window_start(2.0)
    assert view.window_range() == (0.0, pytest.approx(3.0))


def test_dragging_moves_the_window_and_reports_on_release(view, qtbot):
    view.set_sound(make_sound(60))
    canvas = view.canvas

    def x_at(s):
        return int(round(view.x_of(s)))

    y = canvas.height() // 2
    emitted = []
    view.windowChanged.connect(emitted.append)
    # a click outside the window centres the window there
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x_at(40.0), y))
    assert view.window_start() == pytest.approx(40.0 - WINDOW_SECONDS / 2, abs=0.2)
    assert emitted == [pytest.approx(view.window_start())]
    # grabbing the window and dragging it moves it by as much as the mouse moved
    before = view.window_start()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x_at(before + 2.0), y))
    qtbot.mouseMove(canvas, QPoint(x_at(before - 8.0), y))
    assert len(emitted) == 1  # nothing while dragging
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x_at(before - 8.0), y))
    assert view.window_start() == pytest.approx(before - 10.0, abs=0.2)
    assert len(emitted) == 2 and emitted[-1] == view.window_start()


def wheel(widget, x: float, dy: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    pos = QPointF(x, widget.height() / 2)
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(), QPoint(0, dy), Qt.MouseButton.NoButton,
                        modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_ctrl_wheel_zooms_around_the_pointer_and_the_wheel_scrolls(view):
    view.set_sound(make_sound(100))
    x = view.x_of(25.0)
    wheel(view.canvas, x, 120, Qt.KeyboardModifier.ControlModifier)
    start, end = view.view_range()
    assert end - start == pytest.approx(100 / 1.5)
    assert view.time_at(x) == pytest.approx(25.0)
    assert view.scrollbar.isVisible()
    wheel(view.canvas, x, -120)
    assert view.view_range()[0] > start
    wheel(view.canvas, x, -120 * 50)
    assert view.view_range()[1] == pytest.approx(100.0)


def test_keys_zoom_in_out_fit_and_scroll(view, qtbot):
    view.set_sound(make_sound(100))
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    span = view.view_range()[1] - view.view_range()[0]
    assert span == pytest.approx(100 / 2.25)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.view_range()[0] > 0
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert view.view_range()[1] - view.view_range()[0] == pytest.approx(span * 1.5)
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert view.view_range() == (0.0, pytest.approx(100.0))
    assert not view.scrollbar.isVisible()
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert view.window_start() == pytest.approx(1.0)


def test_zooming_in_stops_at_a_few_dozen_samples(view):
    view.set_sound(make_sound(10))
    for _ in range(60):
        view.zoom_in()
    start, end = view.view_range()
    assert (end - start) * 8000 == pytest.approx(64)
    view.render_image(800, 100)


def test_the_scrollbar_scrolls_the_view(view):
    view.set_sound(make_sound(100))
    view.set_view(0.0, 10.0)
    view.scrollbar.setValue(view.scrollbar.maximum())
    assert view.view_range()[1] == pytest.approx(100.0)


def test_what_it_hears_is_shown_as_labels_with_percentages(view):
    view.set_sound(make_sound(5))
    view.set_heard([("rain", 0.54), ("thunder", 0.2)])
    assert view.heard_text() == "hears: rain 54%, thunder 20%"
    view.set_heard(None)
    assert view.heard_text() == "hears: …"
    assert format_heard([]) == "hears: —"
    assert format_heard([Heard("giggling", 0.71, 0.3)]) == "hears: giggling 71%"


def test_without_a_sound_the_controls_are_off_and_it_still_paints(view):
    view.set_sound(None)
    assert not view.play_button.isEnabled()
    view.grab()
    view.play_window()
    assert not view.is_playing()


@pytest.mark.audio_device
def test_play_sounds_the_window_and_shows_where_it_is(view, qtbot):
    from tests.virtual_mic import ensure_virtual_mic

    ensure_virtual_mic()
    rate = 44100
    samples = (0.2 * np.sin(2 * np.pi * 440 * np.arange(rate * 30) / rate)).astype(np.float32)
    view.set_sound(Sound(samples=samples, sample_rate=rate))
    view.set_window_start(12.0)
    failures = []
    view.playbackFailed.connect(failures.append)
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert view.is_playing() and view.play_button.text() == "Stop"
    qtbot.waitUntil(lambda: view._playhead is not None and view._playhead > 12.05, timeout=5000)
    view.grab()
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert not view.is_playing() and view.play_button.text() == "Play window"
    assert failures == []
