"""Which models the chosen generator needs, what is missing, the models dialog, and their loading."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from sgim_desktop.session import Session
from sgim_desktop.ui.canvas import ImageCanvas
from sgim_desktop.ui.feedback import Feedback
from sgim_desktop.ui.mixer import SourcePanel
from sgim_desktop.ui.providers import ModelProvider
from sgim_desktop.ui.worker import EngineWorker
from sgim_desktop.ui.worker_tasks.models import LoadModelsTask

WELCOME = ("Welcome! Before it can edit, sgim-desktop needs a few models (downloaded once). "
           "Check their licences below, then press Get beside the task you want.")


class ModelsController(QObject):
    """Knows what is missing for the generator chosen, offers the models dialog, loads on a new device."""

    downloaded = Signal()  # the models dialog brought everything the generator needs
    loaded = Signal(str, str)  # generator id, device
    identityChanged = Signal(bool)  # whether the chosen generator can keep a face's identity (ArcFace is there)

    def __init__(self, provider: ModelProvider, session: Session, worker: EngineWorker, panel: SourcePanel,
                 canvas: ImageCanvas, feedback: Feedback, parent: QWidget, manager: Any = None):
        super().__init__(parent)
        self.provider = provider
        self.session = session
        self.worker = worker
        self.panel = panel
        self.canvas = canvas
        self.feedback = feedback
        self.parent_widget = parent
        self._manager = manager
        self.dialog: Any = None
        self.missing: list[str] = []  # for the generator shown; nothing is loaded or heard while not empty
        worker.modelsLoading.connect(lambda generator_id: feedback.status("Loading the models…"))
        worker.modelsLoaded.connect(self._loaded)
        worker.failed.connect(self._failed)

    def manager(self) -> Any:
        found = getattr(self.provider, "manager", None) or self._manager
        if found is None:
            from sgim_desktop.checkpoints.manager import ModelManager

            self._manager = found = ModelManager()
        return found

    def generator_id(self) -> str:
        source = self.session.state.source
        return source.generator_id if source is not None else self.panel.generator_id()

    def missing_for(self, generator_id: str) -> list[str]:
        return self.provider.missing(generator_id)

    def refresh(self, generator_id: str) -> None:
        self.missing = self.provider.missing(generator_id)
        self.identityChanged.emit(self.provider.has_identity(generator_id))

    def check(self) -> bool:
        """True when everything for the chosen generator is on disk; otherwise say what is missing."""
        generator_id = self.panel.generator_id() or self.generator_id()
        self.missing = self.provider.missing(generator_id)
        self.identityChanged.emit(self.provider.has_identity(generator_id))
        if self.missing:
            self.canvas.set_placeholder("Models are missing: " + "; ".join(self.missing)
                                        + "\n\nOpen Tools ▸ Models… to download them.")
            self.feedback.show_message("Some models are not downloaded yet: " + "; ".join(self.missing),
                                       "warning", "Get models…", self.open_dialog, cause="models")
            return False
        return True

    def first_run_check(self) -> None:
        """Called once at start-up: when models are missing, open the models dialog to fetch them."""
        if self.provider.missing(self.generator_id()):
            self.open_dialog(intro=WELCOME)

    def open_dialog(self, intro: str = "") -> Any:
        from sgim_desktop.ui.models_dialog import ModelsDialog

        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.raise_()
            self.dialog.activateWindow()
            return self.dialog
        wanted = self.provider.missing_ids(self.generator_id()) or []
        dialog = ModelsDialog(self.manager(), self.parent_widget, wanted=wanted, intro=intro)
        dialog.modelsChanged.connect(self._models_changed)
        self.dialog = dialog
        dialog.show()
        return dialog

    def offer(self, missing: list[str]) -> None:
        """An edit cannot start: say which models it needs and offer to get them."""
        box = QMessageBox(QMessageBox.Icon.Information, "Models needed",
                          "To edit, sgim-desktop needs these models, which are not downloaded yet:\n\n• "
                          + "\n• ".join(missing) + "\n\nOpen the models window to get them?",
                          QMessageBox.StandardButton.NoButton, self.parent_widget)
        box.setObjectName("missingModels")
        open_button = box.addButton("Open models…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(lambda b: self.open_dialog() if b is open_button else None)
        self.feedback.show_message("Models missing: " + "; ".join(missing), "warning", "Get models…", self.open_dialog,
                                   cause="models")
        box.open()

    def generator_added(self, generator_id: str) -> bool:
        """A generator joined the models folder: list it and choose it (False when this window's models come
        from elsewhere and cannot list it)."""
        generators = self.provider.generators()
        if not any(g.id == generator_id for g in generators):
            return False
        self.panel.set_generators(generators, self.panel.generator_id())
        self.panel.generator.setCurrentIndex(self.panel.generator.findData(generator_id))
        return True

    def load(self, device: str) -> None:
        """A new device: load the models there ahead of the next edit."""
        if not self.missing:
            self.worker.submit(LoadModelsTask(self.generator_id(), device))

    def close(self) -> None:
        if self.dialog is not None:
            self.dialog.close()

    def _models_changed(self) -> None:
        self.identityChanged.emit(self.provider.has_identity(self.generator_id()))
        if not self.provider.missing(self.generator_id()):
            self.missing = []
            self.feedback.clear("models")
            self.canvas.set_placeholder("Loading the picture…")
            self.downloaded.emit()

    def _loaded(self, generator_id: str, device: str) -> None:
        self.feedback.status(f"Models ready on {device}")
        self.loaded.emit(generator_id, device)

    def _failed(self, task: object, message: str) -> None:
        if isinstance(task, LoadModelsTask):
            self.feedback.show_message(f"Could not load the models: {message}", "error", "Models…", self.open_dialog,
                                       cause="models")
