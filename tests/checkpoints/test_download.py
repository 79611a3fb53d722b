"""Downloads against a real HTTP server on 127.0.0.1 that misbehaves the way real hosts do.

Every case ends either in a verified file or in one clear line that names the file, the addresses and
the import command; a good file already in place is never deleted.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import socket
import threading
import time
from functools import cache
from pathlib import Path

import pytest

from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.errors import Cancelled, CheckpointError
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import HTML_PAGE, entry, generator_bytes, sha256, write_catalog


@cache
def big(seed: int = 0) -> bytes:
    return generator_bytes(big=True, seed=seed)


def manager_for(tmp_path: Path, urls: list[str], options=FAST, **kw) -> ModelManager:
    spec_kw = {k: kw.pop(k) for k in ("size", "sha256") if k in kw}
    catalog = write_catalog(tmp_path / "catalog.json", [entry("gen", "generator", "gen.pt", urls, **spec_kw)])
    return ModelManager(catalog=catalog, options=options, **kw)


def closed_port_url(path: str = "/gen.pt") -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}{path}"


def assert_clear_offline_error(exc: CheckpointError, *urls: str) -> None:
    text = str(exc)
    assert "\n" not in text
    assert "gen.pt" in text
    assert "sgim-desktop models import gen FILE" in text
    for url in urls:
        assert url in text


def test_a_plain_download_is_verified_recorded_and_reported(server, tmp_path, models_dir):
    data = big()
    url = server.add("/gen.pt", data)
    manager = manager_for(tmp_path, [url])
    reports = []
    path = manager.ensure("gen", progress=reports.append)
    assert path == models_dir / "gen.pt"
    assert path.read_bytes() == data
    status = manager.status("gen")
    assert status.state == "verified" and status.sha256 == sha256(data)
    assert not (models_dir / "gen.pt.part").exists()
    downloads = [r for r in reports if r.stage == "download"]
    assert downloads[-1].done_bytes == downloads[-1].total_bytes == len(data)
    assert [r.done_bytes for r in downloads] == sorted(r.done_bytes for r in downloads)
    assert any(r.speed_bps > 0 for r in downloads)
    assert any(r.stage == "verify" for r in reports)
    assert manager.ensure("gen") == path
    assert len(server.requests_for("/gen.pt")) == 1  # the second ensure used the record, no network


def test_a_dropped_connection_is_resumed_with_range(server, tmp_path):
    data = big()
    half = len(data) // 2
    url = server.add("/gen.pt", data, drop_after=half, drops=1)
    path = manager_for(tmp_path, [url]).ensure("gen")
    assert path.read_bytes() == data
    seen = server.requests_for("/gen.pt")
    assert [s.status for s in seen] == [200, 206]
    assert seen[1].range == f"bytes={half}-"
    assert server.sent_bytes == len(data)  # nothing was fetched twice


def test_a_server_without_range_support_is_restarted_from_zero(server, tmp_path):
    data = big()
    url = server.add("/gen.pt", data, ranges=False, drop_after=len(data) // 3, drops=2)
    path = manager_for(tmp_path, [url]).ensure("gen")
    assert path.read_bytes() == data
    seen = server.requests_for("/gen.pt")
    assert [s.status for s in seen] == [200, 200, 200]
    assert seen[1].range is not None  # it asked to resume; the server answered with the whole file


def test_a_stalled_transfer_times_out_and_resumes(server, tmp_path):
    data = big()
    half = len(data) // 2
    url = server.add("/gen.pt", data, stall_after=half, stalls=1, stall_s=10)
    start = time.monotonic()
    path = manager_for(tmp_path, [url]).ensure("gen")
    assert time.monotonic() - start < 5
    assert path.read_bytes() == data
    seen = server.requests_for("/gen.pt")
    assert [s.status for s in seen] == [200, 206] and seen[1].range == f"bytes={half}-"


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    data = big()
    url = server.add("/gen.pt", data, fail=[500, 503, 502])
    path = manager_for(tmp_path, [url]).ensure("gen")
    assert path.read_bytes() == data
    assert [s.status for s in server.requests_for("/gen.pt")] == [500, 503, 502, 200]


def test_persistent_server_errors_end_in_a_clear_error(server, tmp_path, models_dir):
    url = server.add("/gen.pt", big(), fail=[500] * 10)
    with pytest.raises(CheckpointError) as info:
        manager_for(tmp_path, [url]).ensure("gen")
    assert_clear_offline_error(info.value, url)
    assert "HTTP 500" in str(info.value) and "gave up after 4 tries" in str(info.value)
    assert not (models_dir / "gen.pt").exists()


def test_a_404_moves_on_to_the_next_address(server, tmp_path):
    data = big()
    gone = server.url("/old/gen.pt")
    good = server.add("/new/gen.pt", data)
    path = manager_for(tmp_path, [gone, good]).ensure("gen")
    assert path.read_bytes() == data
    assert [s.status for s in server.requests_for("/old/gen.pt")] == [404]


def test_a_404_then_200_fails_clearly_and_works_on_the_next_try(server, tmp_path):
    data = big()
    url = server.add("/gen.pt", data, fail=[404])
    manager = manager_for(tmp_path, [url])
    with pytest.raises(CheckpointError) as info:
        manager.ensure("gen")
    assert_clear_offline_error(info.value, url)
    assert "HTTP 404" in str(info.value)
    assert manager.ensure("gen").read_bytes() == data


def test_redirects_are_followed_and_resume_through_them(server, tmp_path):
    data = big()
    server.add("/files/gen.pt", data, drop_after=len(data) // 2, drops=1)
    url = server.add("/short/gen", redirect="/files/gen.pt")
    path = manager_for(tmp_path, [url]).ensure("gen")
    assert path.read_bytes() == data
    assert [s.status for s in server.requests_for("/short/gen")] == [302, 302]
    final = server.requests_for("/files/gen.pt")
    assert [s.status for s in final] == [200, 206] and final[1].range == f"bytes={len(data) // 2}-"


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream"])
def test_a_web_page_instead_of_the_file_is_refused(server, tmp_path, models_dir, content_type):
    url = server.add("/gen.pt", HTML_PAGE, content_type=content_type)
    with pytest.raises(CheckpointError, match="web page") as info:
        manager_for(tmp_path, [url]).ensure("gen")
    assert_clear_offline_error(info.value, url)
    assert not (models_dir / "gen.pt").exists()
    assert not (models_dir / "gen.pt.part").exists()


def test_a_web_page_on_the_first_address_falls_through_to_the_next(server, tmp_path):
    data = big()
    quota = server.add("/drive/gen.pt", HTML_PAGE, content_type="text/html; charset=utf-8")
    good = server.add("/hub/gen.pt", data)
    assert manager_for(tmp_path, [quota, good]).ensure("gen").read_bytes() == data


def test_a_good_file_is_never_deleted_by_a_failed_download(server, tmp_path, models_dir):
    data = big()
    url = server.add("/gen.pt", data)
    manager = manager_for(tmp_path, [url])
    path = manager.ensure("gen")
    server.add("/gen.pt", HTML_PAGE, content_type="text/html")
    with pytest.raises(CheckpointError, match="web page"):
        manager.download("gen", force=True)
    server.add("/gen.pt", data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="failed verification"):
        manager.download("gen", force=True)
    assert path.read_bytes() == data
    assert manager.status("gen").state == "verified"


def test_cancel_stops_at_once_even_while_the_server_stalls_and_the_rest_resumes(server, tmp_path, models_dir):
    data = big()
    half = len(data) // 2
    url = server.add("/gen.pt", data, stall_after=half, stalls=1, stall_s=10)
    slow = dataclasses.replace(FAST, stall_timeout=30)
    manager = manager_for(tmp_path, [url], options=slow)
    cancel = threading.Event()

    def progress(p):
        if p.stage == "download" and p.done_bytes >= half and not cancel.is_set():
            threading.Timer(0.2, cancel.set).start()

    start = time.monotonic()
    with pytest.raises(Cancelled, match="kept to resume"):
        manager.ensure("gen", progress=progress, cancel=cancel)
    assert time.monotonic() - start < 3
    assert (models_dir / "gen.pt.part").stat().st_size == half
    assert not (models_dir / "gen.pt").exists()
    assert manager.ensure("gen").read_bytes() == data
    assert server.requests_for("/gen.pt")[-1].range == f"bytes={half}-"


def test_a_416_for_a_partial_longer_than_the_file_restarts(server, tmp_path, models_dir):
    data = big()
    url = server.add("/gen.pt", data)
    models_dir.mkdir(parents=True)
    (models_dir / "gen.pt.part").write_bytes(b"\0" * (len(data) + 100))
    assert manager_for(tmp_path, [url]).ensure("gen").read_bytes() == data
    assert [s.status for s in server.requests_for("/gen.pt")] == [416, 200]


def test_a_file_changed_on_the_server_is_not_spliced_onto_an_old_partial(server, tmp_path, models_dir):
    old, new = big(0), big(1)
    half = len(old) // 2
    url = server.add("/gen.pt", old, etag='"v1"', stall_after=half, stalls=1, stall_s=10)
    manager = manager_for(tmp_path, [url], options=dataclasses.replace(FAST, stall_timeout=30))
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        manager.ensure("gen", cancel=cancel, progress=lambda p: p.done_bytes >= half and cancel.set())
    server.add("/gen.pt", new, etag='"v2"')
    assert manager.ensure("gen").read_bytes() == new
    last = server.requests_for("/gen.pt")[-1]
    assert last.range == f"bytes={half}-" and last.status == 200


def test_no_space_is_reported_before_anything_is_fetched(server, tmp_path, models_dir):
    url = server.add("/gen.pt", big())
    with pytest.raises(CheckpointError, match="not enough free space"):
        manager_for(tmp_path, [url], size=10**16).ensure("gen")
    assert server.requests_for("/gen.pt") == []
    huge = server.add("/huge.pt", b"", fake_length=10**16)
    with pytest.raises(CheckpointError, match="not enough free space"):
        manager_for(tmp_path, [huge]).ensure("gen")
    assert not (models_dir / "gen.pt.part").exists()


def test_a_file_of_the_wrong_size_or_hash_is_refused(server, tmp_path, models_dir):
    data = big()
    url = server.add("/gen.pt", data)
    with pytest.raises(CheckpointError, match=f"offers {len(data):,} bytes, expected {len(data) + 1:,}") as info:
        manager_for(tmp_path, [url], size=len(data) + 1).ensure("gen")
    assert_clear_offline_error(info.value, url)
    with pytest.raises(CheckpointError, match="failed verification.*sha256"):
        manager_for(tmp_path, [url], sha256=sha256(b"other")).ensure("gen")
    assert not (models_dir / "gen.pt").exists()
    assert not (models_dir / "gen.pt.part").exists()
    path = manager_for(tmp_path, [url], size=len(data), sha256=sha256(data)).ensure("gen")
    assert path.read_bytes() == data


def test_a_truncated_file_without_published_hash_fails_the_test_load(server, tmp_path, models_dir):
    url = server.add("/gen.pt", big()[:300_000])
    with pytest.raises(CheckpointError, match="failed verification.*(damaged|truncated)"):
        manager_for(tmp_path, [url]).ensure("gen")
    assert not (models_dir / "gen.pt").exists()


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_file_that_would_run_code_is_refused_without_running_it(server, tmp_path, models_dir):
    marker = tmp_path / "pwned"
    url = server.add("/gen.pt", pickle.dumps({"g_ema": _Exploit(str(marker))}, protocol=2))
    with pytest.raises(CheckpointError, match="failed verification"):
        manager_for(tmp_path, [url]).ensure("gen")
    assert not marker.exists()
    assert not (models_dir / "gen.pt").exists()


def test_the_mirror_is_tried_first(server, tmp_path, monkeypatch):
    data = big()
    server.add("/mirror/gen.pt", data)
    unreachable = closed_port_url()
    monkeypatch.setenv("SGIM_MIRROR", server.url("/mirror/"))
    manager = manager_for(tmp_path, [unreachable])
    assert manager.urls_for(manager.spec("gen")) == [server.url("/mirror/gen.pt"), unreachable]
    assert manager.ensure("gen").read_bytes() == data


def test_offline_the_message_names_the_file_the_addresses_and_the_import_command(tmp_path, models_dir):
    urls = [closed_port_url("/a/gen.pt"), closed_port_url("/b/gen.pt")]
    start = time.monotonic()
    with pytest.raises(CheckpointError, match="connection refused") as info:
        manager_for(tmp_path, urls).ensure("gen")
    assert time.monotonic() - start < 5
    assert_clear_offline_error(info.value, *urls)
    assert not (models_dir / "gen.pt").exists()


def test_a_file_that_is_not_the_published_one_is_kept_aside_and_never_used(server, tmp_path, models_dir):
    good, other = big(0), big(1)
    assert len(good) == len(other) and good != other  # a mirror serving another file of the same size
    wrong = server.add("/wrong/gen.pt", other)
    manager = manager_for(tmp_path, [wrong], size=len(good), sha256=sha256(good))
    with pytest.raises(CheckpointError) as info:
        manager.ensure("gen")
    aside = models_dir / f"gen.pt.mismatch-{sha256(other)[:12]}"
    message = str(info.value)
    assert "\n" not in message and "weights_only" not in message
    assert f"sha256 {sha256(other)[:12]}... is not the published file; kept aside as {aside.name}, not used" in message
    assert aside.read_bytes() == other  # kept for the person to look at, not deleted
    assert not (models_dir / "gen.pt").exists() and not (models_dir / "gen.pt.part").exists()
    assert manager.status("gen").set_aside == [aside] and manager.status("gen").state == "missing"
    manager = manager_for(tmp_path, [wrong, server.add("/good/gen.pt", good)], size=len(good), sha256=sha256(good))
    assert manager.ensure("gen").read_bytes() == good  # the next address serves the published file
    assert aside.read_bytes() == other and manager.status("gen").state == "verified"


def test_addresses_that_serve_different_published_files_are_each_checked_against_their_own(server, tmp_path, models_dir):
    small, full = generator_bytes(seed=3), big(2)
    urls = [
        server.add("/small/gen.pt", full),  # serves the full file where the weights-only one is published
        {"url": server.add("/full/gen.pt", full), "size": len(full), "sha256": sha256(full)},
    ]
    catalog = write_catalog(tmp_path / "c.json", [entry("gen", "generator", "gen.pt", urls, size=len(small),
                                                        sha256=sha256(small))])
    manager = ModelManager(catalog=catalog, options=FAST)
    assert manager.ensure("gen").read_bytes() == full
    assert [s.status for s in server.requests_for("/small/gen.pt")] == [200]  # refused from its announced size
    assert manager.status("gen").sha256 == sha256(full)
    mine = tmp_path / "small.pt"
    mine.write_bytes(small)
    assert manager.import_file("gen", mine).read_bytes() == small  # either published file is good
    assert manager.status("gen").state == "verified"


def test_a_wrong_file_found_in_the_models_folder_is_set_aside_before_the_download(server, tmp_path, models_dir):
    good, other = big(0), big(1)
    models_dir.mkdir(parents=True)
    (models_dir / "gen.pt").write_bytes(other)
    manager = manager_for(tmp_path, [server.add("/gen.pt", good)], size=len(good), sha256=sha256(good))
    assert manager.ensure("gen").read_bytes() == good
    assert (models_dir / f"gen.pt.mismatch-{sha256(other)[:12]}").read_bytes() == other
