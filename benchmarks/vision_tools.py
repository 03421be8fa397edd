"""Latency of the vision tools at 512² and 2048², and what the tool layer costs on top of the bare op.

For each tool and size, in the same run and interleaved:

- **tool call**: the whole env path: parse the model's turn (default grammar), validate the
  arguments (schema, image id, pixel limits), run, store the new image, word the answer;
- **function**: the pure function in ``mmsearch_gym.tools.vision``;
- **bare op**: the plain OpenCV / numpy / tesseract call the tool is built on (for
  super-resolution, the Lanczos resize our classical method starts from; for OCR,
  pytesseract's ``image_to_data``, single-threaded like the tool).

``tool/fn`` is the overhead of the tool layer; ``tool/bare`` adds what the method itself
costs over the plain op (``tool − fn``: the tool layer in ms). Medians of ``--repeats`` interleaved runs after one warm-up round
(fewer for super-resolution and OCR, the slow ones).

    python benchmarks/vision_tools.py            # both sizes, < 2 min on 2 cores
    python benchmarks/vision_tools.py --quick    # fewer repeats
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import pytesseract
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table

from mmsearch_gym.core import DefaultGrammar, ImageStore, ToolContext
from mmsearch_gym.tools.vision import (
    CropTool, OcrTool, PerspectiveCorrectTool, SharpenTool, SuperResolutionTool, crop, find_quadrilateral, ocr,
    perspective_correct, sharpen, super_resolution,
)

SR_SCALE = 2  # 2048² × 4 would be 67 MP; ×2 keeps both sizes comparable
WORDS = ["harbor", "museum", "platform", "express", "quartz", "lantern", "velvet", "gate", "north", "departs", "daily"]


def render_page(side: int, seed: int = 0) -> np.ndarray:
    """A page of text lines filling a side × side image."""
    rng = np.random.default_rng(seed)
    page = Image.new("RGB", (side, side), (250, 248, 240))
    draw, px = ImageDraw.Draw(page), max(12, side // 24)
    font = ImageFont.load_default(size=px)
    for y in range(px, side - 2 * px, int(px * 1.6)):
        draw.text((px, y), " ".join(rng.choice(WORDS, 8)), fill=(20, 20, 30), font=font)
    return np.asarray(page)


def photograph(page: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The page warped onto a background of the same size; returns the photo and the homography."""
    side = page.shape[0]
    src = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
    dst = np.float32([[0.12, 0.08], [0.9, 0.14], [0.86, 0.93], [0.08, 0.88]]) * side
    matrix = cv2.getPerspectiveTransform(src, dst)
    background = np.full_like(page, (70, 90, 110))
    return cv2.warpPerspective(page, matrix, (side, side), dst=background, borderMode=cv2.BORDER_TRANSPARENT), matrix


