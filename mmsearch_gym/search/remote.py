"""Client of ``mmsearch-gym serve``: many rollout workers share one world index over HTTP."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urljoin

import numpy as np

from ..core.failures import StepError
from .base import BackendError, ImageHit, Page, SearchHit
from .web import _S, _SN, HttpBackend, _list_of, _obj

_HIT = _obj(["title", "url", "snippet"], title=_S, url=_S, snippet=_S, doc_id=_SN, score={"type": ["number", "null"]})
_IMAGE_HIT = _obj(
    ["title", "page_url", "image_url"],
    title=_S,
    page_url=_S,
    image_url=_S,
    caption=_S,
    image_id=_SN,
    thumbnail_url=_SN,
    score={"type": ["number", "null"]},
)


class ServeBackend(HttpBackend):
    """Text search, image search (reverse, by caption or url) and pages from a world server.

    ``base_url`` is the server's address, e.g. ``http://127.0.0.1:8765``.
    """

    name = "world server"
    _SEARCH = _obj(["results"], results=_list_of(_HIT))
    _IMAGES = _obj(["results"], results=_list_of(_IMAGE_HIT))
    _PAGE = _obj(["url", "title", "text"], url=_S, title=_S, text=_S)

    def text_search(self, query: str, top_k: int) -> list[SearchHit]:
        data = self.http.get_json("/search", {"q": query, "top_k": top_k}, self._SEARCH)
        return [SearchHit(r["title"], r["url"], r["snippet"], r.get("doc_id"), r.get("score")) for r in data["results"]]

    def image_search(
        self, *, image: np.ndarray | None = None, query: str | None = None, url: str | None = None, top_k: int = 5
    ) -> list[ImageHit]:
        if sum(x is not None for x in (image, query, url)) != 1:
            raise BackendError(StepError.BAD_ARGUMENTS, "give exactly one of image, query or url")
        if image is not None:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
            data = self.http.post_json(
                "/image_search",
                params={"top_k": top_k},
                schema=self._IMAGES,
                content=buf.getvalue(),
                content_type="image/png",
            )
        else:
            params: dict[str, Any] = {"top_k": top_k, **({"q": query} if query is not None else {"url": url})}
            data = self.http.get_json("/image_search", params, self._IMAGES)
        return [
            ImageHit(
                r["title"],
                r["page_url"],
                r["image_url"],
                r.get("caption", ""),
                r.get("image_id"),
                r.get("score"),
                thumbnail=self._thumbnail(
                    urljoin(self.http.base_url + "/", r["thumbnail_url"]) if r.get("thumbnail_url") else None
                ),
            )
            for r in data["results"]
        ]

    def fetch(self, url: str) -> Page:
        data = self.http.get_json("/page", {"url": url}, self._PAGE)
        return Page(data["url"], data["title"], data["text"])

    def health(self) -> dict[str, Any]:
        """The server's ``/health`` answer (world seed, size and fingerprint)."""
        return self.http.get_json("/health", None, _obj(["ok"], ok={"type": "boolean"}))
