"""A reward model behind an OpenAI-compatible ``POST {base_url}/chat/completions`` endpoint."""

from __future__ import annotations

import time
from typing import Any

import httpx

from algos.reward_models.base import GenerativeRewardModel, MalformedResponseError, RewardModelError

_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIRewardModel(GenerativeRewardModel):
    """Greedy chat completion from ``model`` at ``base_url`` (e.g. a vLLM server).

    Connection errors, timeouts and retryable statuses (408/409/429/5xx) are retried
    ``max_retries`` times with exponential backoff from ``backoff`` seconds, then raise
    :class:`RewardModelError` (or give a fallback output with ``on_error="fallback"``);
    other 4xx statuses raise at once. A 200 answer that is not a chat completion gives a
    malformed output, like unparseable model text.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        rubric: str = "agent",
        temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        fallback_score: float = 0.0,
        on_error: str = "raise",
        client: httpx.Client | None = None,
        output_format: str | None = None,
    ):
        super().__init__(rubric=rubric, fallback_score=fallback_score, on_error=on_error, output_format=output_format)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.client = client or httpx.Client(timeout=timeout)

    def generate(self, messages: list[dict[str, str]]) -> str:
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        failure = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self.client.post(self.url, json=payload, headers=self.headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code in _RETRY_STATUS:
                failure = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code >= 400:
                detail = f"HTTP {resp.status_code}: {resp.text[:200]}"
                raise RewardModelError(f"reward model at {self.url} refused the request: {detail}")
            return _completion_text(resp)
        raise RewardModelError(
            f"reward model at {self.url} failed after {self.max_retries + 1} tries: {failure}"
        )

    def close(self) -> None:
        self.client.close()


def _completion_text(resp: httpx.Response) -> str:
    try:
        body: Any = resp.json()
        content = body["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MalformedResponseError(
            f"response is not a chat completion ({type(exc).__name__}): {resp.text[:200]!r}"
        ) from None
    if not isinstance(content, str):
        raise MalformedResponseError(f"completion content is {type(content).__name__}, not text")
    return content
