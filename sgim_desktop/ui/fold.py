"""A section that folds away under a header: the expert knobs stay one click from the novice path."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QSizePolicy, QToolButton, QVBoxLayout, QWidget


class FoldSection(QWidget):
    """A header button with an arrow and a body shown only while the section is open (folded at first)."""

    toggled = Signal(bool)  # open

    def __init__(self, title: str, body: QWidget, tip: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.body = body
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setToolTip(tip)
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.setAutoRaise(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(body)
        self.header.toggled.connect(self._toggled)
        self._show(False)

    def is_open(self) -> bool:
        return self.header.isChecked()

    def set_open(self, open_: bool) -> None:
        self.header.setChecked(open_)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        """As wide as the open body even while folded, so opening it never squeezes the panel."""
        hint = super().minimumSizeHint()
        return QSize(max(hint.width(), self.body.minimumSizeHint().width()), hint.height())

    def _show(self, open_: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)

    def _toggled(self, open_: bool) -> None:
        self._show(open_)
        self.toggled.emit(open_)
