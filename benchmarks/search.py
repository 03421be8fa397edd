"""Benchmark of the world's text search against bm25s and SQLite FTS5 on the same articles, in the same run.

For each world size (about 2k and 100k articles) it generates the world's articles, indexes
them with each engine, and runs two query sets whose answer is one known article:

- ``unique``: one unique attribute of an entity (``"postal code KV4821"``, ``"date of birth 6 May 1810"``);
- ``described``: a fuzzy description from three non-unique facts, no names, as DeepSearch
  questions read (``"person occupation astronomer signature colour blue height 167 cm"``);
  several entities may fit, so no engine can reach 1.0.

It prints index time, queries per second and recall@1/@5 per engine, with ratios to bm25s.
``ours`` is ``TextIndex.search_ids``: the ranking alone, which is what bm25s and FTS5 return
(ids); ``ours + snippets`` is ``TextIndex.search`` as the ``text_search`` tool calls it (it
also reads each hit's stored text and cuts a snippet around the query's words). bm25s uses
PyStemmer when installed; FTS5 ranks OR queries by ``bm25()`` with per-column weights and
the porter stemmer (at more than 20k articles on its first 100 queries only: it is slow).

Queries per second are wall-clock, measured over ``--repeats`` rounds in which the engines
take turns on the same queries (so a busy machine slows them alike); the median round counts.
The last lines check the goals: ours at least 2× bm25s's queries/s on both sets, unique
R@1 ≥ 0.95, described R@5 no lower than bm25s's.

    python benchmarks/search.py            # 2k and 100k articles (a few minutes)
    python benchmarks/search.py --quick    # 2k only
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
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
        return [doc_id for doc_id, _ in self.index.search_ids(text, k)]


class OursWithSnippets(Engine):
    name = "ours + snippets"

    def __init__(self, ours: Ours):
        self.index, self.index_s = ours.index, ours.index_s

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
    limit: int | None = None

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


def evaluate(engines: list[Engine], queries: list[Query], repeats: int) -> dict[str, tuple[float, float, float]]:
    """Per engine: queries per second (median of ``repeats`` interleaved rounds), recall@1 and recall@5."""
    rounds: dict[str, list[float]] = {e.name: [] for e in engines}
    ranked: dict[str, list[list[str]]] = {}
    for r in range(repeats):
        for e in engines if r % 2 == 0 else engines[::-1]:
            limit = getattr(e, "limit", None)  # a slow engine: one round on the first queries
            if limit is not None and r > 0:
                continue
            chosen = queries[:limit] if limit is not None else queries
            start = time.perf_counter()
            ranked[e.name] = [e.search(text, 5) for text, _ in chosen]
            rounds[e.name].append(len(chosen) / (time.perf_counter() - start))
    out = {}
    for e in engines:
        got = ranked[e.name]
        gold = [g for _, g in queries[: len(got)]]
        r1 = sum(bool(r) and r[0] == g for r, g in zip(got, gold)) / len(got)
        r5 = sum(g in r[:5] for r, g in zip(got, gold)) / len(got)
        out[e.name] = (statistics.median(rounds[e.name]), r1, r5)
    return out


def run_size(n_entities: int, n_queries: int, seed: int, repeats: int, console: Console) -> tuple[Table, list[str]]:
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"{n_entities:,} entities: generating", total=5)
        start = time.perf_counter()
        world = generate_world(n_entities, seed)
        docs = [article_doc(make_article(world, e)) for e in world.entities]
        gen_s = time.perf_counter() - start
        queries = make_queries(world, n_queries, seed)
        with tempfile.TemporaryDirectory() as tmp:
            bar.update(task, advance=1, description=f"{n_entities:,} entities: indexing")
            ours = Ours(docs, Path(tmp) / "idx")
            bar.update(task, advance=1)
            bm25s = Bm25s(docs)
            bar.update(task, advance=1)
            fts5 = Fts5(docs)
            fts5.limit = 100 if n_entities > 20_000 else None
            engines: list[Engine] = [ours, OursWithSnippets(ours), bm25s, fts5]
            bar.update(task, advance=1, description=f"{n_entities:,} entities: querying")
            results = {name: evaluate(engines, qs, repeats) for name, qs in queries.items()}
    mb = sum(len(v) for d in docs for v in d.values()) / 1e6
    table = Table(
        title=f"{len(docs):,} articles ({mb:.0f} MB of text, generated in {gen_s:.1f} s) · {n_queries} queries per set"
        f" · median of {repeats} rounds"
    )
    for col in ("engine", "index s", "unique q/s", "× bm25s", "R@1", "R@5", "described q/s", "× bm25s", "R@1", "R@5"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for e in engines:
        u, d = results["unique"][e.name], results["described"][e.name]
        ref_u, ref_d = results["unique"][bm25s.name][0], results["described"][bm25s.name][0]
        table.add_row(
            e.name, f"{e.index_s:.2f}", f"{u[0]:.0f}", f"{u[0] / ref_u:.2f}", f"{u[1]:.3f}", f"{u[2]:.3f}",
            f"{d[0]:.0f}", f"{d[0] / ref_d:.2f}", f"{d[1]:.3f}", f"{d[2]:.3f}",
        )  # fmt: skip
    u, d = results["unique"], results["described"]
    checks = [
        f"unique q/s × bm25s {u[ours.name][0] / u[bm25s.name][0]:.2f} (goal ≥ 2)",
        f"described q/s × bm25s {d[ours.name][0] / d[bm25s.name][0]:.2f} (goal ≥ 2)",
        f"unique R@1 {u[ours.name][1]:.3f} (goal ≥ 0.95)",
        f"described R@5 {d[ours.name][2]:.3f} vs bm25s {d[bm25s.name][2]:.3f} (goal: no lower)",
    ]
    ok = [
        u[ours.name][0] >= 2 * u[bm25s.name][0],
        d[ours.name][0] >= 2 * d[bm25s.name][0],
        u[ours.name][1] >= 0.95,
        d[ours.name][2] >= d[bm25s.name][2],
    ]
    return table, [("PASS " if good else "MISS ") + line for line, good in zip(checks, ok)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the ~2k-article world")
    parser.add_argument("--sizes", type=int, nargs="+", help="entity counts (default: 2000 100000)")
    parser.add_argument("--queries", type=int, default=500, help="queries per set")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds (the median counts)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = args.sizes or ([2000] if args.quick else [2000, 100_000])
    console = Console(width=None if Console().is_terminal else 150)
    for n in sizes:
        table, checks = run_size(n, args.queries, args.seed, args.repeats, console)
        console.print(table)
        for line in checks:
            console.print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
