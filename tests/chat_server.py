"""A chat-completions server on 127.0.0.1 for tests: answers from a script and logs every request.

``ChatServer(script)``: ``script(i)`` (or ``script(i, body)``) gives the ``(status, body)`` of the
i-th request (a ``str`` body is sent as is, anything else as JSON). ``requests`` holds ``{"path",
"headers", "body"}`` per request; ``url`` is the server root and ``api`` the OpenAI-style ``…/v1``
base. ``GET /v1/models`` lists ``models``; ``delay`` seconds pass before each chat answer (a model's
latency); ``port`` reuses a port (a server restarted where the last one died); ``keep_alive``
keeps connections open between requests like a real server (``close`` then leaves them open).
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Script = Callable[..., tuple[int, Any]]


def completion(text: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A chat-completions answer whose message is ``text``."""
    out: dict[str, Any] = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    }
    if usage is not None:
        out["usage"] = usage
    return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many episodes connect at once


class ChatServer:
    def __init__(self, script: Script, models: Sequence[str] = ("served-model",), delay: float = 0.0, port: int = 0,
                 keep_alive: bool = False):
        self.script, self.requests, self.models, self.delay = script, [], list(models), delay
        with_body = len(inspect.signature(script).parameters) >= 2
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def _send(self, status: int, reply: Any) -> None:
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in outer.models]})
                else:
                    self._send(404, {"error": f"no route {self.path}"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    i = len(outer.requests) - 1
                if outer.delay:
                    time.sleep(outer.delay)
                status, reply = outer.script(i, body) if with_body else outer.script(i)
                self._send(status, reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.api = f"{self.url}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
