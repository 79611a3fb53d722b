"""The models dialog: what is on disk, fetching what is missing (licence first), importing a file by hand.

Downloads, verification and imports run on their own QThread through the model manager, report
bytes, speed and time left, and can be cancelled (a cancelled download keeps its partial file and
resumes next time; nothing half-written ever takes a model's place).
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop.checkpoints.catalog import CheckpointSpec
from sgim_desktop.checkpoints.manager import ModelManager, ModelStatus
from sgim_desktop.checkpoints.meter import DownloadProgress
from sgim_desktop.checkpoints.units import human_bytes, time_left
from sgim_desktop.errors import SgimError
from sgim_desktop.ui.first_run import TasksPanel
from sgim_desktop.ui.model_tasks import ManagerTask

STATE_TEXT = {"verified": "Ready", "present": "On disk", "partial": "Partly downloaded", "missing": "Missing"}
ROLE_TEXT = {
    "clip": "CLIP (pictures and text)",
    "audio_encoder": "Audio encoder",
    "generator": "Generator",
    "identity": "Face identity",
    "inversion": "Photo inversion",
    "encoder": "Photo encoder (faces)",
}


def progress_text(p: DownloadProgress) -> str:
    verb = {"download": "Downloading", "verify": "Checking", "import": "Importing", "waiting": "Waiting for"}.get(
        p.stage, p.stage.capitalize()
    )
    if p.stage == "waiting":
        return f"Waiting: another sgim-desktop is fetching {p.spec_id}"
    parts = [f"{verb} {p.spec_id}: {human_bytes(p.done_bytes)}"]
    if p.total_bytes:
        parts[0] += f" of {human_bytes(p.total_bytes)}"
    if p.speed_bps > 0:
        parts.append(f"{human_bytes(p.speed_bps)}/s")
    if time_left(p.eta_s):
        parts.append(time_left(p.eta_s))
    return ", ".join(parts)


class ModelsDialog(QDialog):
    """Lists the catalog with each model's state and licence; downloads, imports and cancels."""

    modelsChanged = Signal()

    def __init__(self, manager: ModelManager, parent: QWidget | None = None, wanted: list[str] | None = None,
                 intro: str = ""):
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.resize(880, 780)
        self.manager = manager
        self.wanted = list(wanted or [])
        self.task: ManagerTask | None = None
        self.messages: list[str] = []

        self.intro = QLabel(intro or (
            "sgim-desktop edits pictures with these models. Each is downloaded once into "
            f"{manager.models_dir}. Read each licence before downloading."
        ))
        self.intro.setWordWrap(True)
        self.tasks = TasksPanel(manager, self)
        self.tasks.modelsChanged.connect(self._tasks_changed)
        self.tasks.busyChanged.connect(lambda _: self.refresh())
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(["Model", "Used for", "State", "Licence"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in (0, 1, 2):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.details = QTextBrowser()
        self.details.setObjectName("licenceDetails")
        self.details.setOpenExternalLinks(True)
        self.details.setMaximumHeight(150)
        self.status = QLabel("")
        self.status.setObjectName("modelsStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setVisible(False)

        self.download_missing_button = QPushButton("Download missing")
        self.download_missing_button.setObjectName("downloadMissing")
        self.download_button = QPushButton("Download selected")
        self.import_button = QPushButton("Import from file…")
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")

        buttons = QHBoxLayout()
        for b in (self.download_missing_button, self.download_button, self.import_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.tasks)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.table.itemSelectionChanged.connect(self._show_details)
        self.download_missing_button.clicked.connect(lambda: self.download(self.missing_wanted()))
        self.download_button.clicked.connect(lambda: self.download(self.selected_ids()))
        self.import_button.clicked.connect(self._ask_import)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.refresh()

    # -- the list --------------------------------------------------------------------------------

    def refresh(self) -> None:
        selected = set(self.selected_ids())
        try:
            statuses = self.manager.list()
        except SgimError as exc:
            self._say(str(exc))
            statuses = []
        self.table.setRowCount(len(statuses))
        for row, st in enumerate(statuses):
            state = STATE_TEXT.get(st.state, st.state)
            if st.state == "partial":
                state += f" ({human_bytes(st.partial_bytes)})"
            elif st.present and st.size_on_disk:
                state += f" ({human_bytes(st.size_on_disk)})"
            values = [st.spec.display_name, ROLE_TEXT.get(st.spec.role, st.spec.role), state, st.spec.license_summary]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, st.spec.id)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
            if st.spec.id in selected:
                self.table.selectRow(row)
        has_missing = bool(self.missing_wanted())
        idle = not self.is_busy()
        self.download_missing_button.setEnabled(has_missing and idle)
        self.download_button.setEnabled(idle)
        self.import_button.setEnabled(idle)
        if self.table.rowCount() and not self.table.selectedItems():
            first = next((r for r in range(self.table.rowCount()) if self._row_id(r) in self.missing_wanted()), 0)
            self.table.selectRow(first)
        self._show_details()

    def _row_id(self, row: int) -> str:
        item = self.table.item(row, 0)
        return item.data(Qt.ItemDataRole.UserRole) if item else ""

    def row_of(self, spec_id: str) -> int:
        return next((r for r in range(self.table.rowCount()) if self._row_id(r) == spec_id), -1)

    def state_text(self, spec_id: str) -> str:
        row = self.row_of(spec_id)
        return self.table.item(row, 2).text() if row >= 0 else ""

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedItems()})
        return [self._row_id(r) for r in rows]

    def select(self, spec_id: str) -> None:
        row = self.row_of(spec_id)
        if row >= 0:
            self.table.selectRow(row)

    def missing_wanted(self) -> list[str]:
        return [i for i in self.wanted if i in self.manager.catalog and not self.manager.is_present(i)]

    def _show_details(self) -> None:
        ids = self.selected_ids()
        if not ids:
            self.details.clear()
            return
        spec = self.manager.spec(ids[0])
        try:
            status = self.manager.status(spec.id)
        except SgimError:
            status = None
        self.details.setHtml(self._licence_html(spec, with_location=True) + (self._trust_html(status) if status else ""))

    @staticmethod
    def _trust_html(status: ModelStatus) -> str:
        """How the file is checked: a published hash, or trust on first use with the hash recorded then."""
        e = html.escape
        rows = [f"Checked by: {e(status.trust)}"]
        rows += [f"Kept aside, never used: {e(p.name)} (a download that is not the published file)" for p in status.set_aside]
        return "<br>" + "<br>".join(rows)

    def _licence_html(self, spec: CheckpointSpec, with_location: bool = False) -> str:
        e = html.escape
        rows = [
            f"<b>{e(spec.display_name)}</b>",
            f"Licence: <b>{e(spec.license)}</b> — {e(spec.license_summary)}",
        ]
        if spec.notes and with_location:
            rows.append(f"<small>{e(spec.notes)}</small>")
        if with_location:
            rows.append(f"File: {e(str(self.manager.path_for(spec.id)))}")
            if spec.urls:
                rows.append("From: " + ", ".join(f'<a href="{e(u)}">{e(u)}</a>' for u in spec.urls))
        return "<br>".join(rows)

    # -- download, import, cancel ----------------------------------------------------------------

    def download(self, ids: list[str]) -> None:
        """Show every licence first; the download starts only once the person accepts them."""
        ids = [i for i in ids if i]
        if not ids:
            self._say("Select the models to download first.")
            return
        if self.is_busy():
            self._say("A download is already running.")
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Licences", "", QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("licenceConfirm")
        box.setTextFormat(Qt.TextFormat.RichText)
        specs = [self.manager.spec(i) for i in ids]
        box.setText("These models come with their own licences:<br><br>"
                    + "<br><br>".join(self._licence_html(s) for s in specs)
                    + "<br><br>Download them and accept these licences?")
        accept = box.addButton("Accept and download", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(accept)

        def answered(button: object) -> None:
            if button is accept:
                self._start(ManagerTask(self.manager, ids))
            else:
                self._say("Download not started.")

        box.buttonClicked.connect(answered)
        box.open()

    def _ask_import(self) -> None:
        ids = self.selected_ids()
        if len(ids) != 1:
            self._say("Select the one model the file is for, then import it.")
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Import {self.manager.spec(ids[0]).display_name}", str(Path.home()),
                                              "Checkpoints (*.pt *.pth *.safetensors *.ckpt);;All files (*)")
        if path:
            self.import_file(ids[0], path)

    def import_file(self, spec_id: str, path: str) -> None:
        """Check a hand-downloaded file exactly like a download, then copy it into the models folder."""
        if self.is_busy():
            self._say("A download is already running.")
            return
        self._start(ManagerTask(self.manager, [spec_id], import_from=path))

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self._say("Cancelling…")

    def is_busy(self) -> bool:
        return self.task is not None or self.tasks.is_busy()

    def _tasks_changed(self) -> None:
        self.refresh()
        self.modelsChanged.emit()

    def _start(self, task: ManagerTask) -> None:
        self.task = task
        self.tasks.setEnabled(False)
        task.progress.connect(self._progress)
        task.itemDone.connect(self._done)
        task.itemFailed.connect(self._failed)
        task.finished.connect(self._finished)
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        for b in (self.download_button, self.download_missing_button, self.import_button):
            b.setEnabled(False)
        self._say("Starting…")
        task.start()

    def _progress(self, p: DownloadProgress) -> None:
        if p.fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(p.fraction * 1000))
        self.status.setText(progress_text(p))

    def _done(self, spec_id: str, path: str) -> None:
        self._say(f"{self.manager.spec(spec_id).display_name} is ready ({path}).")
        self.refresh()
        self.modelsChanged.emit()

    def _failed(self, spec_id: str, message: str) -> None:
        if message == "cancelled":
            self._say(f"{spec_id}: cancelled. What was downloaded is kept, and the next try resumes it.")
        else:
            self._say(f"{spec_id}: {message}")
        self.refresh()

    def _finished(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.deleteLater()
        self.tasks.setEnabled(True)
        self.tasks.refresh()
        self.bar.setVisible(False)
        self.cancel_button.setEnabled(False)
        self.refresh()

    def _say(self, text: str) -> None:
        self.messages.append(text)
        self.status.setText(text)

    def _stop_task(self) -> None:
        """Closing cancels a running download and waits for it to stop cleanly."""
        self.tasks.stop()
        if self.task is not None:
            self.task.cancel()
            self.task.wait(15000)
            self._finished()

    def reject(self) -> None:
        self._stop_task()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        self._stop_task()
        super().closeEvent(event)
