"""What the window tells a person: a message bar above the picture (never modal) and the status line.

Controllers speak through one ``Feedback``; a message may carry a button, whose action is the
function given with it, and a cause (``"photo"``, ``"sound-error"``...): when that cause is gone (the
photo opened after all, a sound was read fine) its controller ``clear``s it, so no stale message stays.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from sgim_desktop.ui.labels import WrappingLabel


class MessageBar(QFrame):
    """A strip above the picture for messages a person must see: not modal, closes with its button."""

    actionClicked = Signal()

    COLORS = {"info": "#e7f1fb", "warning": "#fff4d6", "error": "#fde2e1"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.label = WrappingLabel()
        self.label.setObjectName("messageText")
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


class Feedback:
    """The message bar and the status line, shared by the window's controllers."""

    def __init__(self, bar: MessageBar, status: QLabel):
        self.bar = bar
        self.status_label = status
        self.messages: list[tuple[str, str]] = []
        self.cause: str | None = None  # what the message shown is about
        self._on_action: Callable[[], object] | None = None
        bar.actionClicked.connect(self._action)

    def show_message(self, text: str, level: str = "info", action: str | None = None,
                     on_action: Callable[[], object] | None = None, cause: str | None = None) -> None:
        """A message in the bar above the picture and in the status line; ``action`` labels a button;
        ``cause`` names what it is about, for ``clear``."""
        self.messages.append((level, text))
        self._on_action = on_action
        self.cause = cause
        self.bar.show_message(text, level, action)
        self.status(text.splitlines()[0])

    def showing(self, cause: str) -> bool:
        return self.cause == cause and self.bar.isVisible()

    def clear(self, *causes: str) -> None:
        """What the message shown was about is settled: hide it (a message about something else stays)."""
        if self.cause in causes:
            self.hide()

    def status(self, text: str) -> None:
        self.status_label.setText(text)

    def hide(self) -> None:
        self.cause = None
        self._on_action = None
        self.bar.hide()

    def _action(self) -> None:
        act = self._on_action
        self.hide()
        if act is not None:
            act()
