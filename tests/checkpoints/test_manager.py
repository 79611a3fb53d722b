"""The manager: ids to verified files, hand imports, verification records, removal, and many processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sgim_desktop.checkpoints.manager import ModelManager, resolve_checkpoint
from sgim_desktop.errors import CheckpointError
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import (
    HTML_PAGE,
    audio_encoder_bytes,
    clip_safetensors_bytes,
    entry,
    generator_bytes,
    identity_bytes,
    sha256,
    write_catalog,
)

REPO = Path(__file__).resolve().parents[2]


def catalog_of(tmp_path: Path, server, **files: tuple[str, str, bytes]) -> Path:
    """Serve each ``id=(role, filename, bytes)`` and write a catalog of them (first of a role is default)."""
    entries = []
    for spec_id, (role, filename, data) in files.items():
        url = server.add(f"/{filename}", data)
        entries.append(entry(spec_id, role, filename, [url], default=True))
    return write_catalog(tmp_path / "catalog.json", entries)


def test_every_role_downloads_and_verifies_by_layout(server, tmp_path):
    catalog = catalog_of(
        tmp_path,
        server,
        gen=("generator", "gen.pt", generator_bytes()),
        audio=("audio_encoder", "resnet18_57.pth", audio_encoder_bytes()),
        clip=("clip", "clip.safetensors", clip_safetensors_bytes()),
        face=("identity", "model_ir_se50.pth", identity_bytes()),
    )
    manager = ModelManager(catalog=catalog, options=FAST)
    for spec_id in ("gen", "audio", "clip", "face"):
        assert manager.ensure(spec_id).is_file()
    assert {st.id: st.state for st in manager.list()} == {s: "verified" for s in ("gen", "audio", "clip", "face")}


def test_list_tells_missing_partial_present_and_verified_apart(server, tmp_path, models_dir):
    data = generator_bytes()
    catalog = write_catalog(
        tmp_path / "catalog.json",
        [
            entry("a", "generator", "a.pt", [server.add("/a.pt", data)]),
            entry("b", "generator", "b.pt", []),
            entry("c", "generator", "c.pt", []),
            entry("d", "generator", "d.pt", []),
        ],
    )
    manager = ModelManager(catalog=catalog, options=FAST)
    manager.ensure("a")
    models_dir.mkdir(exist_ok=True)
    (models_dir / "b.pt.part").write_bytes(data[:100])
    (models_dir / "c.pt").write_bytes(data)  # put there by hand: present, not yet verified
    states = {st.id: st for st in manager.list()}
    assert {k: v.state for k, v in states.items()} == {"a": "verified", "b": "partial", "c": "present", "d": "missing"}
    assert states["b"].partial_bytes == 100
    assert states["a"].sha256 == sha256(data)
    assert manager.is_present("c") and not manager.is_present("d")
    assert manager.ensure("c") == models_dir / "c.pt"  # found good in place: verified and recorded, no download
    assert manager.status("c").state == "verified"


def test_the_hash_recorded_at_first_verification_catches_later_damage(server, tmp_path, models_dir):
    data = generator_bytes(big=True)
    catalog = catalog_of(tmp_path, server, gen=("generator", "gen.pt", data))
    manager = ModelManager(catalog=catalog, options=FAST)
    path = manager.ensure("gen")
    assert manager.verify("gen").sha256 == sha256(data)
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert manager.status("gen").state == "present"
    with pytest.raises(CheckpointError, match="changed since it was verified"):
        manager.verify("gen")
    assert manager.ensure("gen").read_bytes() == data  # ensure heals it by downloading again
    assert len(server.requests_for("/gen.pt")) == 2


def test_verify_and_remove(server, tmp_path, models_dir):
    catalog = catalog_of(tmp_path, server, gen=("generator", "gen.pt", generator_bytes()))
    manager = ModelManager(catalog=catalog, options=FAST)
    with pytest.raises(CheckpointError, match="not downloaded.*sgim-desktop models download gen"):
        manager.verify("gen")
    manager.ensure("gen")
    (models_dir / "gen.pt.part").write_bytes(b"leftover")
    assert manager.remove("gen") is True
    assert not any(p.is_file() for p in models_dir.rglob("gen.pt*") if "locks" not in p.parts)
    assert manager.remove("gen") is False
    assert manager.status("gen").state == "missing"


def test_import_checks_a_hand_downloaded_file_like_a_download(tmp_path, models_dir):
    good = tmp_path / "Downloads" / "stylegan2 (1).pt"
    good.parent.mkdir()
    good.write_bytes(generator_bytes())
    page = tmp_path / "Downloads" / "landscape.pt"
    page.write_bytes(HTML_PAGE)
    wrong = tmp_path / "Downloads" / "resnet18_57.pth"
    wrong.write_bytes(audio_encoder_bytes())
    catalog = write_catalog(tmp_path / "catalog.json", [entry("gen", "generator", "gen.pt", [])])
    manager = ModelManager(catalog=catalog, options=FAST)
    with pytest.raises(CheckpointError, match="web page"):
        manager.import_file("gen", page)
    with pytest.raises(CheckpointError, match="does not fit 'gen'"):
        manager.import_file("gen", wrong)
    with pytest.raises(CheckpointError, match="no such file"):
        manager.import_file("gen", tmp_path / "nope.pt")
    assert not (models_dir / "gen.pt").exists()
    path = manager.import_file("gen", good)
    assert path == models_dir / "gen.pt" and path.read_bytes() == good.read_bytes()
    assert good.exists()  # copied, the user's file is left alone
    assert manager.status("gen").state == "verified"
    assert manager.import_file("gen", path) == path  # importing the file in place just records it
    with pytest.raises(CheckpointError, match="sha256"):
        ModelManager(
            catalog=write_catalog(tmp_path / "c2.json", [entry("gen", "generator", "gen.pt", [], sha256="0" * 64)])
        ).import_file("gen", good)
    assert path.read_bytes() == good.read_bytes()  # a refused import leaves the good file in place


def test_resolve_checkpoint_takes_a_path_an_id_or_the_default(server, tmp_path, models_dir):
    catalog = write_catalog(
        tmp_path / "catalog.json",
        [
            entry("gen-a", "generator", "a.pt", [server.add("/a.pt", generator_bytes(seed=1))]),
            entry("gen-b", "generator", "b.pt", [server.add("/b.pt", generator_bytes(seed=2))], default=True),
            entry("face", "identity", "face.pth", [server.add("/face.pth", identity_bytes())]),
        ],
    )
    manager = ModelManager(catalog=catalog, options=FAST)
    own = tmp_path / "my own.pt"
    own.write_bytes(b"not checked beyond existing")
    assert resolve_checkpoint(str(own), "generator", manager=manager) == own
    assert resolve_checkpoint(own, "generator", manager=manager) == own
    assert resolve_checkpoint("gen-a", "generator", manager=manager) == models_dir / "a.pt"
    assert resolve_checkpoint(None, "generator", manager=manager) == models_dir / "b.pt"
    assert resolve_checkpoint(None, "identity", manager=manager) == models_dir / "face.pth"
    cases = [
        ("gen-z", "neither a file nor a known generator checkpoint id (known: gen-a, gen-b)"),
        ("missing/gen.pt", "checkpoint file not found: missing/gen.pt"),
        ("face", "'face' is a checkpoint for identity, not for generator"),
        (str(tmp_path), "is not a file"),
    ]
    for value, message in cases:
        with pytest.raises(CheckpointError) as info:
            resolve_checkpoint(value, "generator", manager=manager)
        assert message in str(info.value) and "\n" not in str(info.value)


def test_resolve_checkpoint_builds_its_manager_from_the_environment(server, tmp_path, models_dir, monkeypatch):
    catalog = catalog_of(tmp_path, server, gen=("generator", "gen.pt", generator_bytes()))
    monkeypatch.setenv("SGIM_CATALOG", str(catalog))
    assert resolve_checkpoint("gen", "generator") == models_dir / "gen.pt"


def test_a_licence_hook_runs_before_the_first_byte_and_can_decline(server, tmp_path, models_dir):
    from sgim_desktop.errors import Cancelled

    catalog = catalog_of(tmp_path, server, gen=("generator", "gen.pt", generator_bytes()))
    shown = []

    def decline(spec):
        shown.append(spec.license)
        raise Cancelled("licence declined")

    with pytest.raises(Cancelled):
        ModelManager(catalog=catalog, options=FAST, before_download=decline).ensure("gen")
    assert shown == ["Test licence NC"] and server.requests_for("/gen.pt") == []


def test_an_unusable_models_folder_or_mirror_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    catalog = write_catalog(tmp_path / "c.json", [entry("gen", "generator", "gen.pt", ["http://127.0.0.1:1/g.pt"])])
    with pytest.raises(CheckpointError, match="cannot create the models folder"):
        ModelManager(models_dir=blocker / "models", catalog=catalog).ensure("gen")
    with pytest.raises(CheckpointError, match="mirror must be an http"):
        ModelManager(mirror="ftp://x", catalog=catalog)


# -- several processes ---------------------------------------------------------------------------

_ENSURE = """
import sys
from sgim_desktop.checkpoints.download import DownloadOptions
from sgim_desktop.checkpoints.manager import ModelManager
manager = ModelManager(catalog=sys.argv[1], options=DownloadOptions(stall_timeout=10, progress_interval=0))
print("ready", flush=True)
sys.stdin.readline()  # start together
path = manager.ensure("gen", progress=lambda p: print(p.stage, p.done_bytes, flush=True))
print("done", path, flush=True)
"""


def _spawn(catalog: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _ENSURE, str(catalog)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _go(*procs: subprocess.Popen) -> None:
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()


def test_two_processes_asking_at_once_end_with_one_good_file(server, tmp_path, models_dir):
    data = generator_bytes(big=True)
    url = server.add("/gen.pt", data, rate=3e6)
    catalog = write_catalog(tmp_path / "catalog.json", [entry("gen", "generator", "gen.pt", [url], sha256=sha256(data))])
    procs = [_spawn(catalog), _spawn(catalog)]
    _go(*procs)
    outputs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert f"done {models_dir / 'gen.pt'}" in out
    assert (models_dir / "gen.pt").read_bytes() == data
    assert [s.status for s in server.requests_for("/gen.pt")] == [200]  # one download; the other waited
    assert any("waiting" in out for out, _ in outputs)
    assert not (models_dir / "gen.pt.part").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_download_killed_half_way_resumes_from_its_partial_file(server, tmp_path, models_dir):
    data = generator_bytes(big=True)
    url = server.add("/gen.pt", data, rate=2e6)
    catalog = write_catalog(tmp_path / "catalog.json", [entry("gen", "generator", "gen.pt", [url])])
    proc = _spawn(catalog)
    _go(proc)
    try:
        for line in proc.stdout:
            parts = line.split()
            if parts[0] == "download" and int(parts[1]) >= len(data) * 0.4:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    kept = (models_dir / "gen.pt.part").stat().st_size
    assert 0 < kept < len(data)
    assert not (models_dir / "gen.pt").exists()
    server.routes["/gen.pt"].rate = None
    path = ModelManager(catalog=catalog, options=FAST).ensure("gen")
    assert path.read_bytes() == data
    last = server.requests_for("/gen.pt")[-1]
    assert (last.status, last.range) == (206, f"bytes={kept}-")


def test_a_folder_where_nothing_can_be_written_still_serves_its_good_files(tmp_path, models_dir):
    catalog = write_catalog(
        tmp_path / "c.json",
        [entry("gen", "generator", "gen.pt", ["http://127.0.0.1:1/gen.pt"]), entry("other", "identity", "o.pth", [])],
    )
    models_dir.mkdir()
    (models_dir / "gen.pt").write_bytes(generator_bytes())
    (models_dir / ".sgim").write_text("blocks the records and locks folder, like a read-only share")
    manager = ModelManager(catalog=catalog, options=FAST)
    assert manager.ensure("gen") == models_dir / "gen.pt"
    with pytest.raises(CheckpointError, match="read-only and has no o.pth"):
        manager.ensure("other")
