"""Search backends for the ``text_search``, ``image_search`` and ``visit`` tools.

``make_backend(spec)`` turns an env kwarg into a backend:

- ``None`` or ``"world"``: the cached default offline world (built on first use);
- ``"world:/path/to/world"``: a world folder made by ``mmsearch-gym world build``;
- ``"http://host:port"``: a world served by ``mmsearch-gym serve``;
- ``{"kind": "searxng" | "mediawiki" | "serper" | "tavily" | "serve" | "world", ...}``: the
  rest of the dict are the backend's arguments (``base_url``, ``api_key_env``, ``timeout_s``,
  ``retries``, ``backoff_s``, ``max_retry_after_s``, ``deadline_s`` …). API keys come only
  from environment variables (``SERPER_API_KEY``, ``TAVILY_API_KEY`` or ``api_key_env``).

Nothing heavy (tantivy, httpx, OpenCV) is imported until a backend is made.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import BackendError, ImageHit, Page, SearchBackend, SearchHit

BACKENDS: dict[str, str] = {
    "world": "mmsearch_gym.world.backend:LocalWorldBackend",
    "serve": "mmsearch_gym.search.remote:ServeBackend",
    "searxng": "mmsearch_gym.search.web:SearxngBackend",
    "mediawiki": "mmsearch_gym.search.web:MediaWikiBackend",
    "serper": "mmsearch_gym.search.web:SerperBackend",
    "tavily": "mmsearch_gym.search.web:TavilyBackend",
}


def _load(kind: str) -> type:
    if kind not in BACKENDS:
        raise ValueError(f"unknown search backend {kind!r}; known: {', '.join(BACKENDS)}")
    module, name = BACKENDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def make_backend(spec: SearchBackend | str | dict[str, Any] | None = None) -> SearchBackend:
    """A backend from an instance, a string or a dict (see the module docstring)."""
    if isinstance(spec, SearchBackend):
        return spec
    if spec is None or spec == "world":
        return _load("world").default()
    if isinstance(spec, str):
        if spec.startswith("world:"):
            return _load("world")(spec[len("world:") :])
        if spec.startswith(("http://", "https://")):
            return _load("serve")(spec)
        raise ValueError(f"search backend {spec!r}: use 'world', 'world:<dir>', a serve url or a dict with 'kind'")
    if isinstance(spec, dict):
        kwargs = dict(spec)
        kind = kwargs.pop("kind", None)
        if not isinstance(kind, str):
            raise ValueError(f"a backend dict needs 'kind', one of: {', '.join(BACKENDS)}")
        if kind == "world" and not kwargs:
            return _load("world").default()
        if kind == "world" and set(kwargs) <= {"n_entities", "seed"}:
            return _load("world").default(**kwargs)
        return _load(kind)(**kwargs)
    raise TypeError(f"search backend must be a SearchBackend, str, dict or None, got {type(spec).__name__}")


__all__ = ["BACKENDS", "BackendError", "ImageHit", "Page", "SearchBackend", "SearchHit", "make_backend"]
