"""How findable DeepSearch anchor images are, before and after their perception tools.

For each anchor kind (``mmsearch_gym.tasks.deep_search_anchor``) it makes anchors for
``--n`` entities of a built world and measures:

- **raw top-1**: reverse ``image_search`` of the anchor as given finds the entity at top-1;
- **after tools**: the anchor's ``required_tools`` run for real: ``render``/``photo`` are
  the same search; ``scene`` crops to ``bbox`` and searches (top-1); ``document`` runs
  ``perspective_correct`` → (``super_resolution`` ×2 when required) → ``ocr`` →
  ``text_search(ocr text, 5)`` and counts the entity's page in the top 3 (the whole
  OCR text is the query; ``name line`` is the same with only the OCR line that best
  matches the printed name line);
- **SR skipped**: of the documents whose tools include ``super_resolution``, the share
  found when OCR runs without it (why it is required);
- **render top-1**: for the same entities, reverse search of the entity's own main render:
  the best the image index allows (a few renders lose to a look-alike even unchanged);
- **make s**: mean seconds to make one anchor; **tools s**: mean seconds of its whole
  pipeline (searches included; for ``render``/``photo`` the one search).

    python benchmarks/deep_search_anchor.py                  # 100 entities per kind, 2000-entity world
    python benchmarks/deep_search_anchor.py --quick          # 20 per kind, 300-entity world
    python benchmarks/deep_search_anchor.py --n 100 --entities 300
"""

from __future__ import annotations

import argparse
import difflib
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mmsearch_gym.tasks.deep_search_anchor import ANCHOR_KINDS, Anchor, anchor_kinds_for, make_anchor
from mmsearch_gym.tools.vision import NoQuadrilateralError, crop, ocr, perspective_correct, super_resolution
from mmsearch_gym.world import build_world
from mmsearch_gym.world.backend import LocalWorldBackend


def top1_entity(backend: LocalWorldBackend, image: np.ndarray) -> str | None:
    hits = backend.image_search(image=image, top_k=1)
    return backend.world.images[hits[0].image_id].entity_id if hits else None


def read_document(anchor: Anchor, upscale: bool | None = None) -> str:
    """The anchor's perception tools up to OCR ('' when no quadrilateral is found); ``upscale``
    overrides whether super_resolution ×2 runs (default: when the anchor requires it)."""
    try:
        flat = perspective_correct(anchor.image)
    except NoQuadrilateralError:
        return ""
    if "super_resolution" in anchor.required_tools if upscale is None else upscale:
        flat = super_resolution(flat, 2)
    return ocr(flat).text


def name_line(ocr_text: str, printed: str) -> str:
    """The OCR line most like the printed name line (the sign's second line, else the first)."""
    lines = printed.split("\n")
    target = lines[1] if lines[0] == "WELCOME TO" else lines[0]
    read = [ln for ln in ocr_text.split("\n") if ln.strip()]
    if not read:
        return ""
    return max(read, key=lambda ln: difflib.SequenceMatcher(None, ln.casefold(), target.casefold()).ratio())


def in_top3(backend: LocalWorldBackend, query: str, entity_id: str) -> bool:
    if not query.strip():
        return False
    return entity_id in [h.doc_id for h in backend.text_search(query.replace("\n", " "), 5)[:3]]


