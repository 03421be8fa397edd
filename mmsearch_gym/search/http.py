"""One HTTP client for every remote backend: timeouts, retries with backoff, Retry-After, shape checks, secrets.

Retried: connection errors, timeouts, 5xx and 429 (waiting ``Retry-After`` when the server
sends one and it is within ``max_retry_after_s``). Given up on, they become
:class:`~.base.BackendError` of kind ``backend_down`` (unreachable, 5xx, rate limited) or
``timeout``. Other 4xx, bodies that are not JSON and JSON of the wrong shape are
``tool_failed`` (404 is ``bad_arguments``: the agent asked for something that is not
there). API keys are read from environment variables at call time, sent only in headers
or bodies, and scrubbed from every message and log line.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema

from ..core.failures import StepError
from .base import BackendError

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 20_000_000


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
        timeout_s: per-request timeout (connect and read).
        retries: extra attempts after the first.
        backoff_s: first wait between attempts; doubles each time.
        max_retry_after_s: longest ``Retry-After`` honoured; longer means give up now.
        deadline_s: total time budget of one call, waits included.
        secret_env: header name -> environment variable holding its value (e.g. an API key).
        secret_prefix: header name -> text before the secret (``"Bearer "``).
        sleep: the wait function (tests pass a recorder).
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
    ):
        import httpx

        for label, v in (("timeout_s", timeout_s), ("backoff_s", backoff_s), ("deadline_s", deadline_s)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{label} must be a finite number >= 0, got {v!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        self.httpx = httpx
        self.base_url, self.name = base_url.rstrip("/"), name
        self.retries, self.backoff_s, self.max_retry_after_s, self.deadline_s = (
            retries,
            backoff_s,
            max_retry_after_s,
            deadline_s,
        )
        self.secret_env, self.secret_prefix = dict(secret_env or {}), dict(secret_prefix or {})
        self.sleep = sleep
        self.client = httpx.Client(timeout=timeout_s, headers=dict(headers or {}), follow_redirects=True)

    def close(self) -> None:
        self.client.close()

    # ---- secrets ------------------------------------------------------------------------------
    def secret(self, env_var: str) -> str:
        value = os.environ.get(env_var, "")
        if not value:
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
    ) -> Any:
        """Send with retries; return the response (``httpx.Response``) of a 2xx."""
        if path.startswith(("http://", "https://")):
            url = path
        else:
            url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        headers = {h: self.secret_prefix.get(h, "") + self.secret(env) for h, env in self.secret_env.items()}
        if content_type:
            headers["Content-Type"] = content_type
        start, attempt, slept = time.monotonic(), 0, 0.0
        while True:
            wait, failure = None, None
            try:
                resp = self.client.request(method, url, params=params, json=json_body, content=content, headers=headers)
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
            log.info("%s: retrying after %.2fs: %s", self.name, delay, self.redact(str(failure)))
            self.sleep(delay)
            slept += delay
            attempt += 1

    def _status_error(self, resp: Any) -> tuple[BackendError, float | None, bool]:
        code = resp.status_code
        if code == 429:
            wait = _retry_after(resp.headers.get("Retry-After"))
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
        except ValueError:
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
        """Body and content type of a GET (bounded in size)."""
        resp = self.request("GET", url, params=params)
        if len(resp.content) > MAX_BODY_BYTES:
            raise BackendError(
                StepError.TOOL_FAILED, f"{self.name}: the response is larger than {MAX_BODY_BYTES} bytes"
            )
        return resp.content, resp.headers.get("content-type", "")

    def _json(self, resp: Any, schema: dict | None) -> Any:
        try:
            data = json.loads(resp.content)
        except (ValueError, UnicodeDecodeError):
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
