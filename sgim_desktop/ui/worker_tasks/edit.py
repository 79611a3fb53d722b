"""One edit: the paper's optimisation of the source's latent toward the sounds and the text."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sgim_desktop.session import EditRecord, MixSettings, SoundClip, Source
from sgim_desktop.ui.worker_tasks.base import Report, Stopped, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext

if TYPE_CHECKING:
    from sgim_desktop.engine.api import EditModels


@dataclass(eq=False)
class EditTask(Task):
    """An edit as the window asked for it: a snapshot, so later changes in the window cannot touch it.

    Stopped after a step or more, it still raises ``Stopped``, and leaves in ``kept`` the last preview
    and the latent reached, as a record marked "stopped at step k of N" (Stop keeps the last preview).
    """

    doing = "editing"

    number: int
    source: Source
    clips: tuple[SoundClip, ...]
    settings: MixSettings
    cancel: threading.Event = field(default_factory=threading.Event)
    kept: EditRecord | None = field(default=None, init=False)

    def run(self, ctx: TaskContext, report: Report) -> EditRecord:
        """Steps report their loss and preview; queued light tasks run between them."""
        from sgim_desktop.engine.api import start_edit

        self.check()
        models = ctx.models(self.source.generator_id, self.settings.device)
        started = time.perf_counter()
        run = start_edit(models, self.source.picture(), targets_of(ctx, models, self.clips, self.settings),
                         self.settings.plan(), self.cancel)
        return self.follow(run, report, "Editing…", started)

    def follow(self, run: Any, report: Report, stage: str, started: float) -> EditRecord:
        """Runs the loop to its end or to Stop; the record of where it got (``kept`` when stopped)."""
        report.stage(stage)
        for step in run:
            report.progress(step.step + 1, step.total, step.loss)
            if step.preview is not None:
                report.preview(step.preview)
            report.between_steps()
        result = run.result
        if result is None or (result.cancelled and not result.steps):
            raise Stopped(0)
        record = EditRecord(number=self.number, settings=self.settings, source=self.source, clips=self.clips,
                            source_latent=result.source_latent, latent=result.latent,
                            source_image=result.source_image, image=result.image, steps=len(result.steps),
                            seconds=time.perf_counter() - started,
                            stopped_of=result.steps[-1].total if result.cancelled else None)
        if result.cancelled:
            self.kept = record
            raise Stopped(record.steps)
        return record


def targets_of(ctx: TaskContext, models: "EditModels", clips: tuple[SoundClip, ...], settings: MixSettings) -> list:
    """The edit's targets: the weighted sounds' windows and the text, embedded."""
    from sgim_desktop.engine.api import SoundPick, build_targets

    picks = [SoundPick(ctx.prepared(c), c.start_s, c.weight, c.name) for c in clips if c.weight > 0]
    return build_targets(models, picks, settings.text, settings.text_weight)