def measure(backend: LocalWorldBackend, kind: str, entity_ids: list[str], seed: int) -> dict[str, float]:
    world = backend.world
    raw, after, names, ceiling, make_s, tools_s, sr, no_sr, difficulty = [], [], [], [], [], [], [], [], []
    for i, eid in enumerate(entity_ids):
        rng = np.random.default_rng([seed, i])
        t0 = time.perf_counter()
        anchor = make_anchor(world, eid, kind, rng, backend.image_array)
        make_s.append(time.perf_counter() - t0)
        difficulty.append(anchor.difficulty)
        t0 = time.perf_counter()
        raw.append(top1_entity(backend, anchor.image) == eid)
        raw_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if kind in ("render", "photo"):  # the pipeline is the search itself
            after.append(raw[-1])
            tools_s.append(raw_s)
        elif kind == "scene":
            x, y, w, h = anchor.bbox
            after.append(top1_entity(backend, crop(anchor.image, x, y, w, h)) == eid)
            tools_s.append(time.perf_counter() - t0)
        else:
            text = read_document(anchor)
            after.append(in_top3(backend, text, eid))
            tools_s.append(time.perf_counter() - t0)
            names.append(in_top3(backend, name_line(text, anchor.text or ""), eid))
            sr.append("super_resolution" in anchor.required_tools)
            if sr[-1]:  # would OCR have done without it?
                no_sr.append(in_top3(backend, read_document(anchor, upscale=False), eid))
        if kind != "document":  # what the index itself allows: the entity's own main render, searched
            main = make_anchor(world, eid, "render", rng, backend.image_array)
            ceiling.append(top1_entity(backend, main.image) == eid)

    def mean(xs: list) -> float:
        return float(np.mean(xs)) if xs else float("nan")

    return {
        "n": len(entity_ids),
        "raw": mean(raw),
        "after": mean(after),
        "names": mean(names),
        "ceiling": mean(ceiling),
        "sr": mean(sr),
        "no_sr": mean(no_sr),
        "difficulty": mean(difficulty),
        "make_s": statistics.mean(make_s),
        "tools_s": statistics.mean(tools_s),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="entities per anchor kind")
    parser.add_argument("--entities", type=int, default=None, help="world size (default 2000; 300 with --quick)")
    parser.add_argument("--quick", action="store_true", help="20 entities per kind on a 300-entity world")
    parser.add_argument("--world-seed", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0, help="seed of the anchors and of the entity sample")
    parser.add_argument("--kinds", nargs="+", default=list(ANCHOR_KINDS), choices=ANCHOR_KINDS)
    parser.add_argument("--world", type=Path, help="a built world folder to use instead of building one")
    args = parser.parse_args(argv)
    n = 20 if args.quick and args.n == parser.get_default("n") else args.n
    size = args.entities or (300 if args.quick else 2000)
    console = Console(width=140)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = args.world or build_world(Path(tmp) / "world", size, args.world_seed)
        backend = LocalWorldBackend(path)
        console.print(f"world: {len(backend.world)} entities at {path} ({time.perf_counter() - t0:.1f} s)")
        table = Table(title=f"DeepSearch anchors: {n} entities per kind, {len(backend.world)}-entity world")
        for col in (
            "kind",
            "n",
            "raw top-1",
            "after tools",
            "render top-1",
            "name line",
            "needs SR",
            "SR skipped",
            "difficulty",
            "make s",
            "tools s",
        ):
            table.add_column(col, justify="left" if col == "kind" else "right")
        sampler = np.random.default_rng(args.seed)
        for kind in args.kinds:
            pool = [eid for eid in backend.world.entities if kind in anchor_kinds_for(backend.world, eid)]
            chosen = [pool[j] for j in sorted(sampler.choice(len(pool), size=min(n, len(pool)), replace=False))]
            r = measure(backend, kind, chosen, args.seed)

            def pct(v: float) -> str:
                return "–" if math.isnan(v) else f"{100 * v:.0f}%"

            table.add_row(
                kind,
                str(r["n"]),
                pct(r["raw"]),
                pct(r["after"]),
                pct(r["ceiling"]),
                pct(r["names"]),
                pct(r["sr"]),
                pct(r["no_sr"]),
                f"{r['difficulty']:.2f}",
                f"{r['make_s']:.3f}",
                f"{r['tools_s']:.3f}",
            )
            console.print(f"{kind}: done")
        console.print(table)
        console.print(
            "raw top-1: reverse image_search of the anchor finds the entity first. after tools: render/photo the "
            "same; scene crop(bbox) → image_search top-1; document perspective_correct → \\[super_resolution ×2] → "
            "ocr → text_search(ocr text) has the entity in the top 3 (name line: only the OCR line nearest the "
            "printed name). render top-1: the entity's own main render searched, for the same entities (what the "
            "index allows at best). SR skipped: documents that need super_resolution, found without it. tools s: "
            "the whole pipeline, searches included."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
