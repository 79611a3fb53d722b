"""The instant panel: whether the generator's directions exist (and building them), the instant edit's
strength and disentanglement, Refine, and live mode (the picture follows the microphone).

Plain widgets and values only: the instant and live controllers decide what the buttons do.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop.ui.worker_tasks.instant import InstantSettings

STRENGTH_MAX = 3.0
STILL_MAX = 0.99


def eta_text(seconds: float | None) -> str:
    """Seconds left as a person reads them: '40 s left', '12 min left', '1 h 05 min left'."""
    if seconds is None or seconds < 0:
        return "estimating the time left…"
    if seconds < 90:
        return f"{max(1, round(seconds))} s left"
    minutes = round(seconds / 60)
    return f"{minutes} min left" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min left"


def _slider(name: str, top: int, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setObjectName(name)
    slider.setRange(0, top)
    slider.setPageStep(10)
    slider.setToolTip(tip)
    return slider


class InstantPanel(QGroupBox):
    paramsChanged = Signal(object)  # InstantSettings, while a slider moves
    buildRequested = Signal()
    cancelBuildRequested = Signal()
    refineRequested = Signal()
    refinePhotoRequested = Signal()
    liveToggled = Signal(bool)
    snapshotRequested = Signal()
    followLoudnessChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Instant", parent)
        self.setObjectName("instantPanel")
        self._quiet = False
        self.status = QLabel("Looking for the generator's directions…")
        self.status.setObjectName("directionsStatus")
        self.status.setWordWrap(True)
        self.build_button = QPushButton("Build directions…")
        self.build_button.setObjectName("buildDirections")
        self.build_button.setToolTip("Measure once how this generator's pictures respond (resumes where an "
                                     "interrupted build stopped); then every sound edits the picture at once")
        self.cancel_build_button = QPushButton("Cancel")
        self.cancel_build_button.setObjectName("cancelDirections")
        self.cancel_build_button.setToolTip("Stop building; the work done is kept and Build resumes it")
        self.build_progress = QProgressBar()
        self.build_progress.setObjectName("directionsProgress")
        self.build_progress.setRange(0, 1000)
        self.build_progress.setTextVisible(True)
        self.build_eta = QLabel("")
        self.build_eta.setObjectName("directionsEta")

        self.strength = _slider("instantStrength", round(STRENGTH_MAX * 100),
                                "How far the picture moves toward the sound: 0 % is the picture itself, 100 % the "
                                "step the paper's objective likes best")
        self.strength_label = QLabel("100 %")
        self.strength_label.setMinimumWidth(44)
        self.disentangle = _slider("disentangle", round(STILL_MAX * 100),
                                   "Disentanglement: the share of the picture's latent channels kept still (more: "
                                   "only what matters most to the sound changes)")
        self.disentangle_label = QLabel("0 %")
        self.disentangle_label.setMinimumWidth(44)
        self.refine_button = QPushButton("Refine")
        self.refine_button.setObjectName("refineButton")
        self.refine_button.setToolTip("Run the paper's optimisation from the instant edit (previews, Stop, Undo)")
        self.refine_photo_button = QPushButton("Refine photo")
        self.refine_photo_button.setObjectName("refinePhotoButton")
        self.refine_photo_button.setToolTip("The photo shown is the face encoder's quick likeness: invert it "
                                            "fully for a closer one (the photo steps of Advanced)")
        self.refine_photo_button.setVisible(False)
        self.live_button = QPushButton("Live")
        self.live_button.setObjectName("liveButton")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("The picture follows the microphone while it plays (a small preview; the full "
                                    "picture when the sound stops, on Snapshot or when Live is turned off)")
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.setObjectName("snapshotButton")
        self.snapshot_button.setToolTip("Keep the live picture of this moment at full size (in the history)")
        self.follow_loudness = QCheckBox("Strength follows loudness")
        self.follow_loudness.setObjectName("followLoudness")
        self.follow_loudness.setToolTip("Live: quiet sound moves the picture a little, loud sound all the way")
        self.live_status = QLabel("")
        self.live_status.setObjectName("liveStatus")
        self.live_status.setWordWrap(True)
        self._lay_out()
        self._wire()
        self.set_params(InstantSettings())
        self.set_building(False)
        self.set_ready(False)
        self.set_live(False)

    def _lay_out(self) -> None:
        build_row = QHBoxLayout()
        build_row.addWidget(self.build_progress, 1)
        build_row.addWidget(self.cancel_build_button)
        form = QFormLayout()
        for label, slider, value in (("Strength", self.strength, self.strength_label),
                                     ("Keep still", self.disentangle, self.disentangle_label)):
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(value)
            form.addRow(label, row)
        buttons = QHBoxLayout()
        for button in (self.refine_button, self.refine_photo_button, self.live_button, self.snapshot_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.build_button)
        layout.addLayout(build_row)
        layout.addWidget(self.build_eta)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.follow_loudness)
        layout.addWidget(self.live_status)

    def _wire(self) -> None:
        self.strength.valueChanged.connect(self._moved)
        self.disentangle.valueChanged.connect(self._moved)
        self.build_button.clicked.connect(self.buildRequested)
        self.cancel_build_button.clicked.connect(self.cancelBuildRequested)
        self.refine_button.clicked.connect(self.refineRequested)
        self.refine_photo_button.clicked.connect(self.refinePhotoRequested)
        self.live_button.toggled.connect(self.liveToggled)
        self.snapshot_button.clicked.connect(self.snapshotRequested)
        self.follow_loudness.toggled.connect(self.followLoudnessChanged)

    # -- values ----------------------------------------------------------------------------------------

    def params(self) -> InstantSettings:
        return InstantSettings(strength=self.strength.value() / 100.0, disentangle=self.disentangle.value() / 100.0)

    def set_params(self, params: InstantSettings) -> None:
        """Show ``params`` without emitting (undo and redo bring an earlier instant edit back)."""
        self._quiet = True
        try:
            self.strength.setValue(round(params.strength * 100))
            self.disentangle.setValue(round(params.disentangle * 100))
        finally:
            self._quiet = False
        self._show_values()

    def _moved(self) -> None:
        self._show_values()
        if not self._quiet:
            self.paramsChanged.emit(self.params())

    def _show_values(self) -> None:
        self.strength_label.setText(f"{self.strength.value()} %")
        self.disentangle_label.setText(f"{self.disentangle.value()} %")

    # -- states ----------------------------------------------------------------------------------------

    def set_status(self, text: str, can_build: bool) -> None:
        self.status.setText(text)
        self.build_button.setVisible(can_build)

    def set_ready(self, ready: bool) -> None:
        """Directions there: the sliders, Refine and Live can be used."""
        for widget in (self.strength, self.disentangle, self.refine_button, self.live_button):
            widget.setEnabled(ready)

    def set_refine_enabled(self, enabled: bool) -> None:
        self.refine_button.setEnabled(enabled)

    def set_building(self, building: bool) -> None:
        for widget in (self.build_progress, self.cancel_build_button, self.build_eta):
            widget.setVisible(building)
        self.build_button.setEnabled(not building)
        if building:
            self.build_progress.setValue(0)
            self.build_eta.setText(eta_text(None))

    def set_build_progress(self, done: int, total: int, eta_s: float | None, stage: str = "") -> None:
        self.build_progress.setRange(0, max(1, total))
        self.build_progress.setValue(done)
        self.build_eta.setText(f"{stage}: {eta_text(eta_s)}" if stage else eta_text(eta_s))

    def set_live(self, on: bool) -> None:
        """Show live mode on or off without emitting ``liveToggled``."""
        self.live_button.blockSignals(True)
        self.live_button.setChecked(on)
        self.live_button.blockSignals(False)
        self.live_button.setText("Live ●" if on else "Live")
        self.snapshot_button.setEnabled(on)
        if not on:
            self.live_status.setText("")

    def show_refine_photo(self, shown: bool) -> None:
        self.refine_photo_button.setVisible(shown)
