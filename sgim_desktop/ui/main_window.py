"""The main window: the picture, the sounds, the mixer, messages and progress, menus, drag and drop.

The window holds a ``Session`` (the document, with undo/redo) and one ``EngineWorker`` (the only way
to the engine). Every handler here does a few milliseconds of work at most: reading files,
rendering and editing are queued on the worker, whose signals come back with images and plain data.
A photo is opened the same way: the worker reads it, finds and aligns its face (asking which one
when there are several), inverts it with previews, and the latent found becomes the source.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop.session import EditRecord, MixSettings, Session, SessionState, SoundClip, Source
from sgim_desktop.ui.canvas import ImageCanvas, to_qimage
from sgim_desktop.ui.face_chooser import FaceChooser
from sgim_desktop.ui.mixer import MAX_SEED, MixerPanel, SourcePanel
from sgim_desktop.ui.recorder import RecorderPanel
from sgim_desktop.ui.settings import WindowSettings
from sgim_desktop.ui.waveform import WaveformView
from sgim_desktop.ui.worker import (
    CatalogModels,
    EditJob,
    EngineWorker,
    FoundFaces,
    InvertedPhoto,
    ModelProvider,
    PhotoJob,
)

SOUND_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au",
                  ".snd", ".w64", ".caf"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".heic"}
LATENT_SUFFIXES = {".pt", ".pth", ".safetensors"}
OPEN_FILTER = ("Sounds, latents and pictures (" + " ".join(f"*{s}" for s in sorted(SOUND_SUFFIXES | LATENT_SUFFIXES
               | IMAGE_SUFFIXES)) + ");;Sounds (" + " ".join(f"*{s}" for s in sorted(SOUND_SUFFIXES))
               + ");;Photos (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
               + ");;Latents (*.pt *.pth *.safetensors);;All files (*)")
PHOTO_FILTER = "Photos (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"
CACHE_IMAGES = 24


def classify(path: str | Path) -> str:
    """'sound', 'image', 'latent', 'folder', 'missing' or 'unknown', from the name (reading happens later)."""
    p = Path(path)
    if not p.exists():
        return "missing"
    if p.is_dir():
        return "folder"
    suffix = p.suffix.lower()
    if suffix in SOUND_SUFFIXES:
        return "sound"
    if suffix in LATENT_SUFFIXES:
        return "latent"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return "unknown"


class MessageBar(QFrame):
    """A strip above the picture for messages a person must see: not modal, closes with its button."""

    actionClicked = Signal()

    COLORS = {"info": "#e7f1fb", "warning": "#fff4d6", "error": "#fde2e1"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.label = QLabel()
        self.label.setObjectName("messageText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action = QPushButton()
        self.action.setVisible(False)
        self.action.clicked.connect(self.actionClicked)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Hide this message")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(close)
        self.level = "info"
        self.hide()

    def show_message(self, text: str, level: str = "info", action: str | None = None) -> None:
        self.level = level
        self.label.setText(text)
        self.action.setVisible(action is not None)
        self.action.setText(action or "")
        self.setStyleSheet(f"#messageBar {{ background: {self.COLORS.get(level, '#eeeeee')}; border-radius: 4px; }}"
                           " #messageBar QLabel { color: #202020; }")
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class MainWindow(QMainWindow):
    """The app's one window; ``models`` injects where models come from (default: the model manager)."""

    def __init__(self, models: ModelProvider | None = None, settings: Any = None, labels: str = "vggsound",
                 manager: Any = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("sgim-desktop")
        self.setAcceptDrops(True)
        self.provider: ModelProvider = models if models is not None else CatalogModels(manager)
        self._manager = manager
        self.prefs = WindowSettings(settings)
        self.session = Session(settings=self.prefs.mix_settings())
        self.worker = EngineWorker(self.provider, labels, self)
        self.busy_policy = "ask"  # a new edit while one runs: 'ask', 'queue' or 'replace'
        self.messages: list[tuple[str, str]] = []
        self.models_dialog: Any = None

        self._running: EditJob | None = None
        self._queued: EditJob | None = None
        self._photo: PhotoJob | None = None  # the photo being opened (read, faces, inversion)
        self._photo_waiting: PhotoJob | None = None  # opens when the running edit ends
        self._photo_offer: PhotoJob | None = None  # no face found: the whole picture is offered
        self._photo_token = 0
        self._photo_on_canvas = False
        self.face_chooser: FaceChooser | None = None
        self._batch = 0
        self._edit_when_sounds_ready: set[int] = set()
        self._source_token = 0
        self._source_images: OrderedDict[Source, np.ndarray] = OrderedDict()
        self._strength_images: OrderedDict[tuple[int, float], np.ndarray] = OrderedDict()
        self._heard: dict[str, tuple[float, list]] = {}
        self._selected_clip: str | None = None
        self._shown_source: Source | None = None
        self._shown_edit: int | None = None
        self._models_missing: list[str] = []
        self._history_count = -1
        self._syncing = False

        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._connect_worker()
        self._hear_timer = QTimer(self)
        self._hear_timer.setSingleShot(True)
        self._hear_timer.setInterval(350)
        self._hear_timer.timeout.connect(self._hear_selected)

        generators = self.provider.generators()
        saved = self.prefs.generator()
        generator_id = saved if any(g.id == saved for g in generators) else self.provider.default_generator()
        self.source_panel.set_generators(generators, generator_id)
        self._update_face_mode(generator_id)
        self.worker.start()
        self._check_models()
        self.session.listeners.append(self._state_changed)
        self.session.set_source(Source(generator_id=generator_id, seed=random.randint(0, 9999), truncation=0.7))
        self.session.clear_history()
        self._update_actions()
        self._restore_geometry()

    # -- building --------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.message_bar = MessageBar()
        self.message_bar.actionClicked.connect(self._message_action)
        self._message_action_kind = ""
        self.canvas = ImageCanvas()

        self.sound_list = QListWidget()
        self.sound_list.setObjectName("soundList")
        self.sound_list.setMaximumWidth(220)
        self.sound_list.setToolTip("The sounds in the mix; the selected one is shown and weighted")
        self.sound_list.currentRowChanged.connect(self._clip_selected)
        self.remove_sound_button = QPushButton("Remove")
        self.remove_sound_button.setToolTip("Take the selected sound out of the mix")
        self.remove_sound_button.clicked.connect(self._remove_selected_clip)
        sounds_box = QVBoxLayout()
        sounds_box.setContentsMargins(0, 0, 0, 0)
        sounds_box.addWidget(QLabel("Sounds"))
        sounds_box.addWidget(self.sound_list, 1)
        sounds_box.addWidget(self.remove_sound_button)
        sounds_side = QWidget()
        sounds_side.setLayout(sounds_box)
        self.waveform = WaveformView()
        self.waveform.setObjectName("waveform")
        self.waveform.windowChanged.connect(self._window_moved)
        self.waveform.playbackFailed.connect(lambda text: self.show_message(text, "error"))
        self.recorder = RecorderPanel()
        self.recorder.setObjectName("recorder")
        self.recorder.recorded.connect(self._recorded)
        self.recorder.failed.connect(lambda text: self.show_message(text, "error"))
        sound_area = QWidget()
        sound_layout = QVBoxLayout(sound_area)
        sound_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(sounds_side)
        row.addWidget(self.waveform, 1)
        sound_layout.addLayout(row, 1)
        sound_layout.addWidget(self.recorder)

        self.left_split = QSplitter(Qt.Orientation.Vertical)
        self.left_split.setObjectName("leftSplit")
        self.left_split.addWidget(self.canvas)
        self.left_split.addWidget(sound_area)
        self.left_split.setStretchFactor(0, 3)
        self.left_split.setStretchFactor(1, 1)

        self.source_panel = SourcePanel()
        self.source_panel.generatorChanged.connect(self._generator_changed)
        self.source_panel.seedChanged.connect(self._seed_changed)
        self.source_panel.randomRequested.connect(self.new_random_source)
        self.source_panel.openLatentRequested.connect(self._ask_open_latent)
        self.source_panel.openPhotoRequested.connect(self._ask_open_photo)
        self.mixer = MixerPanel()
        self.mixer.settingsChanged.connect(self._mixer_changed)
        self.mixer.clipWeightChanged.connect(self._clip_weight_changed)
        self.edit_button = QPushButton("Edit picture")
        self.edit_button.setObjectName("editButton")
        self.edit_button.setToolTip("Move the picture toward the sound and text (Ctrl+Return)")
        self.edit_button.setMinimumHeight(36)
        self.edit_button.clicked.connect(self.run_edit)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the running edit or the photo being opened (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.setMinimumHeight(36)
        self.stop_button.clicked.connect(self.cancel_edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_button, 2)
        buttons.addWidget(self.stop_button, 1)
        self.history_list = QListWidget()
        self.history_list.setObjectName("historyList")
        self.history_list.setIconSize(QSize(40, 40))
        self.history_list.setMinimumHeight(90)
        self.history_list.itemActivated.connect(self._history_picked)
        self.history_list.itemClicked.connect(self._history_picked)
        history = QGroupBox("History")
        history_layout = QVBoxLayout(history)
        history_layout.addWidget(self.history_list)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.source_panel)
        side_layout.addWidget(self.mixer)
        side_layout.addLayout(buttons)
        side_layout.addWidget(history, 1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(side.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        scroll.setFrameShape(QFrame.Shape.NoFrame)

        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.setObjectName("mainSplit")
        self.main_split.addWidget(self.left_split)
        self.main_split.addWidget(scroll)
        self.main_split.setStretchFactor(0, 3)
        self.main_split.setStretchFactor(1, 1)
        self.main_split.setSizes([900, scroll.minimumWidth()])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.main_split, 1)
        self.setCentralWidget(central)

        self.status_label = QLabel("Ready")
        self.status_label.setObjectName("statusText")
        self.progress = QProgressBar()
        self.progress.setObjectName("editProgress")
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.progress)
        for w in self.findChildren(QWidget):
            w.setAcceptDrops(False)  # files dropped on any child reach the window's handler

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.open_action = self._action("&Open…", self._ask_open, K.Open, "Open sounds, a latent or a photo")
        self.add_sound_action = self._action("&Add Sound to Mix…", self._ask_add_sound, "Ctrl+Shift+O",
                                             "Add a sound to the sounds already in the mix")
        self.open_latent_action = self._action("Open &Latent…", self._ask_open_latent, None,
                                               "Start from a latent saved earlier")
        self.open_photo_action = self._action("Open &Photo…", self._ask_open_photo, "Ctrl+Shift+P",
                                              "Edit a photo of your own: its face (or centre) is found and inverted")
        self.export_png_action = self._action("&Export Picture…", self._ask_export_png, K.Save,
                                              "Save the edited picture as PNG")
        self.export_side_action = self._action("Export &Side by Side…", self._ask_export_side, "Ctrl+Shift+S",
                                               "Save before and after next to each other as PNG")
        self.export_latent_action = self._action("Export La&tent…", self._ask_export_latent, "Ctrl+Alt+S",
                                                 "Save the edited latent (to edit it again later)")
        self.export_photo_action = self._action("Export &Photo…", self._ask_export_photo, "Ctrl+E",
                                                "Save the whole photo with the edit pasted back, at its own size")
        self.quit_action = self._action("&Quit", self.close, K.Quit)
        self.undo_action = self._action("&Undo", self.undo, K.Undo)
        self.redo_action = self._action("&Redo", self.redo, K.Redo)
        self.edit_action = self._action("&Edit Picture", self.run_edit, ["Ctrl+Return", "Ctrl+Enter"],
                                        "Move the picture toward the sound and text")
        self.stop_action = self._action("&Stop", self.cancel_edit, "Esc",
                                        "Stop the running edit or the photo being opened")
        self.random_action = self._action("&New Random Picture", self.new_random_source, K.New,
                                          "A new random picture from the chosen generator")
        self.fit_action = self._action("Zoom to &Fit", self.canvas.zoom_fit, "Ctrl+0")
        self.actual_action = self._action("&Actual Size", self.canvas.zoom_actual, "Ctrl+1")
        self.zoom_in_action = self._action("Zoom &In", lambda: self.canvas.zoom_by(1.25), K.ZoomIn)
        self.zoom_out_action = self._action("Zoom &Out", lambda: self.canvas.zoom_by(0.8), K.ZoomOut)
        self.models_action = self._action("&Models…", self.open_models_dialog, "Ctrl+Shift+M",
                                          "See, download and import the models")
        self.about_action = self._action("&About sgim-desktop", self._about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.add_sound_action)
        file_menu.addAction(self.open_latent_action)
        file_menu.addAction(self.open_photo_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.export_png_action)
        file_menu.addAction(self.export_photo_action)
        file_menu.addAction(self.export_side_action)
        file_menu.addAction(self.export_latent_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.edit_action)
        edit_menu.addAction(self.stop_action)
        edit_menu.addAction(self.random_action)
        view_menu = bar.addMenu("&View")
        for a in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action):
            view_menu.addAction(a)
        tools_menu = bar.addMenu("&Tools")
        tools_menu.addAction(self.models_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)
        self._fill_recent_menu()

    def _connect_worker(self) -> None:
        w = self.worker
        w.modelsLoading.connect(lambda gid: self.set_status("Loading the models…"))
        w.modelsLoaded.connect(self._models_loaded)
        w.modelsFailed.connect(self._models_failed)
        w.soundsOpened.connect(self._sounds_opened)
        w.heard.connect(self._heard_result)
        w.latentOpened.connect(self._latent_opened)
        w.sourceRendered.connect(self._source_rendered)
        w.editStarted.connect(self._edit_started)
        w.editProgress.connect(self._edit_progress)
        w.editPreview.connect(self._edit_preview)
        w.editFinished.connect(self._edit_finished)
        w.editCancelled.connect(self._edit_cancelled)
        w.editFailed.connect(self._edit_failed)
        w.strengthRendered.connect(self._strength_rendered)
        w.photoStage.connect(self._photo_stage)
        w.photoFaces.connect(self._photo_faces)
        w.photoAligned.connect(self._photo_aligned)
        w.photoProgress.connect(self._photo_progress)
        w.photoPreview.connect(self._photo_preview)
        w.photoInverted.connect(self._photo_inverted)
        w.photoCancelled.connect(self._photo_cancelled)
        w.photoFailed.connect(self._photo_failed)
        w.exported.connect(lambda kind, path: self.show_message(f"Saved {path}", "info"))
        w.failed.connect(self._worker_failed)

    # -- messages --------------------------------------------------------------------------------

    def show_message(self, text: str, level: str = "info", action: str | None = None, kind: str = "") -> None:
        """A message in the bar above the picture and in the status line; never modal."""
        self.messages.append((level, text))
        self._message_action_kind = kind
        self.message_bar.show_message(text, level, action)
        self.set_status(text.splitlines()[0])

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _message_action(self) -> None:
        kind = self._message_action_kind
        self.message_bar.hide()
        if kind == "models":
            self.open_models_dialog()
        elif kind == "whole_photo":
            self.use_whole_photo()

    # -- models ----------------------------------------------------------------------------------

    def manager(self) -> Any:
        found = getattr(self.provider, "manager", None) or self._manager
        if found is None:
            from sgim_desktop.checkpoints.manager import ModelManager

            self._manager = found = ModelManager()
        return found

    def _generator_id(self) -> str:
        source = self.session.state.source
        return source.generator_id if source is not None else self.source_panel.generator_id()

    def _check_models(self) -> bool:
        """True when everything for the chosen generator is on disk; otherwise say what is missing."""
        self._models_missing = self.provider.missing(self.source_panel.generator_id() or self._generator_id())
        if self._models_missing:
            self.canvas.set_placeholder("Models are missing: " + "; ".join(self._models_missing)
                                        + "\n\nOpen Tools ▸ Models… to download them.")
            self.show_message("Some models are not downloaded yet: " + "; ".join(self._models_missing),
                              "warning", "Get models…", "models")
            return False
        return True

    def first_run_check(self) -> None:
        """Called once at start-up: when models are missing, open the models dialog to fetch them."""
        if self.provider.missing(self._generator_id()):
            self.open_models_dialog(
                intro="Welcome! Before it can edit, sgim-desktop needs a few models (downloaded once). "
                "Check their licences below, then press 'Download missing'."
            )

    def open_models_dialog(self, intro: str = "") -> Any:
        from sgim_desktop.ui.models_dialog import ModelsDialog

        if self.models_dialog is not None and self.models_dialog.isVisible():
            self.models_dialog.raise_()
            self.models_dialog.activateWindow()
            return self.models_dialog
        wanted = self.provider.missing_ids(self._generator_id()) or []
        dialog = ModelsDialog(self.manager(), self, wanted=wanted, intro=intro)
        dialog.modelsChanged.connect(self._models_changed)
        self.models_dialog = dialog
        dialog.show()
        return dialog

    def _models_changed(self) -> None:
        if not self.provider.missing(self._generator_id()):
            self._models_missing = []
            self.message_bar.hide()
            self.canvas.set_placeholder("Loading the picture…")
            self._request_source(self.session.state.source)

    def _models_loaded(self, generator_id: str, device: str) -> None:
        self.set_status(f"Models ready on {device}")
        self._hear_selected()

    def _models_failed(self, message: str) -> None:
        self.show_message(f"Could not load the models: {message}", "error", "Models…", "models")

    def _update_face_mode(self, generator_id: str) -> None:
        domain = next((g.domain for g in self.provider.generators() if g.id == generator_id), None)
        self.mixer.set_face_mode(domain == "face")

    # -- the session on screen -------------------------------------------------------------------

    def _state_changed(self, state: SessionState, reason: str) -> None:
        """Show ``state``: the panels, the picture, the sounds, the history and the actions."""
        self._syncing = True
        try:
            if self.mixer.settings() != state.settings:
                self.mixer.set_settings(state.settings)
            self.source_panel.show_source(state.source)
            if state.source is not None:
                self._update_face_mode(state.source.generator_id)
            self._show_picture(state)
            self._show_sounds(state)
            self._show_history()
        finally:
            self._syncing = False
        self._update_actions()
        self._update_title()

    def _show_picture(self, state: SessionState) -> None:
        if self._running is not None or self._photo_on_canvas:
            return  # while an edit or an inversion runs the canvas shows its previews
        record = state.edit
        if record is not None:
            if record.source is not self._shown_source or not self.canvas.has_source():
                self.canvas.set_source(record.source_image)
            self._remember(self._source_images, record.source, record.source_image)
            self._shown_source = record.source
            image = self._edit_image_at(record, state.settings.strength)
            if image is not None:
                self.canvas.set_edit(image)
            elif self._shown_edit != record.number:
                self.canvas.set_edit(record.image)
            self._shown_edit = record.number
            return
        self._shown_edit = None
        self.canvas.set_edit(None)
        if state.source is not self._shown_source:
            self._shown_source = state.source
            cached = self._source_images.get(state.source) if state.source is not None else None
            self.canvas.set_source(cached)
            if cached is None and state.source is not None:
                self._request_source(state.source)

    def _edit_image_at(self, record: EditRecord, strength: float) -> np.ndarray | None:
        """The edit at ``strength`` if known; otherwise None, and the worker is asked to render it."""
        if strength == 1.0:
            return record.image
        if strength == 0.0:
            return record.source_image
        cached = self._strength_images.get((record.number, strength))
        if cached is not None:
            return cached
        self.worker.render_strength(record, strength, self.session.settings.device)
        return None

    def _request_source(self, source: Source | None) -> None:
        if source is None or self._models_missing:
            return
        self._source_token += 1
        self.canvas.set_placeholder("Making the picture…")
        self.worker.render_source(self._source_token, source, self.session.settings.device)

    def _source_rendered(self, token: int, image: np.ndarray) -> None:
        source = self.session.state.source
        if token != self._source_token or source is None:
            return
        self._remember(self._source_images, source, image)
        if self.session.state.edit is None and self._running is None and not self._photo_on_canvas:
            self.canvas.set_source(image)
        self.set_status(f"Picture from {source.describe()}")

    def _strength_rendered(self, number: int, strength: float, image: np.ndarray) -> None:
        self._remember(self._strength_images, (number, strength), image)
        state = self.session.state
        if (self._running is None and not self._photo_on_canvas and state.edit is not None
                and state.edit.number == number and state.settings.strength == strength):
            self.canvas.set_edit(image)

    @staticmethod
    def _remember(cache: OrderedDict, key: Any, image: np.ndarray) -> None:
        cache.pop(key, None)
        cache[key] = image
        while len(cache) > CACHE_IMAGES:
            cache.popitem(last=False)

    def _show_sounds(self, state: SessionState) -> None:
        keys = [c.key for c in state.clips]
        if self._selected_clip not in keys:
            self._selected_clip = keys[-1] if keys else None
        self.sound_list.blockSignals(True)
        self.sound_list.clear()
        for clip in state.clips:
            weight = "" if clip.weight == 1.0 else f"  ×{clip.weight:g}"
            item = QListWidgetItem(f"{clip.name}  ({clip.sound.duration_s:.1f} s){weight}")
            item.setToolTip(clip.path or "recorded")
            self.sound_list.addItem(item)
        if self._selected_clip is not None:
            self.sound_list.setCurrentRow(keys.index(self._selected_clip))
        self.sound_list.blockSignals(False)
        self.remove_sound_button.setEnabled(bool(keys))
        self._show_selected_clip(state)

    def _show_selected_clip(self, state: SessionState) -> None:
        clip = state.clip(self._selected_clip) if self._selected_clip else None
        self.mixer.set_clip_weight(clip.weight if clip else None)
        self.waveform.blockSignals(True)
        try:
            if clip is None:
                if self.waveform.sound() is not None:
                    self.waveform.set_sound(None)
            else:
                if self.waveform.sound() is not clip.sound:
                    self.waveform.set_sound(clip.sound)
                    heard = self._heard.get(clip.key)
                    known = heard[1] if heard and heard[0] == clip.start_s else None
                    self.waveform.set_heard([] if known is None and self._models_missing else known)
                if abs(self.waveform.window_start() - clip.start_s) > 1e-9:
                    self.waveform.set_window_start(clip.start_s)
        finally:
            self.waveform.blockSignals(False)

    def _show_history(self) -> None:
        edits = self.session.edits
        if len(edits) != self._history_count:
            self._history_count = len(edits)
            self.history_list.clear()
            for record in edits:
                item = QListWidgetItem(record.describe())
                thumb = QPixmap.fromImage(to_qimage(record.image)).scaled(
                    40, 40, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
                item.setIcon(QIcon(thumb))
                item.setData(Qt.ItemDataRole.UserRole, record.number)
                self.history_list.addItem(item)
        current = self.session.state.edit
        self.history_list.blockSignals(True)
        for row in range(self.history_list.count()):
            item = self.history_list.item(row)
            item.setSelected(current is not None and item.data(Qt.ItemDataRole.UserRole) == current.number)
        self.history_list.blockSignals(False)

    def _update_actions(self) -> None:
        s = self.session
        self.undo_action.setEnabled(s.can_undo())
        self.undo_action.setText(f"&Undo {s.undo_label()}" if s.can_undo() else "&Undo")
        self.redo_action.setEnabled(s.can_redo())
        self.redo_action.setText(f"&Redo {s.redo_label()}" if s.can_redo() else "&Redo")
        has_edit = s.state.edit is not None
        for a in (self.export_png_action, self.export_side_action, self.export_latent_action):
            a.setEnabled(has_edit)
        self.export_photo_action.setEnabled(has_edit and s.state.edit.source.photo is not None)
        running = self._running is not None or self._photo is not None
        self.stop_action.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.edit_button.setText("Edit again" if has_edit and not running else "Edit picture")

    def _update_title(self) -> None:
        state = self.session.state
        sounds = " + ".join(c.name for c in state.clips)
        picture = state.source.describe() if state.source else ""
        parts = [p for p in (sounds, picture) if p]
        self.setWindowTitle(" — ".join(parts + ["sgim-desktop"]))

    # -- sources ---------------------------------------------------------------------------------

    def new_random_source(self) -> None:
        source = self.session.state.source
        truncation = source.truncation if source is not None and source.latent is None else 0.7
        self.session.set_source(Source(generator_id=self._generator_id() or self.source_panel.generator_id(),
                                       seed=random.randint(0, MAX_SEED), truncation=truncation),
                                "New random picture")

    def _seed_changed(self, seed: int, truncation: float) -> None:
        if self._syncing:
            return
        self.session.set_source(Source(generator_id=self.source_panel.generator_id(), seed=seed,
                                       truncation=truncation), "Change seed")

    def _generator_changed(self, generator_id: str) -> None:
        if self._syncing or not generator_id:
            return
        self.prefs.save_generator(generator_id)
        self._update_face_mode(generator_id)
        source = self.session.state.source
        seed = source.seed if source is not None and source.seed is not None else 0
        truncation = source.truncation if source is not None else 0.7
        self._models_missing = self.provider.missing(generator_id)
        self.session.set_source(Source(generator_id=generator_id, seed=seed, truncation=truncation),
                                "Change generator")
        if self._check_models():
            self.message_bar.hide()

    def _latent_opened(self, path: str, latent: Any) -> None:
        self.prefs.add_recent(path)
        self.session.set_source(Source(generator_id=self._generator_id(), seed=None, latent=latent,
                                       latent_path=path), f"Open latent {Path(path).name}")

    # -- sounds ----------------------------------------------------------------------------------

    def _open_sounds(self, items: list[tuple[str | None, Any]], mode: str, edit_after: bool = False) -> None:
        self._batch += 1
        if edit_after:
            self._edit_when_sounds_ready.add(self._batch)
        self.set_status("Reading " + ", ".join(Path(p).name if p else "the recording" for p, _ in items) + "…")
        self.worker.open_sounds(self._batch, items, mode)

    def _sounds_opened(self, batch: int, clips: list[SoundClip], errors: list[str], mode: str) -> None:
        edit_after = batch in self._edit_when_sounds_ready
        self._edit_when_sounds_ready.discard(batch)
        if errors:
            self.show_message("\n".join(errors), "error")
        if not clips:
            return
        for clip in clips:
            if clip.path:
                self.prefs.add_recent(clip.path)
        self._selected_clip = clips[-1].key
        if mode == "add":
            self.session.add_sounds(clips)
        else:
            self.session.replace_sounds(clips)
        if not errors:
            self.set_status("Sound ready: " + ", ".join(c.describe() for c in clips))
        self._hear_selected()
        if edit_after:
            self.run_edit()

    def _recorded(self, sound: Any) -> None:
        self._open_sounds([(None, sound)], "replace", self.recorder.record_and_edit())

    def _clip_selected(self, row: int) -> None:
        clips = self.session.state.clips
        if 0 <= row < len(clips):
            self._selected_clip = clips[row].key
            self._show_selected_clip(self.session.state)
            self._hear_selected()

    def _remove_selected_clip(self) -> None:
        if self._selected_clip:
            self.session.remove_sound(self._selected_clip)

    def _window_moved(self, start_s: float) -> None:
        if self._syncing or not self._selected_clip:
            return
        self.session.update_clip(self._selected_clip, start_s=float(start_s))
        self.waveform.set_heard(None)
        self._hear_timer.start()

    def _clip_weight_changed(self, weight: float) -> None:
        if not self._syncing and self._selected_clip:
            self.session.update_clip(self._selected_clip, weight=weight)

    def _hear_selected(self) -> None:
        """Ask the worker what the encoder hears in the selected clip's window (when the models are there)."""
        clip = self.session.state.clip(self._selected_clip) if self._selected_clip else None
        if clip is None or self._models_missing:
            return
        known = self._heard.get(clip.key)
        if known is not None and known[0] == clip.start_s:
            self.waveform.set_heard(known[1])
            return
        self.waveform.set_heard(None)
        self.worker.hear(clip, self._generator_id(), self.session.settings.device)

    def _heard_result(self, key: str, start_s: float, top: list) -> None:
        self._heard[key] = (start_s, top)
        clip = self.session.state.clip(key)
        if key == self._selected_clip and clip is not None and clip.start_s == start_s:
            self.waveform.set_heard(top)

    # -- opening files ---------------------------------------------------------------------------

    def open_paths(self, paths: list[str], sound_mode: str = "replace") -> None:
        """Open files the way a drop does: sounds into the mix, a photo or a latent as the source, a message
        for the rest.

        Several sounds dropped together are mixed together; of several pictures the first photo (else
        the first latent) is used.
        """
        sounds: list[str] = []
        latents: list[str] = []
        photos: list[str] = []
        notes: list[str] = []
        for raw in paths:
            path = str(Path(raw).expanduser())
            kind = classify(path)
            name = Path(path).name or path
            if kind == "sound":
                sounds.append(path)
            elif kind == "latent":
                latents.append(path)
            elif kind == "image":
                photos.append(path)
            elif kind == "folder":
                notes.append(f"{name} is a folder: drop the files inside it instead.")
            elif kind == "missing":
                notes.append(f"{path}: no such file.")
            else:
                notes.append(f"{name}: not a sound, latent or picture file sgim-desktop can use "
                             "(sounds: WAV, FLAC, OGG, MP3, AIFF; latents: .pt; photos: PNG, JPEG, WebP, TIFF).")
        pictures = photos + latents
        if len(pictures) > 1:
            notes.append(f"Several pictures at once: using {Path(pictures[0]).name}, "
                         + ", ".join(Path(p).name for p in pictures[1:]) + " left out.")
        missing = self.provider.missing(self._generator_id()) if photos else []
        if missing:
            notes.append(f"{Path(photos[0]).name}: opening a photo needs models that are not downloaded yet: "
                         + "; ".join(missing) + ".")
        if sounds:
            self._open_sounds([(p, None) for p in sounds], sound_mode)
        if photos and not missing:
            self.open_photo(photos[0])
        elif latents and not photos:
            self.worker.open_latent(latents[0])
        if notes:
            opened = bool(sounds) or (bool(photos) and not missing) or (bool(latents) and not photos)
            action = ("Get models…", "models") if missing else (None, "")
            self.show_message("\n".join(notes), "warning" if opened else "error", *action)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls: list[QUrl] = event.mimeData().urls()
        local = [u.toLocalFile() for u in urls if u.isLocalFile()]
        if len(local) < len(urls):
            self.show_message("Only files on this computer can be dropped (not web addresses).", "error")
        if local:
            self.open_paths(local)
        event.acceptProposedAction()

    def _ask_open(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open", self._last_folder(), OPEN_FILTER)
        if paths:
            self.open_paths(paths)

    def _ask_add_sound(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add sounds to the mix", self._last_folder(), OPEN_FILTER)
        if paths:
            self.open_paths(paths, sound_mode="add")

    def _ask_open_photo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self._last_folder(), PHOTO_FILTER)
        if path:
            self.open_paths([path])

    def _ask_open_latent(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open latent", self._last_folder(),
                                              "Latents (*.pt *.pth *.safetensors);;All files (*)")
        if path:
            self.open_paths([path])

    def _last_folder(self) -> str:
        recent = self.prefs.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.prefs.recent_files()
        for path in files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_paths([p]))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear the list", self.prefs.clear_recent)
        else:
            self.recent_menu.addAction("(nothing yet)").setEnabled(False)

    # -- settings --------------------------------------------------------------------------------

    def _mixer_changed(self, settings: MixSettings) -> None:
        if self._syncing:
            return
        before = self.session.settings
        self.session.set_settings(settings)
        if before.device != settings.device and not self._models_missing:
            self.worker.load_models(self._generator_id(), settings.device)

    def undo(self) -> None:
        if self.session.undo():
            self.set_status("Undone")

    def redo(self) -> None:
        if self.session.redo():
            self.set_status("Redone")

    def _history_picked(self, item: QListWidgetItem) -> None:
        number = item.data(Qt.ItemDataRole.UserRole)
        record = next((r for r in self.session.edits if r.number == number), None)
        if record is not None and self._running is None:
            self.session.show_edit(record)

    # -- editing ---------------------------------------------------------------------------------

    def is_editing(self) -> bool:
        return self._running is not None

    def run_edit(self) -> None:
        """Start an edit of the current picture toward the sounds and text; ask or queue if one runs."""
        state = self.session.state
        if state.source is None:
            self.show_message("There is no picture yet: press New random or open a latent.", "warning")
            return
        if self._photo is not None:
            self.show_message(f"{self._photo.name} is still being opened: edit it when it is ready, or press Stop.",
                              "warning")
            return
        missing = self.provider.missing(state.source.generator_id)
        if missing:
            self._offer_models(missing)
            return
        has_sound = any(c.weight > 0 for c in state.clips)
        has_text = bool(state.settings.text.strip()) and state.settings.text_weight > 0
        if not has_sound and not has_text:
            self.show_message("Drop a sound (or record one, or type a text) first: the edit moves the picture "
                              "toward it.", "warning")
            return
        job = EditJob(number=self.session.next_edit_number(), source=state.source, clips=state.clips,
                      settings=state.settings)
        if self._running is None:
            self._start(job)
        elif self.busy_policy == "queue":
            self._queue(job)
        elif self.busy_policy == "replace":
            self._queued = job
            self.worker.cancel_edit()
        else:
            self._ask_busy(job)

    def _queue(self, job: EditJob) -> None:
        self._queued = job
        self.set_status("The new edit starts when the current one ends.")

    def _ask_busy(self, job: EditJob) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "An edit is running",
                          "An edit is still running. What about the new one?", QMessageBox.StandardButton.NoButton,
                          self)
        box.setObjectName("busyQuestion")
        replace_button = box.addButton("Stop the running one and start", QMessageBox.ButtonRole.AcceptRole)
        queue_button = box.addButton("Start it afterwards", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)

        def answered(button: object) -> None:
            if button is replace_button:
                self._queued = job
                self.worker.cancel_edit()
            elif button is queue_button:
                self._queue(job)

        box.buttonClicked.connect(answered)
        box.open()

    def _offer_models(self, missing: list[str]) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Models needed",
                          "To edit, sgim-desktop needs these models, which are not downloaded yet:\n\n• "
                          + "\n• ".join(missing) + "\n\nOpen the models window to get them?",
                          QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("missingModels")
        open_button = box.addButton("Open models…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(lambda b: self.open_models_dialog() if b is open_button else None)
        self.show_message("Models missing: " + "; ".join(missing), "warning", "Get models…", "models")
        box.open()

    def _start(self, job: EditJob) -> None:
        self._running = job
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.canvas.set_busy_text("Starting…")
        self.set_status("Preparing the edit…")
        self._update_actions()
        self.worker.start_edit(job)

    def cancel_edit(self) -> None:
        """Stop: the photo being opened if there is one, else the running edit."""
        if self._photo is not None:
            self.cancel_photo()
        elif self._running is not None:
            self._queued = None
            self.set_status("Stopping…")
            self.worker.cancel_edit()

    def _edit_started(self, number: int) -> None:
        self.set_status("Editing…")

    def _edit_progress(self, number: int, step: int, total: int, loss: float) -> None:
        if self._running is None or number != self._running.number:
            return
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"step {step} / {total}")
        self.canvas.set_busy_text(f"Editing: step {step} of {total}")

    def _edit_preview(self, number: int, image: np.ndarray) -> None:
        if self._running is None or number != self._running.number:
            return
        if not self.canvas.has_source():
            cached = self._source_images.get(self._running.source)
            if cached is not None:
                self.canvas.set_source(cached)
        self.canvas.set_edit(image)

    def _edit_finished(self, record: EditRecord) -> None:
        self._end_edit()
        self._remember(self._source_images, record.source, record.source_image)
        self.session.add_edit(record)
        self.set_status(f"{record.describe()} done in {record.seconds:.1f} s")
        self._start_queued()

    def _edit_cancelled(self, number: int, done: int) -> None:
        total = self._running.settings.steps if self._running is not None else 0
        self._end_edit()
        self._show_picture_again()
        if self._queued is None:
            self.show_message(f"Edit stopped after {done} of {total} steps; the picture is as it was.", "info")
        self._start_queued()

    def _edit_failed(self, number: int, message: str) -> None:
        self._end_edit()
        self._show_picture_again()
        self.show_message(f"The edit failed: {message}", "error")
        self._start_queued()

    def _end_edit(self) -> None:
        self._running = None
        self.progress.setVisible(False)
        self.canvas.set_busy_text("")
        self._update_actions()

    def _show_picture_again(self) -> None:
        self._shown_source = None
        self._show_picture(self.session.state)

    def _start_queued(self) -> None:
        job, self._queued = self._queued, None
        if job is not None:
            self._start(job)
        elif self._photo_waiting is not None:
            photo, self._photo_waiting = self._photo_waiting, None
            self._start_photo(photo)

    # -- photos ----------------------------------------------------------------------------------

    def is_opening_photo(self) -> bool:
        return self._photo is not None

    def open_photo(self, path: str) -> None:
        """Turn the photo in ``path`` into the source: read, find the face, align, invert (on the worker)."""
        generator_id = self._generator_id()
        domain = next((g.domain for g in self.provider.generators() if g.id == generator_id), None)
        self._photo_token += 1
        self._start_photo(PhotoJob(token=self._photo_token, path=path, generator_id=generator_id,
                                   domain="face" if domain == "face" else "scene", settings=self.session.settings))

    def use_whole_photo(self) -> None:
        """After 'no face found': edit the centre square of that photo instead."""
        job, self._photo_offer = self._photo_offer, None
        if job is not None:
            self._photo_again(job, whole=True)

    def cancel_photo(self) -> None:
        if self._photo is not None:
            self._photo_waiting = None
            self.set_status("Stopping…")
            self.worker.cancel_photo()

    def _photo_again(self, job: PhotoJob, face: int | None = None, whole: bool = False) -> None:
        self._photo_token += 1
        self._start_photo(job.again(self._photo_token, self.session.settings, face, whole))

    def _start_photo(self, job: PhotoJob) -> None:
        self._close_face_chooser()
        self._photo_offer = None
        if self._running is not None:
            self._photo_waiting = job
            self.set_status(f"{job.name} opens when the running edit ends.")
            return
        if self._photo is not None:
            self.worker.cancel_photo()
        self._photo = job
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.canvas.set_busy_text(f"Opening {job.name}…")
        self.set_status(f"Opening {job.name}…")
        self._update_actions()
        self.worker.open_photo(job)

    def _is_current_photo(self, token: int) -> bool:
        return self._photo is not None and self._photo.token == token

    def _end_photo(self) -> None:
        self._photo = None
        self.progress.setVisible(False)
        self.canvas.set_busy_text("")
        self._update_actions()
        if self._photo_on_canvas:
            self._photo_on_canvas = False
            self._show_picture_again()

    def _photo_stage(self, token: int, text: str) -> None:
        if self._is_current_photo(token):
            self.set_status(text)
            self.canvas.set_busy_text(text)

    def _photo_faces(self, token: int, found: FoundFaces) -> None:
        if not self._is_current_photo(token):
            return
        self._end_photo()
        name = found.job.name
        if not found.faces:
            self._photo_offer = found.job
            why = (f"Faces cannot be looked for in {name}: {found.problem}." if found.problem
                   else f"No face was found in {name}.")
            self.show_message(f"{why} Edit the whole picture (its centre square) instead?", "warning",
                              "Use the whole picture", "whole_photo")
            return
        chooser = FaceChooser(name, found.thumbnails, [f.describe() for f in found.faces], self)
        chooser.chosen.connect(lambda index: self._photo_again(found.job, face=index))
        chooser.wholeChosen.connect(lambda: self._photo_again(found.job, whole=True))
        chooser.rejected.connect(lambda: self.set_status(f"{name} not opened; the picture is as it was."))
        self.face_chooser = chooser
        self.set_status(f"{name} shows {len(found.faces)} faces: choose one.")
        chooser.open()

    def _close_face_chooser(self) -> None:
        chooser, self.face_chooser = self.face_chooser, None
        if chooser is not None:
            chooser.blockSignals(True)
            chooser.close()
            chooser.deleteLater()

    def _photo_aligned(self, token: int, image: np.ndarray) -> None:
        if self._is_current_photo(token):
            self._photo_on_canvas = True
            self.canvas.set_source(image)
            self.canvas.set_edit(None)

    def _photo_progress(self, token: int, step: int, total: int, psnr: float) -> None:
        if not self._is_current_photo(token):
            return
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"photo {step} / {total}")
        self.canvas.set_busy_text(f"Inverting the photo: step {step} of {total} ({psnr:.1f} dB)")

    def _photo_preview(self, token: int, image: np.ndarray) -> None:
        if self._is_current_photo(token):
            self.canvas.set_edit(image)

    def _photo_inverted(self, token: int, result: InvertedPhoto) -> None:
        if not self._is_current_photo(token):
            return
        job = self._photo
        self._photo_on_canvas = False
        self._end_photo()
        origin = result.origin
        source = Source(generator_id=job.generator_id, seed=None, latent=result.latent, photo=origin)
        self._remember(self._source_images, source, result.image)
        self.prefs.add_recent(job.path)
        self.session.set_source(source, f"Open photo {job.name}")
        likeness = "" if origin.perceptual else " (pixel loss only: the LPIPS models in Tools ▸ Models make it closer)"
        self.set_status(f"{origin.describe()} is ready to edit: {result.steps} steps, "
                        f"{origin.psnr:.1f} dB{likeness}")

    def _photo_cancelled(self, token: int, done: int) -> None:
        if not self._is_current_photo(token):
            return
        job = self._photo
        self._end_photo()
        self.show_message(f"Stopped opening {job.name} after {done} of {job.settings.invert_steps} steps; "
                          "the picture is as it was.", "info")

    def _photo_failed(self, token: int, message: str) -> None:
        if not self._is_current_photo(token):
            return
        self._end_photo()
        self.show_message(f"Could not open the photo: {message}", "error")

    # -- exports ---------------------------------------------------------------------------------

    def export(self, kind: str, path: str) -> None:
        """Write the current edit at the current strength: 'png' (the square), 'photo' (pasted back into
        the photo it came from), 'side_by_side' or 'latent'."""
        record = self.session.state.edit
        if record is None:
            self.show_message("There is no edit to export yet.", "warning")
            return
        settings = self.session.settings
        self.worker.export(kind, path, record, settings.strength, settings.device)

    def _ask_save(self, title: str, suffix: str, what: str) -> str:
        record = self.session.state.edit
        stem = f"edit-{record.number}" if record else "edit"
        if record is not None and record.source.photo is not None and record.source.photo.path:
            stem = f"{Path(record.source.photo.path).stem}-{stem}"
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self._last_folder()) / f"{stem}{suffix}"), what)
        if path and not Path(path).suffix:
            path += suffix
        return path

    def _ask_export_png(self) -> None:
        if path := self._ask_save("Export picture", ".png", "PNG pictures (*.png)"):
            self.export("png", path)

    def _ask_export_photo(self) -> None:
        record = self.session.state.edit
        if record is None or record.source.photo is None:
            self.show_message("Export Photo is for edits of a photo: open one (File ▸ Open Photo…) and edit it.",
                              "warning")
            return
        if path := self._ask_save("Export photo", ".png", "PNG pictures (*.png)"):
            self.export("photo", path)

    def _ask_export_side(self) -> None:
        if path := self._ask_save("Export before and after", "-side-by-side.png", "PNG pictures (*.png)"):
            self.export("side_by_side", path)

    def _ask_export_latent(self) -> None:
        if path := self._ask_save("Export latent", ".pt", "Latents (*.pt)"):
            self.export("latent", path)

    def _worker_failed(self, task: str, message: str) -> None:
        what = {"open_latent": "Could not open the latent", "render_source": "Could not make the picture",
                "strength": "Could not change the strength", "export": "Could not export",
                "hear": "Could not listen to the sound", "open_sounds": "Could not read the sound"}.get(task, task)
        if task == "hear":
            self.waveform.set_heard([])
            self.set_status(f"{what}: {message}")
            return
        if task == "render_source":
            self.canvas.set_placeholder(f"{what}: {message}")
        self.show_message(f"{what}: {message}", "error")

    # -- window ----------------------------------------------------------------------------------

    def _about(self) -> None:
        QMessageBox.about(self, "About sgim-desktop",
                          "<b>sgim-desktop</b><br>Edit pictures with sound: an implementation of "
                          "<i>Sound-Guided Semantic Image Manipulation</i> (Lee et al., CVPR 2022).<br><br>"
                          "Models carry their own licences: see Tools ▸ Models.")

    def _restore_geometry(self) -> None:
        geometry = self.prefs.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        for key, splitter in (("window/mainSplit", self.main_split), ("window/leftSplit", self.left_split)):
            state = self.prefs.value(key)
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)

    def save_preferences(self) -> None:
        self.prefs.set_value("window/geometry", self.saveGeometry())
        self.prefs.set_value("window/mainSplit", self.main_split.saveState())
        self.prefs.set_value("window/leftSplit", self.left_split.saveState())
        self.prefs.save_mix_settings(self.session.settings)
        if self.session.state.source is not None:
            self.prefs.save_generator(self.session.state.source.generator_id)
        self.prefs.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Remember the window, stop the edit between two steps and let the worker end."""
        self.save_preferences()
        if self.models_dialog is not None:
            self.models_dialog.close()
        self.hide()
        self._close_face_chooser()
        self.worker.shutdown()
        super().closeEvent(event)


