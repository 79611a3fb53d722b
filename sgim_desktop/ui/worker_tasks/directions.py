"""A generator's directions: are they there (and made for it), and building them once, like a download.

The build runs on the task thread with a progress bar, an ETA and Cancel; whatever it finished is
kept beside the generator (the engine's side file), so Build again, even after quitting, resumes it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from sgim_desktop.errors import Cancelled, CheckpointError
from sgim_desktop.ui.worker_tasks.base import Report, Stopped, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext

DirectionsState = Literal["ready", "missing", "unusable", "no-file"]
PROGRESS_SCALE = 1000  # progress is reported in thousandths of the build's cost


@dataclass(frozen=True)
class DirectionsStatus:
    """What the window knows about one generator's directions."""

    generator_id: str
    state: DirectionsState
    path: str = ""
    problem: str = ""  # why they cannot be used (unusable), in one line
    resumable: bool = False  # an interrupted build left its work: building resumes it

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def directions_status(generator_id: str, generator_file: str | None) -> DirectionsStatus:
    """Read the directions beside ``generator_file`` and say whether they fit it (task thread: it hashes)."""
    if generator_file is None:
        return DirectionsStatus(generator_id, "no-file")
    from sgim_desktop.engine.api import check_directions, directions_files

    out, partial = directions_files(generator_file)
    resumable = partial.is_file()
    if not out.exists():
        return DirectionsStatus(generator_id, "missing", str(out), resumable=resumable)
    try:
        check_directions(generator_file)
    except CheckpointError as exc:
        return DirectionsStatus(generator_id, "unusable", str(out), str(exc), resumable)
    return DirectionsStatus(generator_id, "ready", str(out))


@dataclass(eq=False)
class CheckDirectionsTask(Task):
    """Only the newest check waits (the generator picked last)."""

    light = True
    generator_id: str
    generator_file: str | None

    def coalesce_key(self) -> str:
        return "directions-check"

    def run(self, ctx: TaskContext, report: Report) -> DirectionsStatus:
        return directions_status(self.generator_id, self.generator_file)


@dataclass(frozen=True)
class BuildProgress:
    """A build's stage in words and its estimated seconds left (the worker's progress carries the rest)."""

    stage: str
    eta_s: float | None


@dataclass(eq=False)
class BuildDirectionsTask(Task):
    """Measure the generator's directions; ``settings`` (the engine's DirectionsSettings) None: the defaults."""

    background = True  # minutes long and saved unit by unit: edits run between its units

    generator_id: str
    generator_file: str
    device: str
    settings: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def run(self, ctx: TaskContext, report: Report) -> DirectionsStatus:
        """Each unit of work reports progress (thousandths of the cost) and the seconds left as its figure."""
        from sgim_desktop.engine.api import build_directions

        self.check()
        models = ctx.models(self.generator_id, self.device)
        build = build_directions(models, self.generator_file, self.settings, self.cancel)
        report.stage("Building the directions…")
        done = 0
        try:
            for step in build:
                done = step.done
                report.progress(round(PROGRESS_SCALE * step.fraction), PROGRESS_SCALE,
                                -1.0 if step.eta_s is None else step.eta_s)
                report.stage(f"Building the directions: {step.stage} {step.done} of {step.total}")
                report.between_steps()
        except Cancelled:
            raise Stopped(done) from None
        return directions_status(self.generator_id, self.generator_file)
