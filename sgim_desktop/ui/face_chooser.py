"""Which face to edit, when a photo shows several: their thumbnails left to right, one click to choose.

The dialog only shows what the worker found (thumbnails and descriptions); it answers with an index,
or with "the whole picture" instead of any one face.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sgim_desktop.ui.canvas import to_qimage


class FaceChooser(QDialog):
    """Not modal: ``chosen(index)`` or ``wholeChosen()`` when answered, nothing when cancelled."""

    chosen = Signal(int)
    wholeChosen = Signal()

    def __init__(self, name: str, thumbnails: list[np.ndarray], descriptions: list[str],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("faceChooser")
        self.setWindowTitle("Which face?")
        text = QLabel(f"{name} shows {len(thumbnails)} faces. Which one should be edited?")
        text.setWordWrap(True)
        self.faces = QListWidget()
        self.faces.setObjectName("faceList")
        self.faces.setViewMode(QListView.ViewMode.IconMode)
        self.faces.setFlow(QListView.Flow.LeftToRight)
        self.faces.setWrapping(True)
        self.faces.setResizeMode(QListView.ResizeMode.Adjust)
        self.faces.setMovement(QListView.Movement.Static)
        side = max((t.shape[0] for t in thumbnails), default=96)
        self.faces.setIconSize(QSize(side, side))
        for i, (thumb, description) in enumerate(zip(thumbnails, descriptions)):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(thumb))), f"Face {i + 1}")
            item.setToolTip(description)
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.faces.addItem(item)
        self.faces.setCurrentRow(0)
        self.faces.itemDoubleClicked.connect(lambda item: self.accept())
        buttons = QDialogButtonBox()
        self.edit_button = buttons.addButton("Edit this face", QDialogButtonBox.ButtonRole.AcceptRole)
        self.whole_button = buttons.addButton("Whole picture", QDialogButtonBox.ButtonRole.ActionRole)
        self.whole_button.setToolTip("Edit the centre square of the photo instead of one face")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.whole_button.clicked.connect(self._whole)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.faces, 1)
        layout.addWidget(buttons)
        self.resize(max(360, len(thumbnails) * (side + 40) + 60), side + 170)

    def choose(self, index: int) -> None:
        """Answer for face ``index`` (0 = leftmost), as clicking it and 'Edit this face' does."""
        self.faces.setCurrentRow(index)
        self.accept()

    def accept(self) -> None:
        item = self.faces.currentItem()
        super().accept()
        if item is not None:
            self.chosen.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _whole(self) -> None:
        super().accept()
        self.wholeChosen.emit()
