"""Sounds: open (decode and prepare) dropped or recorded sounds, and say what the encoder hears in one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sgim_desktop.session import SoundClip
from sgim_desktop.ui.worker_tasks.base import Report, Task, one_line
from sgim_desktop.ui.worker_tasks.context import TaskContext

SoundMode = Literal["replace", "add"]


@dataclass(frozen=True)
class OpenedSounds:
    clips: list[SoundClip]
    errors: list[str]  # one line per sound that could not be read
    warnings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # clip key: what decoding noted


@dataclass(eq=False)
class OpenSoundsTask(Task):
    """Paths (decoded here) or recorded sounds; ``mode`` and ``edit_after`` travel back untouched."""

    doing = "reading the sounds"

    light = True
    items: list[tuple[str | None, Any]]  # (path, None) or (None, Sound)
    mode: SoundMode = "replace"
    edit_after: bool = False

    def run(self, ctx: TaskContext, report: Report) -> OpenedSounds:
        """Each sound decoded and prepared once; a long one starts with its loudest ~10 s window heard."""
        from sgim_desktop.engine.api import open_sound

        clips: list[SoundClip] = []
        errors: list[str] = []
        warnings: dict[str, tuple[str, ...]] = {}
        for path, sound in self.items:
            try:
                opened = open_sound(sound if sound is not None else path)
            except Exception as exc:  # noqa: BLE001 (one bad file is a line in the message, not a failure)
                errors.append(one_line(exc))
                continue
            clip = SoundClip(sound=opened.sound, path=path, start_s=opened.loudest_start_s)
            ctx.remember(clip.key, opened.prepared)
            clips.append(clip)
            if opened.warnings:
                warnings[clip.key] = tuple(dict.fromkeys(opened.warnings))
        return OpenedSounds(clips, errors, warnings)


@dataclass(frozen=True)
class Heard:
    key: str  # the clip's
    start_s: float  # the window heard
    top: list[tuple[str, float]]  # (label, probability), most likely first


@dataclass(eq=False)
class HearTask(Task):
    light = True
    clip: SoundClip
    generator_id: str
    device: str
    top_k: int = field(default=5)

    def coalesce_key(self) -> str:
        return f"hear:{self.clip.key}"

    def models_wanted(self) -> tuple[str, str]:
        return self.generator_id, self.device

    def run(self, ctx: TaskContext, report: Report) -> Heard:
        from sgim_desktop.engine.api import SoundPick, hear

        models = ctx.models(self.generator_id, self.device)
        pick = SoundPick(ctx.prepared(self.clip), self.clip.start_s, label=self.clip.name)
        top = hear(models, pick, ctx.labels(), top_k=self.top_k)
        return Heard(self.clip.key, self.clip.start_s, [(h.label, h.probability) for h in top])
