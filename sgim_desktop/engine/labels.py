"""Label lists for "what it hears": the shipped ESC-50 and VGGSound lists, or a person's own file."""

from __future__ import annotations

from pathlib import Path

from sgim_desktop.errors import BadInputError
from sgim_desktop.paths import resource

BUILTIN = {"esc50": "labels/esc50.txt", "vggsound": "labels/vggsound.txt"}


def load_labels(name_or_path: str) -> list[str]:
    path = resource(BUILTIN[name_or_path]) if name_or_path in BUILTIN else Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read the label list {path}: {exc.__class__.__name__}") from exc
    labels = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not labels:
        raise BadInputError(f"the label list {path} is empty")
    return list(dict.fromkeys(labels))
