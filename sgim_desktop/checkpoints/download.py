"""Fetch one URL into a partial file that survives dropped connections, stalls and restarts.

Standard library only (urllib). The partial file is resumed with an HTTP Range request; a server that
ignores Range, answers 416, or serves a changed file (``If-Range``) makes the download start again.
Transient failures are retried with back-off; a web page where the file should be, or a file of the
wrong size, makes the caller move to the next URL. Cancelling closes the socket at once and keeps the
partial file so the next try resumes it. Nothing here decides whether the bytes are a good checkpoint:
the manager verifies before the partial file becomes the real one.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sgim_desktop.checkpoints.disk import check_free_space
from sgim_desktop.checkpoints.layout import looks_like_html
from sgim_desktop.checkpoints.meter import DownloadProgress, Meter, ProgressCallback
from sgim_desktop.checkpoints.sockets import CancelWatch, SocketTap, tapped_opener
from sgim_desktop.checkpoints.units import human_bytes
from sgim_desktop.errors import Cancelled, CheckpointError

__all__ = [
    "DownloadError",
    "DownloadOptions",
    "DownloadProgress",
    "ProgressCallback",
    "check_free_space",
    "download_url",
]

USER_AGENT = "sgim-desktop/0.1 (+model manager)"


@dataclass
class DownloadOptions:
    """Knobs of the downloader; the tests shrink the timeouts to keep the suite fast."""

    stall_timeout: float = 30.0  # seconds without a byte before the connection is dropped and retried
    retries: int = 4  # failed tries in a row (without progress) before a URL is given up
    backoff: float = 0.5  # first wait between tries; doubles each time
    backoff_max: float = 20.0
    chunk_size: int = 256 * 1024
    progress_interval: float = 0.2
    free_space_margin: int = 16 * 1024 * 1024
    user_agent: str = USER_AGENT


class DownloadError(CheckpointError):
    """This URL could not deliver the file; another URL may."""


class _Retry(Exception):
    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


class _Restart(Exception):
    """Throw the partial file away and ask for the whole file again."""


class _NextUrl(Exception):
    """This URL will not give the file (404, a web page, a different file)."""


class _Complete(Exception):
    """The partial file already holds every byte (a 416 for a finished range)."""


def _read_meta(meta_path: Path | None) -> dict:
    if meta_path is None:
        return {}
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_meta(meta_path: Path | None, data: dict) -> None:
    if meta_path is None:
        return
    try:
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(data), encoding="utf-8")
    except OSError:
        pass  # only an optimisation for resuming; never a reason to fail


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, complete length) from 'bytes a-b/N' or 'bytes */N'."""
    if not value or not value.strip().lower().startswith("bytes"):
        return None, None
    spec = value.strip()[5:].strip()
    rng, _, total = spec.partition("/")
    first = None
    if rng != "*":
        try:
            first = int(rng.split("-", 1)[0])
        except ValueError:
            first = None
    try:
        complete = int(total) if total.strip() != "*" else None
    except ValueError:
        complete = None
    return first, complete


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _http_reason(exc: urllib.error.HTTPError) -> str:
    return f"HTTP {exc.code} {exc.reason}".strip()


