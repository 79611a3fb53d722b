"""Sets: the files of one task fetched as one job, with one progress for the whole set, resumable and cancellable.

Every file comes from a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading

import pytest

from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.sets import SetIncomplete, download_set, manual_text, plan_set
from sgim_desktop.checkpoints.units import human_bytes
from sgim_desktop.errors import Cancelled, CheckpointError
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import audio_encoder_bytes, entry, generator_bytes, identity_bytes, sha256, write_catalog


def closed_port_url(path: str) -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}{path}"


def catalog_with_sets(tmp_path, server, *, gen_url=None, rate=None, gen_size=None):
    """'landscape': a generator (published size and hash) and an audio encoder (nothing published); 'faces': + identity."""
    gen, audio, face = generator_bytes(big=True), audio_encoder_bytes(), identity_bytes()
    entries = [
        entry("gen", "generator", "gen.pt", [gen_url or server.add("/gen.pt", gen, rate=rate)],
              size=gen_size or len(gen), sha256=sha256(gen), license="Generator NC licence"),
        entry("audio", "audio_encoder", "audio.pth", [server.add("/audio.pth", audio)], license="Audio licence"),
        entry("face", "identity", "face.pth", [server.add("/face.pth", face)], size=len(face), sha256=sha256(face)),
    ]
    path = write_catalog(tmp_path / "catalog.json", entries)
    data = json.loads(path.read_text())
    data["sets"] = [{"id": "landscape", "title": "Edit landscapes", "summary": "s", "ids": ["gen", "audio"]},
                    {"id": "faces", "title": "Edit faces", "summary": "s", "ids": ["audio", "face"]}]
    path.write_text(json.dumps(data))
    return ModelManager(catalog=path, options=FAST), {"gen": gen, "audio": audio, "face": face}


def test_a_plan_gives_the_size_state_and_licences_of_the_whole_set(server, tmp_path):
    manager, data = catalog_with_sets(tmp_path, server)
    plan = plan_set(manager, "landscape")
    assert plan.size_text() == f"2 files, {human_bytes(len(data['gen']))} + 1 of unknown size"
    assert plan.state_text() == "nothing downloaded yet"
    assert plan.licences() == [("Generator NC licence", ["gen"]), ("Audio licence", ["audio"])]
    assert plan.licence_names() == "Generator NC licence, Audio licence (some for non-commercial use only)"
    assert plan.bytes_left() == len(data["gen"]) and not plan.ready
    manager.ensure("gen")
    assert plan_set(manager, "landscape").state_text() == "1 of 2 files to get: 0 B + 1 of unknown size"
    with pytest.raises(CheckpointError, match="unknown set 'cats'"):
        plan_set(manager, "cats")


def test_a_set_downloads_with_one_progress_for_all_its_files(server, tmp_path):
    manager, data = catalog_with_sets(tmp_path, server, rate=3_000_000)
    reports = []
    paths = download_set(manager, "landscape", progress=reports.append)
    assert [p.read_bytes() for p in paths] == [data["gen"], data["audio"]]
    assert {r.set_id for r in reports} == {"landscape"} and {r.count for r in reports} == {2}
    done = [r.done_bytes for r in reports]
    assert done == sorted(done)  # one bar that only moves forward
    assert reports[0].unknown_files == 1 and reports[-1].unknown_files == 0  # the audio host announced its size
    assert reports[-1].done_bytes == reports[-1].total_bytes == len(data["gen"]) + len(data["audio"])
    assert any(r.eta_s is not None and r.eta_s > 0 for r in reports)  # a time left for the whole set
    assert plan_set(manager, "landscape").ready
    assert download_set(manager, "landscape") == paths and len(server.requests_for("/gen.pt")) == 1


def test_a_cancelled_set_keeps_its_partial_file_and_resumes_where_it_stopped(server, tmp_path, models_dir):
    manager, data = catalog_with_sets(tmp_path, server, rate=1_000_000)
    manager.options = dataclasses.replace(FAST, stall_timeout=10)
    cancel = threading.Event()

    def progress(p):
        if p.spec_id == "gen" and p.done_bytes > 300_000:
            cancel.set()

    with pytest.raises(Cancelled, match="kept to resume"):
        download_set(manager, "landscape", progress=progress, cancel=cancel)
    kept = (models_dir / "gen.pt.part").stat().st_size
    assert 0 < kept < len(data["gen"]) and not (models_dir / "gen.pt").exists()
    server.routes["/gen.pt"].rate = None
    download_set(manager, "landscape")
    assert (models_dir / "gen.pt").read_bytes() == data["gen"]
    assert server.requests_for("/gen.pt")[-1].range == f"bytes={kept}-"


def test_a_set_that_does_not_fit_on_the_disk_writes_nothing(server, tmp_path, models_dir):
    manager, _ = catalog_with_sets(tmp_path, server, gen_size=10**16)
    with pytest.raises(CheckpointError, match="not enough free space .* needed"):
        download_set(manager, "landscape")
    assert server.seen == [] and not models_dir.exists()


def test_offline_the_set_stops_and_names_every_file_left_with_where_to_get_it(server, tmp_path):
    unreachable = closed_port_url("/gen.pt")
    manager, data = catalog_with_sets(tmp_path, server, gen_url=unreachable)
    with pytest.raises(SetIncomplete, match="cannot download gen.pt") as info:
        download_set(manager, "landscape")
    steps = info.value.steps
    assert [s.spec.id for s in steps] == ["gen", "audio"]
    assert steps[0].urls == [unreachable]
    assert steps[0].size_text == human_bytes(len(data["gen"]))
    assert steps[1].size_text == "size not published"
    text = manual_text(info.value.plan, steps)
    assert "sgim-desktop models import gen gen.pt" in text and "sgim-desktop models import audio audio.pth" in text
    assert f"from: {unreachable}" in text and "'Edit landscapes'" in text


def test_a_file_already_in_a_local_cache_is_not_counted_as_a_download(server, tmp_path, monkeypatch):
    """torch's hub cache holds the generator at its published size: the set's state says so and counts no bytes."""
    manager, data = catalog_with_sets(tmp_path, server)
    torch_home = tmp_path / "torch-home"
    cached = torch_home / "hub" / "checkpoints" / "gen.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data["gen"])
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    plan = plan_set(manager, "landscape")
    assert [st.id for st in plan.in_local_caches()] == ["gen"]
    assert plan.state_text() == ("2 of 2 files to get: 0 B + 1 of unknown size (gen.pt found in a local cache: "
                                 "checked, not downloaded)")
    cached.write_bytes(data["gen"][:-1])  # another size: not the published file
    assert plan_set(manager, "landscape").state_text() == "nothing downloaded yet"
