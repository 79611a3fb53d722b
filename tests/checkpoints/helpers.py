"""Test helpers: a real HTTP server on 127.0.0.1 with misbehaviours on demand, and small checkpoint files.

The checkpoint files use the real key names of the original checkpoints (from the reference fixtures'
``state_dict_keys``) with tiny tensors, so the layout checks see what they would see in the real files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch

from tests.conftest import load_reference

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head>"
    b"<body>Too many users have viewed or downloaded this file recently.</body></html>\n"
)


@dataclass
class Route:
    """How the server answers one path. Counters (``fail``, ``drops``, ``stalls``) are used up per request."""

    body: bytes = b""
    content_type: str = "application/octet-stream"
    ranges: bool = True  # honour Range requests (else always answer 200 with the whole file)
    fail: list[int] = field(default_factory=list)  # statuses to answer first, one per request
    drop_after: int | None = None  # close the connection after this many body bytes ...
    drops: int = 0  # ... on this many responses
    stall_after: int | None = None  # stop sending after this many body bytes and hold the line ...
    stalls: int = 0  # ... on this many responses
    stall_s: float = 10.0
    redirect: str | None = None  # answer 302 with this path
    rate: float | None = None  # bytes per second
    etag: str | None = None
    fake_length: int | None = None  # announce this Content-Length and send nothing


@dataclass
class Seen:
    path: str
    range: str | None
    status: int


class CheckpointServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 whose routes tests set up and whose requests tests read."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self.sent_bytes = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes = b"", **kw: object) -> str:
        self.routes[path] = Route(body=body, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def requests_for(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def start(self) -> "CheckpointServer":
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- answering ------------------------------------------------------------------------------

    def _log(self, h: BaseHTTPRequestHandler, status: int) -> None:
        with self._lock:
            self.seen.append(Seen(h.path, h.headers.get("Range"), status))

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(h.path)
        if route is None:
            self._log(h, 404)
            self._small(h, 404, b"not found")
            return
        if route.fail:
            code = route.fail.pop(0)
            self._log(h, code)
            self._small(h, code, b"server trouble", {"Retry-After": "0"} if code == 503 else None)
            return
        if route.redirect:
            self._log(h, 302)
            h.send_response(302)
            h.send_header("Location", self.url(route.redirect))
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body = route.body
        start = 0
        status = 200
        requested = h.headers.get("Range")
        if_range = h.headers.get("If-Range")
        if requested and route.ranges and not (if_range and route.etag and if_range != route.etag):
            first = int(requested.split("=", 1)[1].split("-", 1)[0])
            if first >= len(body):
                self._log(h, 416)
                self._small(h, 416, b"", {"Content-Range": f"bytes */{len(body)}"})
                return
            start, status = first, 206
        self._log(h, status)
        h.send_response(status)
        h.send_header("Content-Type", route.content_type)
        h.send_header("Content-Length", str(route.fake_length if route.fake_length else len(body) - start))
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if route.ranges:
            h.send_header("Accept-Ranges", "bytes")
        if route.etag:
            h.send_header("ETag", route.etag)
        h.end_headers()
        if route.fake_length:
            return
        self._send_body(h, route, body[start:])

    def _send_body(self, h: BaseHTTPRequestHandler, route: Route, data: bytes) -> None:
        drop_at = route.drop_after if route.drops > 0 and route.drop_after is not None else None
        stall_at = route.stall_after if route.stalls > 0 and route.stall_after is not None else None
        if drop_at is not None:
            route.drops -= 1
        if stall_at is not None:
            route.stalls -= 1
        sent = 0
        step = 16 * 1024
        try:
            while sent < len(data):
                if self.stop.is_set():
                    return
                limit = len(data)
                for mark in (drop_at, stall_at):
                    if mark is not None and mark > sent:
                        limit = min(limit, mark)
                chunk = data[sent : min(limit, sent + step)]
                if chunk:
                    h.wfile.write(chunk)
                    sent += len(chunk)
                    with self._lock:
                        self.sent_bytes += len(chunk)
                    if route.rate:
                        time.sleep(len(chunk) / route.rate)
                if drop_at is not None and sent >= drop_at:
                    h.wfile.flush()
                    h.connection.shutdown(socket.SHUT_RDWR)
                    h.close_connection = True
                    return
                if stall_at is not None and sent >= stall_at:
                    h.wfile.flush()
                    self.stop.wait(route.stall_s)
                    h.close_connection = True
                    return
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True

    @staticmethod
    def _small(h: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


# -------------------------------------------------------------------------------------------------
# checkpoint files with the real key layouts


@cache
def reference_keys(name: str) -> tuple[str, ...]:
    return tuple(load_reference(name)["state_dict_keys"])


def _tiny(keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {k: torch.full((2,), float(i)) for i, k in enumerate(keys)}


def _save(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def generator_bytes(big: bool = False, seed: int = 0) -> bytes:
    """A rosinality-format 64x64 generator file: g_ema, latent_avg and the training Namespace."""
    g_ema = _tiny(reference_keys("stylegan2_64.pt"))
    if big:  # about 1 MB, so that a transfer can be cut half-way
        g_ema["style.1.weight"] = torch.randn(512, 512, generator=torch.Generator().manual_seed(seed))
    else:
        g_ema["style.1.weight"] = torch.full((2,), float(seed))
    return _save({"g_ema": g_ema, "latent_avg": torch.zeros(512), "args": argparse.Namespace(size=64, latent=512)})


def audio_encoder_bytes(module_prefix: bool = True) -> bytes:
    sd = _tiny(reference_keys("audio_encoder.pt"))
    if module_prefix:
        sd = {f"module.{k}": v for k, v in sd.items()}
    return _save(sd)


def identity_bytes() -> bytes:
    return _save(_tiny(reference_keys("arcface_irse50.pt")))


def clip_safetensors_bytes() -> bytes:
    from safetensors.torch import save

    return save(_tiny(reference_keys("clip_vitb32.pt")))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(spec_id: str, role: str, filename: str, urls: list[str], **kw: object) -> dict:
    """One catalog entry with test defaults (64x64 generators)."""
    data: dict = {
        "id": spec_id,
        "role": role,
        "display_name": f"test {spec_id}",
        "filename": filename,
        "urls": urls,
        "size": None,
        "sha256": None,
        "license": "Test licence NC",
        "license_summary": "Non-commercial test licence",
    }
    if role == "generator":
        data.update(domain="test", resolution=64)
    data.update(kw)
    return data


def write_catalog(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps({"schema": 1, "checkpoints": entries}), encoding="utf-8")
    return path
