"""Live mode in the real window, from the virtual microphone (a file played into PulseAudio's null sink and
recorded for real): the picture follows the sound while it plays, the GUI thread never waits, a window
too busy to show every frame drops the stale ones, the full-size picture comes when the sound stops, on
Snapshot and when Live is turned off (then as an undoable edit), and strength may follow loudness.

Models are the rule-weighted 64 px ones with the engine's tiny directions (tests/engine/test_directions);
previews are made 32 px here so that they differ from the full 64 px picture (the window's default is 128).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from sgim_desktop.ui.worker_tasks.live import INTERVAL_S, PREVIEW_PX, LiveRecord
from tests.conftest import SAMPLE_AUDIO
from tests.ui import test_instant
from tests.ui.test_imports import loaded_after_importing
from tests.ui.test_main_window_edits import GapMeter, qimage_array
from tests.virtual_mic import ensure_virtual_mic, playing, write_tone

RAIN = SAMPLE_AUDIO / "raining.wav"
built = test_instant.built  # the module fixtures: the tiny directions and the models they fit
models = test_instant.models


def test_live_mode_imports_no_torch_until_it_runs():
    assert loaded_after_importing("sgim_desktop.ui.worker_tasks.live", "sgim_desktop.ui.controllers.live") == []


def test_previews_are_128_px_by_default_and_updates_come_at_least_every_half_second():
    assert PREVIEW_PX == 128 and 0 < INTERVAL_S <= 0.5


@pytest.fixture
def live_window(qtbot, models, built, labels_file, one_thread):
    ensure_virtual_mic()
    w = test_instant.instant_window(qtbot, models, built["generator_file"], labels_file)
    w.recorder.refresh_devices(rescan=True)
    w.live.preview_px = 32
    yield w
    w.close()


def frames_of(window) -> list:
    shown: list = []
    window.live.frameShown.connect(shown.append)
    return shown


@pytest.mark.slow
@pytest.mark.audio_device
def test_the_picture_follows_the_microphone_and_the_gui_never_waits(qtbot, live_window, tmp_path):
    w = live_window
    shown = frames_of(w)
    meter = GapMeter()
    with playing(RAIN):
        meter.start()
        w.instant_panel.live_button.click()
        assert w.live.is_live() and w.instant_panel.live_button.isChecked() and w.picture.held_by("live")
        qtbot.waitUntil(lambda: len(shown) >= 3, timeout=120000)
        max_gap = meter.stop()
        assert max_gap < 0.100, f"the GUI thread was blocked for {max_gap * 1000:.0f} ms"
        assert len(meter.gaps) > 50
        assert all(f.image.shape == (32, 32, 3) for f in shown[:2]), "previews at the preview size"
        assert len({f.image.tobytes() for f in shown}) > 1, "the picture moves with the sound"
        assert np.array_equal(qimage_array(w.canvas.edit_image()), shown[-1].image)
        assert "Frame" in w.instant_panel.live_status.text()

        with qtbot.waitSignal(w.live.ended, timeout=120000) as ended:
            w.instant_panel.live_button.click()
    record = ended.args[0]
    assert isinstance(record, LiveRecord) and record is w.session.state.edit and not record.snapshot
    assert record.image.shape == (64, 64, 3), "turned off: the full-size picture"
    assert not w.live.is_live() and not w.instant_panel.live_button.isChecked() and not w.picture.held()
    assert "microphone (live" in w.history_list.item(w.history_list.count() - 1).text()
    assert np.array_equal(qimage_array(w.canvas.edit_image()), record.image)
    assert not w.instant_panel.refine_button.isEnabled(), "the microphone it followed is gone: nothing to refine"
    w.undo_action.trigger()
    assert w.session.state.edit is not record


@pytest.mark.slow
@pytest.mark.audio_device
def test_a_busy_window_drops_stale_frames_instead_of_queueing_them(qtbot, live_window):
    w = live_window
    shown = frames_of(w)
    with playing(RAIN):
        w.instant_panel.live_button.click()
        qtbot.waitUntil(lambda: len(shown) >= 1, timeout=120000)
        task = w.live.task
        made_before = len(shown)
        time.sleep(4.0)  # the GUI thread is busy: frames are made meanwhile, none shown
        QApplication.processEvents()  # every poke that waited is served now
        assert len(shown) == made_before + 1, "only the newest frame is shown after the pause"
        assert task.dropped >= 1, "the frames made during the pause were dropped, not queued"
        w.instant_panel.live_button.click()
        qtbot.waitUntil(lambda: not w.live.is_live(), timeout=120000)


@pytest.mark.slow
@pytest.mark.audio_device
def test_the_full_picture_comes_when_the_sound_stops_and_on_snapshot(qtbot, live_window, tmp_path):
    w = live_window
    shown = frames_of(w)
    tone = write_tone(tmp_path / "tone.wav", 440.0, seconds=2.5, amplitude=0.5)
    w.live.quiet_s = 0.5
    with playing(tone) as player:
        w.instant_panel.live_button.click()
        qtbot.waitUntil(lambda: any(f.image.shape == (32, 32, 3) for f in shown), timeout=120000)
        player.wait(timeout=30)
    qtbot.waitUntil(lambda: shown[-1].image.shape == (64, 64, 3), timeout=120000)
    assert np.array_equal(qimage_array(w.canvas.edit_image()), shown[-1].image)
    with qtbot.waitSignal(w.live.snapshotTaken, timeout=120000) as taken:
        w.instant_panel.snapshot_button.click()
    snap = taken.args[0]
    assert isinstance(snap, LiveRecord) and snap.snapshot and snap.image.shape == (64, 64, 3)
    assert w.live.is_live() and "live snapshot" in w.history_list.item(w.history_list.count() - 1).text()
    w.instant_panel.live_button.click()
    qtbot.waitUntil(lambda: not w.live.is_live(), timeout=120000)


@pytest.mark.slow
@pytest.mark.audio_device
def test_strength_can_follow_loudness(qtbot, live_window, tmp_path):
    w = live_window
    shown = frames_of(w)
    quiet = write_tone(tmp_path / "quiet.wav", 440.0, seconds=8.0, amplitude=0.01)  # about -43 dBFS
    w.instant_panel.follow_loudness.setChecked(True)
    with playing(quiet):
        w.instant_panel.live_button.click()
        qtbot.waitUntil(lambda: len(shown) >= 2, timeout=120000)
        w.instant_panel.live_button.click()
        qtbot.waitUntil(lambda: not w.live.is_live(), timeout=120000)
    assert all(0 < f.strength < 0.5 for f in shown[1:]), [f.strength for f in shown]