def download_url(
    url: str,
    part: Path,
    *,
    spec_id: str,
    expected_size: int | None = None,
    meta_path: Path | None = None,
    options: DownloadOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Complete ``part`` from ``url`` (resuming what is there); return its size.

    Raises DownloadError when this URL cannot deliver, Cancelled when asked to stop (the partial file
    stays for later), CheckpointError for local problems (no space, cannot write) that no URL can fix.
    """
    options = options or DownloadOptions()
    meter = Meter(spec_id, progress, options.progress_interval)
    failures = 0
    best = part.stat().st_size if part.exists() else 0
    last_error = ""
    while True:
        if cancel is not None and cancel.is_set():
            raise _cancelled(spec_id, part)
        try:
            size = _attempt(url, part, expected_size, meta_path, options, meter, cancel)
            meter.emit()
            return size
        except _Complete:
            size = part.stat().st_size
            meter.reset(size, size)
            meter.emit()
            return size
        except _NextUrl as exc:
            raise DownloadError(f"{url}: {exc}") from None
        except _Restart as exc:
            last_error = str(exc)
            _truncate(part)
            _write_meta(meta_path, {})
            failures += 1
            wait = 0.0
        except _Retry as exc:
            last_error = str(exc)
            now = part.stat().st_size if part.exists() else 0
            if now > best:
                best, failures = now, 0
                wait = options.backoff
            else:
                failures += 1
                wait = min(options.backoff_max, options.backoff * 2 ** (failures - 1))
            if exc.wait is not None:
                wait = min(options.backoff_max, max(wait, exc.wait))
        if cancel is not None and cancel.is_set():
            raise _cancelled(spec_id, part)
        if failures > options.retries:
            raise DownloadError(f"{url}: {last_error} (gave up after {failures} tries)")
        if wait > 0 and cancel is not None:
            if cancel.wait(wait):
                raise _cancelled(spec_id, part)
        elif wait > 0:
            time.sleep(wait)


def _cancelled(spec_id: str, part: Path) -> Cancelled:
    kept = part.stat().st_size if part.exists() else 0
    more = f"; {human_bytes(kept)} kept to resume next time" if kept else ""
    return Cancelled(f"download of {spec_id} cancelled{more}")


def _open_part(part: Path, mode: str):
    try:
        return part.open(mode)
    except OSError as exc:
        raise CheckpointError(f"cannot write {part} ({exc.strerror or exc})") from None


def _close_synced(fh) -> None:
    """Flush what arrived to disk, so a crash or a kill keeps it for resuming."""
    try:
        fh.flush()
        os.fsync(fh.fileno())
    except OSError:
        pass
    finally:
        fh.close()


def _truncate(part: Path) -> None:
    try:
        with part.open("wb"):
            pass
    except OSError as exc:
        raise CheckpointError(f"cannot write {part} ({exc.strerror or exc})") from None


def _attempt(
    url: str,
    part: Path,
    expected_size: int | None,
    meta_path: Path | None,
    options: DownloadOptions,
    meter: Meter,
    cancel: threading.Event | None,
) -> int:
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        raise _Restart("the partial file is longer than the expected size")
    if expected_size is not None and offset == expected_size:
        raise _Complete()
    headers = {"User-Agent": options.user_agent, "Accept-Encoding": "identity", "Accept": "*/*"}
    meta = _read_meta(meta_path)
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        if meta.get("url") == url and meta.get("validator"):
            headers["If-Range"] = meta["validator"]
    tap = SocketTap()
    opener = tapped_opener(tap)
    request = urllib.request.Request(url, headers=headers)
    with CancelWatch(cancel, tap):
        try:
            response = opener.open(request, timeout=options.stall_timeout)
        except urllib.error.HTTPError as exc:
            try:
                _raise_for_status(exc, offset)
            finally:
                exc.close()
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            if cancel is not None and cancel.is_set():
                raise _Retry("cancelled") from None
            raise _connection_problem(exc) from None
        with response:
            return _receive(url, response, part, offset, expected_size, meta_path, options, meter, cancel)


def _raise_for_status(exc: urllib.error.HTTPError, offset: int) -> None:
    code = exc.code
    if code == 416:
        _, complete = _content_range(exc.headers.get("Content-Range"))
        if complete is not None and complete == offset and offset > 0:
            raise _Complete()
        raise _Restart("the server refused to resume (HTTP 416)")
    if code in (408, 425, 429) or code >= 500:
        raise _Retry(_http_reason(exc), wait=_retry_after(exc.headers.get("Retry-After")))
    raise _NextUrl(_http_reason(exc))


def _connection_problem(exc: BaseException) -> _Retry:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return _Retry("the server did not answer in time")
    if isinstance(reason, socket.gaierror):
        return _Retry("cannot resolve the host name (offline?)")
    if isinstance(reason, ConnectionRefusedError):
        return _Retry("connection refused")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return _Retry(f"certificate not trusted ({reason.verify_message})")
    text = str(getattr(reason, "strerror", None) or reason).strip() or type(reason).__name__
    return _Retry(f"network error ({text[:120]})")


def _receive(
    url: str,
    response: http.client.HTTPResponse,
    part: Path,
    offset: int,
    expected_size: int | None,
    meta_path: Path | None,
    options: DownloadOptions,
    meter: Meter,
    cancel: threading.Event | None,
) -> int:
    status = response.status
    if response.headers.get_content_type() == "text/html":
        raise _NextUrl("the server sent a web page instead of the file (quota exceeded or a sign-in page?)")
    length_header = response.headers.get("Content-Length")
    length = int(length_header) if length_header and length_header.strip().isdigit() else None
    if status == 206:
        first, complete = _content_range(response.headers.get("Content-Range"))
        if first != offset:
            raise _Restart("the server resumed at the wrong place")
        total = complete if complete is not None else (offset + length if length is not None else None)
        mode = "ab"
    elif status == 200:
        offset = 0  # no Range, Range ignored, or the file changed (If-Range): start again
        total = length
        mode = "wb"
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        _write_meta(meta_path, {"url": url, "validator": validator, "total": total})
    else:
        raise _Retry(f"unexpected answer HTTP {status}")
    if expected_size is not None and total is not None and total != expected_size:
        raise _NextUrl(f"the server offers {total:,} bytes, expected {expected_size:,}: a different file")
    if total is not None:
        check_free_space(part.parent, total - offset, options.free_space_margin)
    meter.reset(offset, total if total is not None else expected_size)
    meter.emit()
    read = getattr(response, "read1", response.read)
    done = offset
    fh = None  # opened on the first byte, so a web page never truncates a good partial file
    try:
        while True:
            try:
                data = read(options.chunk_size)
            except TimeoutError:
                raise _Retry(f"no data for {options.stall_timeout:g} s (stalled)") from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if cancel is not None and cancel.is_set():
                    raise _Retry("cancelled") from None
                raise _Retry(f"connection lost ({type(exc).__name__})") from None
            if cancel is not None and cancel.is_set():
                raise _Retry("cancelled")
            if not data:
                break
            if fh is None:
                if offset == 0 and looks_like_html(data[:512]):
                    raise _NextUrl("the server sent a web page instead of the file (quota exceeded or a sign-in page?)")
                fh = _open_part(part, mode)
            if expected_size is not None and done + len(data) > expected_size:
                raise _Restart("the server sent more bytes than the file has")
            try:
                fh.write(data)
            except OSError as exc:
                raise CheckpointError(f"cannot write {part} ({exc.strerror or exc})") from None
            done += len(data)
            meter.add(len(data))
    finally:
        if fh is not None:
            _close_synced(fh)
    if total == 0:
        raise _NextUrl("the server sent an empty file")
    if done == 0 and offset == 0:
        raise _Retry("the server sent nothing")
    if total is not None and done < total:
        raise _Retry(f"connection closed after {done:,} of {total:,} bytes")
    if total is not None and done > total:
        raise _Restart("the server sent more bytes than it announced")
    return done
