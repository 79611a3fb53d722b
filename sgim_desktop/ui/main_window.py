"""The main window: layout, menus and wiring. The picture, the sounds, the mixer, messages and progress.

The window holds a ``Session`` (the document, with undo/redo), one ``EngineWorker`` (the task thread,
the only way to the engine) and the controllers (``ui/controllers``) that own the state and make the
decisions: which models are missing, what the canvas shows, the sounds, photos being opened, edits,
files in and out. Every handler does a few milliseconds of work at most; whenever the session
changes, the window shows its new state.
"""

from __future__ import annotations

import random
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop.session import MixSettings, Session, SessionState, Source
from sgim_desktop.ui.canvas import ImageCanvas
from sgim_desktop.ui.controllers.edits import EditsController
from sgim_desktop.ui.controllers.files import FilesController
from sgim_desktop.ui.controllers.instant import InstantController
from sgim_desktop.ui.controllers.live import LiveController
from sgim_desktop.ui.controllers.models import ModelsController
from sgim_desktop.ui.controllers.photos import PhotosController
from sgim_desktop.ui.controllers.picture import PictureController
from sgim_desktop.ui.controllers.sounds import SoundsController
from sgim_desktop.ui.feedback import Feedback, MessageBar
from sgim_desktop.ui.history import HistoryList
from sgim_desktop.ui.instant_panel import InstantPanel
from sgim_desktop.ui.mixer import MixerPanel, SourcePanel
from sgim_desktop.ui.providers import CatalogModels, ModelProvider
from sgim_desktop.ui.recorder import RecorderPanel
from sgim_desktop.ui.settings import WindowSettings
from sgim_desktop.ui.waveform import WaveformView
from sgim_desktop.ui.worker import EngineWorker


