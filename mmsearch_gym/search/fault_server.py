"""A fault-injecting HTTP server on 127.0.0.1 that replays recorded-shape API answers (for tests).

``FaultServer(api)`` answers like SearXNG, MediaWiki, Serper, Tavily or ``mmsearch-gym serve``
(``api`` in :data:`APIS`), and also serves an HTML page (``/page/a.html``) and a PNG
thumbnail (``/thumb/a.png``). ``server.faults`` is a queue of what the next requests get:
``"ok"``, ``"timeout"`` (answer after ``hang_s``), ``"500"``, ``"429"`` or ``"429:<seconds>"``
(with Retry-After), ``"malformed"`` (not JSON), ``"shape"`` (JSON of the wrong shape),
``"echo_key"`` (a 400 whose error text repeats the credentials sent) or ``"401"``; an empty queue
means ``"ok"``. Hostile servers: ``"redirect:<url>"`` (a 302 there), ``"big:<bytes>"`` (a body
that size, with its Content-Length), ``"stream:<bytes>"`` (the same without a length, until
the connection closes), ``"gzip:<bytes>"`` (that many zeros, gzip-compressed: a bomb) and
``"drip:<bytes>:<seconds>"`` (one byte every that many seconds). Every request is logged in
``server.requests``. :func:`refused_url` gives a url where nothing listens.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

from .recorded import PAGE_HTML, recorded_answer

Route = dict[str, Any]


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 40, 40)).save(buf, format="PNG")
    return buf.getvalue()


APIS = ("searxng", "mediawiki", "serper", "tavily", "serve")


class FaultServer(ThreadingHTTPServer):
    """See the module docstring. Use as a context manager; ``url`` is its base address."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, api: str, hang_s: float = 2.0):
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}, got {api!r}")
        self.api, self.hang_s = api, hang_s
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_fault(self) -> str:
        with self._lock:
            return self.faults.popleft() if self.faults else "ok"

    def __enter__(self) -> Self:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parsed = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = (
                json.loads(raw) if raw and self.headers.get("Content-Type", "").startswith("application/json") else None
            )
        except ValueError:
            body = None
        self.server.requests.append(
            {
                "method": method,
                "path": parsed.path,
                "params": params,
                "headers": dict(self.headers.items()),
                "body": body,
                "raw": raw,
            }
        )
        fault = self.server.next_fault()
        if fault == "timeout":
            time.sleep(self.server.hang_s)
        elif fault == "500":
            return self._send(500, b'{"error": "internal error"}')
        elif fault.startswith("429"):
            wait = fault.partition(":")[2] or "1"
            return self._send(429, b'{"error": "too many requests"}', headers={"Retry-After": wait})
        elif fault == "401":
            return self._send(401, b'{"error": "invalid api key"}')
        elif fault == "echo_key":  # a careless API that repeats the credentials it got in its error text
            sent = {k: v for k, v in self.headers.items() if k.lower() in ("x-api-key", "authorization")}
            message = f"bad request: credentials {sent}, body {raw.decode(errors='replace')[:100]}"
            return self._send(400, json.dumps({"error": message}).encode())
        elif fault.startswith("redirect:"):
            return self._send(302, b"", "text/plain", {"Location": fault.partition(":")[2]})
        elif fault.split(":")[0] in ("big", "stream", "gzip", "drip"):
            return self._hostile_body(fault)
        elif fault == "malformed":
            return self._send(200, b'{"results": [ {"title": "trunc')
        elif fault == "shape":
            return self._send(200, b'{"unexpected": {"items": 3}}')
        if parsed.path.startswith("/page/"):
            if parsed.path != "/page/a.html":
                return self._send(404, b"<html><body>Not found</body></html>", "text/html")
            return self._send(200, PAGE_HTML.encode(), "text/html; charset=utf-8")
        if parsed.path.startswith("/thumb/"):
            return self._send(200, _png(), "image/png")
        data = recorded_answer(self.server.api, self.server.url, method, parsed.path, params, body)
        self._send(200, json.dumps(data).encode())

    def _hostile_body(self, fault: str) -> None:
        kind, size, *rest = fault.split(":")
        n = int(size)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if kind == "gzip":
            body = _gzip_zeros(n)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
        elif kind == "stream":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        try:
            if kind == "gzip":
                self.wfile.write(body)
            elif kind == "drip":
                for _ in range(n):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(float(rest[0]))
            else:
                chunk = b"y" * 65536
                for start in range(0, n, len(chunk)):
                    self.wfile.write(chunk[: n - start])
        except OSError:  # the client hung up, as it should
            self.close_connection = True


def _gzip_zeros(n: int) -> bytes:
    """``n`` zero bytes gzip-compressed, made a megabyte at a time (the server never holds them whole)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(min(n, 1 << 20))
    parts = [packer.compress(block[: min(len(block), n - i)]) for i in range(0, n, len(block))]
    return b"".join(parts) + packer.flush()


def refused_url() -> str:
    """A 127.0.0.1 url where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
