"""BM25 text search over the world's articles and image captions with tantivy.

A document is indexed as one analysed field, ``text`` (its title, aliases, infobox and body,
stemmed with tantivy's ``en_stem``), which is how bm25s scores a document too: on the
benchmark worlds one field ranks better than per-field boosts did. Title, url, body and
infobox are stored for the hit and its snippet. A query is reduced to its words and balanced
``"quoted phrases"`` (so no query can be a syntax error), without English stop words and
without words found in more than half of the documents (``dense_share``), unless that leaves
nothing: such words weigh little in BM25 (idf < ln 2) but hold most of a long query's
postings. Scores are tantivy's BM25 (k1 = 1.2, b = 0.75); ties are broken by insertion
order, so results are the same on every run and every segment layout.

**Heavy queries.** tantivy's Python binding collects the top documents exhaustively (its
block-max WAND is not reachable from Python), so a query costs as many postings as its words
have: a dozen common words at 100k articles touch 10^5 postings, more than bm25s's numpy
scoring. A query over at most ``budget`` postings (25,000: every query of the default
2,000-article world, DeepSearch's whole questions included) is BM25 over all its words. A
heavier one is answered as web engines do: first the documents that contain every word (a
conjunction, which tantivy skips through quickly), by BM25; if fewer than ``top_k`` do, the
rest come from BM25 over the query's rarest words that fit the budget. Hits are in rank order; a hit's score is the BM25
score of the words it was ranked by. ``benchmarks/search.py`` measures both against bm25s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import Article, ImageInfo

SNIPPET_CHARS = 240
STOP_WORDS = frozenset(  # Lucene's English stop words
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "  # noqa: SIM905
    "they this to was will with".split()
)
BUDGET_POSTINGS = 25_000  # a heavier query is answered by conjunction first (see the module docstring)
DENSE_SHARE = 0.5  # words in more documents than this share are not scored (idf < ln 2)
TIE_SLACK = 5  # results fetched beyond top_k, so ties at the cut are broken by insertion order
_CACHE_MAX = 200_000  # per-word document frequencies and term queries kept
DOC_IDS = "doc_ids.json"  # written next to an index built on disk: doc_id by insertion order
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')


def query_parts(query: str) -> tuple[list[str], list[list[str]]]:
    """``query`` as lowercase words outside quotes and word lists of balanced ``"quoted phrases"``
    (unbalanced quotes are ignored). Stop words are dropped from the loose words unless that
    would leave nothing."""
    query = query.lower()
    phrases: list[list[str]] = []
    if '"' not in query:
        loose = _WORD.findall(query)
    else:
        chunks = _PHRASE.split(query) if query.count('"') % 2 == 0 else [query.replace('"', " ")]
        loose = []
        for i, chunk in enumerate(chunks):
            words = _WORD.findall(chunk)
            if i % 2 == 1 and len(words) > 1:
                phrases.append(words)
            else:
                loose += words
    kept = [w for w in loose if w not in STOP_WORDS]
    return (kept if kept or phrases else loose), phrases


@dataclass(frozen=True)
class TextHit:
    doc_id: str
    title: str
    url: str
    snippet: str
    score: float


class TextIndex:
    """A tantivy index of documents with ``doc_id``, ``title``, ``aliases``, ``infobox``, ``body`` and ``url``.

    Args:
        doc_ids: every document's id by insertion order (read from the index when not given).
        budget: postings a query may score exhaustively; heavier queries are answered by
            conjunction first (see the module docstring). ``None``: no limit.
        dense_share: words in more than this share of the documents are left out of a query
            that has other words. ``None``: every word is scored.
    """

    def __init__(
        self,
        index: Any,
        doc_ids: list[str] | None = None,
        budget: int | None = BUDGET_POSTINGS,
        dense_share: float | None = DENSE_SHARE,
    ):
        import tantivy

        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise ValueError(f"budget must be a positive number of postings or None, got {budget!r}")
        if dense_share is not None and not (isinstance(dense_share, (int, float)) and 0 < dense_share <= 1):
            raise ValueError(f"dense_share must be in (0, 1] or None, got {dense_share!r}")
        self._tantivy = tantivy
        self.index = index
        self.index.reload()
        self.schema = index.schema
        try:
            tantivy.Query.term_query(self.schema, "text", "x")
        except ValueError:
            raise ValueError("this text index predates the one-field layout; rebuild the world") from None
        self.budget, self.dense_share = budget, dense_share
        self.searcher = index.searcher()  # the index is read-only once built: one searcher serves every query
        self._n_docs = int(self.searcher.num_docs)
        self._one_segment = self.searcher.num_segments == 1
        self.doc_ids = doc_ids if doc_ids is not None else self._read_doc_ids()
        self._analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stemmer("english"))
            .build()
        )  # = tantivy's en_stem, which the index uses
        self._df: dict[str, int] = {}
        self._terms: dict[str, Any] = {}

    def _read_doc_ids(self) -> list[str]:
        """Every document's ``doc_id`` by insertion order (an index built without its ``doc_ids.json``)."""
        hits = self.searcher.search(self._tantivy.Query.all_query(), max(self._n_docs, 1), count=False).hits
        addresses = [addr for _, addr in hits]
        ids = [""] * self._n_docs
        for order, addr in zip(self.searcher.fast_field_values("ord", addresses), addresses):
            ids[int(order)] = self.searcher.doc(addr)["doc_id"][0]
        return ids

    @staticmethod
    def _schema() -> Any:
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("doc_id", stored=True, tokenizer_name="raw", index_option="basic")
        sb.add_text_field("text", stored=False, tokenizer_name="en_stem")
        sb.add_text_field("title", stored=True, tokenizer_name="raw", index_option="basic")
        sb.add_text_field("url", stored=True, tokenizer_name="raw", index_option="basic")
        # indexed (doc ids only) so that snippets can weigh the query's words in them
        sb.add_text_field("body", stored=True, tokenizer_name="en_stem", index_option="basic")
        sb.add_text_field("infobox", stored=True, tokenizer_name="en_stem", index_option="basic")
        sb.add_unsigned_field("ord", stored=False, indexed=False, fast=True)
        return sb.build()

    @classmethod
    def build(
        cls, docs: Iterable[dict[str, str]], path: Path | None = None, heap_bytes: int = 128_000_000
    ) -> TextIndex:
        """Index dicts with keys doc_id, title, aliases, infobox, body, url (in RAM when ``path`` is None)."""
        import tantivy

        schema = cls._schema()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(schema, path=str(path))
        else:
            index = tantivy.Index(schema)
        writer = index.writer(heap_bytes, 1)
        doc_ids = []
        for i, doc in enumerate(docs):
            text = "\n".join(doc.get(f, "") for f in ("title", "aliases", "infobox", "body"))
            d = tantivy.Document(
                doc_id=doc["doc_id"], text=text, title=doc["title"], url=doc["url"],
                body=doc.get("body", ""), infobox=doc.get("infobox", ""),
            )  # fmt: skip
            d.add_unsigned("ord", i)
            writer.add_document(d)
            doc_ids.append(doc["doc_id"])
        writer.commit()
        writer.wait_merging_threads()
        if path is not None:
            (path / DOC_IDS).write_text(json.dumps(doc_ids))
        return cls(index, doc_ids)

    @classmethod
    def open(cls, path: Path, **options: Any) -> TextIndex:
        """The index built at ``path``; ``options`` are ``budget`` and ``dense_share``."""
        import tantivy

        ids_file = Path(path) / DOC_IDS
        doc_ids = json.loads(ids_file.read_text()) if ids_file.exists() else None
        return cls(tantivy.Index.open(str(path)), doc_ids, **options)

    def __len__(self) -> int:
        return self._n_docs

    # ---- ranking ------------------------------------------------------------------------------
    def _stems(self, words: list[str]) -> list[str]:
        return self._analyzer.analyze(" ".join(words)) if words else []

    def _term(self, stem: str) -> Any:
        term = self._terms.get(stem)
        if term is None:
            term = self._tantivy.Query.term_query(self.schema, "text", stem)
            if len(self._terms) >= _CACHE_MAX:
                self._terms.clear()
            self._terms[stem] = term
        return term

    def _doc_freq(self, stem: str) -> int:
        df = self._df.get(stem)
        if df is None:
            df = int(self.searcher.doc_freq("text", stem))
            if len(self._df) >= _CACHE_MAX:
                self._df.clear()
            self._df[stem] = df
        return df

    def _top(self, stems: list[str], limit: int, phrases: list[list[str]] = (), every_word: bool = False) -> list:
        q, occur = self._tantivy.Query, self._tantivy.Occur
        how, terms = (occur.Must if every_word else occur.Should), self._terms
        clauses = [(how, terms.get(s) or self._term(s)) for s in stems]
        clauses += [(occur.Should, q.phrase_query(self.schema, "text", p)) for p in phrases]
        hits = self.searcher.search(q.boolean_query(clauses), limit, count=False).hits
        if self._one_segment:  # tantivy breaks ties by address, which is insertion order in one segment
            return [(s, a.doc, a) for s, a in hits]
        order = self.searcher.fast_field_values("ord", [addr for _, addr in hits]) if hits else []
        return sorted(((s, o, a) for (s, a), o in zip(hits, order)), key=lambda h: (-h[0], h[1]))

    def _ranked(self, query: str, top_k: int) -> list[tuple[float, int, Any]]:
        """``(score, insertion order, address)`` of the best ``top_k`` documents, best first."""
        words, phrases = query_parts(query)
        phrase_stems = [self._stems(p) for p in phrases]
        stems = list(dict.fromkeys(self._stems(words) + [p[0] for p in phrase_stems if len(p) == 1]))
        phrase_stems = [p for p in phrase_stems if len(p) > 1]
        if not stems and not phrase_stems:
            return []
        limit = top_k if self._one_segment else top_k + TIE_SLACK
        if self.dense_share is not None and len(stems) > 1:
            stems = [s for s in stems if self._doc_freq(s) <= self.dense_share * self._n_docs] or stems
        heavy = (
            self.budget is not None and not phrase_stems and len(stems) > 1 and len(stems) * self._n_docs > self.budget
        )
        if heavy:
            freqs = {s: self._doc_freq(s) for s in stems}
            heavy = sum(freqs.values()) > self.budget
        if not heavy:
            return self._top(stems, limit, phrase_stems)[:top_k]
        every = self._top(stems, limit, every_word=True)
        if len(every) >= top_k:
            return every[:top_k]
        rarest, postings = [], 0
        for s in sorted(stems, key=lambda s: (freqs[s], s)):
            if rarest and postings + freqs[s] > self.budget:
                break
            rarest.append(s)
            postings += freqs[s]
        seen = {order for _, order, _ in every}
        return (every + [h for h in self._top(rarest, limit) if h[1] not in seen])[:top_k]

    def search_ids(self, query: str, top_k: int = 5) -> list[tuple[str, float]]:
        """``(doc_id, score)`` of the ``top_k`` best documents for ``query``, best first (no snippets)."""
        return [(self.doc_ids[order], round(score, 5)) for score, order, _ in self._ranked(query, top_k)]

    def search(self, query: str, top_k: int = 5) -> list[TextHit]:
        """The ``top_k`` best documents for ``query`` (BM25), with a snippet around the matches."""
        ranked = self._ranked(query, top_k)
        if not ranked:
            return []
        words, phrases = query_parts(query)
        stems = list(dict.fromkeys(self._stems(words + [w for p in phrases for w in p])))
        generators: dict[str, Any] = {}
        out = []
        for score, _, addr in ranked:
            doc = self.searcher.doc(addr)
            snippet = ""
            for field in ("body", "infobox"):
                if field not in generators:
                    generators[field] = self._snippets(stems, field)
                if doc[field] and (snippet := generators[field].snippet_from_doc(doc).fragment().strip()):
                    break
            snippet = snippet or (doc["body"][0] if doc["body"] else "")[:SNIPPET_CHARS]
            out.append(
                TextHit(doc["doc_id"][0], doc["title"][0], doc["url"][0], " ".join(snippet.split()), round(score, 5))
            )
        return out

    def _snippets(self, stems: list[str], field: str) -> Any:
        q, occur = self._tantivy.Query, self._tantivy.Occur
        query = q.boolean_query([(occur.Should, q.term_query(self.schema, field, s)) for s in stems])
        gen = self._tantivy.SnippetGenerator.create(self.searcher, query, self.schema, field)
        gen.set_max_num_chars(SNIPPET_CHARS)
        return gen


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