class MainWindow(QMainWindow):
    """The app's one window; ``models`` injects where models come from (default: the model manager)."""

    def __init__(self, models: ModelProvider | None = None, settings: Any = None, labels: str = "vggsound",
                 manager: Any = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("sgim-desktop")
        self.setAcceptDrops(True)
        self.provider: ModelProvider = models if models is not None else CatalogModels(manager)
        self.prefs = WindowSettings(settings)
        self.session = Session(settings=self.prefs.mix_settings())
        self.worker = EngineWorker(self.provider, labels, self)
        self._syncing = False

        self._build_widgets()
        self.feedback = Feedback(self.message_bar, self.status_label)
        self._build_controllers(manager)
        self._build_actions()
        self._build_menus()
        self._wire()

        generators = self.provider.generators()
        saved = self.prefs.generator()
        generator_id = saved if any(g.id == saved for g in generators) else self.provider.default_generator()
        self.source_panel.set_generators(generators, generator_id)
        self.picture.set_face_mode(generator_id)
        self.worker.start()
        self.models.check()
        self.session.listeners.append(self._state_changed)
        self.session.set_source(Source(generator_id=generator_id, seed=random.randint(0, 9999), truncation=0.7))
        self.session.clear_history()
        self._update_actions()
        self._restore_geometry()

    # -- building --------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.message_bar = MessageBar()
        self.canvas = ImageCanvas()

        self.sound_list = QListWidget()
        self.sound_list.setObjectName("soundList")
        self.sound_list.setMaximumWidth(220)
        self.sound_list.setToolTip("The sounds in the mix; the selected one is shown and weighted")
        self.remove_sound_button = QPushButton("Remove")
        self.remove_sound_button.setToolTip("Take the selected sound out of the mix")
        sounds_box = QVBoxLayout()
        sounds_box.setContentsMargins(0, 0, 0, 0)
        sounds_box.addWidget(QLabel("Sounds"))
        sounds_box.addWidget(self.sound_list, 1)
        sounds_box.addWidget(self.remove_sound_button)
        sounds_side = QWidget()
        sounds_side.setLayout(sounds_box)
        self.waveform = WaveformView()
        self.waveform.setObjectName("waveform")
        self.recorder = RecorderPanel()
        self.recorder.setObjectName("recorder")
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
        self.mixer = MixerPanel()
        self.edit_button = QPushButton("Edit picture")
        self.edit_button.setObjectName("editButton")
        self.edit_button.setToolTip("Move the picture toward the sound and text (Ctrl+Return)")
        self.edit_button.setMinimumHeight(36)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the running edit or the photo being opened (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.setMinimumHeight(36)
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_button, 2)
        buttons.addWidget(self.stop_button, 1)
        self.history_list = HistoryList()
        history = QGroupBox("History")
        history_layout = QVBoxLayout(history)
        history_layout.addWidget(self.history_list)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.source_panel)
        side_layout.addWidget(self.mixer)
        side_layout.addLayout(buttons)
        self.instant_panel = InstantPanel()
        side_layout.addWidget(self.instant_panel)
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

    def _build_controllers(self, manager: Any) -> None:
        s, w, fb, prefs = self.session, self.worker, self.feedback, self.prefs
        self.models = ModelsController(self.provider, s, w, self.source_panel, self.canvas, fb, self, manager)
        self.picture = PictureController(s, w, self.models, self.canvas, self.source_panel, self.mixer, fb, prefs,
                                         self)
        self.sounds = SoundsController(s, w, self.models, self.sound_list, self.remove_sound_button, self.waveform,
                                       self.recorder, self.mixer, fb, prefs, self)
        self.photos = PhotosController(s, w, self.models, self.picture, self.canvas, self.progress, fb, prefs, self)
        self.edits = EditsController(s, w, self.models, self.picture, self.photos, self.canvas, self.progress, fb,
                                     self)
        self.files = FilesController(s, w, self.models, self.sounds, self.photos, self.picture, fb, prefs, self)
        self.instant = InstantController(s, w, self.models, self.picture, self.photos, self.edits, self.canvas,
                                         self.instant_panel, fb, self)
        self.live = LiveController(s, w, self.instant, self.picture, self.edits, self.photos, self.canvas,
                                   self.instant_panel, self.recorder, fb, self)

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
        key = QKeySequence.StandardKey
        files = self.files
        self.open_action = self._action("&Open…", files.ask_open, key.Open, "Open sounds, a latent or a photo")
        self.add_sound_action = self._action("&Add Sound to Mix…", files.ask_add_sound, "Ctrl+Shift+O",
                                             "Add a sound to the sounds already in the mix")
        self.open_latent_action = self._action("Open &Latent…", files.ask_open_latent, None,
                                               "Start from a latent saved earlier")
        self.open_photo_action = self._action("Open &Photo…", files.ask_open_photo, "Ctrl+Shift+P",
                                              "Edit a photo of your own: its face (or centre) is found and inverted")
        self.add_generator_action = self._action("Add &Generator…", files.ask_add_generator, None,
                                                 "Add a StyleGAN2 file of your own (rosinality .pt) to the "
                                                 "generator list")
        self.export_png_action = self._action("&Export Picture…", files.ask_export_png, key.Save,
                                              "Save the edited picture as PNG")
        self.export_side_action = self._action("Export &Side by Side…", files.ask_export_side, "Ctrl+Shift+S",
                                               "Save before and after next to each other as PNG")
        self.export_latent_action = self._action("Export La&tent…", files.ask_export_latent, "Ctrl+Alt+S",
                                                 "Save the edited latent (to edit it again later)")
        self.export_photo_action = self._action("Export &Photo…", files.ask_export_photo, "Ctrl+E",
                                                "Save the whole photo with the edit pasted back, at its own size")
        self.quit_action = self._action("&Quit", self.close, key.Quit)
        self.undo_action = self._action("&Undo", self.undo, key.Undo)
        self.redo_action = self._action("&Redo", self.redo, key.Redo)
        self.edit_action = self._action("&Edit Picture", self.run_edit, ["Ctrl+Return", "Ctrl+Enter"],
                                        "Move the picture toward the sound and text")
        self.stop_action = self._action("&Stop", self.cancel_edit, "Esc",
                                        "Stop the running edit or the photo being opened")
        self.random_action = self._action("&New Random Picture", self.new_random_source, key.New,
                                          "A new random picture from the chosen generator")
        self.fit_action = self._action("Zoom to &Fit", self.canvas.zoom_fit, "Ctrl+0")
        self.actual_action = self._action("&Actual Size", self.canvas.zoom_actual, "Ctrl+1")
        self.zoom_in_action = self._action("Zoom &In", lambda: self.canvas.zoom_by(1.25), key.ZoomIn)
        self.zoom_out_action = self._action("Zoom &Out", lambda: self.canvas.zoom_by(0.8), key.ZoomOut)
        self.models_action = self._action("&Models…", self.open_models_dialog, "Ctrl+Shift+M",
                                          "See, download and import the models")
        self.about_action = self._action("&About sgim-desktop", self._about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.open_action, self.add_sound_action, self.open_latent_action, self.open_photo_action):
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.add_generator_action)
        file_menu.addSeparator()
        for action in (self.export_png_action, self.export_photo_action, self.export_side_action,
                       self.export_latent_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        for action in (self.edit_action, self.stop_action, self.random_action):
            edit_menu.addAction(action)
        view_menu = bar.addMenu("&View")
        for action in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action):
            view_menu.addAction(action)
        tools_menu = bar.addMenu("&Tools")
        tools_menu.addAction(self.models_action)
        tools_menu.addAction(self._action("Build &Directions…", self.instant.build, None,
                                          "Measure the generator's directions once: sounds then edit at once"))
        edit_menu.addAction(self._action("&Live Mode", lambda: self.instant_panel.live_button.toggle(), "Ctrl+L",
                                         "The picture follows the microphone while it plays"))
        bar.addMenu("&Help").addAction(self.about_action)
        self._fill_recent_menu()

    def _wire(self) -> None:
        self.edit_button.clicked.connect(self.run_edit)
        self.stop_button.clicked.connect(self.cancel_edit)
        self.source_panel.openLatentRequested.connect(self.files.ask_open_latent)
        self.source_panel.openPhotoRequested.connect(self.files.ask_open_photo)
        self.mixer.settingsChanged.connect(self._settings_changed)
        self.mixer.set_advanced_open(self.prefs.advanced_open())
        self.mixer.advancedToggled.connect(self.prefs.save_advanced_open)
        self.models.identityChanged.connect(self.mixer.set_identity_available)
        self.history_list.picked.connect(self._history_picked)
        self.sounds.editWanted.connect(self.run_edit)
        self.edits.busyChanged.connect(self._update_actions)
        self.photos.busyChanged.connect(self._update_actions)

    # -- what the tests and the app call ---------------------------------------------------------

    def show_message(self, text: str, level: str = "info", action: str | None = None) -> None:
        self.feedback.show_message(text, level, action)

    def set_status(self, text: str) -> None:
        self.feedback.status(text)

    @property
    def messages(self) -> list[tuple[str, str]]:
        return self.feedback.messages

    @property
    def models_dialog(self) -> Any:
        return self.models.dialog

    @property
    def face_chooser(self) -> Any:
        return self.photos.face_chooser

    @property
    def busy_policy(self) -> str:
        return self.edits.busy_policy

    @busy_policy.setter
    def busy_policy(self, policy: Any) -> None:
        self.edits.busy_policy = policy

    @property
    def _heard(self) -> dict[str, tuple[float, list]]:
        return self.sounds.heard

    @property
    def _source_images(self) -> Any:
        return self.picture.source_images

    def manager(self) -> Any:
        return self.models.manager()

    def first_run_check(self) -> None:
        self.models.first_run_check()

    def open_models_dialog(self, intro: str = "") -> Any:
        return self.models.open_dialog(intro)

    def open_paths(self, paths: list[str], sound_mode: Any = "replace") -> None:
        self.files.open_paths(paths, sound_mode)

    def export(self, kind: Any, path: str) -> None:
        self.files.export(kind, path)

    def open_photo(self, path: str) -> None:
        self.photos.open_photo(path)

    def use_whole_photo(self) -> None:
        self.photos.use_whole_photo()

    def cancel_photo(self) -> None:
        self.photos.cancel()

    def is_opening_photo(self) -> bool:
        return self.photos.is_opening()

    def run_edit(self) -> None:
        self.edits.run_edit()

    def cancel_edit(self) -> None:
        """Stop: the photo being opened if there is one, else the running edit."""
        self.edits.stop()

    def is_editing(self) -> bool:
        return self.edits.is_editing()

    def new_random_source(self) -> None:
        self.picture.new_random_source()

    def undo(self) -> None:
        if self.session.undo():
            self.set_status("Undone")

    def redo(self) -> None:
        if self.session.redo():
            self.set_status("Redone")

    def _fill_recent_menu(self) -> None:
        self.files.fill_recent_menu(self.recent_menu)

    # -- the session on screen -------------------------------------------------------------------

    def _state_changed(self, state: SessionState, reason: str) -> None:
        """Show ``state``: the panels, the picture, the sounds, the history and the actions."""
        self._syncing = True
        try:
            if self.mixer.settings() != state.settings:
                self.mixer.set_settings(state.settings)
            self.picture.show_state(state)
            self.sounds.show_state(state)
            self.history_list.show_edits(self.session.edits, state.edit)
        finally:
            self._syncing = False
        self._update_actions()
        self._update_title()

    def _update_actions(self) -> None:
        s = self.session
        self.undo_action.setEnabled(s.can_undo())
        self.undo_action.setText(f"&Undo {s.undo_label()}" if s.can_undo() else "&Undo")
        self.redo_action.setEnabled(s.can_redo())
        self.redo_action.setText(f"&Redo {s.redo_label()}" if s.can_redo() else "&Redo")
        edit = s.state.edit
        for a in (self.export_png_action, self.export_side_action, self.export_latent_action):
            a.setEnabled(edit is not None)
        self.export_photo_action.setEnabled(edit is not None and edit.source.photo is not None)
        running = self.edits.is_editing() or self.photos.is_opening()
        self.stop_action.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.edit_button.setText("Edit again" if edit is not None and not running else "Edit picture")

    def _update_title(self) -> None:
        state = self.session.state
        sounds = " + ".join(c.name for c in state.clips)
        picture = state.source.describe() if state.source else ""
        parts = [p for p in (sounds, picture) if p]
        self.setWindowTitle(" — ".join(parts + ["sgim-desktop"]))

    def _settings_changed(self, settings: MixSettings) -> None:
        if self._syncing:
            return
        before = self.session.settings
        self.session.set_settings(settings)
        if before.device != settings.device:
            self.models.load(settings.device)

    def _history_picked(self, number: int) -> None:
        record = next((r for r in self.session.edits if r.number == number), None)
        if record is not None and not self.edits.is_editing():
            self.session.show_edit(record)

    # -- drops -----------------------------------------------------------------------------------

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
        self.models.close()
        self.hide()
        self.photos.close_chooser()
        self.worker.shutdown()
        super().closeEvent(event)
