"""Gen-Searcher's names for the search tools (arXiv 2603.28767), so a model trained on its release calls them as it learnt.

- ``search(queries: [str], top_k=5)``: batched text search, one block per query
  (``--- search result for [q] ---`` … ``--- end of search result ---``, as the release
  formats them); ``query`` (a string or a list) is accepted too, as the release does.
- ``browse(url, query)``: open a page with the passages most relevant to ``query`` first
  (our ``visit`` with ``goal=query``).

``image_search(query, top_k=5)`` needs no alias: ours takes ``query`` already. Both tools
share the backend of ``text_search``/``visit`` and fail with the same step errors.
"""

from __future__ import annotations

from typing import Any

from ..core.failures import StepError
from ..core.tool import ToolContext, ToolError, ToolResult, register_tool
from .search import MAX_TOP_K, TextSearchTool, VisitTool, format_search_results

MAX_QUERIES = 5


@register_tool
class GenSearchTool(TextSearchTool):
    name = "search"
    description = (
        "Web text search tool that performs batched searches: supply an array 'queries'; "
        "the tool retrieves search results for each query."
    )
    parameters = {
        "type": "object",
        "properties": {
            "queries": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_QUERIES,
                        "description": "Array of query strings."},
            "query": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                                     "minItems": 1, "maxItems": MAX_QUERIES}]},
            "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 5},
        },
    }  # fmt: skip

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        given = [k for k in ("queries", "query") if k in arguments]
        if len(given) != 1:
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: give 'queries' (an array of strings).")
        raw = arguments[given[0]]
        queries = [raw] if isinstance(raw, str) else list(raw)
        top_k = int(arguments.get("top_k", 5))
        blocks = []
        for q in queries:
            query = self._query({"query": q})
            hits = self._call(self.backend.text_search, query, top_k)
            blocks.append(f"--- search result for [{query}] ---\n{format_search_results(query, hits)}\n--- end of search result ---")
        return ToolResult("\n\n".join(blocks))


@register_tool
class BrowseTool(VisitTool):
    name = "browse"
    description = "Browse a webpage and extract relevant information based on a specific query."
    parameters = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "The URL of the webpage to browse."},
            "query": {"type": "string", "description": "The information to extract from the webpage."},
            "page": {"type": "integer", "minimum": 1, "default": 1},
        },
        "required": ["url"],
    }

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        visit_args = {"url": arguments["url"], "goal": arguments.get("query", ""), "page": arguments.get("page", 1)}
        return super().run(visit_args, ctx)
