"""``mmsearch-gym serve``: a world's search over HTTP (JSON), so many rollout workers share one index.

Endpoints (all answers JSON unless noted; errors are ``{"error": message}``):

- ``GET /health`` → ``{"ok": true, "seed", "n_entities", "fingerprint"}``
- ``GET /search?q=…&top_k=5`` → ``{"results": [{"title", "url", "snippet", "doc_id", "score"}]}``
- ``GET /image_search?q=…`` (captions) or ``?url=…`` (a world image), ``POST /image_search?top_k=5``
  with image bytes (reverse search) → ``{"results": [{"title", "page_url", "image_url", "caption",
  "image_id", "score", "thumbnail_url"}]}``
- ``GET /page?url=…`` → ``{"url", "title", "text"}``
- ``GET /image/<id>.png`` → the PNG bytes

Hardening: an uploaded image's pixel count is read from its header and refused over
:data:`MAX_UPLOAD_PIXELS` before decoding; each connection times out after
``request_timeout_s`` idle (slow headers, idle keep-alive) and its body must arrive within
``body_timeout_s``; at most ``max_connections`` are served at once (more get 503 at once,
so half-open connections cannot pile up threads); with a ``token`` every request must carry
``Authorization: Bearer <token>`` (401 otherwise). ``mmsearch-gym serve`` requires a token
(``--token`` or ``MMSEARCH_GYM_SERVE_TOKEN``) when it binds beyond loopback.

Answers are computed once per server process (:mod:`mmsearch_gym.core.cache`): the rollouts of
a GRPO group send the same searches and images, and the world answers them the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..core.cache import CacheSpec, digest, resolve_cache
from ..core.safe_io import DatasetError, decode_bounded
from ..search.base import BackendError
from .backend import LocalWorldBackend

MAX_UPLOAD_BYTES = 16_000_000
MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE = 16_000_000, 4096  # the envs' image limits
MAX_TOP_K = 50
MAX_QUERY_CHARS = 2000
TOKEN_ENV = "MMSEARCH_GYM_SERVE_TOKEN"
_BUSY = b'{"error": "the server is busy; retry shortly"}'


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    server: WorldServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default; the CLI turns it on
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode())

    def _params(self) -> tuple[str, dict[str, str]]:
        parsed = urlparse(self.path)
        return parsed.path, {k: v[-1] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}

    def _top_k(self, params: dict[str, str]) -> int:
        raw = params.get("top_k", "5")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP_K:
            raise ValueError(f"top_k must be an integer from 1 to {MAX_TOP_K}, got {raw[:20]!r}")
        return int(raw)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def setup(self) -> None:
        self.timeout = self.server.request_timeout_s  # idle limit of every read: headers, keep-alive
        super().setup()

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        sent = self.headers.get("Authorization", "")
        return sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].encode(), token.encode())

    def _body(self, length: int) -> bytes:
        """The request body, within ``body_timeout_s`` in all (a client dripping it is cut off)."""
        deadline, parts, got = time.monotonic() + self.server.body_timeout_s, [], 0
        while got < length:
            if time.monotonic() > deadline:
                self.close_connection = True
                raise ValueError(f"the request body did not arrive within {self.server.body_timeout_s:g} s")
            chunk = self.rfile.read1(min(65536, length - got))
            if not chunk:
                raise ValueError("the request body ended early")
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def _dispatch(self, method: str) -> None:
        try:
            if not self._authorized():
                body = json.dumps({"error": f"send Authorization: Bearer <token> (the server's --token / {TOKEN_ENV})"})
                self.send_response(401)
                self.send_header("WWW-Authenticate", "Bearer")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())
                return
            path, params = self._params()
            self._route(method, path, params)
        except ValueError as err:
            self._json(400, {"error": str(err)})
        except BackendError as err:
            self._json(404 if err.kind.value == "bad_arguments" else 500, {"error": str(err)})
        except Exception as err:  # a server must answer, not die
            self._json(500, {"error": f"{type(err).__name__}: {err}"})

    def _route(self, method: str, path: str, params: dict[str, str]) -> None:
        backend = self.server.backend
        if method == "GET" and path == "/health":
            m = backend.manifest
            self._json(
                200, {"ok": True, "seed": m["seed"], "n_entities": m["n_entities"], "fingerprint": m["fingerprint"]}
            )
        elif method == "GET" and path == "/search":
            query = params.get("q", "")
            if not query.strip() or len(query) > MAX_QUERY_CHARS:
                raise ValueError(f"q must be 1 to {MAX_QUERY_CHARS} characters")
            top_k = self._top_k(params)
            hits = self.server.cached(("text_search", query, top_k), lambda: backend.text_search(query, top_k))
            self._json(200, {"results": [h.__dict__ for h in hits]})
        elif path == "/image_search":
            top_k = self._top_k(params)
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_UPLOAD_BYTES:
                    self.close_connection = True  # the body is not read: the connection cannot be reused
                    raise ValueError(f"send the image as the request body (1 to {MAX_UPLOAD_BYTES} bytes)")
                body = self._body(length)
                try:
                    image = decode_bounded(body, MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE)
                except DatasetError as err:  # too many pixels (checked from the header), or not an image
                    raise ValueError(str(err).replace("the image", "the uploaded image")) from None
                key = ("image_search", "bytes", hashlib.blake2b(body, digest_size=20).hexdigest(), top_k)
                hits = self.server.cached(key, lambda: backend.image_search(image=image, top_k=top_k))
            elif "q" in params:
                q = params["q"][:MAX_QUERY_CHARS]
                hits = self.server.cached(
                    ("image_search", "query", q, top_k), lambda: backend.image_search(query=q, top_k=top_k)
                )
            elif "url" in params:
                url = params["url"]
                hits = self.server.cached(
                    ("image_search", "url", url, top_k), lambda: backend.image_search(url=url, top_k=top_k)
                )
            else:
                raise ValueError("give q (caption search), url (a world image) or POST an image")
            self._json(
                200,
                {
                    "results": [
                        {
                            "title": h.title,
                            "page_url": h.page_url,
                            "image_url": h.image_url,
                            "caption": h.caption,
                            "image_id": h.image_id,
                            "score": h.score,
                            "thumbnail_url": f"/image/{h.image_id}.png",
                        }
                        for h in hits
                    ]
                },
            )
        elif method == "GET" and path == "/page":
            url = params.get("url", "")
            page = self.server.cached(("fetch", url), lambda: backend.fetch(url))
            self._json(200, {"url": page.url, "title": page.title, "text": page.text})
        elif method == "GET" and path.startswith("/image/") and path.endswith(".png"):
            image_id = path[len("/image/") : -len(".png")]
            if image_id not in backend.world.images:
                self._json(404, {"error": f"no image {image_id[:40]!r}"})
                return
            self._send(200, backend.image_png(image_id), "image/png")
        else:
            self._json(404, {"error": f"no endpoint {method} {path[:100]}"})


class WorldServer(ThreadingHTTPServer):
    """A threading HTTP server around one :class:`LocalWorldBackend`.

    Args:
        token: when set, every request needs ``Authorization: Bearer <token>``.
        max_connections: connections served at once; more are answered 503 and closed.
        request_timeout_s: how long a connection may stay silent (headers, keep-alive).
        body_timeout_s: how long an upload may take in all.
    """

    daemon_threads = True
    request_queue_size = 128  # many rollout workers connect at once

    def __init__(
        self,
        backend: LocalWorldBackend,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        token: str | None = None,
        max_connections: int = 64,
        request_timeout_s: float = 10.0,
        body_timeout_s: float = 30.0,
        cache: CacheSpec = "auto",
    ):
        if token is not None and (not isinstance(token, str) or len(token) < 8):
            raise ValueError("token must be a string of at least 8 characters (or None for no authentication)")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive integer, got {max_connections!r}")
        for name, v in (("request_timeout_s", request_timeout_s), ("body_timeout_s", body_timeout_s)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, got {v!r}")
        self.backend, self.verbose, self.token = backend, verbose, token
        self.request_timeout_s, self.body_timeout_s = float(request_timeout_s), float(body_timeout_s)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.cache = resolve_cache(cache, backend.deterministic)
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):  # full: answer now, on the accepting thread, and hang up
            try:
                request.settimeout(1.0)
                head = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(_BUSY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
                request.sendall(head.encode() + _BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        """``compute()``'s answer, computed once per key and world (see the module docstring)."""
        if self.cache is None:
            return compute()
        return self.cache.get_or_compute(digest(self.backend.cache_identity, *key), compute)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests, notebooks); ``shutdown()`` stops it."""
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="mmsearch-world-server", daemon=True
        )
        thread.start()
        return thread
