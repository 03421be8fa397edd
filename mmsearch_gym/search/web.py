"""Real search APIs over HTTP: SearXNG JSON, the MediaWiki search API, Serper- and Tavily-shaped APIs.

Each backend checks the shape of what comes back before using it. Pages for ``visit`` and
image thumbnails are fetched by a second client that never carries API keys, so a key
is sent to its own API only (and the keyed client follows no redirect to another site).
That page client opens public addresses only (see :mod:`.netguard`): the agent chooses
those urls. ``allow_private_addresses=True`` in the backend spec lets it reach loopback and
private networks, for a search service and its pages run locally.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import numpy as np

from ..core.failures import StepError
from ..core.safe_io import decode_bounded
from .base import BackendError, ImageHit, Page, SearchBackend, SearchHit
from .http import HttpClient
from .pages import html_to_text

_S, _SN = {"type": "string"}, {"type": ["string", "null"]}
THUMBNAIL_MAX_PIXELS, THUMBNAIL_MAX_SIDE = 40_000_000, 16384  # checked from the header, before decoding


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _strip_tags(text: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", text or "").split())


class HttpBackend(SearchBackend):
    """Shared set-up of the remote backends; ``client_kwargs`` go to :class:`HttpClient`.

    ``allow_private_addresses``: let ``visit`` and thumbnails reach loopback, private and
    link-local addresses (off by default: those urls come from the agent).
    """

    secret_headers: ClassVar[dict[str, str]] = {}  # header -> default environment variable of its key
    secret_prefix: ClassVar[dict[str, str]] = {}
    optional_secrets: ClassVar[bool] = False

    def __init__(
        self,
        base_url: str,
        api_key_env: str | None = None,
        fetch_thumbnails: bool = True,
        allow_private_addresses: bool = False,
        **client_kwargs: Any,
    ):
        if not isinstance(allow_private_addresses, bool):
            raise ValueError(f"allow_private_addresses must be True or False, got {allow_private_addresses!r}")
        secret_env = {h: api_key_env or env for h, env in self.secret_headers.items()}
        self.api_key_env = api_key_env or next(iter(self.secret_headers.values()), None)
        self.http = HttpClient(
            base_url, self.name, secret_env=secret_env, secret_prefix=self.secret_prefix,
            optional_secrets=self.optional_secrets, **client_kwargs,
        )  # fmt: skip
        # no keys: pages are third-party; public addresses only: the agent picks the urls
        self.web = HttpClient(
            base_url, f"{self.name} page fetch", public_only=not allow_private_addresses, **client_kwargs
        )
        self.allow_private_addresses = allow_private_addresses
        self.fetch_thumbnails = fetch_thumbnails

    def close(self) -> None:
        self.http.close()
        self.web.close()

    def fetch(self, url: str) -> Page:
        """GET a web page and turn its HTML into text."""
        if not url.startswith(("http://", "https://")):
            raise BackendError(StepError.BAD_ARGUMENTS, f"visit needs an http(s) url, got {url[:200]!r}")
        body, ctype = self.web.get_bytes(url)
        text = body.decode("utf-8", errors="replace")
        if "html" in ctype or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
            title, text = html_to_text(text)
            return Page(url, title or url, text)
        if ctype.startswith(("text/", "application/json")):
            return Page(url, url, text)
        raise BackendError(StepError.TOOL_FAILED, f"cannot read a page of content type {ctype or 'unknown'!r}")

    def _thumbnail(self, url: str | None) -> np.ndarray | None:
        if not (self.fetch_thumbnails and url and url.startswith(("http://", "https://"))):
            return None
        try:
            body, _ = self.web.get_bytes(url)
            return decode_bounded(body, THUMBNAIL_MAX_PIXELS, THUMBNAIL_MAX_SIDE, thumbnail=512)
        except (BackendError, OSError, ValueError):  # DatasetError/ImageTooLarge are ValueErrors
            return None  # a missing thumbnail is not worth failing the search for


class SearxngBackend(HttpBackend):
    """SearXNG's JSON API (``/search?format=json``); image search by text via ``categories=images``."""

    name = "searxng"
    _SCHEMA = _obj(["results"], results=_list_of(_obj(["url", "title"], url=_S, title=_S, content=_SN)))
    _IMAGE_SCHEMA = _obj(["results"], results=_list_of(_obj(["url", "title", "img_src"], url=_S, title=_S, img_src=_S)))

    def text_search(self, query: str, top_k: int) -> list[SearchHit]:
        data = self.http.get_json("/search", {"q": query, "format": "json"}, self._SCHEMA)
        return [
            SearchHit(r["title"], r["url"], _strip_tags(r.get("content") or ""), score=r.get("score"))
            for r in data["results"][:top_k]
        ]

    def image_search(self, *, image=None, query=None, url=None, top_k: int = 5) -> list[ImageHit]:
        if query is None:
            raise BackendError(StepError.TOOL_FAILED, "searxng searches images by text only: give query")
        data = self.http.get_json("/search", {"q": query, "format": "json", "categories": "images"}, self._IMAGE_SCHEMA)
        return [
            ImageHit(
                r["title"],
                r["url"],
                r["img_src"],
                _strip_tags(r.get("content") or ""),
                thumbnail=self._thumbnail(r.get("thumbnail_src") or r["img_src"]),
            )
            for r in data["results"][:top_k]
        ]


