"""What every task is: plain data from the GUI thread plus a ``run`` that the task thread calls.

A task says whether it may run between two steps of an edit or an inversion (``light``), whether
it steps aside for any other task between its own steps (``background``: a directions build), which
models it needs (so it is only slipped in when those are the models loaded), and which waiting
task it replaces (``coalesce_key``: the newest strength, the newest source). ``run`` reports
through a ``Report`` and returns its result; a task stopped by its cancel event raises ``Stopped``.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sgim_desktop.errors import SgimError, is_out_of_memory, out_of_memory_message

if TYPE_CHECKING:
    from sgim_desktop.ui.worker_tasks.context import TaskContext


class Stopped(Exception):
    """The task's cancel event was set: it ended between two steps, after ``done`` of them."""

    def __init__(self, done: int = 0):
        super().__init__(f"stopped after {done} steps")
        self.done = done


@dataclass(frozen=True)
class Report:
    """How a running task speaks to the GUI thread (each call becomes one of the worker's signals)."""

    progress: Callable[[int, int, float], None]  # step done, total, a figure (loss, PSNR)
    preview: Callable[[Any], None]  # an HxWx3 uint8 image
    stage: Callable[[str], None]  # what happens now, in words
    between_steps: Callable[[], None]  # serve the light tasks queued meanwhile


class Task:
    """One job for the task thread."""

    light: ClassVar[bool] = False  # may run between the steps of an edit or an inversion
    background: ClassVar[bool] = False  # long and resumable: any task but another such one runs between its steps
    doing: ClassVar[str] = "working"  # what a message says the app was doing when this task failed
    cancel: threading.Event | None = None

    def coalesce_key(self) -> str | None:
        """A waiting task with the same key is replaced by this one (None: never replaced)."""
        return None

    def models_wanted(self) -> tuple[str, str] | None:
        """(generator id, device) of the models this task uses, or None when it needs none."""
        return None

    def stop(self) -> None:
        """Ask the task to end at its next step; safe from any thread."""
        if self.cancel is not None:
            self.cancel.set()

    def check(self, done: int = 0) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Stopped(done)

    def run(self, ctx: "TaskContext", report: Report) -> Any:
        raise NotImplementedError


def one_line(exc: BaseException, doing: str = "working") -> str:
    """One line a person can act on; unexpected errors also leave their traceback on stderr."""
    if isinstance(exc, SgimError):
        return str(exc)
    if is_out_of_memory(exc):
        return out_of_memory_message(exc, doing)
    if sys.stderr is not None:
        traceback.print_exception(exc, file=sys.stderr)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"unexpected error ({type(exc).__name__}{': ' + text if text else ''})"
