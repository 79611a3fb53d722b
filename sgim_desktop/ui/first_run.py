"""Tasks, not files: "Edit landscapes", "Edit faces and photos", "More generators", each fetched in one go.

Each task shows its total size, its licences and how far it is; getting one asks to accept its
licences, checks the free space, and shows one progress bar and one time left for the whole set.
Cancel keeps what arrived (the next try resumes it). When a file cannot be fetched (offline, a host
gone), the panel lists every file still missing with its size, where to get it, an Import button and
the terminal line that does the same.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.sets import ManualStep, SetIncomplete, SetPlan, SetProgress, plan_set
from sgim_desktop.checkpoints.units import human_bytes, time_left
from sgim_desktop.errors import SgimError
from sgim_desktop.ui.model_tasks import ManagerTask, SetTask


def set_progress_text(title: str, p: SetProgress) -> str:
    """'Edit landscapes: 120.3 MB of 605.1 MB, 2.1 MB/s, 4 min 10 s left (file 1 of 3)'."""
    amount = f"{human_bytes(p.done_bytes)} of {human_bytes(p.total_bytes)}"
    if p.unknown_files:
        amount += f" + {p.unknown_files} file{'s' if p.unknown_files > 1 else ''} of unknown size"
    parts = [f"{title}: {amount}"]
    if p.speed_bps > 0:
        parts.append(f"{human_bytes(p.speed_bps)}/s")
    if time_left(p.eta_s):
        parts.append(time_left(p.eta_s))
    return ", ".join(parts) + f" (file {p.index} of {p.count}: {p.spec_id})"


def _file_dialog(parent: QWidget, title: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, str(Path.home()),
                                          "Checkpoints (*.pt *.pth *.safetensors *.ckpt);;All files (*)")
    return path


class TasksPanel(QWidget):
    """The sets of the catalog as tasks, with one progress for the running one and the offline list."""

    modelsChanged = Signal()
    busyChanged = Signal(bool)

    def __init__(self, manager: ModelManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tasksPanel")
        self.manager = manager
        self.task: SetTask | ManagerTask | None = None
        self.running: str | None = None  # the set being fetched, or the id being imported
        self.steps: list[ManualStep] = []
        self.messages: list[str] = []
        self.ask_file: Callable[[QWidget, str], str] = _file_dialog  # a person picks the file to import

        box = QGroupBox("What do you want to do?")
        grid = QGridLayout(box)
        self.state_labels: dict[str, QLabel] = {}
        self.states: dict[str, str] = {}
        self.buttons: dict[str, QPushButton] = {}
        for row, set_spec in enumerate(manager.catalog.sets):
            title = QLabel(f"<b>{html.escape(set_spec.title)}</b>")
            state = QLabel("")
            state.setObjectName(f"setState_{set_spec.id}")
            state.setWordWrap(True)
            state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            button = QPushButton("Get")
            button.setObjectName(f"getSet_{set_spec.id}")
            button.clicked.connect(lambda _=False, i=set_spec.id: self.start(i))
            grid.addWidget(title, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(state, row, 1)
            grid.addWidget(button, row, 2, Qt.AlignmentFlag.AlignTop)
            self.state_labels[set_spec.id], self.buttons[set_spec.id] = state, button
        grid.setColumnStretch(1, 1)

        self.bar = QProgressBar()
        self.bar.setObjectName("setProgress")
        self.bar.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("setStatus")
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelSet")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        line = QHBoxLayout()
        line.addWidget(self.bar, 1)
        line.addWidget(self.cancel_button)

        self.offline = QTableWidget(0, 4)
        self.offline.setObjectName("offlineList")
        self.offline.setHorizontalHeaderLabels(["File", "Size", "Where to get it", ""])
        self.offline.verticalHeader().setVisible(False)
        self.offline.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.offline.setVisible(False)
        self.commands = QLabel("")
        self.commands.setObjectName("offlineCommands")
        self.commands.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.commands.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addLayout(line)
        layout.addWidget(self.status)
        layout.addWidget(self.offline)
        layout.addWidget(self.commands)
        self.refresh()

    # -- what each task needs --------------------------------------------------------------------

    def plan(self, set_id: str) -> SetPlan:
        return plan_set(self.manager, set_id)

    def refresh(self) -> None:
        for set_spec in self.manager.catalog.sets:
            try:
                plan = self.plan(set_spec.id)
            except SgimError as exc:
                self.state_labels[set_spec.id].setText(str(exc))
                continue
            state = self.states[set_spec.id] = plan.state_text()  # looks into the local caches: once
            self.state_labels[set_spec.id].setText(
                f"{html.escape(set_spec.summary)}<br><small>{plan.size_text()}. Licences: "
                f"{html.escape(plan.licence_names())}</small><br><b>{state.capitalize()}</b>")
            self.state_labels[set_spec.id].setToolTip("\n".join(f"{licence}: {', '.join(ids)}"
                                                                 for licence, ids in plan.licences()))
            self.buttons[set_spec.id].setText("Ready" if plan.ready else "Get")
            self.buttons[set_spec.id].setEnabled(not plan.ready and self.task is None)

    def state_text(self, set_id: str) -> str:
        return self.states.get(set_id, "")

    def is_busy(self) -> bool:
        return self.task is not None

    # -- getting a set ---------------------------------------------------------------------------

    def start(self, set_id: str) -> None:
        """Ask to accept the set's licences; the download starts only once the person does."""
        if self.task is not None:
            self._say("A download is already running.")
            return
        plan = self.plan(set_id)
        if plan.ready:
            self._say(f"{plan.set.title}: every file is ready.")
            return
        rows = "".join(f"<li><b>{html.escape(licence)}</b>: {html.escape(', '.join(ids))}</li>"
                       for licence, ids in plan.licences())
        box = QMessageBox(QMessageBox.Icon.Question, "Licences", "", QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("setLicenceConfirm")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<b>{html.escape(plan.set.title)}</b> needs {plan.size_text()} ({plan.state_text()}). "
                    f"These files come with their own licences:<ul>{rows}</ul>Download them and accept these licences?")
        accept = box.addButton("Accept and download", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(accept)
        box.buttonClicked.connect(lambda b: self._run_set(plan) if b is accept else self._say("Download not started."))
        box.open()

    def _run_set(self, plan: SetPlan) -> None:
        task = SetTask(self.manager, plan.set.id)
        task.progress.connect(lambda p: self._progress(plan.set.title, p))
        task.setDone.connect(lambda _: self._say(f"{plan.set.title}: ready."))
        task.setIncomplete.connect(self._incomplete)
        task.setFailed.connect(lambda m: self._set_failed(plan.set.title, m))
        self._begin(task, plan.set.id, f"{plan.set.title}: starting…")

    def _progress(self, title: str, p: SetProgress) -> None:
        if p.fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(p.fraction * 1000))
        self.status.setText(set_progress_text(title, p))

    def _set_failed(self, title: str, message: str) -> None:
        if message == "cancelled":
            self._say(f"{title}: cancelled. What was downloaded is kept, and the next try resumes it.")
        else:
            self._say(f"{title}: {message}")

    def _incomplete(self, exc: SetIncomplete) -> None:
        self._say(f"{exc.plan.set.title} is not complete: {exc}")
        self.show_offline(exc.steps)

    # -- offline: each file by hand --------------------------------------------------------------

    def show_offline(self, steps: list[ManualStep]) -> None:
        """One row per missing file: its size, where to get it, and an Import button."""
        self.steps = list(steps)
        self.offline.setRowCount(len(steps))
        for row, step in enumerate(steps):
            name = QTableWidgetItem(f"{step.spec.filename} ({step.spec.display_name})")
            name.setData(Qt.ItemDataRole.UserRole, step.spec.id)
            self.offline.setItem(row, 0, name)
            self.offline.setItem(row, 1, QTableWidgetItem(step.size_text))
            where = QLabel(" or ".join(f'<a href="{html.escape(u)}">{html.escape(u)}</a>' for u in step.urls)
                           or html.escape("no address known: see the file's notes"))
            where.setOpenExternalLinks(True)
            where.setToolTip(step.spec.notes)
            self.offline.setCellWidget(row, 2, where)
            button = QPushButton("Import…")
            button.setObjectName(f"import_{step.spec.id}")
            button.clicked.connect(lambda _=False, i=step.spec.id: self._ask_import(i))
            self.offline.setCellWidget(row, 3, button)
        self.commands.setText("Or in a terminal, once each file is downloaded:\n" + "\n".join(s.command for s in steps))
        for widget in (self.offline, self.commands):
            widget.setVisible(bool(steps))

    def import_button(self, spec_id: str) -> QPushButton | None:
        """The Import button of a file's row (None once the file is in place and its row gone)."""
        for row in range(self.offline.rowCount()):
            item = self.offline.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == spec_id:
                widget = self.offline.cellWidget(row, 3)
                return widget if isinstance(widget, QPushButton) else None
        return None

    def _ask_import(self, spec_id: str) -> None:
        path = self.ask_file(self, f"Import {self.manager.spec(spec_id).display_name}")
        if path:
            self.import_file(spec_id, path)

    def import_file(self, spec_id: str, path: str) -> None:
        """Check the file like a download and copy it in; the offline list then drops it."""
        if self.task is not None:
            self._say("A download is already running.")
            return
        task = ManagerTask(self.manager, [spec_id], import_from=path)
        task.progress.connect(lambda p: self.status.setText(f"Importing {p.spec_id}: {human_bytes(p.done_bytes)}"))
        task.itemDone.connect(lambda i, _: self._imported(i))
        task.itemFailed.connect(lambda i, m: self._say(f"{i}: {m}"))
        self._begin(task, spec_id, f"Checking {Path(path).name}…")

    def _imported(self, spec_id: str) -> None:
        self._say(f"{self.manager.spec(spec_id).display_name} is ready.")
        self.show_offline([s for s in self.steps if s.spec.id != spec_id])

    # -- the running job -------------------------------------------------------------------------

    def _begin(self, task: SetTask | ManagerTask, running: str, text: str) -> None:
        self.task, self.running = task, running
        task.finished.connect(self._finished)
        self.bar.setRange(0, 0)
        self.bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self._say(text)
        self.refresh()
        self.busyChanged.emit(True)
        task.start()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self._say("Cancelling…")

    def stop(self) -> None:
        """Cancel a running job and wait for it to stop cleanly (the window is closing)."""
        if self.task is not None:
            self.task.cancel()
            self.task.wait(15000)
            self._finished()

    def _finished(self) -> None:
        task, self.task, self.running = self.task, None, None
        if task is None:
            return
        task.deleteLater()
        self.bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self.refresh()
        self.busyChanged.emit(False)
        self.modelsChanged.emit()

    def _say(self, text: str) -> None:
        self.messages.append(text)
        self.status.setText(text)

