"""File > Add generator...: a person's own StyleGAN2 file checked and copied into the models folder.

Reading the file builds the generator (torch, seconds for a large one) and copying it takes a while,
so this runs on the task thread; ``engine/add_generator.py`` does the work, as for the CLI.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sgim_desktop.checkpoints.user_models import USER_PREFIX, slug
from sgim_desktop.ui.worker_tasks.base import Report, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext

if TYPE_CHECKING:
    from sgim_desktop.checkpoints.catalog import CheckpointSpec
    from sgim_desktop.checkpoints.manager import ModelManager


def free_name(manager: "ModelManager", stem: str) -> str:
    """The file's own name, or 'name 2', 'name 3'... when a model of that name is already there."""
    taken = {s.id for s in manager.catalog} | {Path(s.filename).stem.lower() for s in manager.catalog}
    name, n = stem, 1
    while USER_PREFIX + slug(name) in taken:
        n += 1
        name = f"{stem} {n}"
    return name


@dataclass(eq=False)
class AddGeneratorTask(Task):
    path: str
    manager: "ModelManager"  # the window's: the new entry joins the catalog its generator list reads
    domain: str = "custom"  # 'face' turns on the face tools for it
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return Path(self.path).name

    def run(self, ctx: TaskContext, report: Report) -> "CheckpointSpec":
        from sgim_desktop.engine.add_generator import add_generator

        report.stage(f"Checking {self.name}…")
        return add_generator(self.path, name=free_name(self.manager, Path(self.path).stem), domain=self.domain,
                             manager=self.manager, cancel=self.cancel)
