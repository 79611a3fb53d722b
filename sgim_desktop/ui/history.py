"""The edits made in this session, newest last, with thumbnails; picking one shows it again."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from sgim_desktop.session import EditRecord
from sgim_desktop.ui.canvas import to_qimage

THUMBNAIL_PX = 40


class HistoryList(QListWidget):
    picked = Signal(int)  # edit number

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("historyList")
        self.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.setMinimumHeight(90)
        self._count = -1
        self.itemActivated.connect(self._picked)
        self.itemClicked.connect(self._picked)

    def show_edits(self, edits: list[EditRecord], current: EditRecord | None) -> None:
        """List ``edits`` (rebuilt only when one was added) and select ``current``."""
        if len(edits) != self._count:
            self._count = len(edits)
            self.clear()
            for record in edits:
                item = QListWidgetItem(record.describe())
                thumb = QPixmap.fromImage(to_qimage(record.image)).scaled(
                    THUMBNAIL_PX, THUMBNAIL_PX, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation)
                item.setIcon(QIcon(thumb))
                item.setData(Qt.ItemDataRole.UserRole, record.number)
                self.addItem(item)
        self.blockSignals(True)
        for row in range(self.count()):
            item = self.item(row)
            item.setSelected(current is not None and item.data(Qt.ItemDataRole.UserRole) == current.number)
        self.blockSignals(False)

    def _picked(self, item: QListWidgetItem) -> None:
        self.picked.emit(item.data(Qt.ItemDataRole.UserRole))
