"""One HTTP client for every remote backend: timeouts, retries with backoff, Retry-After, shape checks, secrets,
bounded bodies, one deadline per call, and (for agent-chosen urls) public addresses only.

Retried: connection errors, timeouts, 5xx and 429 (waiting ``Retry-After`` when the server
sends one and it is within ``max_retry_after_s``). Given up on, they become
:class:`~.base.BackendError` of kind ``backend_down`` (unreachable, 5xx, rate limited) or
``timeout``. Other 4xx, bodies that are not JSON and JSON of the wrong shape are
``tool_failed`` (404 is ``bad_arguments``: the agent asked for something that is not
there). API keys are read from environment variables at call time, sent only in headers
or bodies, and scrubbed from every message and log line.

Every body is streamed and cut at ``max_body_bytes`` (a ``Content-Length`` over it is refused
before reading; gzip/deflate are inflated under the same cap), and the whole call — retries,
redirects, waits and a server that drips a byte at a time — ends at ``deadline_s``.
Redirects are followed by hand: a client that carries a key never follows one to another
origin (the key would go with it), and a ``public_only`` client checks every hop with
:func:`~.netguard.resolve_target` and connects to the address it resolved.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import jsonschema

from ..core.failures import StepError
from .base import BackendError
from .netguard import resolve_target

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 20_000_000
MAX_REDIRECTS = 5
_Headers, _Cancel = dict[str, str], threading.Event
_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Reply:
    """A finished response: status, headers (lower-case names), the whole body and the url it came from."""

    status_code: int
    headers: dict[str, str]
    content: bytes
    url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.content)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:  # an HTTP date
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None  # unreadable: fall back to the backoff schedule


class HttpClient:
    """JSON over HTTP for one backend.

    Args:
        base_url: prefix of relative paths.
        name: backend name used in messages.
        timeout_s: per-read timeout (connect, each read of the body).
        retries: extra attempts after the first.
        backoff_s: first wait between attempts; doubles each time.
        max_retry_after_s: longest ``Retry-After`` honoured; longer means give up now.
        deadline_s: wall-clock budget of one call (retries, waits, redirects and the body
            included); past it the call is a ``timeout`` step error.
        secret_env: header name -> environment variable holding its value (e.g. an API key).
        secret_prefix: header name -> text before the secret (``"Bearer "``).
        optional_secrets: send a secret only when its variable is set (no error otherwise).
        sleep: the wait function (tests pass a recorder).
        public_only: refuse urls whose host is not a public address (every redirect hop is
            checked; the connection goes to the resolved address): for urls an agent chose.
        max_body_bytes: largest body read; more is a ``tool_failed`` error.
        max_redirects: redirects followed in one call.
    """

    def __init__(
        self,
        base_url: str,
        name: str,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 30.0,
        deadline_s: float = 60.0,
        secret_env: Mapping[str, str] | None = None,
        secret_prefix: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        public_only: bool = False,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        optional_secrets: bool = False,
    ):
        import httpx

        for label, v in (("timeout_s", timeout_s), ("backoff_s", backoff_s), ("deadline_s", deadline_s)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{label} must be a finite number >= 0, got {v!r}")
        for label, v in (("retries", retries), ("max_redirects", max_redirects), ("max_body_bytes", max_body_bytes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{label} must be an integer >= 0, got {v!r}")
        self.httpx = httpx
        self.base_url, self.name = base_url.rstrip("/"), name
        self.retries, self.backoff_s, self.max_retry_after_s, self.deadline_s = (
            retries,
            backoff_s,
            max_retry_after_s,
            deadline_s,
        )
        self.secret_env, self.secret_prefix = dict(secret_env or {}), dict(secret_prefix or {})
        self.optional_secrets = optional_secrets
        self.sleep = sleep
        self.public_only, self.max_body_bytes, self.max_redirects = public_only, max_body_bytes, max_redirects
        base_headers = {"Accept-Encoding": "gzip, deflate", **dict(headers or {})}
        # A guarded client: no proxy from the environment (the pinned address must be the peer) and no
        # kept-alive connections (pooled by address, one made for one site's TLS name would serve another's).
        self.client = httpx.Client(
            timeout=timeout_s, headers=base_headers, follow_redirects=False, trust_env=not public_only,
            limits=httpx.Limits(max_keepalive_connections=0) if public_only else httpx.Limits(),
        )  # fmt: skip

    def close(self) -> None:
        self.client.close()

    # ---- secrets ------------------------------------------------------------------------------
    def secret(self, env_var: str) -> str:
        value = os.environ.get(env_var, "")
        if not value and not self.optional_secrets:
            raise BackendError(
                StepError.BACKEND_DOWN, f"{self.name}: no API key (set the environment variable {env_var})"
            )
        return value

    def redact(self, text: str) -> str:
        for env_var in self.secret_env.values():
            value = os.environ.get(env_var)
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text

    # ---- requests -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Reply:
        """Send with retries; return the :class:`Reply` of a 2xx, all within ``deadline_s``."""
        if path.startswith(("http://", "https://")):
            url = path
        else:
            url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        headers = {}
        for h, env in self.secret_env.items():
            value = self.secret(env)
            if value:
                headers[h] = self.secret_prefix.get(h, "") + value
        if content_type:
            headers["Content-Type"] = content_type
        if json_body is not None:
            content, json_body = json.dumps(json_body, allow_nan=False).encode(), None  # ASCII: lone surrogates escaped
            headers.setdefault("Content-Type", "application/json")
        cancel = threading.Event()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["reply"] = self._with_retries(method, url, params, content, headers, cancel)
            except BaseException as err:  # handed to the caller's thread
                box["error"] = err

        worker = threading.Thread(target=work, name=f"http {self.name}", daemon=True)
        worker.start()
        worker.join(self.deadline_s + 0.05)
        if worker.is_alive():  # it stops at its next read or wait; its result is dropped
            cancel.set()
            raise BackendError(StepError.TIMEOUT, f"{self.name} did not answer within {self.deadline_s:g} s")
        if "error" in box:
            raise box["error"]
        return box["reply"]

    def _with_retries(
        self, method: str, url: str, params: Any, content: bytes | None, headers: _Headers, cancel: _Cancel
    ) -> Reply:
        start, attempt, slept = time.monotonic(), 0, 0.0
        while True:
            wait, failure = None, None
            try:
                resp = self._follow(method, url, params, content, headers, cancel)
            except self.httpx.TimeoutException:
                failure = BackendError(StepError.TIMEOUT, f"{self.name} did not answer in time")
            except (self.httpx.TransportError, OSError) as err:
                failure = BackendError(StepError.BACKEND_DOWN, f"{self.name} is unreachable ({type(err).__name__})")
            else:
                if resp.status_code < 400:
                    return resp
                failure, wait, retryable = self._status_error(resp)
                if not retryable:
                    raise failure
            delay = wait if wait is not None else self.backoff_s * 2**attempt
            spent = max(time.monotonic() - start, slept)  # ``slept`` counts when ``sleep`` is not a real wait
            if attempt >= self.retries or delay > self.max_retry_after_s or spent + delay > self.deadline_s:
                raise failure
            if cancel.is_set():
                raise failure
            log.info("%s: retrying after %.2fs: %s", self.name, delay, self.redact(str(failure)))
            self.sleep(delay)
            slept += delay
            attempt += 1

    def _follow(
        self, method: str, url: str, params: Any, content: bytes | None, headers: _Headers, cancel: _Cancel
    ) -> Reply:
        """One attempt: the request and its redirects, each hop checked; the final reply, body read."""
        origin = _origin(url)
        for _ in range(self.max_redirects + 1):
            reply = self._send(method, url, params, content, headers, cancel)
            location = reply.headers.get("location")
            if reply.status_code not in _REDIRECTS or not location:
                return reply
            url, params = urljoin(reply.url, location), None
            if _origin(url) != origin and headers.keys() & self.secret_env.keys():
                raise BackendError(
                    StepError.TOOL_FAILED,
                    f"{self.name} redirected to another site ({_origin(url)[:100]}); "
                    "a request carrying an API key is not sent there",
                )
            if reply.status_code == 303 or (reply.status_code in (301, 302) and method == "POST"):
                method, content = "GET", None
                headers = {k: v for k, v in headers.items() if k != "Content-Type"}
        raise BackendError(StepError.TOOL_FAILED, f"{self.name}: more than {self.max_redirects} redirects")

    def _send(
        self, method: str, url: str, params: Any, content: bytes | None, headers: _Headers, cancel: _Cancel
    ) -> Reply:
        """One HTTP exchange, the body streamed under the byte cap (and the host checked when ``public_only``)."""
        send_url, extensions, hop_headers = url, {}, dict(headers)
        if self.public_only:
            target = resolve_target(url)
            send_url, hop_headers["Host"] = target.pinned_url, target.host_header
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
        with self.client.stream(
            method, send_url, params=params, content=content, headers=hop_headers, extensions=extensions
        ) as resp:
            head = {k.lower(): v for k, v in resp.headers.items()}
            if resp.status_code in _REDIRECTS:
                return Reply(resp.status_code, head, b"", url)
            declared = head.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                raise self._too_big()
            body = self._read(resp, head.get("content-encoding", "identity").strip().lower(), cancel)
        return Reply(resp.status_code, head, body, url)

    def _too_big(self) -> BackendError:
        return BackendError(
            StepError.TOOL_FAILED, f"{self.name}: the response is larger than {self.max_body_bytes} bytes"
        )

    def _read(self, resp: Any, encoding: str, cancel: threading.Event) -> bytes:
        """The body, inflated when gzip/deflate, never holding more than ``max_body_bytes`` of it."""
        if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
            raise BackendError(StepError.TOOL_FAILED, f"{self.name}: unsupported content encoding {encoding[:40]!r}")
        inflate = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            inflate = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS)
        parts, size, raw_size = [], 0, 0
        for raw in resp.iter_raw():
            if cancel.is_set():
                raise BackendError(StepError.TIMEOUT, f"{self.name}: the deadline passed while reading")
            raw_size += len(raw)
            if inflate is None:
                chunk = raw
            else:
                try:
                    chunk = inflate.decompress(raw, self.max_body_bytes - size + 1)
                except zlib.error:
                    raise BackendError(StepError.TOOL_FAILED, f"{self.name} sent a corrupt compressed body") from None
                if inflate.unconsumed_tail:
                    raise self._too_big()
            size += len(chunk)
            if size > self.max_body_bytes or raw_size > self.max_body_bytes:
                raise self._too_big()
            parts.append(chunk)
        return b"".join(parts)

    def _status_error(self, resp: Any) -> tuple[BackendError, float | None, bool]:
        code = resp.status_code
        if code == 429:
            wait = _retry_after(resp.headers.get("retry-after"))
            hint = f"; retry after {wait:.0f} s" if wait is not None else ""
            return (
                BackendError(StepError.BACKEND_DOWN, f"{self.name} is rate limiting requests (HTTP 429{hint})"),
                wait,
                True,
            )
        if code >= 500:
            return BackendError(StepError.BACKEND_DOWN, f"{self.name} failed (HTTP {code})"), None, True
        detail = self._error_detail(resp)
        if code == 404:
            return BackendError(StepError.BAD_ARGUMENTS, f"{self.name}: not found (HTTP 404){detail}"), None, False
        if code in (400, 422):
            return (
                BackendError(StepError.BAD_ARGUMENTS, f"{self.name} rejected the request (HTTP {code}){detail}"),
                None,
                False,
            )
        if code in (401, 403):
            envs = ", ".join(sorted(set(self.secret_env.values()))) or "none configured"
            return (
                BackendError(
                    StepError.TOOL_FAILED, f"{self.name} refused the credentials (HTTP {code}; key variable: {envs})"
                ),
                None,
                False,
            )
        return BackendError(StepError.TOOL_FAILED, f"{self.name} answered HTTP {code}{detail}"), None, False

    def _error_detail(self, resp: Any) -> str:
        try:
            data = resp.json()
            text = str(data.get("error") or data.get("message") or "") if isinstance(data, dict) else ""
        except (ValueError, RecursionError):
            text = ""
        text = self.redact(" ".join(text.split()))[:200]
        return f": {text}" if text else ""

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, schema: dict | None = None) -> Any:
        return self._json(self.request("GET", path, params=params), schema)

    def post_json(
        self,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        schema: dict | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        resp = self.request("POST", path, params=params, json_body=body, content=content, content_type=content_type)
        return self._json(resp, schema)

    def get_bytes(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[bytes, str]:
        """Body and content type of a GET (bounded in size and time)."""
        resp = self.request("GET", url, params=params)
        return resp.content, resp.headers.get("content-type", "")

    def _json(self, resp: Any, schema: dict | None) -> Any:
        try:
            data = json.loads(resp.content)
        except (ValueError, RecursionError):
            raise BackendError(StepError.TOOL_FAILED, f"{self.name} sent a malformed response (not JSON)") from None
        return self.check_shape(data, schema) if schema is not None else data

    def check_shape(self, data: Any, schema: dict) -> Any:
        """``data`` if it matches the JSON ``schema``, else a ``tool_failed`` error naming the first mismatch."""
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
        if errors:
            where = ".".join(str(p) for p in errors[0].absolute_path) or "response"
            raise BackendError(
                StepError.TOOL_FAILED,
                self.redact(f"{self.name} sent a response of unexpected shape ({where}: {errors[0].message[:120]})"),
            )
        return data


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (the unit a secret may be sent to)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return url
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"
