"""Every test here runs in its own folders, with no proxy, and may only connect to 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sgim_desktop.checkpoints.download import DownloadOptions
from tests.checkpoints.helpers import CheckpointServer

# short timeouts so that stalls and retries take fractions of a second
FAST = DownloadOptions(
    stall_timeout=0.5, retries=3, backoff=0.01, backoff_max=0.05, progress_interval=0.0, free_space_margin=0
)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tripwire: any connection to another address fails the test instead of leaving the machine."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: object) -> None:
        if isinstance(address, tuple) and address and address[0] not in _LOOPBACK:
            raise AssertionError(f"test tried to reach {address!r}; only 127.0.0.1 is allowed")

    def connect(self: socket.socket, address: object) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Models, settings and caches under tmp_path; no user catalog, mirror, proxy or hub cache from the machine."""
    models = tmp_path / "models"
    monkeypatch.setenv("SGIM_MODELS_DIR", str(models))
    monkeypatch.setenv("SGIM_CONFIG_DIR", str(tmp_path / "config"))
    for var in ("SGIM_CATALOG", "SGIM_MIRROR", "http_proxy", "https_proxy", "all_proxy",
                "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "TORCH_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the machine's own hub caches stay out of it
    return models


@pytest.fixture
def server():
    srv = CheckpointServer().start()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def models_dir(isolated_env: Path) -> Path:
    return isolated_env
