"""What one open document is: a source picture, the sounds, the mixer settings and the edits made.

No Qt here, and no torch at import time (the window must open before torch has loaded): the
session is plain data that the window shows and the worker turns into engine requests. Every
change replaces an immutable ``SessionState`` and pushes the old one on the undo stack, so undo
and redo cover edits, sounds, the source and settings alike, and a change can never leave half a
state behind.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from sgim_desktop.engine.plans import EditPlan, Picture

if TYPE_CHECKING:
    import torch

    from sgim_desktop.engine.align import Aligned
    from sgim_desktop.engine.sound import Sound

MixMode = Literal["joint", "splice"]
SpeedMode = Literal["exact", "fast"]
UNDO_LIMIT = 200
MERGE_WINDOW_S = 2.0


@dataclass(frozen=True)
class MixSettings:
    """The mixer's values: everything an edit needs besides the source and the sounds."""

    text: str = ""
    text_weight: float = 1.0
    mix_mode: MixMode = "joint"
    split_layer: int = 8
    strength: float = 1.0
    lambda_sim: float = 0.008
    lambda_id: float = 0.0
    steps: int = 300
    lr: float = 0.1
    layer_masking: bool = False
    device: str = "auto"
    speed: SpeedMode = "exact"
    preview_every: int = 5
    invert_steps: int = 500

    def plan(self) -> EditPlan:
        """The engine's knobs for an edit made with these settings."""
        return EditPlan(steps=self.steps, lr=self.lr, lambda_sim=self.lambda_sim, lambda_id=self.lambda_id,
                        layer_masking=self.layer_masking, mix_mode=self.mix_mode, split_layer=self.split_layer,
                        preview_every=max(1, self.preview_every), speed=self.speed)

    def changed_fields(self, other: "MixSettings") -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MixSettings":
        """Saved values back into settings; unknown keys and values of the wrong type are dropped."""
        base = cls()
        kept: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            want = type(getattr(base, f.name))
            value = data[f.name]
            try:
                if want is bool:
                    value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                else:
                    value = want(value)
            except (TypeError, ValueError):
                continue
            kept[f.name] = value
        if kept.get("mix_mode") not in (None, "joint", "splice"):
            kept.pop("mix_mode")
        if kept.get("speed") not in (None, "exact", "fast"):
            kept.pop("speed")
        return replace(base, **kept)


@dataclass(frozen=True, eq=False)
class PhotoOrigin:
    """The real photo a latent was inverted from, and where its square sits in it (what paste-back needs)."""

    photo: np.ndarray
    aligned: "Aligned"
    path: str | None = None
    face: int | None = None
    faces: int = 0
    psnr: float = 0.0
    perceptual: bool = False

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else "a photo"

    def describe(self) -> str:
        if self.face is None:
            return f"{self.name} (whole picture)"
        return f"{self.name} (face {self.face + 1} of {self.faces})" if self.faces > 1 else self.name


@dataclass(frozen=True, eq=False)
class Source:
    """Where the picture comes from: a seed of a generator (with truncation), a saved latent, or a photo.

    A photo source is a latent too (the photo's inversion); ``photo`` keeps the photo itself so an
    edit can be pasted back into it.
    """

    generator_id: str
    seed: int | None = 0
    truncation: float = 0.7
    latent: "torch.Tensor | None" = None
    latent_path: str | None = None
    photo: PhotoOrigin | None = None

    @property
    def kind(self) -> str:
        if self.photo is not None:
            return "photo"
        return "latent" if self.latent is not None else "seed"

    def picture(self) -> Picture:
        """Where the engine starts: the latent when there is one, else the seed."""
        return Picture(seed=self.seed if self.latent is None else None, truncation=self.truncation,
                       latent=self.latent)

    def describe(self) -> str:
        if self.photo is not None:
            return f"photo {self.photo.describe()}"
        if self.latent is not None:
            return f"latent {Path(self.latent_path).name}" if self.latent_path else "a latent"
        return f"seed {self.seed}, truncation {self.truncation:g}"


