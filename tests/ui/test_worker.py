"""The worker: one thread, jobs in order, the newest strength only, failures as messages, a clean stop."""

from __future__ import annotations

import torch

from sgim_desktop.ui.worker import CatalogModels, EngineWorker, PrebuiltModels, _Job, _JobQueue
from tests.conftest import SAMPLE_AUDIO


def test_a_newer_job_with_the_same_key_replaces_the_waiting_one():
    q = _JobQueue()
    q.put(_Job("strength", {"a": 0.1}, "strength"))
    q.put(_Job("open_sounds", {}))
    q.put(_Job("strength", {"a": 0.2}, "strength"))
    assert [(j.kind, j.args) for j in (q.take(), q.take())] == [("open_sounds", {}), ("strength", {"a": 0.2})]


def test_light_jobs_can_be_taken_out_of_order_but_never_past_a_stop():
    q = _JobQueue()
    q.put(_Job("load_models", {}))
    q.put(_Job("hear", {}))
    q.put(None)
    q.put(_Job("export", {}))
    assert q.take_if(lambda j: j.kind != "load_models").kind == "hear"
    assert q.take_if(lambda j: j.kind != "load_models") is None


def test_failures_become_messages_and_the_thread_carries_on(qtbot, tmp_path):
    worker = EngineWorker(CatalogModels())
    worker.start()
    try:
        bad = tmp_path / "w.pt"
        bad.write_text("nope")
        with qtbot.waitSignal(worker.failed, timeout=10000) as failed:
            worker.open_latent(str(bad))
        assert failed.args[0] == "open_latent" and "w.pt" in failed.args[1] and "\n" not in failed.args[1]
        good = tmp_path / "good.pt"
        torch.save(torch.ones(1, 10, 512), good)
        with qtbot.waitSignal(worker.latentOpened, timeout=10000) as opened:
            worker.open_latent(str(good))
        assert opened.args[1].shape == (1, 10, 512)
        with qtbot.waitSignal(worker.soundsOpened, timeout=10000) as opened_sounds:
            worker.open_sounds(1, [(str(SAMPLE_AUDIO / "fire.wav"), None), (str(tmp_path / "w.pt"), None)], "add")
        batch, clips, errors, mode = opened_sounds.args
        assert (batch, mode, [c.name for c in clips], len(errors)) == (1, "add", ["fire"], 1)
    finally:
        assert worker.shutdown()
    assert not worker.is_running()


def test_without_models_loading_fails_with_what_is_missing(qtbot):
    worker = EngineWorker(CatalogModels())
    worker.start()
    try:
        with qtbot.waitSignal(worker.modelsFailed, timeout=10000) as failed:
            worker.load_models("stylegan2-landscape-256", "cpu")
        assert "missing models" in failed.args[0] and "Tools > Models" in failed.args[0]
    finally:
        worker.shutdown()


def test_the_catalog_provider_lists_generators_and_what_is_missing():
    provider = CatalogModels()
    ids = [g.id for g in provider.generators()]
    assert provider.default_generator() == "stylegan2-landscape-256" and "stylegan2-ffhq-1024" in ids
    assert provider.missing_ids("stylegan2-ffhq-1024") == [
        "clip-vit-b-32-openai", "audio-encoder-resnet18", "stylegan2-ffhq-1024"]


def test_prebuilt_models_are_never_missing(rule_models):
    provider = PrebuiltModels(rule_models, "rule", "Rule")
    assert provider.missing("rule") == [] and provider.load("rule", "cpu") is rule_models
    assert provider.perceptual("cpu") is None


def test_photos_invert_with_pixels_only_until_the_lpips_models_are_downloaded():
    assert CatalogModels().perceptual("cpu") is None
