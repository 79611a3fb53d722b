"""The task thread: tasks in order, the newest of a kind only, light tasks between the steps of a long one
(never past a stop, never ones that need other models), cancel between steps, failures as messages, a
clean stop. The tasks here are the real ones or small ones written for the plumbing alone."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import torch
from PySide6.QtWidgets import QApplication

from sgim_desktop.ui.providers import CatalogModels, PrebuiltModels
from sgim_desktop.ui.worker import EngineWorker, TaskQueue
from sgim_desktop.ui.worker_tasks.base import Report, Task
from sgim_desktop.ui.worker_tasks.context import TaskContext
from sgim_desktop.ui.worker_tasks.models import LoadModelsTask
from sgim_desktop.ui.worker_tasks.picture import OpenLatentTask
from sgim_desktop.ui.worker_tasks.sounds import OpenSoundsTask
from tests.conftest import SAMPLE_AUDIO


@dataclass(eq=False)
class Note(Task):
    """Writes its name into a shared list."""

    name: str
    seen: list[str]
    light: bool = False  # type: ignore[misc]
    key: str | None = None
    wants: tuple[str, str] | None = None

    def coalesce_key(self) -> str | None:
        return self.key

    def models_wanted(self) -> tuple[str, str] | None:
        return self.wants

    def run(self, ctx: TaskContext, report: Report) -> str:
        self.seen.append(self.name)
        return self.name


@dataclass(eq=False)
class Steps(Task):
    """A long task: waits for ``go`` before its first step, then steps until done or cancelled."""

    seen: list[str]
    total: int = 5
    go: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)

    def run(self, ctx: TaskContext, report: Report) -> int:
        self.seen.append("steps begin")
        assert self.go.wait(30)
        for step in range(self.total):
            self.check(step)
            time.sleep(0.01)
            report.progress(step + 1, self.total, 0.0)
            report.between_steps()
        self.seen.append("steps end")
        return self.total


class Heard:
    """Everything the worker said, in order, as (kind, task, what). The tests wait on this list rather than
    on the worker's signals: a signal still queued from the task thread when a wait ends must not reach a
    wait that has closed."""

    def __init__(self, worker: EngineWorker):
        self.said: list[tuple] = []
        worker.started.connect(lambda task: self.said.append(("started", task, None)))
        worker.progress.connect(lambda task, step, total, value: self.said.append(("progress", task, step)))
        worker.finished.connect(lambda task, result: self.said.append(("finished", task, result)))
        worker.cancelled.connect(lambda task, done: self.said.append(("cancelled", task, done)))
        worker.failed.connect(lambda task, message: self.said.append(("failed", task, message)))
        worker.modelsLoading.connect(lambda generator_id: self.said.append(("loading", None, generator_id)))
        worker.modelsLoaded.connect(lambda gid, device: self.said.append(("loaded", None, (gid, device))))

    def of(self, kind: str, task: Task | None = None) -> list:
        return [what for k, t, what in self.said if k == kind and (task is None or t is task)]

    def wait(self, qtbot, kind: str, task: Task | None = None, timeout: int = 30000):
        """The first thing of this kind said (about ``task``), once it has been said."""
        qtbot.waitUntil(lambda: bool(self.of(kind, task)), timeout=timeout)
        return self.of(kind, task)[0]


def running_worker(provider=None) -> tuple[EngineWorker, Heard]:
    worker = EngineWorker(provider or CatalogModels())
    heard = Heard(worker)
    worker.start()
    return worker, heard


def stop(worker: EngineWorker) -> bool:
    """Shut the thread down and deliver what it said before it ended."""
    ended = worker.shutdown()
    QApplication.processEvents()
    return ended


# -- the queue ---------------------------------------------------------------------------------------


def test_a_newer_task_with_the_same_key_replaces_the_waiting_one():
    seen: list[str] = []
    q = TaskQueue()
    q.put(Note("strength 0.1", seen, key="strength"))
    q.put(Note("sounds", seen))
    q.put(Note("strength 0.2", seen, key="strength"))
    assert [q.take().name, q.take().name] == ["sounds", "strength 0.2"]


def test_light_tasks_can_be_taken_out_of_order_but_never_past_a_stop():
    seen: list[str] = []
    q = TaskQueue()
    q.put(Note("load models", seen))
    q.put(Note("hear", seen, light=True))
    q.put(None)
    q.put(Note("export", seen, light=True))
    assert q.take_if(lambda t: t.light).name == "hear"
    assert q.take_if(lambda t: t.light) is None


# -- the thread --------------------------------------------------------------------------------------


def test_light_tasks_run_between_the_steps_of_a_long_one_and_the_rest_waits(qtbot):
    worker, heard = running_worker()
    seen: list[str] = []
    try:
        long = worker.submit(Steps(seen))
        worker.submit(Note("heavy", seen))
        worker.submit(Note("light, other models", seen, light=True, wants=("rule-64", "cpu")))
        worker.submit(Note("light", seen, light=True))
        long.go.set()
        assert heard.wait(qtbot, "finished", long) == 5
        qtbot.waitUntil(lambda: len(heard.of("finished")) == 4, timeout=30000)
    finally:
        assert stop(worker)
    assert seen == ["steps begin", "light", "steps end", "heavy", "light, other models"]


def test_stop_ends_a_task_between_two_steps_and_the_thread_carries_on(qtbot):
    worker, heard = running_worker()
    seen: list[str] = []
    try:
        long = worker.submit(Steps(seen, total=10_000))
        long.go.set()
        heard.wait(qtbot, "progress", long)
        long.stop()
        done = heard.wait(qtbot, "cancelled", long)
        assert 1 <= done < 10_000 and "steps end" not in seen and heard.of("finished", long) == []
        after = worker.submit(Note("after", seen))
        assert heard.wait(qtbot, "finished", after) == "after"
    finally:
        assert stop(worker)


def test_shutdown_stops_the_running_task_and_ends_the_thread(qtbot):
    worker, heard = running_worker()
    long = worker.submit(Steps([], total=10_000))
    long.go.set()
    heard.wait(qtbot, "progress", long)
    assert stop(worker)
    assert not worker.is_running() and long.cancel.is_set() and len(heard.of("cancelled", long)) == 1


def test_failures_become_messages_and_the_thread_carries_on(qtbot, tmp_path):
    worker, heard = running_worker()
    try:
        bad = tmp_path / "w.pt"
        bad.write_text("nope")
        message = heard.wait(qtbot, "failed", worker.submit(OpenLatentTask(str(bad))))
        assert "w.pt" in message and "\n" not in message
        good = tmp_path / "good.pt"
        torch.save(torch.ones(1, 10, 512), good)
        assert heard.wait(qtbot, "finished", worker.submit(OpenLatentTask(str(good)))).shape == (1, 10, 512)
        task = worker.submit(OpenSoundsTask([(str(SAMPLE_AUDIO / "fire.wav"), None), (str(bad), None)], "add"))
        opened = heard.wait(qtbot, "finished", task)
        assert ([c.name for c in opened.clips], len(opened.errors)) == (["fire"], 1)
    finally:
        assert stop(worker)
    assert not worker.is_running()


def test_without_models_loading_fails_with_what_is_missing(qtbot):
    worker, heard = running_worker()
    try:
        message = heard.wait(qtbot, "failed", worker.submit(LoadModelsTask("stylegan2-landscape-256", "cpu")))
        assert "missing models" in message and "Tools > Models" in message
    finally:
        stop(worker)


def test_models_are_loaded_once_and_said_so(qtbot, rule_models):
    worker, heard = running_worker(PrebuiltModels(rule_models, "rule-64", "Rule"))
    try:
        first = worker.submit(LoadModelsTask("rule-64", "cpu"))
        assert heard.wait(qtbot, "finished", first) == ("rule-64", "cpu")
        second = worker.submit(LoadModelsTask("rule-64", "cpu"))
        assert heard.wait(qtbot, "finished", second) == ("rule-64", "cpu")
    finally:
        stop(worker)
    assert heard.of("loading") == ["rule-64"] and heard.of("loaded") == [("rule-64", "cpu")]


# -- where models come from ----------------------------------------------------------------------------


def test_the_catalog_provider_lists_generators_and_what_is_missing():
    provider = CatalogModels()
    ids = [g.id for g in provider.generators()]
    assert provider.default_generator() == "stylegan2-landscape-256" and "stylegan2-ffhq-1024" in ids
    assert provider.missing_ids("stylegan2-ffhq-1024") == [
        "clip-vit-b-32-openai", "audio-encoder-resnet18", "stylegan2-ffhq-1024"]


def test_prebuilt_models_are_never_missing(rule_models):
    provider = PrebuiltModels(rule_models, "rule", "Rule")
    loader = provider.loader()
    assert provider.missing("rule") == [] and loader.load("rule", "cpu") is rule_models
    assert loader.perceptual("cpu") is None


def test_photos_invert_with_pixels_only_until_the_lpips_models_are_downloaded():
    assert CatalogModels().loader().perceptual("cpu") is None
