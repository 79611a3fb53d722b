"""Write the current edit out: the square, the photo with the edit pasted back, before|after, or the latent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sgim_desktop.errors import BadInputError
from sgim_desktop.session import EditRecord
from sgim_desktop.ui.worker_tasks.base import Report, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext
from sgim_desktop.ui.worker_tasks.picture import image_at

ExportKind = Literal["png", "photo", "side_by_side", "latent"]


@dataclass(eq=False)
class ExportTask(Task):
    doing = "exporting"
    light = True
    kind: ExportKind
    path: str
    record: EditRecord
    strength: float
    device: str

    def models_wanted(self) -> tuple[str, str]:
        return self.record.source.generator_id, self.device

    def run(self, ctx: TaskContext, report: Report) -> str:
        """The path written (the file appears whole or not at all)."""
        from sgim_desktop.engine.api import paste_back, side_by_side, write_image, write_latent

        record = self.record
        if self.kind == "latent":
            write_latent(record.latent_at(self.strength), self.path)
        elif self.kind == "photo":
            origin = record.source.photo
            if origin is None:
                raise BadInputError("this edit is not of a photo: export the picture instead")
            edited = image_at(ctx, record, self.strength, self.device)
            write_image(paste_back(origin.photo, edited, origin.aligned.alignment), self.path)
        elif self.kind == "side_by_side":
            write_image(side_by_side(record.source_image, image_at(ctx, record, self.strength, self.device)),
                        self.path)
        else:
            write_image(image_at(ctx, record, self.strength, self.device), self.path)
        return str(Path(self.path))
