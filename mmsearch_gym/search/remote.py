"""Client of ``mmsearch-gym serve``: many rollout workers share one world index over HTTP."""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np

from ..core.failures import StepError
from ..core.safe_io import decode_bounded
from .base import BackendError, ImageHit, Page, SearchHit
from .web import _S, _SN, THUMBNAIL_MAX_PIXELS, THUMBNAIL_MAX_SIDE, HttpBackend, _list_of, _obj

TOKEN_ENV = "MMSEARCH_GYM_SERVE_TOKEN"

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

    ``base_url`` is the server's address, e.g. ``http://127.0.0.1:8765``. When the variable
    ``MMSEARCH_GYM_SERVE_TOKEN`` (or ``api_key_env``) is set, its value is sent as
    ``Authorization: Bearer …`` (``mmsearch-gym serve --token`` checks it). Thumbnails come
    from the server itself, through the same client.
    """

    name = "world server"
    secret_headers: ClassVar[dict[str, str]] = {"Authorization": TOKEN_ENV}
    secret_prefix: ClassVar[dict[str, str]] = {"Authorization": "Bearer "}
    optional_secrets = True
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
                thumbnail=self._thumbnail(r.get("thumbnail_url")),
            )
            for r in data["results"]
        ]

    def _thumbnail(self, path: str | None) -> np.ndarray | None:
        """A thumbnail by its path on the server (``/image/<id>.png``); urls elsewhere are not followed."""
        if not (self.fetch_thumbnails and path and path.startswith("/") and not path.startswith("//")):
            return None
        try:
            body, _ = self.http.get_bytes(path)
            return decode_bounded(body, THUMBNAIL_MAX_PIXELS, THUMBNAIL_MAX_SIDE, thumbnail=512)
        except (BackendError, OSError, ValueError):
            return None

    def fetch(self, url: str) -> Page:
        data = self.http.get_json("/page", {"url": url}, self._PAGE)
        return Page(data["url"], data["title"], data["text"])

    def health(self) -> dict[str, Any]:
        """The server's ``/health`` answer (world seed, size and fingerprint)."""
        return self.http.get_json("/health", None, _obj(["ok"], ok={"type": "boolean"}))
