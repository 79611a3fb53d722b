"""Load the models ahead of the first edit (a new device chosen in the mixer)."""

from __future__ import annotations

from dataclasses import dataclass

from sgim_desktop.ui.worker_tasks.base import Report, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext


@dataclass(eq=False)
class LoadModelsTask(Task):
    doing = "loading the models"
    generator_id: str
    device: str

    def coalesce_key(self) -> str:
        return "load_models"

    def run(self, ctx: TaskContext, report: Report) -> tuple[str, str]:
        """(generator id, device) of the models now loaded."""
        ctx.models(self.generator_id, self.device)
        assert ctx.models_key is not None
        return ctx.models_key