class MediaWikiBackend(HttpBackend):
    """The MediaWiki action API (``list=search``; pages through ``prop=extracts``)."""

    name = "mediawiki"
    _SEARCH = _obj(["query"], query=_obj(["search"], search=_list_of(_obj(["title"], title=_S, snippet=_S))))
    _PAGES = _obj(["query"], query=_obj(["pages"], pages=_list_of(_obj(["title"], title=_S, extract=_S))))

    def __init__(self, base_url: str, page_url_prefix: str | None = None, **kwargs: Any):
        super().__init__(base_url, **kwargs)
        root = re.sub(r"/w/api\.php$|/api\.php$", "", base_url.rstrip("/"))
        self.page_url_prefix = page_url_prefix or f"{root}/wiki/"

    def _api(self, params: dict[str, Any], schema: dict[str, Any]) -> Any:
        data = self.http.get_json("", {**params, "format": "json", "formatversion": 2}, None)
        if isinstance(data, dict) and "error" in data:
            info = str(data["error"].get("info", "") if isinstance(data["error"], dict) else data["error"])
            raise BackendError(StepError.TOOL_FAILED, self.http.redact(f"mediawiki error: {info[:200]}"))
        return self.http.check_shape(data, schema)

    def text_search(self, query: str, top_k: int) -> list[SearchHit]:
        data = self._api({"action": "query", "list": "search", "srsearch": query, "srlimit": top_k}, self._SEARCH)
        return [
            SearchHit(
                r["title"],
                self.page_url_prefix + quote(r["title"].replace(" ", "_")),
                _strip_tags(r.get("snippet", "")),
                doc_id=str(r.get("pageid", "")) or None,
            )
            for r in data["query"]["search"][:top_k]
        ]

    def fetch(self, url: str) -> Page:
        if not url.startswith(self.page_url_prefix):
            return super().fetch(url)
        title = unquote(url[len(self.page_url_prefix) :]).replace("_", " ")
        data = self._api(
            {"action": "query", "prop": "extracts", "explaintext": 1, "redirects": 1, "titles": title}, self._PAGES
        )
        pages = data["query"]["pages"]
        if not pages or pages[0].get("missing") is not None or "extract" not in pages[0]:
            raise BackendError(StepError.BAD_ARGUMENTS, f"mediawiki has no page {title[:200]!r}")
        return Page(url, pages[0]["title"], pages[0]["extract"])


