"""Answers in the shape the real APIs give (same keys and nesting, fewer results), for :mod:`.fault_server`.

Shapes follow each API's documented JSON: SearXNG ``/search?format=json``, the MediaWiki action
API with ``formatversion=2``, Serper's ``/search`` and ``/images``, Tavily's ``/search`` and
``/extract``, and ``mmsearch-gym serve``. Urls inside point back at the serving test server.
"""

from __future__ import annotations

from typing import Any

PAGE_HTML = (
    "<!doctype html><html><head><title>Ada Lovelace</title><script>var x = 1;</script></head><body>"
    "<h1>Ada Lovelace</h1><p>Ada Lovelace was an English mathematician.</p>"
    "<p>She wrote the first algorithm for the Analytical Engine in 1843.</p></body></html>"
)


def recorded_answer(api: str, base: str, method: str, path: str, params: dict[str, str], body: Any) -> Any:
    """The JSON a real ``api`` answers with (same keys and nesting; fewer results)."""
    page, thumb = f"{base}/page/a.html", f"{base}/thumb/a.png"
    if api == "searxng":
        if params.get("categories") == "images":
            return {
                "query": params.get("q", ""),
                "number_of_results": 0,
                "results": [
                    {
                        "url": page,
                        "title": "Ada Lovelace portrait",
                        "content": "Watercolour portrait",
                        "img_src": thumb,
                        "thumbnail_src": thumb,
                        "template": "images.html",
                        "engine": "bing images",
                        "category": "images",
                    }
                ],
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [],
                "unresponsive_engines": [],
            }
        return {
            "query": params.get("q", ""),
            "number_of_results": 0,
            "results": [
                {
                    "url": page,
                    "title": "Ada Lovelace - Wikipedia",
                    "content": "Ada Lovelace was an English <b>mathematician</b>.",
                    "engine": "duckduckgo",
                    "engines": ["duckduckgo", "brave"],
                    "positions": [1, 2],
                    "score": 2.5,
                    "category": "general",
                    "template": "default.html",
                    "parsed_url": ["https", "example.org", "/a", "", "", ""],
                },
                {
                    "url": f"{base}/page/b.html",
                    "title": "Analytical Engine",
                    "content": None,
                    "engine": "brave",
                    "score": 1.0,
                },
            ],
            "answers": [],
            "corrections": [],
            "infoboxes": [],
            "suggestions": ["ada lovelace biography"],
            "unresponsive_engines": [["google", "timeout"]],
        }
    if api == "mediawiki":
        if params.get("list") == "search":
            return {
                "batchcomplete": True,
                "continue": {"sroffset": 2, "continue": "-||"},
                "query": {
                    "searchinfo": {"totalhits": 1204},
                    "search": [
                        {
                            "ns": 0,
                            "title": "Ada Lovelace",
                            "pageid": 974,
                            "size": 96210,
                            "wordcount": 9012,
                            "snippet": '<span class="searchmatch">Ada</span> Lovelace was an English mathematician',
                            "timestamp": "2024-05-01T10:00:00Z",
                        },
                        {
                            "ns": 0,
                            "title": "Analytical Engine",
                            "pageid": 1271,
                            "size": 40110,
                            "wordcount": 5000,
                            "snippet": "a proposed mechanical general-purpose computer",
                            "timestamp": "2024-04-01T10:00:00Z",
                        },
                    ],
                },
            }
        title = params.get("titles", "")
        if title != "Ada Lovelace":
            return {"batchcomplete": True, "query": {"pages": [{"ns": 0, "title": title, "missing": True}]}}
        return {
            "batchcomplete": True,
            "query": {
                "pages": [
                    {
                        "pageid": 974,
                        "ns": 0,
                        "title": "Ada Lovelace",
                        "extract": "Augusta Ada King, Countess of Lovelace, was an English mathematician.\n\nShe wrote the "
                        "first algorithm intended for the Analytical Engine in 1843.",
                    }
                ]
            },
        }
    if api == "serper":
        params_echo = {
            "q": (body or {}).get("q", ""),
            "type": "images" if path == "/images" else "search",
            "engine": "google",
        }
        if path == "/images":
            return {
                "searchParameters": params_echo,
                "images": [
                    {
                        "title": "Ada Lovelace portrait",
                        "imageUrl": thumb,
                        "imageWidth": 24,
                        "imageHeight": 16,
                        "thumbnailUrl": thumb,
                        "source": "Example",
                        "domain": "example.org",
                        "link": page,
                        "position": 1,
                    }
                ],
                "credits": 1,
            }
        return {
            "searchParameters": params_echo,
            "knowledgeGraph": {"title": "Ada Lovelace", "type": "Mathematician"},
            "organic": [
                {
                    "title": "Ada Lovelace - Wikipedia",
                    "link": page,
                    "snippet": "Ada Lovelace was an English mathematician.",
                    "position": 1,
                    "sitelinks": [],
                },
                {"title": "Analytical Engine", "link": f"{base}/page/b.html", "snippet": "A computer.", "position": 2},
            ],
            "peopleAlsoAsk": [],
            "relatedSearches": [{"query": "charles babbage"}],
            "credits": 1,
        }
    if api == "tavily":
        if path == "/extract":
            urls = (body or {}).get("urls", [])
            ok = [u for u in urls if u == page]
            return {
                "results": [
                    {
                        "url": u,
                        "raw_content": "Ada Lovelace was an English mathematician. She wrote the "
                        "first algorithm in 1843.",
                        "images": [],
                    }
                    for u in ok
                ],
                "failed_results": [{"url": u, "error": "Failed to fetch url"} for u in urls if u not in ok],
                "response_time": 0.4,
            }
        images = (
            [{"url": thumb, "description": "A portrait of Ada Lovelace"}] if (body or {}).get("include_images") else []
        )
        return {
            "query": (body or {}).get("query", ""),
            "follow_up_questions": None,
            "answer": None,
            "images": images,
            "results": [
                {
                    "title": "Ada Lovelace - Wikipedia",
                    "url": page,
                    "content": "Ada Lovelace was an English mathematician.",
                    "score": 0.98,
                    "raw_content": None,
                }
            ],
            "response_time": 1.1,
        }
    if api == "serve":
        if path == "/page":
            return {
                "url": params.get("url", ""),
                "title": "Ada Lovelace",
                "text": "Ada Lovelace\n\nShe wrote the first algorithm.",
            }
        if path == "/image_search":
            return {
                "results": [
                    {
                        "title": "Ada Lovelace",
                        "page_url": page,
                        "image_url": thumb,
                        "caption": "Portrait",
                        "image_id": "i0000001",
                        "score": 0.9,
                        "thumbnail_url": "/thumb/a.png",
                    }
                ]
            }
        return {
            "results": [
                {
                    "title": "Ada Lovelace",
                    "url": page,
                    "snippet": "Ada Lovelace was an English mathematician.",
                    "doc_id": "e000001",
                    "score": 7.5,
                }
            ]
        }
    raise ValueError(f"unknown api {api!r}")
