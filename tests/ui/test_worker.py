"""The task thread: tasks in order, the newest of a kind only, light tasks between the steps of a long one
(never past a stop, never ones that need other models), cancel between steps, failures as messages, a
clean stop. The tasks here are the real ones or small ones written for the plumbing alone."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import torch

from sgim_desktop.ui.providers import CatalogModels, PrebuiltModels
from sgim_desktop.ui.tasks.base import Report, Task
from sgim_desktop.ui.tasks.context import TaskContext
from sgim_desktop.ui.tasks.models import LoadModelsTask
from sgim_desktop.ui.tasks.picture import OpenLatentTask
from sgim_desktop.ui.tasks.sounds import OpenSoundsTask
from sgim_desktop.ui.worker import EngineWorker, TaskQueue
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


def running_worker(provider=None) -> EngineWorker:
    worker = EngineWorker(provider or CatalogModels())
    worker.start()
    return worker


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
    worker = running_worker()
    seen: list[str] = []
    try:
        long = worker.submit(Steps(seen))
        worker.submit(Note("heavy", seen))
        worker.submit(Note("light, other models", seen, light=True, wants=("rule-64", "cpu")))
        worker.submit(Note("light", seen, light=True))
        with qtbot.waitSignal(worker.finished, timeout=30000, check_params_cb=lambda t, r: t is long):
            long.go.set()
        qtbot.waitUntil(lambda: len(seen) == 5, timeout=30000)
    finally:
        assert worker.shutdown()
    assert seen == ["steps begin", "light", "steps end", "heavy", "light, other models"]


def test_stop_ends_a_task_between_two_steps_and_the_thread_carries_on(qtbot):
    worker = running_worker()
    seen: list[str] = []
    try:
        long = worker.submit(Steps(seen, total=10_000))
        with qtbot.waitSignal(worker.progress, timeout=30000):
            long.go.set()
        with qtbot.waitSignal(worker.cancelled, timeout=30000) as cancelled:
            long.stop()
        task, done = cancelled.args
        assert task is long and 1 <= done < 10_000 and "steps end" not in seen
        with qtbot.waitSignal(worker.finished, timeout=30000) as finished:
            worker.submit(Note("after", seen))
        assert finished.args[1] == "after"
    finally:
        assert worker.shutdown()


def test_shutdown_stops_the_running_task_and_ends_the_thread(qtbot):
    worker = running_worker()
    long = worker.submit(Steps([], total=10_000))
    with qtbot.waitSignal(worker.progress, timeout=30000):
        long.go.set()
    assert worker.shutdown()
    assert not worker.is_running() and long.cancel.is_set()


def test_failures_become_messages_and_the_thread_carries_on(qtbot, tmp_path):
    worker = running_worker()
    try:
        bad = tmp_path / "w.pt"
        bad.write_text("nope")
        with qtbot.waitSignal(worker.failed, timeout=10000) as failed:
            task = worker.submit(OpenLatentTask(str(bad)))
        assert failed.args[0] is task and "w.pt" in failed.args[1] and "\n" not in failed.args[1]
        good = tmp_path / "good.pt"
        torch.save(torch.ones(1, 10, 512), good)
        with qtbot.waitSignal(worker.finished, timeout=10000) as opened:
            worker.submit(OpenLatentTask(str(good)))
        assert opened.args[1].shape == (1, 10, 512)
        with qtbot.waitSignal(worker.finished, timeout=10000) as opened_sounds:
            task = worker.submit(OpenSoundsTask([(str(SAMPLE_AUDIO / "fire.wav"), None), (str(bad), None)], "add"))
        done, result = opened_sounds.args
        assert (done.mode, [c.name for c in result.clips], len(result.errors)) == ("add", ["fire"], 1)
    finally:
        assert worker.shutdown()
    assert not worker.is_running()


def test_without_models_loading_fails_with_what_is_missing(qtbot):
    worker = running_worker()
    try:
        with qtbot.waitSignal(worker.failed, timeout=10000) as failed:
            worker.submit(LoadModelsTask("stylegan2-landscape-256", "cpu"))
        assert "missing models" in failed.args[1] and "Tools > Models" in failed.args[1]
    finally:
        worker.shutdown()


def test_models_are_loaded_once_and_said_so(qtbot, rule_models):
    worker = running_worker(PrebuiltModels(rule_models, "rule-64", "Rule"))
    try:
        with qtbot.waitSignal(worker.modelsLoaded, timeout=30000) as loaded:
            worker.submit(LoadModelsTask("rule-64", "cpu"))
        assert loaded.args == ["rule-64", "cpu"]
        with qtbot.assertNotEmitted(worker.modelsLoading, wait=200):
            with qtbot.waitSignal(worker.finished, timeout=30000) as finished:
                worker.submit(LoadModelsTask("rule-64", "cpu"))
        assert finished.args[1] == ("rule-64", "cpu")
    finally:
        worker.shutdown()


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
