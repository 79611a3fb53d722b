"""Record from a microphone: pick the input, watch the level, Record/Stop (R).

PortAudio records on its own thread (``audio_io.Recorder``); this panel only polls it on a timer
for the meter, the elapsed time and trouble. Whatever goes wrong, the sound recorded so far is
emitted (``recorded``) before the reason (``failed``).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop import audio_io
from sgim_desktop.engine.sound import Sound, describe_duration
from sgim_desktop.errors import BadInputError
from sgim_desktop.ui.labels import WrappingLabel

METER_FLOOR_DB = -60.0
SHORTEST_RECORDING_S = 1.0
_PEAK_BLOCK = 1 << 20


def level_to_meter(level: float) -> int:
    """A peak magnitude (0..1) as 0..100 on a dB scale from METER_FLOOR_DB to 0 dBFS."""
    if level <= 0:
        return 0
    db = 20.0 * math.log10(min(1.0, level))
    return int(round(100.0 * max(0.0, 1.0 - db / METER_FLOOR_DB)))


def weak_recording(sound: Sound) -> str | None:
    """Why a recording is unlikely to be the one meant (under a second, or silent: nothing above the
    meter's floor), in words; None for a usable one. Read a block at a time: no copy of a long take."""
    reasons = []
    if sound.duration_s < SHORTEST_RECORDING_S:
        reasons.append(f"only {describe_duration(sound.duration_s)} long")
    samples = sound.samples
    peak = max((float(np.abs(samples[i:i + _PEAK_BLOCK]).max(initial=0.0))
                for i in range(0, len(samples), _PEAK_BLOCK)), default=0.0)
    if not peak >= 10.0 ** (METER_FLOOR_DB / 20.0):
        reasons.append(f"silent (nothing above {METER_FLOOR_DB:.0f} dB)")
    return " and ".join(reasons) or None


class RecorderPanel(QWidget):
    """Input device, level meter, Record/Stop and "edit when recording stops"."""

    recorded = Signal(object)
    failed = Signal(str)
    recordingChanged = Signal(bool)

    POLL_MS = 33

    def __init__(self, parent: QWidget | None = None, recorder: audio_io.Recorder | None = None) -> None:
        super().__init__(parent)
        self._recorder = recorder or audio_io.Recorder()

        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Microphone to record from")
        self.device_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(14)
        self.refresh_button = QToolButton(text="Refresh")
        self.refresh_button.setToolTip("Look again for microphones (after plugging one in)")
        self.refresh_button.clicked.connect(lambda: self.refresh_devices(rescan=True))

        self.record_action = QAction("Record", self)
        self.record_action.setShortcut(QKeySequence("R"))
        self.record_action.setToolTip("Record from the microphone; press again to stop (R)")
        self.record_action.setCheckable(True)
        self.record_action.triggered.connect(self._toggled)
        self.addAction(self.record_action)
        self.record_button = QToolButton()
        self.record_button.setDefaultAction(self.record_action)
        self.record_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

        self.meter = QProgressBar()
        self.meter.setRange(0, 100)
        self.meter.setTextVisible(False)
        self.meter.setMaximumHeight(10)
        self.meter.setToolTip(f"Input level, {METER_FLOOR_DB:.0f} dB to 0 dB")
        self.time_label = QLabel("0:00.0")
        self.edit_check = QCheckBox("Edit when recording stops")
        self.edit_check.setToolTip("Start the edit with the new recording as soon as it stops")
        self.status_label = WrappingLabel("")

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.device_combo, 1)
        row.addWidget(self.refresh_button)
        row2 = QHBoxLayout()
        row2.setContentsMargins(0, 0, 0, 0)
        row2.addWidget(self.record_button)
        row2.addWidget(self.meter, 1)
        row2.addWidget(self.time_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addLayout(row2)
        layout.addWidget(self.edit_check)
        layout.addWidget(self.status_label)

        self._timer = QTimer(self)
        self._timer.setInterval(self.POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.refresh_devices(rescan=False)

    # -- devices -------------------------------------------------------------------------------

    def refresh_devices(self, rescan: bool = True) -> None:
        """Fill the device list (``rescan``: ask the system again, for devices plugged in since)."""
        previous = self.device_combo.currentData()
        self.device_combo.clear()
        try:
            devices = audio_io.list_input_devices(refresh=rescan and not self.is_recording())
        except BadInputError as exc:
            self.device_combo.addItem("Sound input unavailable", None)
            self.device_combo.setEnabled(False)
            self.status_label.setText(str(exc))
            return
        if not devices:
            self.device_combo.addItem("No microphone found", None)
            self.device_combo.setEnabled(False)
            return
        self.device_combo.setEnabled(not self.is_recording())
        for device in devices:
            label = f"{device.name} (default)" if device.is_default else device.name
            self.device_combo.addItem(label, device.index)
        indexes = [d.index for d in devices]
        if previous in indexes:
            self.device_combo.setCurrentIndex(indexes.index(previous))
        else:
            default = next((i for i, d in enumerate(devices) if d.is_default), 0)
            self.device_combo.setCurrentIndex(default)

    def selected_device(self) -> int | None:
        """PortAudio index of the chosen input, or None for the system's default."""
        data = self.device_combo.currentData()
        return int(data) if data is not None else None

    def select_device(self, index: int) -> bool:
        """Choose the input with PortAudio index ``index``; False when it is not in the list."""
        position = self.device_combo.findData(index)
        if position < 0:
            return False
        self.device_combo.setCurrentIndex(position)
        return True

    # -- recording -----------------------------------------------------------------------------

    def record_and_edit(self) -> bool:
        return self.edit_check.isChecked()

    def is_recording(self) -> bool:
        return self._recorder.is_recording

    def level(self) -> int:
        """The meter's value, 0..100."""
        return self.meter.value()

    def _toggled(self, checked: bool) -> None:
        if checked and not self.is_recording():
            self.start_recording()
        elif not checked and self.is_recording():
            self.stop_recording()
        else:
            self._show_state()

    def start_recording(self, device: int | None = None) -> bool:
        """Start recording from ``device`` (default: the one chosen in the list); False if it failed."""
        if self.is_recording():
            return True
        chosen = self.selected_device() if device is None else device
        try:
            self._recorder.start(chosen)
        except BadInputError as exc:
            self._show_state()
            self._report(str(exc))
            return False
        self.status_label.setText(f"Recording from {self._recorder.device_name}…")
        self._timer.start()
        self._show_state()
        self.recordingChanged.emit(True)
        return True

    def stop_recording(self) -> Sound | None:
        """Stop, emit ``recorded`` with the sound (and ``failed`` if something went wrong); returns it."""
        if not self.is_recording():
            return None
        self._timer.stop()
        try:
            sound = self._recorder.stop()
        except BadInputError as exc:
            self._finish_state()
            self._report(str(exc))
            return None
        self._finish_state()
        problem = self._recorder.problem
        self.status_label.setText(problem or f"Recorded {sound.duration_s:.1f} s from {self._recorder.device_name}")
        self.recorded.emit(sound)
        if problem:
            self.failed.emit(problem)
        return sound

    def cancel_recording(self) -> None:
        """Stop and discard the recording in progress."""
        if self.is_recording():
            self._timer.stop()
            self._recorder.cancel()
            self._finish_state()
            self.status_label.setText("Recording discarded")

    def _finish_state(self) -> None:
        self.meter.setValue(0)
        self._show_state()
        self.recordingChanged.emit(False)

    def _report(self, message: str) -> None:
        self.status_label.setText(message)
        self.failed.emit(message)

    def _poll(self) -> None:
        self.meter.setValue(level_to_meter(self._recorder.level()))
        seconds = self._recorder.elapsed_s()
        self.time_label.setText(f"{int(seconds // 60)}:{seconds % 60:04.1f}")
        if self._recorder.problem:
            self.stop_recording()

    def _show_state(self) -> None:
        recording = self.is_recording()
        self.record_action.blockSignals(True)
        self.record_action.setChecked(recording)
        self.record_action.blockSignals(False)
        self.record_action.setText("Stop" if recording else "Record")
        has_devices = self.device_combo.currentData() is not None
        self.device_combo.setEnabled(not recording and has_devices)
        self.refresh_button.setEnabled(not recording)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.cancel_recording()
        super().closeEvent(event)
