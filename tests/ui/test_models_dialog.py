"""The models dialog: state of each model, licence before download, progress, cancel, import from a file.

Downloads come from a real HTTP server on 127.0.0.1 (any other address fails the test).
"""

from __future__ import annotations

import pytest

from sgim_desktop.checkpoints.catalog import ROLES
from sgim_desktop.checkpoints.manager import ModelManager
from sgim_desktop.checkpoints.meter import DownloadProgress
from sgim_desktop.checkpoints.units import human_bytes
from sgim_desktop.ui.models_dialog import ROLE_TEXT, ModelsDialog, progress_text
from tests.checkpoints import conftest as checkpoint_fixtures
from tests.checkpoints.conftest import FAST
from tests.checkpoints.helpers import entry, generator_bytes, sha256, write_catalog
from tests.ui.conftest import click, open_box

# the loopback server and the folders of the checkpoint tests, as fixtures here too
loopback_only = checkpoint_fixtures.loopback_only
server = checkpoint_fixtures.server


@pytest.fixture
def served(server, tmp_path):
    """A catalog of one generator served by the loopback server, a slow one, and one with no address."""
    data = generator_bytes(big=True)
    fast = server.add("/gen.pt", data)
    slow = server.add("/slow.pt", data, rate=200_000)
    catalog = write_catalog(tmp_path / "catalog.json", [
        entry("gen", "generator", "gen.pt", [fast], license="Test NC licence", license_summary="Only for tests"),
        entry("slow", "generator", "slow.pt", [slow]),
        entry("offline", "generator", "offline.pt", []),
    ])
    return ModelManager(models_dir=tmp_path / "models", catalog=catalog, options=FAST)


@pytest.fixture
def dialog(qtbot, served):
    d = ModelsDialog(served, wanted=["gen"])
    qtbot.addWidget(d)
    d.show()
    return d


def test_each_model_shows_its_state_and_licence(dialog):
    assert dialog.table.rowCount() == 3
    assert dialog.state_text("gen") == "Missing"
    dialog.select("gen")
    details = dialog.details.toPlainText()
    assert "Test NC licence" in details and "Only for tests" in details and "gen.pt" in details
    assert "no published hash: trusted on first use" in details
    assert dialog.missing_wanted() == ["gen"] and dialog.download_missing_button.isEnabled()


def test_every_role_of_the_shipped_catalog_reads_as_words(qtbot, tmp_path):
    manager = ModelManager(models_dir=tmp_path / "models")
    d = ModelsDialog(manager)
    qtbot.addWidget(d)
    roles = {d.table.item(row, 1).text() for row in range(d.table.rowCount())}
    assert d.table.rowCount() == len(manager.catalog) > 0
    assert roles and not roles & set(ROLES)
    assert set(ROLE_TEXT) == set(ROLES)


def test_the_licence_comes_first_and_declining_downloads_nothing(dialog, served):
    dialog.download_missing_button.click()
    box = open_box(dialog, "licenceConfirm")
    assert box is not None and "Test NC licence" in box.text()
    click(box, "Cancel")
    assert not dialog.is_busy() and not served.is_present("gen")
    assert "not started" in dialog.status.text()


def test_download_with_progress_then_ready(dialog, served, qtbot):
    seen = []
    dialog.download(["gen"])
    box = open_box(dialog, "licenceConfirm")
    with qtbot.waitSignal(dialog.modelsChanged, timeout=20000):
        click(box, "Accept and download")
        dialog.task.progress.connect(seen.append)
    assert served.is_present("gen")
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=5000)
    assert dialog.state_text("gen").startswith("Ready")
    assert "ready" in dialog.status.text()
    dialog.select("gen")
    assert f"trusted on first use, sha256 {sha256(generator_bytes(big=True))}" in dialog.details.toPlainText()
    assert not dialog.bar.isVisible()


def test_cancel_keeps_the_partial_file_for_next_time(dialog, served, qtbot):
    dialog.download(["slow"])
    click(open_box(dialog, "licenceConfirm"), "Accept")
    part = served.models_dir / "slow.pt.part"
    qtbot.waitUntil(lambda: part.is_file() and part.stat().st_size > 50_000, timeout=10000)
    assert "Downloading slow" in dialog.status.text() and dialog.bar.isVisible()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10000)
    assert "cancelled" in dialog.status.text() and not served.is_present("slow")
    assert dialog.state_text("slow").startswith("Partly downloaded")


def test_a_model_with_no_address_says_how_to_get_it(dialog, served, qtbot):
    dialog.download(["offline"])
    click(open_box(dialog, "licenceConfirm"), "Accept")
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10000)
    assert "models import offline" in dialog.status.text()


def test_import_from_a_file_is_checked_like_a_download(dialog, served, qtbot, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"<html>not a checkpoint</html>")
    dialog.import_file("offline", str(bad))
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10000)
    assert "offline:" in dialog.status.text() and not served.is_present("offline")
    good = tmp_path / "mine.pt"
    good.write_bytes(generator_bytes())
    with qtbot.waitSignal(dialog.modelsChanged, timeout=10000):
        dialog.import_file("offline", str(good))
    assert served.is_present("offline")
    qtbot.waitUntil(lambda: dialog.state_text("offline").startswith("Ready"), timeout=5000)


def test_closing_during_a_download_cancels_it_cleanly(dialog, served, qtbot):
    dialog.download(["slow"])
    click(open_box(dialog, "licenceConfirm"), "Accept")
    qtbot.waitUntil(lambda: "Downloading" in dialog.status.text(), timeout=10000)
    dialog.close()
    assert not dialog.is_busy() and not served.is_present("slow")


def test_sizes_read_the_same_as_in_the_terminal_and_on_download_pages():
    assert [human_bytes(n) for n in (None, 512, 2048, 132_717_355, 1_201_649_680)] == [
        "?", "512 B", "2.0 kB", "132.7 MB", "1.2 GB"]
    report = DownloadProgress("gen", 132_717_355, 381_462_551, 2_000_000.0, 125.0)
    assert progress_text(report) == "Downloading gen: 132.7 MB of 381.5 MB, 2.0 MB/s, 2 min 05 s left"
