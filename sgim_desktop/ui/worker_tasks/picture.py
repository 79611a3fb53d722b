"""The picture: open a saved latent, render a source, render an edit at another strength."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sgim_desktop.session import EditRecord, Source
from sgim_desktop.ui.worker_tasks.base import Report, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext


@dataclass(eq=False)
class OpenLatentTask(Task):
    light = True
    path: str

    def run(self, ctx: TaskContext, report: Report) -> Any:
        """The W+ latent in the file (checked, never unpickled)."""
        from sgim_desktop.engine.api import load_latent

        return load_latent(self.path)


@dataclass(eq=False)
class RenderSourceTask(Task):
    """Only the newest source waits: clicking through seeds never builds a backlog."""

    light = True
    source: Source
    device: str

    def coalesce_key(self) -> str:
        return "render_source"

    def models_wanted(self) -> tuple[str, str]:
        return self.source.generator_id, self.device

    def run(self, ctx: TaskContext, report: Report) -> Any:
        from sgim_desktop.engine.api import render_source

        return render_source(ctx.models(*self.models_wanted()), self.source.picture())


def image_at(ctx: TaskContext, record: EditRecord, strength: float, device: str) -> Any:
    """The edit at ``strength``: the ends are kept in the record, the rest rendered as G(w0 + a (w - w0))."""
    if strength == 1.0:
        return record.image
    if strength == 0.0:
        return record.source_image
    from sgim_desktop.engine.api import render_strength

    models = ctx.models(record.source.generator_id, device)
    return render_strength(models, record.source_latent, record.latent, strength)


@dataclass(eq=False)
class StrengthTask(Task):
    """Only the newest strength waits: dragging the slider never builds a backlog."""

    light = True
    record: EditRecord
    strength: float
    device: str

    def coalesce_key(self) -> str:
        return "strength"

    def models_wanted(self) -> tuple[str, str]:
        return self.record.source.generator_id, self.device

    def run(self, ctx: TaskContext, report: Report) -> Any:
        return image_at(ctx, self.record, self.strength, self.device)
