"""The models window offers tasks: each set with its size and licences, one progress bar and time left,
cancel and resume, and offline a list of the files to get by hand with an Import button each.

Downloads come from a real HTTP server on 127.0.0.1 (any other address fails the test).
"""

from __future__ import annotations

import json

import pytest

from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.sets import SetProgress
from sgim_desktop.checkpoints.units import human_bytes
from sgim_desktop.ui.first_run import set_progress_text
from sgim_desktop.ui.models_dialog import ModelsDialog
from tests.checkpoints import conftest as checkpoint_fixtures
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import audio_encoder_bytes, entry, generator_bytes, identity_bytes, sha256, write_catalog
from tests.ui.conftest import click, open_box

# the loopback server and the folders of the checkpoint tests, as fixtures here too
loopback_only = checkpoint_fixtures.loopback_only
server = checkpoint_fixtures.server

SETS = [
    {"id": "landscape", "title": "Edit landscapes", "summary": "Sounds on landscapes.", "ids": ["gen", "audio"]},
    {"id": "faces", "title": "Edit faces and photos", "summary": "Sounds on faces.", "ids": ["audio", "face"]},
]


def manager_for(tmp_path, server, gen_url: str | None = None, rate: float | None = None) -> tuple[ModelManager, dict]:
    data = {"gen": generator_bytes(big=True), "audio": audio_encoder_bytes(), "face": identity_bytes()}
    entries = [
        entry("gen", "generator", "gen.pt", [gen_url or server.add("/gen.pt", data["gen"], rate=rate)],
              size=len(data["gen"]), sha256=sha256(data["gen"]), license="Generator NC licence"),
        entry("audio", "audio_encoder", "audio.pth", [server.add("/audio.pth", data["audio"])], license="Audio licence"),
        entry("face", "identity", "face.pth", [server.add("/face.pth", data["face"])]),
    ]
    path = write_catalog(tmp_path / "catalog.json", entries)
    catalog = json.loads(path.read_text())
    catalog["sets"] = SETS
    path.write_text(json.dumps(catalog))
    return ModelManager(models_dir=tmp_path / "models", catalog=path, options=FAST), data


@pytest.fixture
def open_dialog(qtbot):
    def make(manager: ModelManager) -> ModelsDialog:
        d = ModelsDialog(manager)
        qtbot.addWidget(d)
        d.show()
        return d

    return make


def get_set(dialog: ModelsDialog, set_id: str) -> None:
    dialog.tasks.buttons[set_id].click()
    click(open_box(dialog.tasks, "setLicenceConfirm"), "Accept")


def test_each_task_shows_its_size_licences_and_state(open_dialog, server, tmp_path):
    manager, data = manager_for(tmp_path, server)
    tasks = open_dialog(manager).tasks
    text = tasks.state_labels["landscape"].text()
    assert "Sounds on landscapes." in text and f"2 files, {human_bytes(len(data['gen']))} + 1 of unknown size" in text
    assert "Licences: Generator NC licence, Audio licence" in text
    assert "Generator NC licence: gen" in tasks.state_labels["landscape"].toolTip()
    assert tasks.state_text("landscape") == "nothing downloaded yet" and tasks.buttons["landscape"].isEnabled()
    tasks.buttons["faces"].click()
    box = open_box(tasks, "setLicenceConfirm")
    assert "Edit faces and photos" in box.text() and "Audio licence" in box.text()
    click(box, "Cancel")
    assert not tasks.is_busy() and "not started" in tasks.status.text() and not manager.is_present("face")


def test_a_task_downloads_its_set_with_one_bar_and_one_time_left(open_dialog, server, tmp_path, qtbot):
    manager, data = manager_for(tmp_path, server, rate=500_000)  # 2 s: a time left of a second or more to show
    dialog = open_dialog(manager)
    seen = []
    with qtbot.waitSignal(dialog.modelsChanged, timeout=20000):
        get_set(dialog, "landscape")
        dialog.tasks.task.progress.connect(lambda p: seen.append(dialog.tasks.status.text()))
        assert dialog.is_busy() and not dialog.download_button.isEnabled()
    assert manager.is_present("gen") and manager.is_present("audio") and not manager.is_present("face")
    assert any("Edit landscapes:" in t and " left" in t and "(file 1 of 2: gen)" in t for t in seen)
    assert dialog.tasks.state_text("landscape") == "ready" and dialog.tasks.buttons["landscape"].text() == "Ready"
    assert dialog.tasks.status.text() == "Edit landscapes: ready." and not dialog.tasks.bar.isVisible()
    assert dialog.state_text("gen").startswith("Ready")  # the file list follows


def test_cancel_keeps_what_arrived_and_the_next_try_resumes(open_dialog, server, tmp_path, qtbot):
    manager, data = manager_for(tmp_path, server, rate=300_000)
    tasks = open_dialog(manager).tasks
    get_set(tasks.parent(), "landscape")
    part = manager.models_dir / "gen.pt.part"
    qtbot.waitUntil(lambda: part.is_file() and part.stat().st_size > 60_000, timeout=60000)
    tasks.cancel_button.click()
    qtbot.waitUntil(lambda: not tasks.is_busy(), timeout=60000)
    assert "cancelled" in tasks.status.text() and not manager.is_present("gen")
    assert tasks.state_text("landscape").startswith("2 of 2 files to get")
    kept = part.stat().st_size
    server.routes["/gen.pt"].rate = None
    get_set(tasks.parent(), "landscape")
    qtbot.waitUntil(lambda: tasks.state_text("landscape") == "ready", timeout=20000)
    assert server.requests_for("/gen.pt")[-1].range == f"bytes={kept}-"


def test_offline_every_missing_file_gets_a_row_an_import_button_and_the_terminal_line(
        open_dialog, server, tmp_path, qtbot):
    gone = server.url("/gone/gen.pt")
    manager, data = manager_for(tmp_path, server, gen_url=gone)
    tasks = open_dialog(manager).tasks
    get_set(tasks.parent(), "landscape")
    qtbot.waitUntil(lambda: tasks.offline.isVisible(), timeout=60000)
    assert "Edit landscapes is not complete" in tasks.status.text()
    rows = [tasks.offline.item(r, 0).text() for r in range(tasks.offline.rowCount())]
    assert rows == ["gen.pt (test gen)", "audio.pth (test audio)"]
    assert tasks.offline.item(0, 1).text() == human_bytes(len(data["gen"]))
    assert tasks.offline.item(1, 1).text() == "size not published"
    assert gone in tasks.offline.cellWidget(0, 2).text()
    assert "sgim-desktop models import gen gen.pt" in tasks.commands.text()
    mine = tmp_path / "Downloads" / "gen.pt"
    mine.parent.mkdir()
    mine.write_bytes(data["gen"])
    tasks.ask_file = lambda parent, title: str(mine)  # the person picks the file they downloaded
    tasks.import_button("gen").click()
    qtbot.waitUntil(lambda: manager.is_present("gen") and not tasks.is_busy(), timeout=60000)
    assert [tasks.offline.item(r, 0).text() for r in range(tasks.offline.rowCount())] == ["audio.pth (test audio)"]
    assert tasks.import_button("gen") is None and "ready" in tasks.status.text()


def test_the_set_progress_reads_as_one_line():
    p = SetProgress("landscape", "clip", 1, 3, 120_300_000, 605_100_000, 2, 2_100_000.0, 231.0)
    assert set_progress_text("Edit landscapes", p) == (
        "Edit landscapes: 120.3 MB of 605.1 MB + 2 files of unknown size, 2.1 MB/s, 3 min 51 s left (file 1 of 3: clip)")