@dataclass(frozen=True, eq=False)
class SoundClip:
    """One sound in the mix: the decoded sound, which ~10 s window the encoder hears, and its weight."""

    sound: "Sound"
    path: str | None = None
    start_s: float = 0.0
    weight: float = 1.0
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def name(self) -> str:
        return self.sound.name

    def describe(self) -> str:
        return f"{self.name} ({self.sound.duration_s:.1f} s)"


@dataclass(frozen=True, eq=False)
class EditRecord:
    """One finished edit with everything that made it, so it can be shown, exported or undone.

    ``stopped_of`` is set when Stop ended it early: it is then the last preview, ``steps`` of that many.
    """

    number: int
    settings: MixSettings
    source: Source
    clips: tuple[SoundClip, ...]
    source_latent: "torch.Tensor"
    latent: "torch.Tensor"
    source_image: np.ndarray
    image: np.ndarray
    steps: int
    seconds: float
    stopped_of: int | None = None
    own_strength: ClassVar[bool] = False  # True: made at a strength of its own, which the mixer must not scale again

    def strength_shown(self, mixer_strength: float) -> float:
        """The strength it is shown and exported at: the mixer's, or 1 for an edit with a strength of its own."""
        return 1.0 if self.own_strength else mixer_strength

    def describe(self) -> str:
        parts = [c.name for c in self.clips if c.weight > 0]
        if self.settings.text.strip() and self.settings.text_weight > 0:
            parts.append(f"'{self.settings.text.strip()}'")
        done = (f"stopped at step {self.steps} of {self.stopped_of}" if self.stopped_of is not None
                else f"{self.steps} steps")
        return f"Edit {self.number}: {' + '.join(parts) or 'nothing'} ({done})"

    def latent_at(self, strength: float) -> "torch.Tensor":
        """w0 + a (w - w0): the edit at any strength, without optimising again (tensor maths, no import)."""
        return self.source_latent + float(strength) * (self.latent - self.source_latent)


@dataclass(frozen=True, eq=False)
class SessionState:
    """Everything the window shows about the document at one moment."""

    source: Source | None = None
    clips: tuple[SoundClip, ...] = ()
    settings: MixSettings = MixSettings()
    edit: EditRecord | None = None

    def clip(self, key: str) -> SoundClip | None:
        return next((c for c in self.clips if c.key == key), None)


@dataclass
class _Entry:
    state: SessionState
    label: str
    merge_key: str | None
    at: float


Listener = Callable[[SessionState, str], None]