def timed(calls: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time (ms) of each call, run interleaved ``repeats`` times after one warm-up round."""
    times: list[list[float]] = [[] for _ in calls]
    for round_ in range(repeats + 1):
        for fn, out in zip(calls, times):
            start = time.perf_counter()
            fn()
            if round_:
                out.append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in times]


def single_threaded(fn: Callable[[], object]) -> object:
    """Run ``fn`` with OMP_THREAD_LIMIT=1 in the environment tesseract inherits, as the OCR tool does."""
    before = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        return fn()
    finally:
        if before is None:
            del os.environ["OMP_THREAD_LIMIT"]
        else:
            os.environ["OMP_THREAD_LIMIT"] = before


def tool_call(tool, arguments: dict, image: np.ndarray) -> Callable[[], object]:
    """The env path for one turn: parse, validate, run, store (a fresh store holding the input)."""
    grammar = DefaultGrammar()
    turn = f'<think>look</think><tool_call>{json.dumps({"name": tool.name, "arguments": arguments})}</tool_call>'

    def run():
        store = ImageStore(max_side=8192, max_pixels=64_000_000)
        store.add(image)
        parsed = grammar.parse(turn)
        return tool(parsed.arguments, ToolContext(images=store, rng=np.random.default_rng(0)))

    return run


def bench(side: int, repeats: int, ocr_repeats: int) -> list[tuple]:
    big = {"max_input_pixels": 64_000_000}
    page = render_page(side)
    photo, _ = photograph(page)
    rng = np.random.default_rng(1)
    noisy = np.clip(cv2.GaussianBlur(page, (0, 0), 1.2) + rng.normal(0, 3, page.shape), 0, 255).astype(np.uint8)
    h = side // 2
    x = y = side // 4
    corners = find_quadrilateral(photo)
    tl, tr, _, bl = corners
    w_out, h_out = int(np.linalg.norm(tr - tl)), int(np.linalg.norm(bl - tl))
    warp_matrix = cv2.getPerspectiveTransform(corners, np.float32([[0, 0], [w_out, 0], [w_out, h_out], [0, h_out]]))
    gray = Image.fromarray(cv2.cvtColor(page, cv2.COLOR_RGB2GRAY))
    rows = []
    cases = [
        ("crop", CropTool(**big), {"image": "img_1", "x": x, "y": y, "width": h, "height": h}, page,
         lambda: crop(page, x, y, h, h), "numpy slice + copy", lambda: page[y : y + h, x : x + h].copy(), repeats),
        ("sharpen", SharpenTool(**big), {"image": "img_1", "amount": 1.5}, noisy,
         lambda: sharpen(noisy, 1.5), "GaussianBlur + addWeighted",
         lambda: cv2.addWeighted(noisy, 2.5, cv2.GaussianBlur(noisy, (0, 0), 1.0), -1.5, 0), repeats),
        ("super_resolution", SuperResolutionTool(max_output_pixels=64_000_000, **big), {"image": "img_1", "scale": SR_SCALE}, noisy,
         lambda: super_resolution(noisy, SR_SCALE), f"resize Lanczos ×{SR_SCALE}",
         lambda: cv2.resize(noisy, None, fx=SR_SCALE, fy=SR_SCALE, interpolation=cv2.INTER_LANCZOS4), max(1, repeats // 2)),
        ("perspective_correct", PerspectiveCorrectTool(**big), {"image": "img_1"}, photo,
         lambda: perspective_correct(photo), "warpPerspective (known corners)",
         lambda: cv2.warpPerspective(photo, warp_matrix, (w_out, h_out), flags=cv2.INTER_CUBIC), repeats),
        ("ocr", OcrTool(timeout_s=120, **big), {"image": "img_1"}, page,
         lambda: ocr(page, timeout_s=120), "pytesseract image_to_data",
         lambda: single_threaded(lambda: pytesseract.image_to_data(gray, lang="eng")), ocr_repeats),
    ]
    for name, tool, arguments, image, function, bare_name, bare, n in cases:
        t_tool, t_fn, t_bare = timed([tool_call(tool, arguments, image), function, bare], n)
        rows.append((f"{side}²", name, t_tool, t_fn, bare_name, t_bare))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (about 4× faster)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 5, quick 2)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    ocr_repeats = 1 if args.quick else max(1, repeats // 2)
    console = Console(width=140)
    start = time.perf_counter()
    rows = [row for side in args.sizes for row in bench(side, repeats, ocr_repeats)]
    table = Table(title=f"vision tools: median latency (ms), {repeats} repeats ({ocr_repeats} for OCR)")
    for col in ("size", "tool", "tool call", "function", "bare op", "bare", "tool − fn", "tool/fn", "tool/bare"):
        table.add_column(col, justify="left" if col in ("size", "tool", "bare op") else "right")
    for size, name, t_tool, t_fn, bare_name, t_bare in rows:
        table.add_row(size, name, f"{t_tool:.2f}", f"{t_fn:.2f}", bare_name, f"{t_bare:.2f}", f"{t_tool - t_fn:+.2f}",
                      f"{t_tool / t_fn:.2f}×", f"{t_tool / t_bare:.2f}×")
    console.print(table)
    version = pytesseract.get_tesseract_version()
    console.print(
        f"OpenCV {cv2.__version__}, tesseract {version}, {os.cpu_count()} CPUs; "
        f"super_resolution at ×{SR_SCALE}; total {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
