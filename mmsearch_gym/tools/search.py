"""OpenSearch-VL's search tools (arXiv 2605.05185): ``text_search(query, top_k=5)``, ``image_search``, ``visit(url, goal)``.

Each tool talks to a :class:`~mmsearch_gym.search.SearchBackend` chosen by the ``backend``
argument (see :func:`~mmsearch_gym.search.make_backend`): by default the cached offline
world, else a world folder, a ``mmsearch-gym serve`` url, or SearXNG / MediaWiki /
Serper / Tavily over HTTP. The backend is made on first use, and tools given the same
spec share one backend. The answer text is made by pure functions
(:func:`format_search_results`, :func:`format_image_results`, :func:`visit_page`).

Results are shared through :mod:`mmsearch_gym.core.cache` (``cache="auto"``, the default:
when the backend is ``deterministic``, i.e. an offline world in this process; ``True``: HTTP
backends too, a ``serve`` url included, which caches on its side anyway; ``False``: never).
Failures are never cached.

Failures are step errors: ``bad_arguments`` (empty or huge query, top_k out of range,
unknown url, no such page), ``backend_down`` (unreachable, 5xx, rate limited, no API
key), ``timeout``, ``tool_failed`` (malformed or unexpected response, unsupported
operation). Importing this module registers the three tools.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ..core.cache import CacheSpec, digest, image_digest, resolve_cache
from ..core.failures import StepError
from ..core.images import ImageLimitError
from ..core.tool import Tool, ToolContext, ToolError, ToolResult, register_tool
from ..search import BACKENDS, BackendError, ImageHit, Page, SearchBackend, SearchHit, make_backend
from ..search.pages import paginate, rank_passages, split_passages

MAX_TOP_K = 10
_SHARED: dict[str, SearchBackend] = {}
_SHARED_LOCK = threading.Lock()


def shared_backend(spec: SearchBackend | str | dict[str, Any] | None) -> SearchBackend:
    """One backend per spec per process: the three tools (and many envs) share an index."""
    if isinstance(spec, SearchBackend):
        return spec
    key = json.dumps(spec, sort_keys=True, default=str)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make_backend(spec)
        return _SHARED[key]


def format_search_results(query: str, hits: list[SearchHit]) -> str:
    """The agent's view of text search results: numbered titles, urls and snippets."""
    if not hits:
        return f'No results for "{query}". Try other or fewer keywords.'
    blocks = [f"[{i}] {h.title}\nURL: {h.url}\n{h.snippet}" for i, h in enumerate(hits, 1)]
    return f'Results for "{query}":\n\n' + "\n\n".join(blocks)


def format_image_results(what: str, hits: list[ImageHit], shown: dict[int, str]) -> str:
    """Numbered image results; ``shown`` maps a result's index to the image id its thumbnail got."""
    if not hits:
        return f"No images found for {what}."
    lines = [f"Image results for {what}:"]
    for i, h in enumerate(hits):
        lines.append(f"[{i + 1}] {h.title}" + (f" — {h.caption}" if h.caption else ""))
        lines.append(
            f"    page: {h.page_url}\n    image: {h.image_url}" + (f" (shown as {shown[i]})" if i in shown else "")
        )
    return "\n".join(lines)


def visit_page(page: Page, goal: str = "", page_no: int = 1, page_chars: int = 3000, max_passages: int = 3) -> str:
    """A page as ``visit`` shows it: the passages most relevant to ``goal`` first (page 1), then the text."""
    pages = paginate(page.text, page_chars)
    if not 1 <= page_no <= len(pages):
        raise ValueError(f"page {page_no} does not exist; this page has {len(pages)} page(s)")
    out = [page.title, f"URL: {page.url} · page {page_no} of {len(pages)}"]
    if goal.strip() and page_no == 1:
        passages = split_passages(page.text)
        best = rank_passages(passages, goal)[:max_passages]
        out.append(f'\nMost relevant to the goal "{goal.strip()}":')
        if best:
            out.extend(f"- {passages[i]}" for i, _ in best)
        else:
            out.append("- (no passage mentions the goal's words)")
    out.append(f"\nPage text ({page_no}/{len(pages)}):\n{pages[page_no - 1]}")
    if page_no < len(pages):
        out.append(f"\n(more: visit the same url with page={page_no + 1})")
    return "\n".join(out)


