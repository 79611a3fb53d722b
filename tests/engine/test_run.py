"""Every long task is one Run: iterate its steps, cancel between them, read the result at the end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from sgim_desktop.engine.edit import EditModels, EditRequest, EditRun, TargetSpec, start_edit
from sgim_desktop.engine.invert import InvertRequest, InvertRun, start_inversion
from sgim_desktop.engine.run import Run, StepRun
from sgim_desktop.engine.stylegan2 import rule_weighted_generator


@dataclass
class Counted:
    steps: list[int]
    cancelled: bool


class Count(StepRun[int, Counted]):
    """A task of ``n`` steps that notes which of them ran (what a real task does, without a model)."""

    def __init__(self, n: int, cancel: threading.Event | None = None):
        self.n = n
        self.ran: list[int] = []
        super().__init__(cancel)

    def _steps(self) -> Iterator[int]:
        cancelled = False
        for i in range(self.n):
            if self.cancel_event.is_set():
                cancelled = True
                break
            self.ran.append(i)
            yield i
        self.result = Counted(list(self.ran), cancelled)


class NoResult(StepRun[int, int]):
    def _steps(self) -> Iterator[int]:
        yield 1


def test_nothing_runs_until_the_first_step_is_asked_for():
    run = Count(3)
    assert run.ran == [] and run.result is None
    assert next(run) == 0 and run.ran == [0] and run.result is None


def test_iterating_yields_every_step_then_the_result_is_there():
    run = Count(4)
    assert list(run) == [0, 1, 2, 3]
    assert run.result == Counted([0, 1, 2, 3], cancelled=False)


def test_run_to_end_returns_the_result():
    assert Count(2).run_to_end() == Counted([0, 1], cancelled=False)


def test_a_cancel_stops_the_run_between_steps_and_still_gives_a_result():
    run = Count(10)
    for step in run:
        if step == 2:
            run.cancel()
    assert run.result == Counted([0, 1, 2], cancelled=True)


def test_a_cancel_event_given_by_the_caller_is_the_runs_own():
    event = threading.Event()
    run = Count(5, cancel=event)
    event.set()
    assert run.run_to_end() == Counted([], cancelled=True)
    assert run.cancel_event is event


def test_a_task_that_forgets_its_result_is_an_error_not_none():
    with pytest.raises(RuntimeError, match="NoResult ended without a result"):
        NoResult().run_to_end()


def test_a_task_must_say_what_its_steps_are():
    class Nothing(StepRun[int, int]):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Nothing()  # type: ignore[abstract]  # the point of the test: the missing _steps is refused


@pytest.fixture(scope="module")
def models() -> EditModels:
    return EditModels(generator=rule_weighted_generator(8))


def test_the_edit_and_the_inversion_are_runs(models):
    picture = np.zeros((8, 8, 3), dtype=np.uint8)
    inversion = start_inversion(models, InvertRequest(image=picture, steps=3))
    edit = start_edit(models, EditRequest(targets=[TargetSpec("text", 1.0, "a dog", text="a dog")], seed=0, steps=2))
    assert isinstance(inversion, InvertRun) and isinstance(edit, EditRun)
    for run in (inversion, edit):
        assert isinstance(run, StepRun) and isinstance(run, Run)


def test_an_inversion_cancelled_before_it_starts_ends_at_once_with_a_result(models):
    run = start_inversion(models, InvertRequest(image=np.zeros((8, 8, 3), dtype=np.uint8), steps=50))
    run.cancel()
    result = run.run_to_end()
    assert result.cancelled and result.steps == [] and result.image.shape == (8, 8, 3)