class SerperBackend(HttpBackend):
    """A Serper-shaped API: ``POST /search`` and ``POST /images`` with an ``X-API-KEY`` header."""

    name = "serper"
    secret_headers: ClassVar[dict[str, str]] = {"X-API-KEY": "SERPER_API_KEY"}
    _SCHEMA = _obj(["organic"], organic=_list_of(_obj(["title", "link"], title=_S, link=_S, snippet=_S)))
    _IMAGE_SCHEMA = _obj(["images"], images=_list_of(_obj(["title", "imageUrl"], title=_S, imageUrl=_S)))

    def __init__(self, base_url: str = "https://google.serper.dev", **kwargs: Any):
        super().__init__(base_url, **kwargs)

    def text_search(self, query: str, top_k: int) -> list[SearchHit]:
        data = self.http.post_json("/search", {"q": query, "num": top_k}, schema=self._SCHEMA)
        return [SearchHit(r["title"], r["link"], r.get("snippet", "")) for r in data["organic"][:top_k]]

    def image_search(self, *, image=None, query=None, url=None, top_k: int = 5) -> list[ImageHit]:
        if query is None:
            raise BackendError(StepError.TOOL_FAILED, "serper searches images by text only: give query")
        data = self.http.post_json("/images", {"q": query, "num": top_k}, schema=self._IMAGE_SCHEMA)
        return [
            ImageHit(
                r["title"],
                r.get("link", r["imageUrl"]),
                r["imageUrl"],
                r.get("source", ""),
                thumbnail=self._thumbnail(r.get("thumbnailUrl") or r["imageUrl"]),
            )
            for r in data["images"][:top_k]
        ]


class TavilyBackend(HttpBackend):
    """A Tavily-shaped API: ``POST /search`` (results, images) and ``POST /extract`` for pages; Bearer key."""

    name = "tavily"
    secret_headers: ClassVar[dict[str, str]] = {"Authorization": "TAVILY_API_KEY"}
    secret_prefix: ClassVar[dict[str, str]] = {"Authorization": "Bearer "}
    _SCHEMA = _obj(["results"], results=_list_of(_obj(["title", "url"], title=_S, url=_S, content=_SN)))
    _IMAGES = _obj(["images"], images=_list_of({"anyOf": [_S, _obj(["url"], url=_S)]}))
    _EXTRACT = _obj(["results"], results=_list_of(_obj(["url", "raw_content"], url=_S, raw_content=_SN)))

    def __init__(self, base_url: str = "https://api.tavily.com", **kwargs: Any):
        super().__init__(base_url, **kwargs)

    def text_search(self, query: str, top_k: int) -> list[SearchHit]:
        data = self.http.post_json("/search", {"query": query, "max_results": top_k}, schema=self._SCHEMA)
        return [
            SearchHit(r["title"], r["url"], r.get("content") or "", score=r.get("score"))
            for r in data["results"][:top_k]
        ]

    def image_search(self, *, image=None, query=None, url=None, top_k: int = 5) -> list[ImageHit]:
        if query is None:
            raise BackendError(StepError.TOOL_FAILED, "tavily searches images by text only: give query")
        body = {"query": query, "max_results": top_k, "include_images": True, "include_image_descriptions": True}
        data = self.http.post_json("/search", body, schema=self._IMAGES)
        hits = []
        for item in data["images"][:top_k]:
            src, desc = (item, "") if isinstance(item, str) else (item["url"], item.get("description") or "")
            hits.append(ImageHit(desc[:80] or src, src, src, desc, thumbnail=self._thumbnail(src)))
        return hits

    def fetch(self, url: str) -> Page:
        data = self.http.post_json("/extract", {"urls": [url]}, schema=self._EXTRACT)
        for r in data["results"]:
            if r["url"] == url and r.get("raw_content"):
                return Page(url, url, r["raw_content"])
        raise BackendError(StepError.BAD_ARGUMENTS, f"tavily could not open {url[:200]!r}")