class _SearchTool(Tool):
    def __init__(
        self,
        backend: SearchBackend | str | dict[str, Any] | None = None,
        max_query_chars: int = 500,
        cache: CacheSpec = "auto",
    ):
        if isinstance(backend, dict) and backend.get("kind") not in BACKENDS:
            raise ValueError(f"unknown search backend kind {backend.get('kind')!r}; known: {', '.join(BACKENDS)}")
        if not isinstance(max_query_chars, int) or max_query_chars < 1:
            raise ValueError(f"max_query_chars must be a positive integer, got {max_query_chars!r}")
        resolve_cache(cache)  # validates it
        self.backend_spec, self.max_query_chars, self.cache = backend, max_query_chars, cache
        super().__init__()

    @property
    def backend(self) -> SearchBackend:
        try:
            return shared_backend(self.backend_spec)
        except (OSError, ValueError, RuntimeError) as err:
            raise ToolError(
                StepError.BACKEND_DOWN, f"{self.name}: the search backend could not start ({err})"
            ) from None

    def _query(self, arguments: dict[str, Any], key: str = "query") -> str:
        query = " ".join(str(arguments[key]).split())
        if not query:
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: {key} is empty; give some keywords.")
        if len(query) > self.max_query_chars:
            raise ToolError(
                StepError.BAD_ARGUMENTS,
                f"{self.name}: {key} has {len(query)} characters; at most {self.max_query_chars} are allowed.",
            )
        return query

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BackendError as err:
            raise ToolError(err.kind, f"{self.name}: {err}") from None

    def _cached_call(self, key: tuple[Any, ...], fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` through the result cache, keyed by ``key`` and the backend's identity."""
        backend = self.backend
        cache = resolve_cache(self.cache, getattr(backend, "deterministic", False))
        identity = getattr(backend, "cache_identity", None) if cache is not None else None
        if identity is None:
            return self._call(fn, *args, **kwargs)
        return cache.get_or_compute(digest(identity, *key), lambda: self._call(fn, *args, **kwargs))


_TOP_K = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_TOP_K,
    "default": 5,
    "description": f"number of results, 1 to {MAX_TOP_K}",
}


@register_tool
class TextSearchTool(_SearchTool):
    name = "text_search"
    description = "Search the web for pages matching a text query; returns titles, urls and snippets."
    parameters = {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "keywords"}, "top_k": _TOP_K},
        "required": ["query"],
    }

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        query, top_k = self._query(arguments), int(arguments.get("top_k", 5))
        hits = self._cached_call(("text_search", query, top_k), self.backend.text_search, query, top_k)
        return ToolResult(format_search_results(query, hits))


@register_tool
class ImageSearchTool(_SearchTool):
    """Args: max_thumbnails: result thumbnails added to the episode as new images."""

    name = "image_search"
    description = (
        "Search images: give an image id for reverse image search (find where an image comes from), "
        "an image url, or a text query over image captions. Returns source pages and thumbnails."
    )
    parameters = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "description": "image id to search by (reverse search), e.g. img_1"},
            "url": {"type": "string", "description": "url of an image to search by"},
            "query": {"type": "string", "description": "text to search image captions for"},
            "top_k": _TOP_K,
        },
    }
    image_args = ("image",)

    def __init__(
        self,
        backend: SearchBackend | str | dict[str, Any] | None = None,
        max_query_chars: int = 500,
        max_thumbnails: int = 4,
        cache: CacheSpec = "auto",
    ):
        self.max_thumbnails = max_thumbnails
        super().__init__(backend, max_query_chars, cache)

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        given = [k for k in ("image", "url", "query") if k in arguments]
        if len(given) != 1:
            raise ToolError(
                StepError.BAD_ARGUMENTS,
                f"{self.name}: give exactly one of image, url or query (got {', '.join(given) or 'none'}).",
            )
        top_k = int(arguments.get("top_k", 5))
        search = self.backend.image_search
        if "image" in arguments:
            what = arguments["image"]
            image = ctx.images.get(what)
            hits = self._cached_call(
                ("image_search", "image", image_digest(image), top_k), search, image=image, top_k=top_k
            )
        elif "url" in arguments:
            what = self._query(arguments, "url")
            hits = self._cached_call(("image_search", "url", what, top_k), search, url=what, top_k=top_k)
        else:
            query = self._query(arguments)
            what = f'"{query}"'
            hits = self._cached_call(("image_search", "query", query, top_k), search, query=query, top_k=top_k)
        shown: dict[int, str] = {}
        note = ""
        for i, hit in enumerate(hits):
            if hit.thumbnail is None or len(shown) >= self.max_thumbnails:
                continue
            try:
                shown[i] = ctx.images.add(hit.thumbnail, source=f"image_search:{hit.image_url}")
            except ImageLimitError:
                note = "\n(some thumbnails were not attached: the episode holds the most images allowed)"
                break
        return ToolResult(format_image_results(what, hits, shown) + note, list(shown.values()))


@register_tool
class VisitTool(_SearchTool):
    """Args: page_chars: characters per page; max_passages: goal-relevant passages shown first."""

    name = "visit"
    description = (
        "Open a page by url. Shows the passages most relevant to your goal first, then the page text; "
        "long pages are split into pages (use page=2, 3, …)."
    )
    parameters = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "a url from the search results"},
            "goal": {"type": "string", "description": "what you are looking for on the page"},
            "page": {"type": "integer", "minimum": 1, "default": 1},
        },
        "required": ["url"],
    }

    def __init__(
        self,
        backend: SearchBackend | str | dict[str, Any] | None = None,
        page_chars: int = 3000,
        max_passages: int = 3,
        max_query_chars: int = 2000,
        cache: CacheSpec = "auto",
    ):
        if not isinstance(page_chars, int) or page_chars < 200:
            raise ValueError(f"page_chars must be an integer >= 200, got {page_chars!r}")
        self.page_chars, self.max_passages = page_chars, max_passages
        super().__init__(backend, max_query_chars, cache)

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        url = self._query(arguments, "url")
        goal = str(arguments.get("goal", ""))[: self.max_query_chars]
        page = self._cached_call(("fetch", url), self.backend.fetch, url)
        try:
            text = visit_page(page, goal, int(arguments.get("page", 1)), self.page_chars, self.max_passages)
        except ValueError as err:
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: {err}") from None
        return ToolResult(text)
