"""BM25 text search over the world's articles and image captions with tantivy.

Fields are stemmed (tantivy's ``en_stem``); titles and aliases are boosted over the body.
Queries are reduced to words and balanced ``"quoted phrases"`` before parsing, so no
query can be a syntax error. Ties are broken by document id: results are the same on
every run and every segment layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from .model import Article, ImageInfo

FIELD_BOOSTS = {"title": 3.0, "aliases": 2.0, "infobox": 1.5, "body": 1.0}
PROXIMITY_BOOST = 1.5  # weight of each adjacent word pair of the query found as a phrase
MAX_PAIRS = 12
SNIPPET_CHARS = 240
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')


def clean_query(query: str, proximity: bool = True) -> str:
    """``query`` as tantivy query text: words, balanced quoted phrases, and (with ``proximity``)
    each adjacent pair of unquoted words again as a boosted phrase, so that words found
    next to each other (``6 May 1810``) outrank the same words scattered over a page."""
    parts, pairs = [], []
    for i, chunk in enumerate(_PHRASE.split(query) if query.count('"') % 2 == 0 else [query.replace('"', " ")]):
        words = [w.lower() for w in _WORD.findall(chunk)]
        if not words:
            continue
        if i % 2 == 1 and len(words) > 1:
            parts.append(f'"{" ".join(words)}"')
        else:
            parts.append(" ".join(words))
            pairs += [f'"{a} {b}"^{PROXIMITY_BOOST}' for a, b in pairwise(words)]
    return " ".join(parts + (pairs[:MAX_PAIRS] if proximity else []))


@dataclass(frozen=True)
class TextHit:
    doc_id: str
    title: str
    url: str
    snippet: str
    score: float


class TextIndex:
    """A tantivy index of documents with ``doc_id``, ``title``, ``aliases``, ``body`` and ``url``."""

    def __init__(self, index: Any):
        import tantivy

        self._tantivy = tantivy
        self.index = index
        self.index.reload()
        self.schema = index.schema

    @staticmethod
    def _schema() -> Any:
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("doc_id", stored=True, tokenizer_name="raw")
        sb.add_text_field("title", stored=True, tokenizer_name="en_stem")
        sb.add_text_field("aliases", stored=True, tokenizer_name="en_stem")
        sb.add_text_field("infobox", stored=True, tokenizer_name="en_stem")
        sb.add_text_field("body", stored=True, tokenizer_name="en_stem")
        sb.add_text_field("url", stored=True, tokenizer_name="raw", index_option="basic")
        return sb.build()

    @classmethod
    def build(
        cls, docs: Iterable[dict[str, str]], path: Path | None = None, heap_bytes: int = 128_000_000
    ) -> TextIndex:
        """Index dicts with keys doc_id, title, aliases, body, url (in RAM when ``path`` is None)."""
        import tantivy

        schema = cls._schema()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(schema, path=str(path))
        else:
            index = tantivy.Index(schema)
        writer = index.writer(heap_bytes, 1)
        for doc in docs:
            writer.add_document(tantivy.Document(**doc))
        writer.commit()
        writer.wait_merging_threads()
        return cls(index)

    @classmethod
    def open(cls, path: Path) -> TextIndex:
        import tantivy

        return cls(tantivy.Index.open(str(path)))

    def __len__(self) -> int:
        return int(self.index.searcher().num_docs)

    def search(self, query: str, top_k: int = 5) -> list[TextHit]:
        """The ``top_k`` best documents for ``query`` (BM25), with a snippet around the matches."""
        text = clean_query(query)
        if not text:
            return []
        parsed, _errors = self.index.parse_query_lenient(text, list(FIELD_BOOSTS), field_boosts=FIELD_BOOSTS)
        searcher = self.index.searcher()
        hits = searcher.search(parsed, top_k + 10, count=False).hits
        docs = [(float(score), searcher.doc(addr)) for score, addr in hits]
        docs.sort(key=lambda sd: (-round(sd[0], 5), sd[1]["doc_id"][0]))
        generators = []
        for field in ("body", "infobox"):
            gen = self._tantivy.SnippetGenerator.create(searcher, parsed, self.schema, field)
            gen.set_max_num_chars(SNIPPET_CHARS)
            generators.append(gen)
        out = []
        for score, doc in docs[:top_k]:
            fragments = (g.snippet_from_doc(doc).fragment().strip() for g in generators)
            body = doc["body"][0]
            snippet = next((f for f in fragments if f), body[:SNIPPET_CHARS])
            out.append(
                TextHit(doc["doc_id"][0], doc["title"][0], doc["url"][0], " ".join(snippet.split()), round(score, 5))
            )
        return out


def article_doc(article: Article) -> dict[str, str]:
    """The indexed fields of an article."""
    box = "\n".join(f"{k}: {v}" for k, v in article.infobox)
    return {
        "doc_id": article.doc_id,
        "title": article.title,
        "aliases": " ; ".join(article.aliases),
        "infobox": box,
        "body": article.body,
        "url": article.url,
    }


def caption_doc(info: ImageInfo, title: str) -> dict[str, str]:
    """The indexed fields of an image: its caption and printed text, titled by its entity's name."""
    body = info.caption + (f"\n{info.text}" if info.text else "")
    return {
        "doc_id": info.id,
        "title": title,
        "aliases": info.kind.replace("_", " "),
        "infobox": "",
        "body": body,
        "url": info.url,
    }
