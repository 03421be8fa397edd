"""Chat completions over ``httpx.AsyncClient`` for an :class:`~algos.rollout.http.HTTPPolicy`.

The same request bodies, retries and errors as the policy's own (threaded) ``act``, but
as coroutines, so one process keeps hundreds of episodes in flight: at most
``max_concurrency`` requests at once. A reply also brings the server's token ``usage``.
A 400 saying the context is too long ends that episode (:class:`ContextTooLong`), not the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from algos.rollout.base import PolicyError, SamplingParams
from algos.rollout.http import _RETRY_STATUS, HTTPPolicy, _content, status_error

_CONTEXT_WORDS = ("context length", "context_length", "maximum context", "too long", "max_model_len")


class ContextTooLong(PolicyError):
    """The server refused the chat because it no longer fits the model's context."""


@dataclass
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class AsyncChat:
    """Sends ``policy``'s requests with at most ``max_concurrency`` in flight.

    Connections are spread over one client per ``per_client`` slots: httpcore's pool scans
    all its connections for every request, which costs more CPU than the request itself
    once hundreds are open.
    """

    def __init__(
        self, policy: HTTPPolicy, max_concurrency: int | None = None, timeout: float | None = None, per_client: int = 8
    ):
        self.policy = policy
        limit = max_concurrency or policy.max_concurrency
        self._slots = asyncio.Semaphore(limit)
        to = timeout if timeout is not None else policy.client.timeout
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        self.clients = [httpx.AsyncClient(timeout=to, limits=limits) for _ in range(-(-limit // per_client))]

    async def complete(self, messages: list[dict[str, Any]], params: SamplingParams, slot: int = 0) -> Completion:
        """One turn for OpenAI-format ``messages``; ``slot`` (the caller's episode slot) picks the client."""
        client = self.clients[slot % len(self.clients)]
        p = self.policy
        body = p.request_body(messages, params)
        last = ""
        for attempt in range(p.max_retries + 1):
            if attempt:
                await asyncio.sleep(p.backoff * 2 ** (attempt - 1))
            try:
                async with self._slots:
                    resp = await client.post(p.url, json=body, headers=p.headers)
            except httpx.HTTPError as err:
                last = f"{type(err).__name__}: {err}"
                continue
            if resp.status_code in _RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {resp.text[:200]!r}"
                continue
            if resp.status_code == 400 and any(w in resp.text.lower() for w in _CONTEXT_WORDS):
                raise ContextTooLong(f"policy server {p.url}: {resp.text[:200]!r}")
            if resp.status_code != 200:
                raise status_error(p.url, resp)
            text = _content(resp, p.url)
            usage = _usage(resp)
            return Completion(text, usage.get("prompt_tokens"), usage.get("completion_tokens"))
        raise PolicyError(f"policy server {p.url} failed after {p.max_retries + 1} attempts; last error: {last}")

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


def _usage(resp: httpx.Response) -> dict[str, int]:
    try:
        usage = resp.json().get("usage") or {}
        return {k: int(v) for k, v in usage.items() if k in ("prompt_tokens", "completion_tokens")}
    except (ValueError, TypeError, AttributeError):
        return {}
