"""``mmsearch-gym serve``: a world's search over HTTP (JSON), so many rollout workers share one index.

Endpoints (all answers JSON unless noted; errors are ``{"error": message}``):

- ``GET /health`` → ``{"ok": true, "seed", "n_entities", "fingerprint"}``
- ``GET /search?q=…&top_k=5`` → ``{"results": [{"title", "url", "snippet", "doc_id", "score"}]}``
- ``GET /image_search?q=…`` (captions) or ``?url=…`` (a world image), ``POST /image_search?top_k=5``
  with image bytes (reverse search) → ``{"results": [{"title", "page_url", "image_url", "caption",
  "image_id", "score", "thumbnail_url"}]}``
- ``GET /page?url=…`` → ``{"url", "title", "text"}``
- ``GET /image/<id>.png`` → the PNG bytes

Answers are computed once per server process (:mod:`mmsearch_gym.core.cache`): the rollouts of
a GRPO group send the same searches and images, and the world answers them the same way.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..core.cache import CacheSpec, digest, resolve_cache
from ..search.base import BackendError
from .backend import LocalWorldBackend, decode_image

MAX_UPLOAD_BYTES = 16_000_000
MAX_TOP_K = 50
MAX_QUERY_CHARS = 2000


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

    def _dispatch(self, method: str) -> None:
        try:
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
                    raise ValueError(f"send the image as the request body (1 to {MAX_UPLOAD_BYTES} bytes)")
                body = self.rfile.read(length)
                try:
                    image = decode_image(body)
                except OSError:
                    raise ValueError("the body is not an image") from None
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
    """A threading HTTP server around one :class:`LocalWorldBackend`."""

    daemon_threads = True

    def __init__(
        self,
        backend: LocalWorldBackend,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        cache: CacheSpec = "auto",
    ):
        self.backend, self.verbose = backend, verbose
        self.cache = resolve_cache(cache, backend.deterministic)
        super().__init__((host, port), _Handler)

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
