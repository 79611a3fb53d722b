"""Sockets that another thread can close, so a cancel stops a download even while a read is blocked."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.request


class SocketTap:
    """Every socket the opener connects; ``abort`` shuts them all (and any opened later)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.aborted = False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.aborted:
                _shutdown(sock)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            for sock in self._socks:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    # the base-class shutdown also works on an SSLSocket without tearing down its state under a reader
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _tapped(base: type[http.client.HTTPConnection], tap: SocketTap) -> type[http.client.HTTPConnection]:
    class Tapped(base):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            super().connect()
            tap.add(self.sock)

    return Tapped


class _TapHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, tap: SocketTap):
        super().__init__()
        self._tap = tap

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_tapped(http.client.HTTPConnection, self._tap), req)


class _TapHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, tap: SocketTap, context: ssl.SSLContext):
        super().__init__(context=context)
        self._tap = tap
        self._ctx = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_tapped(http.client.HTTPSConnection, self._tap), req, context=self._ctx)


def _ssl_context() -> ssl.SSLContext:
    """System certificates, or certifi's where installed (frozen apps often lack a system bundle)."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


def tapped_opener(tap: SocketTap) -> urllib.request.OpenerDirector:
    """A urllib opener whose HTTP and HTTPS sockets all go through ``tap``."""
    return urllib.request.build_opener(_TapHTTPHandler(tap), _TapHTTPSHandler(tap, _ssl_context()))


class CancelWatch:
    """While active, closes the tapped sockets as soon as ``cancel`` is set."""

    def __init__(self, cancel: threading.Event | None, tap: SocketTap):
        self._cancel = cancel
        self._tap = tap
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "CancelWatch":
        if self._cancel is not None:
            self._thread = threading.Thread(target=self._watch, name="download-cancel-watch", daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        assert self._cancel is not None
        while not self._done.is_set():
            if self._cancel.wait(0.05):
                self._tap.abort()
                return

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