class Session:
    """The document: the current state, the undo/redo stacks and every edit made in it."""

    def __init__(
        self,
        settings: MixSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        merge_window_s: float = MERGE_WINDOW_S,
    ):
        self._state = SessionState(settings=settings or MixSettings())
        self._undo: list[_Entry] = []
        self._redo: list[_Entry] = []
        self._clock = clock
        self._merge_window_s = merge_window_s
        self.edits: list[EditRecord] = []
        self.listeners: list[Listener] = []

    # -- reading ---------------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def settings(self) -> MixSettings:
        return self._state.settings

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_label(self) -> str:
        return self._undo[-1].label if self._undo else ""

    def redo_label(self) -> str:
        return self._redo[-1].label if self._redo else ""

    def next_edit_number(self) -> int:
        """The number the next edit added will get: one more than the last, so an edit that was stopped
        with nothing to keep, failed or never started takes no number."""
        return self.edits[-1].number + 1 if self.edits else 1

    # -- changing --------------------------------------------------------------------------------

    def apply(self, state: SessionState, label: str, merge_key: str | None = None) -> None:
        """Make ``state`` current as one undoable step called ``label``.

        Changes with the same ``merge_key`` in quick succession (a slider being dragged, a prompt
        being typed) become one undo step.
        """
        if state is self._state:
            return
        now = self._clock()
        top = self._undo[-1] if self._undo else None
        merging = (
            merge_key is not None
            and top is not None
            and top.merge_key == merge_key
            and not self._redo
            and now - top.at <= self._merge_window_s
        )
        if merging and top is not None:
            top.at = now
        else:
            self._undo.append(_Entry(self._state, label, merge_key, now))
            del self._undo[:-UNDO_LIMIT]
        self._redo.clear()
        self._set(state, label)

    def set_settings(self, settings: MixSettings, label: str | None = None, merge_key: str | None = None) -> None:
        changed = settings.changed_fields(self._state.settings)
        if not changed:
            return
        label = label or "Change " + ", ".join(n.replace("_", " ") for n in changed)
        key = merge_key if merge_key is not None else (changed[0] if len(changed) == 1 else None)
        self.apply(replace(self._state, settings=settings), label, key)

    def update_settings(self, **values: Any) -> None:
        self.set_settings(replace(self._state.settings, **values))

    def set_source(self, source: Source, label: str = "New picture") -> None:
        """A new source starts a new picture: the edit shown belonged to the old one."""
        self.apply(replace(self._state, source=source, edit=None), label)

    def replace_sounds(self, clips: list[SoundClip], label: str | None = None) -> None:
        names = ", ".join(c.name for c in clips)
        self.apply(replace(self._state, clips=tuple(clips)), label or f"Use sound {names}")

    def add_sounds(self, clips: list[SoundClip]) -> None:
        names = ", ".join(c.name for c in clips)
        self.apply(replace(self._state, clips=self._state.clips + tuple(clips)), f"Add sound {names}")

    def remove_sound(self, key: str) -> None:
        clip = self._state.clip(key)
        if clip is None:
            return
        rest = tuple(c for c in self._state.clips if c.key != key)
        self.apply(replace(self._state, clips=rest), f"Remove sound {clip.name}")

    def update_clip(self, key: str, **values: Any) -> None:
        """Move a clip's window or change its weight; a drag of the window is one undo step."""
        clip = self._state.clip(key)
        if clip is None:
            return
        new = replace(clip, **values)
        if all(getattr(new, k) == getattr(clip, k) for k in values):
            return
        clips = tuple(new if c.key == key else c for c in self._state.clips)
        what = "window" if "start_s" in values else "weight"
        self.apply(replace(self._state, clips=clips), f"Change {clip.name} {what}", f"clip:{key}:{what}")

    def add_edit(self, record: EditRecord) -> EditRecord:
        """A finished (or stopped) edit becomes the picture shown, with the source it started from; it is
        numbered here, next in the history, whatever number its task was given. Returns it as kept."""
        if record.number != self.next_edit_number():
            record = replace(record, number=self.next_edit_number())
        self.edits.append(record)
        self.apply(replace(self._state, source=record.source, edit=record), record.describe())
        return record

    def show_edit(self, record: EditRecord) -> None:
        """Go back to an earlier edit from the history (itself an undoable step)."""
        if record is self._state.edit:
            return
        self.apply(replace(self._state, source=record.source, edit=record), f"Show edit {record.number}")

    def clear_history(self) -> None:
        """Forget undo and redo (a fresh document: its first state is not something to undo)."""
        self._undo.clear()
        self._redo.clear()

    def undo(self) -> bool:
        if not self._undo:
            return False
        entry = self._undo.pop()
        self._redo.append(_Entry(self._state, entry.label, None, self._clock()))
        self._set(entry.state, "undo")
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        entry = self._redo.pop()
        self._undo.append(_Entry(self._state, entry.label, None, self._clock()))
        self._set(entry.state, "redo")
        return True

    def _set(self, state: SessionState, reason: str) -> None:
        self._state = state
        for listener in list(self.listeners):
            listener(state, reason)

