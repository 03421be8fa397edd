"""Reverse image search on the default world: milliseconds per query and recall, against the index it replaced.

Both indexes are built from the same world images in this run: ``ours`` is
:class:`mmsearch_gym.world.image_index.ImageIndex` (one descriptor matrix, views from shared
summed-area tables, a short list re-ranked by aligning each image's best view); ``before`` is
the previous index (``benchmarks/image_index_v1.py``: per-aspect views, then template
matching of 40 candidates at 15 scales and rotations). Query sets:

- ``photos``: the world's degraded photos (shot at an angle in clutter, blurred, noisy, low
  resolution, JPEG; not indexed): every ``--stride``-th one;
- ``scene crops``: DeepSearch scene anchors cropped to their picture (what the oracle searches);
- ``renders``: indexed images searched unchanged.

A query counts as found at k when the right entity owns one of the first k images. The two
indexes take turns on every query, so a busy machine slows them alike; wall ms is the mean
per query, CPU ms the process time; the ratio column is before / ours.

    python benchmarks/image_search.py [--stride 10] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from image_index_v1 import ImageIndex as ImageIndexV1
from rich.console import Console
from rich.progress import track
from rich.table import Table

from mmsearch_gym.tasks.deep_search_anchor import anchor_kinds_for, make_anchor
from mmsearch_gym.world.backend import LocalWorldBackend
from mmsearch_gym.world.image_index import ImageIndex


def query_sets(backend: LocalWorldBackend, stride: int) -> dict[str, list[tuple[str, np.ndarray]]]:
    """``(entity id, image)`` queries per set."""
    world = backend.world
    photos = [i for i in world.images.values() if i.kind == "photo"][::stride]
    rng = np.random.default_rng(0)
    scene_entities = [e for e in world.entities if "scene" in anchor_kinds_for(world, e)][:: 2 * stride]
    crops = []
    for entity_id in scene_entities:
        anchor = make_anchor(world, entity_id, "scene", rng, backend.image_array)
        x, y, w, h = anchor.bbox
        crops.append((entity_id, anchor.image[y : y + h, x : x + w].copy()))
    renders = [i for i in world.images.values() if i.indexed][:: 3 * stride]
    return {
        "photos": [(i.entity_id, backend.image_array(i.id)) for i in photos],
        "scene crops": crops,
        "renders": [(i.entity_id, backend.image_array(i.id)) for i in renders],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stride", type=int, default=10, help="every stride-th photo (2,000 in the default world)")
    parser.add_argument("--quick", action="store_true", help="--stride 40")
    args = parser.parse_args(argv)
    stride = 40 if args.quick else args.stride
    console = Console()
    backend = LocalWorldBackend.default()
    world = backend.world
    ids = backend.image_index.ids
    t0 = time.perf_counter()
    ours = ImageIndex.build((i, backend.image_array(i)) for i in ids)
    ours_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    before = ImageIndexV1.build((i, backend.image_array(i)) for i in ids)
    before_build = time.perf_counter() - t0
    indexes = {"ours": ours, "before": before}
    table = Table(title=f"Reverse image search over the default world's {len(ids):,} indexed images")
    for col in ("queries", "n", "index", "wall ms", "CPU ms", "top-1", "top-5", "× ours (time)"):
        table.add_column(col, justify="left" if col in ("queries", "index") else "right")
    for name, queries in query_sets(backend, stride).items():
        wall = {k: 0.0 for k in indexes}
        cpu = {k: 0.0 for k in indexes}
        top1 = {k: 0 for k in indexes}
        top5 = {k: 0 for k in indexes}
        for q, (entity_id, image) in enumerate(track(queries, description=name, console=console)):
            for key in list(indexes) if q % 2 == 0 else list(indexes)[::-1]:
                w0, c0 = time.perf_counter(), time.process_time()
                hits = indexes[key].search(image, 5)
                wall[key] += time.perf_counter() - w0
                cpu[key] += time.process_time() - c0
                owners = [world.images[image_id].entity_id for image_id, _ in hits]
                top1[key] += owners[:1] == [entity_id]
                top5[key] += entity_id in owners
        n = len(queries)
        for key in indexes:
            table.add_row(
                name, str(n), key, f"{1000 * wall[key] / n:.1f}", f"{1000 * cpu[key] / n:.1f}",
                f"{top1[key] / n:.1%}", f"{top5[key] / n:.1%}", f"{wall[key] / wall['ours']:.1f}",
            )  # fmt: skip
    console.print(table)
    console.print(f"index build: ours {ours_build:.1f} s, before {before_build:.1f} s (same images)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
