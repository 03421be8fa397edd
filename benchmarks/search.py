"""Benchmark of the world's text search against bm25s and SQLite FTS5 on the same articles, in the same run.

For each world size (about 2k and 100k articles) it generates the world's articles, indexes
them with each engine, and runs two query sets whose answer is one known article:

- ``unique``: one unique attribute of an entity (``"postal code KV4821"``, ``"date of birth 6 May 1810"``);
- ``described``: a fuzzy description from three non-unique facts, no names, as DeepSearch
  questions read (``"person occupation astronomer signature colour blue height 167 cm"``);
  several entities may fit, so no engine can reach 1.0.

It prints index time, queries per second and recall@1/@5 per engine, with ratios to ours.
Ours is ``TextIndex.search`` as the ``text_search`` tool calls it (tantivy BM25, field
boosts, proximity pairs, snippets); bm25s uses PyStemmer when installed; FTS5 ranks OR
queries by ``bm25()`` with the same field weights and the porter stemmer.

    python benchmarks/search.py            # 2k and 100k articles (a few minutes)
    python benchmarks/search.py --quick    # 2k only
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from mmsearch_gym.world import TYPES, format_value, generate_world, make_article
from mmsearch_gym.world.text_index import TextIndex, article_doc

Query = tuple[str, str]  # (text, id of the one relevant article)
FTS5_WEIGHTS = {"title": 3.0, "aliases": 2.0, "infobox": 1.5, "body": 1.0}  # the FTS5 baseline's column weights
FIELDS = list(FTS5_WEIGHTS)


def make_queries(world, n: int, seed: int) -> dict[str, list[Query]]:
    rng = random.Random(seed)
    entities = rng.sample(list(world.iter_entities()), min(n, len(world)))
    unique, described = [], []
    for e in entities:
        spec = next(a for a in TYPES[e.type].attrs if a.unique)
        unique.append((f"{spec.label} {format_value(spec, e.attributes[spec.key])}", e.id))
        plain = [a for a in TYPES[e.type].attrs if not a.unique and a.key in e.attributes]
        facts = [f"{a.label} {format_value(a, e.attributes[a.key])}" for a in rng.sample(plain, min(3, len(plain)))]
        described.append((f"{TYPES[e.type].noun} " + " ".join(facts), e.id))
    return {"unique": unique, "described": described}


class Engine:
    name: str
    index_s: float

    def search(self, text: str, k: int) -> list[str]:
        raise NotImplementedError


class Ours(Engine):
    name = "ours (tantivy)"

    def __init__(self, docs: list[dict[str, str]], path: Path):
        start = time.perf_counter()
        self.index = TextIndex.build(docs, path)
        self.index_s = time.perf_counter() - start

    def search(self, text: str, k: int) -> list[str]:
        return [h.doc_id for h in self.index.search(text, k)]


class Bm25s(Engine):
    def __init__(self, docs: list[dict[str, str]]):
        import bm25s

        try:
            import Stemmer

            self.stemmer = Stemmer.Stemmer("english")
        except ImportError:
            self.stemmer = None
        self.name = "bm25s" + (" + PyStemmer" if self.stemmer else "")
        self.bm25s = bm25s
        start = time.perf_counter()
        corpus = [" ".join(d[f] for f in FIELDS) for d in docs]
        tokens = bm25s.tokenize(
            corpus, token_pattern=r"(?u)\b\w+\b", stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        self.retriever = bm25s.BM25()
        self.retriever.index(tokens, show_progress=False)
        self.ids = [d["doc_id"] for d in docs]
        self.index_s = time.perf_counter() - start

    def search(self, text: str, k: int) -> list[str]:
        tokens = self.bm25s.tokenize(
            [text], token_pattern=r"(?u)\b\w+\b", stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        if not tokens.vocab:
            return []
        results, _ = self.retriever.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False)
        return [self.ids[i] for i in results[0]]


class Fts5(Engine):
    name = "SQLite FTS5"

    def __init__(self, docs: list[dict[str, str]]):
        start = time.perf_counter()
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            f"CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, {', '.join(FIELDS)}, tokenize='porter unicode61')"
        )
        self.db.executemany(
            f"INSERT INTO docs VALUES (?, {', '.join('?' * len(FIELDS))})",
            ([d["doc_id"], *(d[f] for f in FIELDS)] for d in docs),
        )
        self.db.commit()
        self.weights = ", ".join(str(FTS5_WEIGHTS[f]) for f in FIELDS)
        self.index_s = time.perf_counter() - start

    def search(self, text: str, k: int) -> list[str]:
        words = re.findall(r"\w+", text.lower())
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        rows = self.db.execute(
            f"SELECT doc_id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 0, {self.weights}) LIMIT ?", (match, k)
        ).fetchall()
        return [r[0] for r in rows]


def evaluate(engine: Engine, queries: list[Query]) -> tuple[float, float, float]:
    """Queries per second, recall@1 and recall@5 (one relevant article per query)."""
    start = time.perf_counter()
    ranked = [engine.search(text, 5) for text, _ in queries]
    qps = len(queries) / (time.perf_counter() - start)
    r1 = sum(bool(r) and r[0] == gold for r, (_, gold) in zip(ranked, queries)) / len(queries)
    r5 = sum(gold in r[:5] for r, (_, gold) in zip(ranked, queries)) / len(queries)
    return qps, r1, r5


def run_size(n_entities: int, n_queries: int, seed: int, console: Console) -> Table:
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{n_entities:,} entities: generating", total=5)
        start = time.perf_counter()
        world = generate_world(n_entities, seed)
        docs = [article_doc(make_article(world, e)) for e in world.entities]
        gen_s = time.perf_counter() - start
        queries = make_queries(world, n_queries, seed)
        engines: list[Engine] = []
        with tempfile.TemporaryDirectory() as tmp:
            for make in (lambda: Ours(docs, Path(tmp) / "idx"), lambda: Bm25s(docs), lambda: Fts5(docs)):
                bar.update(task, advance=1, description=f"{n_entities:,} entities: indexing")
                engines.append(make())
            bar.update(task, advance=1, description=f"{n_entities:,} entities: querying")
            results = {e.name: {name: evaluate(e, qs) for name, qs in queries.items()} for e in engines}
    mb = sum(len(v) for d in docs for v in d.values()) / 1e6
    table = Table(
        title=f"{len(docs):,} articles ({mb:.0f} MB of text, generated in {gen_s:.1f} s) · {n_queries} queries per set"
    )
    for col in (
        "engine",
        "index s",
        "×ours",
        "unique q/s",
        "×ours",
        "R@1",
        "R@5",
        "described q/s",
        "×ours",
        "R@1",
        "R@5",
    ):
        table.add_column(col, justify="left" if col == "engine" else "right")
    ours = engines[0]
    for e in engines:
        u, d = results[e.name]["unique"], results[e.name]["described"]
        ref_u, ref_d = results[ours.name]["unique"][0], results[ours.name]["described"][0]
        table.add_row(
            e.name,
            f"{e.index_s:.2f}",
            f"{e.index_s / ours.index_s:.2f}",
            f"{u[0]:.0f}",
            f"{u[0] / ref_u:.2f}",
            f"{u[1]:.3f}",
            f"{u[2]:.3f}",
            f"{d[0]:.0f}",
            f"{d[0] / ref_d:.2f}",
            f"{d[1]:.3f}",
            f"{d[2]:.3f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the ~2k-article world")
    parser.add_argument("--sizes", type=int, nargs="+", help="entity counts (default: 2000 100000)")
    parser.add_argument("--queries", type=int, default=500, help="queries per set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = args.sizes or ([2000] if args.quick else [2000, 100_000])
    console = Console(width=None if Console().is_terminal else 150)
    for n in sizes:
        console.print(run_size(n, args.queries, args.seed, console))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
