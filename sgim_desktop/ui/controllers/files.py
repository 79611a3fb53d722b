"""Files in and out: what a dropped or opened file is and where it goes (sounds into the mix, a photo or a
latent as the source, a message for the rest), the open and save dialogs, recent files, exports, and a
person's own generator file added to the models folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from sgim_desktop.session import Session
from sgim_desktop.ui.controllers.models import ModelsController
from sgim_desktop.ui.controllers.photos import PhotosController
from sgim_desktop.ui.controllers.picture import PictureController
from sgim_desktop.ui.controllers.sounds import SoundsController
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.settings import WindowSettings
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.add_generator import AddGeneratorTask
from sgim_desktop.ui.worker_tasks.export import ExportKind, ExportTask
from sgim_desktop.ui.worker_tasks.sounds import SoundMode

SOUND_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au",
                  ".snd", ".w64", ".caf"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".heic"}
LATENT_SUFFIXES = {".pt", ".pth", ".safetensors"}
OPEN_FILTER = ("Sounds, latents and pictures (" + " ".join(f"*{s}" for s in sorted(SOUND_SUFFIXES | LATENT_SUFFIXES
               | IMAGE_SUFFIXES)) + ");;Sounds (" + " ".join(f"*{s}" for s in sorted(SOUND_SUFFIXES))
               + ");;Photos (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
               + ");;Latents (*.pt *.pth *.safetensors);;All files (*)")
PHOTO_FILTER = "Photos (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"
LATENT_FILTER = "Latents (*.pt *.pth *.safetensors);;All files (*)"
PNG_FILTER = "PNG pictures (*.png)"
GENERATOR_FILTER = "StyleGAN2 generators, rosinality format (*.pt *.pth);;All files (*)"


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


class FilesController(QObject):
    exported = Signal(str, str)  # kind, path

    def __init__(self, session: Session, worker: EngineWorker, models: ModelsController, sounds: SoundsController,
                 photos: PhotosController, picture: PictureController, feedback: Feedback, prefs: WindowSettings,
                 parent: QWidget):
        super().__init__(parent)
        self.session = session
        self.worker = worker
        self.models = models
        self.sounds = sounds
        self.photos = photos
        self.picture = picture
        self.feedback = feedback
        self.prefs = prefs
        self.parent_widget = parent
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)

    # -- in --------------------------------------------------------------------------------------------

    def open_paths(self, paths: list[str], sound_mode: SoundMode = "replace") -> None:
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
        missing = self.models.missing_for(self.models.generator_id()) if photos else []
        if missing:
            notes.append(f"{Path(photos[0]).name}: opening a photo needs models that are not downloaded yet: "
                         + "; ".join(missing) + ".")
        if sounds:
            self.sounds.open([(p, None) for p in sounds], sound_mode)
        if photos and not missing:
            self.photos.open_photo(photos[0])
        elif latents and not photos:
            self.picture.open_latent(latents[0])
        if notes:
            opened = bool(sounds) or (bool(photos) and not missing) or (bool(latents) and not photos)
            level = "warning" if opened else "error"
            if missing:
                self.feedback.show_message("\n".join(notes), level, "Get models…", self.models.open_dialog)
            else:
                self.feedback.show_message("\n".join(notes), level)

    def ask_open(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.parent_widget, "Open", self.last_folder(), OPEN_FILTER)
        if paths:
            self.open_paths(paths)

    def ask_add_sound(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.parent_widget, "Add sounds to the mix", self.last_folder(),
                                                OPEN_FILTER)
        if paths:
            self.open_paths(paths, sound_mode="add")

    def ask_open_photo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Open photo", self.last_folder(), PHOTO_FILTER)
        if path:
            self.open_paths([path])

    def ask_open_latent(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Open latent", self.last_folder(), LATENT_FILTER)
        if path:
            self.open_paths([path])

    def ask_add_generator(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Add a generator", self.last_folder(),
                                              GENERATOR_FILTER)
        if not path:
            return
        faces = QMessageBox.question(
            self.parent_widget, "Add a generator",
            f"Does {Path(path).name} draw faces?\n\nYes turns on the face tools for it: photos framed as faces, "
            "keeping a person's identity.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        self.add_generator(path, faces=faces == QMessageBox.StandardButton.Yes)

    def add_generator(self, path: str, faces: bool = False) -> None:
        """Check a StyleGAN2 file and copy it into the models folder (task thread); it then joins the list."""
        task = AddGeneratorTask(str(Path(path).expanduser()), self.models.manager(), "face" if faces else "custom")
        self.feedback.status(f"Adding the generator {task.name}…")
        self.worker.submit(task)

    def last_folder(self) -> str:
        recent = self.prefs.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def fill_recent_menu(self, menu: QMenu) -> None:
        menu.clear()
        files = self.prefs.recent_files()
        for path in files:
            action = menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_paths([p]))
        if files:
            menu.addSeparator()
            menu.addAction("Clear the list", self.prefs.clear_recent)
        else:
            menu.addAction("(nothing yet)").setEnabled(False)

    # -- out -------------------------------------------------------------------------------------------

    def export(self, kind: ExportKind, path: str) -> None:
        """Write the current edit at the current strength: 'png' (the square), 'photo' (pasted back into
        the photo it came from), 'side_by_side' or 'latent'."""
        record = self.session.state.edit
        if record is None:
            self.feedback.show_message("There is no edit to export yet.", "warning")
            return
        settings = self.session.settings
        self.worker.submit(ExportTask(kind, path, record, record.strength_shown(settings.strength), settings.device))

    def ask_export_png(self) -> None:
        if path := self._ask_save("Export picture", ".png", PNG_FILTER):
            self.export("png", path)

    def ask_export_photo(self) -> None:
        record = self.session.state.edit
        if record is None or record.source.photo is None:
            self.feedback.show_message("Export Photo is for edits of a photo: open one (File ▸ Open Photo…) and "
                                       "edit it.", "warning")
            return
        if path := self._ask_save("Export photo", ".png", PNG_FILTER):
            self.export("photo", path)

    def ask_export_side(self) -> None:
        if path := self._ask_save("Export before and after", "-side-by-side.png", PNG_FILTER):
            self.export("side_by_side", path)

    def ask_export_latent(self) -> None:
        if path := self._ask_save("Export latent", ".pt", "Latents (*.pt)"):
            self.export("latent", path)

    def _ask_save(self, title: str, suffix: str, what: str) -> str:
        record = self.session.state.edit
        stem = f"edit-{record.number}" if record else "edit"
        if record is not None and record.source.photo is not None and record.source.photo.path:
            stem = f"{Path(record.source.photo.path).stem}-{stem}"
        path, _ = QFileDialog.getSaveFileName(self.parent_widget, title, str(Path(self.last_folder()) / f"{stem}{suffix}"),
                                              what)
        if path and not Path(path).suffix:
            path += suffix
        return path

    def _finished(self, task: object, result: Any) -> None:
        if isinstance(task, ExportTask):
            self.feedback.show_message(f"Saved {result}", "info")
            self.exported.emit(task.kind, result)
        elif isinstance(task, AddGeneratorTask):
            listed = self.models.generator_added(result.id)
            where = "chosen in the generator list" if listed else f"in the models folder as {result.filename}"
            self.feedback.show_message(f"Added {result.display_name} ({result.resolution} px): {where}.", "info")

    def _failed(self, task: object, message: str) -> None:
        if isinstance(task, ExportTask):
            self.feedback.show_message(f"Could not export: {message}", "error")
        elif isinstance(task, AddGeneratorTask):
            self.feedback.show_message(f"Could not add {task.name}: {message}", "error")
