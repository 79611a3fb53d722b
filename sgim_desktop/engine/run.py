"""The protocol of every long task (an edit, an inversion, ...): iterate its steps, cancel, read the result.

A front end drives any of them the same way: ``for step in run`` (each step may carry a preview),
``run.cancel()`` from another thread (honoured between steps), then ``run.result``; or
``run.run_to_end()`` when it only wants the result. ``StepRun`` is the one implementation of that
plumbing; a task writes only its ``_steps`` generator, which sets ``self.result`` before it ends.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar, runtime_checkable

StepT = TypeVar("StepT")
ResultT = TypeVar("ResultT")
StepT_co = TypeVar("StepT_co", covariant=True)
ResultT_co = TypeVar("ResultT_co", covariant=True)


@runtime_checkable
class Run(Protocol[StepT_co, ResultT_co]):
    """A long task: an iterator of steps, cancellable between them, with a result once it has ended."""

    @property
    def result(self) -> ResultT_co | None: ...

    def __iter__(self) -> Iterator[StepT_co]: ...

    def __next__(self) -> StepT_co: ...

    def cancel(self) -> None: ...

    def run_to_end(self) -> ResultT_co: ...


class StepRun(ABC, Generic[StepT, ResultT]):
    """A ``Run`` over a generator of steps. Nothing runs until the first step is asked for.

    ``cancel`` sets ``cancel_event`` (shared with whoever passed it in); ``_steps`` checks it
    between steps and, cancelled or not, sets ``result`` before it returns.
    """

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel_event = cancel or threading.Event()
        self.result: ResultT | None = None
        self._iter = self._steps()

    @abstractmethod
    def _steps(self) -> Iterator[StepT]:
        """The task itself, one yield a step; sets ``self.result`` before it returns."""

    def cancel(self) -> None:
        self.cancel_event.set()

    def __iter__(self) -> Iterator[StepT]:
        return self._iter

    def __next__(self) -> StepT:
        return next(self._iter)

    def run_to_end(self) -> ResultT:
        for _ in self:
            pass
        if self.result is None:
            raise RuntimeError(f"{type(self).__name__} ended without a result")
        return self.result
