"""``HTTPPolicy``: a model served behind an OpenAI-compatible ``/chat/completions`` (vLLM, SGLang, TGI …).

For evaluating served models: it returns text (the server's tokens are not exposed), so
its episodes give records, not training tensors. Images go as PNG data URLs.

Connection errors, timeouts and retryable statuses (408/409/429/5xx) are retried
``max_retries`` times with exponential backoff; then, or at once on another 4xx or a reply
that is not a chat completion, :class:`~algos.rollout.base.PolicyError` is raised naming
the URL, the status and the start of the body, so a server failing mid-rollout stops the
rollout with a clear error instead of feeding the env made-up turns.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
from PIL import Image

from algos.rollout.base import PolicyError, SamplingParams, TextRequest

_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class HTTPPolicy:
    """Chat completions from ``model`` at ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``).

    Args:
        max_concurrency: requests in flight at once (one per active episode, up to this).
        extra_body: merged into every request body (e.g. ``{"stop": ["</answer>"]}``).
        send_images: False for a text-only model (servers refuse image parts for those, e.g.
            vLLM's 400 "is not a multimodal model"); the text keeps the images' ids.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_concurrency: int = 16,
        extra_body: dict[str, Any] | None = None,
        client: httpx.Client | None = None,
        send_images: bool = True,
    ):
        if max_retries < 0 or max_concurrency < 1:
            raise ValueError("need max_retries >= 0 and max_concurrency >= 1")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_concurrency = max_concurrency
        self.extra_body = dict(extra_body or {})
        self.send_images = send_images
        self.client = client or httpx.Client(timeout=timeout)

    def act(self, requests: Sequence[TextRequest], params: SamplingParams) -> list[str]:
        bodies = [self.body(req.messages, params) for req in requests]
        if len(bodies) <= 1:
            return [self._complete(b) for b in bodies]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(bodies))) as pool:
            return list(pool.map(self._complete, bodies))

    def body(self, messages: Sequence[dict[str, Any]], params: SamplingParams) -> dict[str, Any]:
        """The request body for one chat (env-format messages, images as arrays)."""
        return self.request_body([openai_message(m, images=self.send_images) for m in messages], params)

    def request_body(self, messages: list[dict[str, Any]], params: SamplingParams) -> dict[str, Any]:
        """The request body for chat messages already in OpenAI format (see :func:`openai_message`)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.top_k:
            body["top_k"] = params.top_k
        body.update(self.extra_body)
        return body

    def _complete(self, body: dict[str, Any]) -> str:
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                resp = self.client.post(self.url, json=body, headers=self.headers)
            except httpx.HTTPError as err:
                last = f"{type(err).__name__}: {err}"
                continue
            if resp.status_code in _RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {resp.text[:200]!r}"
                continue
            if resp.status_code != 200:
                raise status_error(self.url, resp)
            return _content(resp, self.url)
        raise PolicyError(f"policy server {self.url} failed after {self.max_retries + 1} attempts; last error: {last}")

    def close(self) -> None:
        self.client.close()


def status_error(url: str, resp: httpx.Response) -> PolicyError:
    """The error for a non-retryable status, with what to do when a text-only model was sent images."""
    msg = f"policy server {url} answered HTTP {resp.status_code}: {resp.text[:200]!r}"
    if resp.status_code == 400 and "multimodal" in resp.text.lower():
        msg += "; the served model takes no images: send text only (HTTPPolicy(send_images=False), eval --no-images)"
    return PolicyError(msg)


def _content(resp: httpx.Response, url: str) -> str:
    try:
        content = resp.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise PolicyError(
            f"policy server {url} sent something that is not a chat completion: {resp.text[:200]!r}"
        ) from None
    if content is None:
        return ""
    if not isinstance(content, str):
        raise PolicyError(f"policy server {url} sent non-text content: {str(content)[:200]!r}")
    return content


def openai_message(
    m: dict[str, Any], data_url: Callable[[np.ndarray], str] | None = None, images: bool = True
) -> dict[str, Any]:
    """An env-format message (``role``, ``content``, ``images`` as arrays) in OpenAI chat format, images as
    PNG data URLs (made by ``data_url``, default :func:`png_data_url`); ``images=False`` sends the text alone."""
    images = (m.get("images") or []) if images else []
    if not images:
        return {"role": m["role"], "content": m["content"]}
    url = data_url or png_data_url
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url(img)}} for img in images]
    return {"role": m["role"], "content": parts + [{"type": "text", "text": m["content"]}]}


def png_data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
