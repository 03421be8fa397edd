"""What every search backend answers with, and how it fails.

A backend does up to three things: ``text_search(query, top_k)``, ``image_search(...)``
by example image, image url or caption text, and ``fetch(url)`` of a page for ``visit``.
What it cannot do raises :class:`BackendError` of kind ``tool_failed`` saying so. Every
failure is a :class:`BackendError` whose ``kind`` is the step error the tools report;
its message is safe to show the agent (no keys, no headers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np

from ..core.failures import StepError


class BackendError(Exception):
    """A failed backend call; ``kind`` is the step error (``backend_down``, ``timeout``, …)."""

    def __init__(self, kind: StepError | str, message: str):
        super().__init__(message)
        self.kind = StepError(kind)


@dataclass(frozen=True)
class SearchHit:
    """One text search result."""

    title: str
    url: str
    snippet: str
    doc_id: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class ImageHit:
    """One image search result: the image, the page it comes from, and a thumbnail when fetched."""

    title: str
    page_url: str
    image_url: str
    caption: str = ""
    image_id: str | None = None
    score: float | None = None
    thumbnail: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Page:
    """A fetched page as plain text."""

    url: str
    title: str
    text: str


class SearchBackend:
    """Base class: subclasses override what they support.

    ``deterministic`` backends (an offline world) answer the same call the same way, so the
    tools share their results through :mod:`mmsearch_gym.core.cache` by default; results are
    shared only between backends with the same ``cache_identity``.
    """

    name: str = "backend"
    deterministic: bool = False

    @property
    def cache_identity(self) -> str | None:
        """What the answers depend on besides the call (``None``: never cache them)."""
        base_url = getattr(getattr(self, "http", None), "base_url", None)
        return f"{type(self).__name__}:{base_url}" if base_url else None

    def text_search(self, query: str, top_k: int) -> list[SearchHit]:
        raise BackendError(StepError.TOOL_FAILED, f"the {self.name} backend does not support text search")

    def image_search(
        self, *, image: np.ndarray | None = None, query: str | None = None, url: str | None = None, top_k: int = 5
    ) -> list[ImageHit]:
        """Exactly one of ``image`` (reverse search), ``query`` (captions) or ``url`` (an image's url)."""
        raise BackendError(StepError.TOOL_FAILED, f"the {self.name} backend does not support image search")

    def fetch(self, url: str) -> Page:
        raise BackendError(StepError.TOOL_FAILED, f"the {self.name} backend cannot open pages")

    def close(self) -> None:
        """Release connections (no-op by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
