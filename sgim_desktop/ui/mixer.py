"""The panels beside the picture: where the picture comes from, and how sound and text mix into the edit.

The mixer shows what a person decides; the paper's knobs wait under a folded "Advanced" section. Both
panels hold plain values only. ``MixerPanel.settings()`` is the ``MixSettings`` the widgets show;
``set_settings`` shows a given one without echoing change signals, so undo/redo can drive the panel.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop.session import MixSettings, Source
from sgim_desktop.ui.fold import FoldSection
from sgim_desktop.ui.providers import GeneratorChoice

MAX_SEED = 2**31 - 1
STRENGTH_MAX = 2.0
STRENGTH_TIP = "How much of the edit to show: 0 % is the source, 100 % the edit (instant)"
FACE_LAMBDA_ID = 0.005  # the identity weight StyleCLIP and the README use for faces


def _spin(lo: float, hi: float, step: float, decimals: int, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


class SourcePanel(QGroupBox):
    """The generator, a seed with its truncation, a saved latent or a photo."""

    generatorChanged = Signal(str)
    seedChanged = Signal(int, float)  # seed, truncation
    randomRequested = Signal()
    openLatentRequested = Signal()
    openPhotoRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Picture", parent)
        self.generator = QComboBox()
        self.generator.setObjectName("generator")
        self.generator.setToolTip("Which kind of picture the generator makes (from the model catalog)")
        self.generator.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.generator.setMinimumContentsLength(16)
        self.seed = QSpinBox()
        self.seed.setObjectName("seed")
        self.seed.setRange(0, MAX_SEED)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("Each seed is a different picture")
        self.truncation = _spin(0.0, 1.5, 0.05, 2, "Lower: more typical pictures; higher: more varied ones")
        self.truncation.setObjectName("truncation")
        self.random_button = QPushButton("New random")
        self.random_button.setObjectName("newRandom")
        self.random_button.setToolTip("A new random picture (Ctrl+N)")
        self.latent_button = QPushButton("Open latent…")
        self.latent_button.setToolTip("Start from a latent saved earlier (.pt)")
        self.photo_button = QPushButton("Open photo…")
        self.photo_button.setObjectName("openPhoto")
        self.photo_button.setToolTip("Edit a photo of your own: its face (or its centre) is found and inverted")
        self.description = QLabel("")
        self.description.setObjectName("sourceDescription")
        self.description.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Generator", self.generator)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_button)
        form.addRow("Seed", seed_row)
        form.addRow("Truncation", self.truncation)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.description, 1)
        layout.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.photo_button)
        buttons.addWidget(self.latent_button)
        layout.addLayout(buttons)

        self.generator.currentIndexChanged.connect(self._generator_picked)
        self.seed.valueChanged.connect(self._seed_edited)
        self.truncation.valueChanged.connect(self._seed_edited)
        self.random_button.clicked.connect(self.randomRequested)
        self.latent_button.clicked.connect(self.openLatentRequested)
        self.photo_button.clicked.connect(self.openPhotoRequested)
        self._quiet = False

    def set_generators(self, choices: list[GeneratorChoice], current: str) -> None:
        self._quiet = True
        self.generator.clear()
        for choice in choices:
            self.generator.addItem(choice.name, choice.id)
            self.generator.setItemData(self.generator.count() - 1, choice.name, Qt.ItemDataRole.ToolTipRole)
        index = self.generator.findData(current)
        self.generator.setCurrentIndex(max(0, index))
        self._quiet = False

    def generator_id(self) -> str:
        return self.generator.currentData() or ""

    def show_source(self, source: Source | None) -> None:
        self._quiet = True
        if source is not None:
            index = self.generator.findData(source.generator_id)
            if index >= 0:
                self.generator.setCurrentIndex(index)
            if source.seed is not None and source.latent is None:
                self.seed.setValue(int(source.seed))
            self.truncation.setValue(float(source.truncation))
            self.description.setText(f"From {source.describe()}")
        else:
            self.description.setText("No picture yet")
        latent = source is not None and source.latent is not None
        self.truncation.setEnabled(not latent)
        self._quiet = False

    def _generator_picked(self) -> None:
        if not self._quiet:
            self.generatorChanged.emit(self.generator_id())

    def _seed_edited(self) -> None:
        if not self._quiet:
            self.seedChanged.emit(self.seed.value(), self.truncation.value())


class MixerPanel(QGroupBox):
    """What a person decides (sound weight, text, strength, the face's identity) above, and under a folded
    "Advanced" section the paper's knobs: how the sound and text mix, the optimisation, speed and device."""

    settingsChanged = Signal(object)  # MixSettings
    clipWeightChanged = Signal(float)
    advancedToggled = Signal(bool)  # the Advanced section opened (True) or folded

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Mix", parent)
        self._quiet = False
        self._face = False
        self._identity_ready = False
        self._build_novice()
        self._build_advanced()

        form = QFormLayout()
        form.addRow("Sound weight", self.sound_weight)
        form.addRow("Text", self.text)
        form.addRow("Text weight", self.text_weight)
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength, 1)
        strength_row.addWidget(self.strength_label)
        form.addRow("Strength", strength_row)
        form.addRow("", self.keep_identity)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced)

        self.set_settings(MixSettings())
        self.set_clip_weight(None)

        for box in (self.text_weight, self.lambda_sim, self.lambda_id, self.lr):
            box.valueChanged.connect(self._edited)
        for count in (self.split_layer, self.steps, self.invert_steps, self.preview_every):
            count.valueChanged.connect(self._edited)
        self.text.textChanged.connect(self._edited)
        self.mode.currentIndexChanged.connect(self._edited)
        self.device.currentIndexChanged.connect(self._edited)
        self.speed.currentIndexChanged.connect(self._edited)
        self.layer_masking.toggled.connect(self._edited)
        self.strength.valueChanged.connect(self._edited)
        self.keep_identity.toggled.connect(self._identity_ticked)
        self.sound_weight.valueChanged.connect(self._weight_edited)
        self.advanced.toggled.connect(self.advancedToggled)

    def _build_novice(self) -> None:
        self.sound_weight = _spin(0.0, 5.0, 0.1, 2, "How strongly the selected sound pulls the picture")
        self.sound_weight.setObjectName("soundWeight")
        self.text = QLineEdit()
        self.text.setObjectName("textPrompt")
        self.text.setPlaceholderText("optional text, e.g. a stormy night")
        self.text.setToolTip("A text mixed into the target together with the sound")
        self.text.setClearButtonEnabled(True)
        self.text_weight = _spin(0.0, 5.0, 0.1, 2, "How strongly the text pulls the picture")
        self.text_weight.setObjectName("textWeight")
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setObjectName("strength")
        self.strength.setRange(0, int(STRENGTH_MAX * 100))
        self.strength.setPageStep(10)
        self.strength.setToolTip(STRENGTH_TIP)
        self.strength_label = QLabel("100 %")
        self.strength_label.setMinimumWidth(48)
        self.keep_identity = QCheckBox("Keep the face's identity")
        self.keep_identity.setObjectName("keepIdentity")

    def _build_advanced(self) -> None:
        self.mode = QComboBox()
        self.mode.setObjectName("mixMode")
        self.mode.addItem("Joint loss", "joint")
        self.mode.addItem("Layer splice", "splice")
        self.mode.setToolTip("How the sound and the text come together in the picture")
        self.mode.setItemData(0, "One edit toward sound and text together", Qt.ItemDataRole.ToolTipRole)
        self.mode.setItemData(1, "Coarse layers (shape) from the sound edit, fine layers (detail) from the text edit",
                              Qt.ItemDataRole.ToolTipRole)
        self.split_layer = QSpinBox()
        self.split_layer.setObjectName("splitLayer")
        self.split_layer.setRange(1, 17)
        self.split_layer.setKeyboardTracking(False)
        self.split_layer.setToolTip("Layer splice only: the layers below this one (shape) come from the sound "
                                    "edit, the rest (detail, colour) from the text edit")
        self.lambda_sim = _spin(0.0, 1.0, 0.001, 4, "How close the edit stays to the original picture: higher "
                                "keeps more of it and changes less (the paper's λ sim, 0.008)")
        self.lambda_sim.setObjectName("lambdaSim")
        self.lambda_id = _spin(0.0, 1.0, 0.005, 3, "How hard the edit holds on to who the person is (faces "
                               f"only; 0 turns it off, {FACE_LAMBDA_ID:g} is the usual value)")
        self.lambda_id.setObjectName("lambdaId")
        self.steps = QSpinBox()
        self.steps.setObjectName("steps")
        self.steps.setRange(1, 5000)
        self.steps.setSingleStep(10)
        self.steps.setKeyboardTracking(False)
        self.steps.setToolTip("How many small moves the edit makes toward the sound: more takes longer and can "
                              "go further (the paper uses 300)")
        self.lr = _spin(0.001, 1.0, 0.01, 3, "How big each move is: bigger moves change the picture sooner "
                        "but less steadily (the paper's learning rate, 0.1)")
        self.lr.setObjectName("learningRate")
        self.layer_masking = QCheckBox("Adaptive layer masking")
        self.layer_masking.setObjectName("layerMasking")
        self.layer_masking.setToolTip("Let the edit learn, as it goes, which layers of the picture (shape, colour, "
                                      "detail) may move away from the original most (the paper's layer masking)")
        self.speed = QComboBox()
        self.speed.setObjectName("speed")
        for label, value in (("Exact (the paper's)", "exact"), ("Fast", "fast")):
            self.speed.addItem(label, value)
        self.speed.setToolTip("Exact computes what the original code computes; Fast runs the generator's "
                              "convolutions in bfloat16 where the processor has it (else the exact computation "
                              "in 60% of the steps), for a result as good in less time (docs/speed.md)")
        self.device = QComboBox()
        self.device.setObjectName("device")
        for label, value in (("Automatic", "auto"), ("CPU", "cpu"), ("GPU (CUDA)", "cuda")):
            self.device.addItem(label, value)
        self.device.setToolTip("Where the edit runs: Automatic uses a CUDA GPU when there is one")
        self.invert_steps = QSpinBox()
        self.invert_steps.setObjectName("invertSteps")
        self.invert_steps.setRange(1, 5000)
        self.invert_steps.setSingleStep(50)
        self.invert_steps.setKeyboardTracking(False)
        self.invert_steps.setToolTip("Steps that turn an opened photo into a latent (more: a closer likeness)")
        self.preview_every = QSpinBox()
        self.preview_every.setObjectName("previewEvery")
        self.preview_every.setRange(1, 1000)
        self.preview_every.setKeyboardTracking(False)
        self.preview_every.setToolTip("Show the picture every this many steps while it changes (fewer previews: "
                                      "a little faster)")

        body = QWidget()
        form = QFormLayout(body)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Mixing", self.mode)
        form.addRow("Split layer", self.split_layer)
        form.addRow("Closeness (λ sim)", self.lambda_sim)
        form.addRow("Identity (λ id)", self.lambda_id)
        form.addRow("Steps", self.steps)
        form.addRow("Learning rate", self.lr)
        form.addRow("", self.layer_masking)
        form.addRow("Speed", self.speed)
        form.addRow("Device", self.device)
        form.addRow("Photo steps", self.invert_steps)
        form.addRow("Preview every", self.preview_every)
        self.advanced = FoldSection("Advanced", body, "The paper's settings: how sound and text mix, how the "
                                    "edit searches, speed and device")
        self.advanced.setObjectName("advanced")
        self.advanced.header.setObjectName("advancedToggle")

    # -- values ----------------------------------------------------------------------------------

    def settings(self) -> MixSettings:
        return replace(
            self._base,
            text=self.text.text(),
            text_weight=round(self.text_weight.value(), 4),
            mix_mode=self.mode.currentData(),
            split_layer=self.split_layer.value(),
            strength=self.strength.value() / 100.0,
            lambda_sim=round(self.lambda_sim.value(), 6),
            lambda_id=round(self.lambda_id.value(), 6) if self._face else self._base.lambda_id,
            steps=self.steps.value(),
            invert_steps=self.invert_steps.value(),
            lr=round(self.lr.value(), 6),
            layer_masking=self.layer_masking.isChecked(),
            device=self.device.currentData(),
            speed=self.speed.currentData(),
            preview_every=self.preview_every.value(),
        )

    def set_settings(self, s: MixSettings) -> None:
        """Show ``s`` without emitting change signals (undo, redo and restored settings use this)."""
        self._quiet = True
        self._base = s
        try:
            if self.text.text() != s.text:
                self.text.setText(s.text)
            self.text_weight.setValue(s.text_weight)
            self.mode.setCurrentIndex(max(0, self.mode.findData(s.mix_mode)))
            self.split_layer.setValue(s.split_layer)
            self.strength.setValue(int(round(s.strength * 100)))
            self.lambda_sim.setValue(s.lambda_sim)
            self.lambda_id.setValue(s.lambda_id)
            self.steps.setValue(s.steps)
            self.invert_steps.setValue(s.invert_steps)
            self.preview_every.setValue(max(1, s.preview_every))
            self.lr.setValue(s.lr)
            self.layer_masking.setChecked(s.layer_masking)
            self.device.setCurrentIndex(max(0, self.device.findData(s.device)))
            self.speed.setCurrentIndex(max(0, self.speed.findData(s.speed)))
        finally:
            self._quiet = False
        self._update_enabled()

    def set_strength_owned(self, owned: bool) -> None:
        """An instant edit has its own strength (the instant panel's): this slider would scale it twice."""
        self.strength.setEnabled(not owned)
        self.strength.setToolTip("An instant edit's strength is set in the Instant panel" if owned else STRENGTH_TIP)

    def set_face_mode(self, face: bool) -> None:
        """The identity term only means something for faces."""
        self._face = face
        self._update_enabled()

    def set_identity_available(self, ready: bool) -> None:
        """Whether the face identity model (ArcFace) is there for the chosen generator."""
        self._identity_ready = ready
        self._update_enabled()

    def set_advanced_open(self, open_: bool) -> None:
        self.advanced.set_open(open_)

    def set_layer_count(self, n_latent: int) -> None:
        self.split_layer.setMaximum(max(1, n_latent - 1))

    def set_clip_weight(self, weight: float | None) -> None:
        """The selected sound's weight, or None (disabled) when there is no sound."""
        self._quiet = True
        self.sound_weight.setEnabled(weight is not None)
        self.sound_weight.setValue(1.0 if weight is None else weight)
        self._quiet = False

    def _update_enabled(self) -> None:
        self.split_layer.setEnabled(self.mode.currentData() == "splice")
        self.strength_label.setText(f"{self.strength.value()} %")
        self.lambda_id.setEnabled(self._face)
        self.keep_identity.blockSignals(True)
        self.keep_identity.setChecked(self.lambda_id.value() > 0)
        self.keep_identity.blockSignals(False)
        self.keep_identity.setEnabled(self._face and self._identity_ready)
        self.keep_identity.setVisible(self._face)  # a landscape has no face to keep
        self.keep_identity.setToolTip(
            f"Keep the person recognisable while the edit changes the face (λ id {FACE_LAMBDA_ID:g})"
            if self._identity_ready else "Needs the face identity model (ArcFace): get it in Tools ▸ Models")

    # -- signals ---------------------------------------------------------------------------------

    def _edited(self) -> None:
        self._update_enabled()
        if not self._quiet:
            self.settingsChanged.emit(self.settings())

    def _identity_ticked(self, keep: bool) -> None:
        """Ticked: λ id at the usual value for faces (finer values under Advanced); unticked: off."""
        self.lambda_id.blockSignals(True)
        self.lambda_id.setValue(FACE_LAMBDA_ID if keep else 0.0)
        self.lambda_id.blockSignals(False)
        self._edited()

    def _weight_edited(self) -> None:
        if not self._quiet:
            self.clipWeightChanged.emit(round(self.sound_weight.value(), 4))
