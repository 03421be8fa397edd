"""Which tesseract page segmentation mode reads DeepSearch's photographed cards: read rate and time per mode.

For ``--n`` entities of the default world it makes a ``document`` anchor (a printed card,
photographed at an angle, blurred, noisy, small) and runs the oracle's pipeline up to OCR:
``perspective_correct`` → ``super_resolution`` ×2 when the anchor needs it → ``ocr(psm=…)``.
A card is **read** when ``text_search`` of the OCR line closest to the printed name line has
the entity in its top 3 (what the oracle needs); **empty** counts reads with no text at all.
Every mode reads the same rectified images in the same run; the ratio column is the time
per call over mode 3's (tesseract's default).

    python benchmarks/ocr_psm.py [--n 300] [--modes 3 4 6 11] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from deep_search_anchor import name_line
from rich.console import Console
from rich.progress import track
from rich.table import Table

from mmsearch_gym.tasks.deep_search_anchor import make_anchor
from mmsearch_gym.tools.ocr import DEFAULT_PSM, ocr
from mmsearch_gym.tools.vision import NoQuadrilateralError, perspective_correct, super_resolution
from mmsearch_gym.world.backend import LocalWorldBackend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="cards")
    parser.add_argument("--modes", type=int, nargs="+", default=[3, 4, 6, 11])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="60 cards")
    args = parser.parse_args(argv)
    n = 60 if args.quick else args.n
    backend = LocalWorldBackend.default()
    world = backend.world
    rng = np.random.default_rng(args.seed)
    ids = list(world.entities)
    chosen = [ids[j] for j in sorted(rng.choice(len(ids), size=min(n, len(ids)), replace=False))]
    read = {m: 0 for m in args.modes}
    empty = {m: 0 for m in args.modes}
    seconds = {m: 0.0 for m in args.modes}
    for i, entity_id in enumerate(track(chosen, description="cards")):
        anchor = make_anchor(world, entity_id, "document", np.random.default_rng([args.seed, i]), backend.image_array)
        try:
            flat = perspective_correct(anchor.image)
        except NoQuadrilateralError:
            continue
        if "super_resolution" in anchor.required_tools:
            flat = super_resolution(flat, 2)
        for m in args.modes:
            t0 = time.perf_counter()
            text = ocr(flat, psm=m).text
            seconds[m] += time.perf_counter() - t0
            empty[m] += not text.strip()
            query = name_line(text, anchor.text or "").replace("\n", " ")
            read[m] += bool(query.strip()) and entity_id in [h.doc_id for h in backend.text_search(query, 5)[:3]]
    table = Table(
        title=f"OCR of {len(chosen)} photographed DeepSearch cards, default world (same images for every mode)"
    )
    for col in ("psm", "read", "empty reads", "s / call", "× psm 3"):
        table.add_column(col, justify="right")
    base = seconds.get(3) or seconds[args.modes[0]]
    for m in args.modes:
        label = f"{m}" + (" (default)" if m == DEFAULT_PSM else "") + (" (tesseract's)" if m == 3 else "")
        table.add_row(
            label,
            f"{read[m] / len(chosen):.1%}",
            str(empty[m]),
            f"{seconds[m] / len(chosen):.3f}",
            f"{seconds[m] / base:.2f}",
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
