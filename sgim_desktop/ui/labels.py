"""Labels that never widen the window, whatever text they are given (a 500-character sound label, a
long file name without spaces): a label's minimum width is its longest unbreakable run, and a layout
gives way to it by squeezing everything else (the Sounds list down to ~70 px) or by growing the window
past the screen.

``ElidedLabel`` is one line cut with "…" to the width it gets, the whole text in its tooltip;
``WrappingLabel`` wraps, and breaks words too long to wrap.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

LONGEST_RUN = 24
_ZERO_WIDTH_SPACE = "\u200b"
_LONG_RUN = re.compile(rf"[^\s/\\]{{{LONGEST_RUN + 1},}}")


def breakable(text: str) -> str:
    """``text`` with a zero-width space every LONGEST_RUN characters of a run no line could break."""
    def split(match: re.Match[str]) -> str:
        run = match.group(0)
        return _ZERO_WIDTH_SPACE.join(run[i:i + LONGEST_RUN] for i in range(0, len(run), LONGEST_RUN))

    return _LONG_RUN.sub(split, text)


class ElidedLabel(QLabel):
    """One line shown as far as it fits, ending in "…" when cut; the tooltip then holds it whole."""

    def __init__(self, text: str = "", parent: QWidget | None = None, tooltip: str = ""):
        super().__init__(parent)
        self._full = ""
        self._tooltip = tooltip
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self._full = text
        self._elide()

    def text(self) -> str:
        return self._full

    def setToolTip(self, tip: str) -> None:  # noqa: N802 (Qt naming)
        self._tooltip = tip
        self._elide()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        hint = super().minimumSizeHint()
        return QSize(self.fontMetrics().horizontalAdvance("…") + 2 * self.margin(), hint.height())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 2 * self.margin(), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, self.contentsRect().width())
        super().setText(shown)
        super().setToolTip(self._full if shown != self._full else self._tooltip)


class WrappingLabel(QLabel):
    """Wraps at spaces and slashes, and inside runs longer than LONGEST_RUN characters; ``text`` is as set."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setWordWrap(True)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self._full = text
        super().setText(breakable(text))

    def text(self) -> str:
        return self._full
