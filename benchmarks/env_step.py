"""Maze-v0 step throughput: a drawing tool call and a malformed turn, next to raw PIL drawing.

    python benchmarks/env_step.py [--turns N] [--repeats R] [--size S] [--seed SEED]

Rows, all measured in the same run on the same maze image:

- ``path_tracer``: ``env.step`` with a ``<tool_call>`` that traces the shortest route from S to
  G (one segment per straight run, as the oracle draws it): parsing, schema and bounds
  checks, the drawing, storing the new image, the episode record and ``info``.
- ``malformed``: ``env.step`` with a turn whose tool-call JSON is broken (a parse error).
- ``raw PIL``: the same segments drawn with ``ImageDraw`` on the same image (lines of width 4,
  then red start / blue end dots of radius 5, as the tool draws them), numpy in and out.

Each timed block runs ``block`` consecutive turns of one episode (episodes are VILASR's 10
turns long, the last of which may only answer, so a block is at most 8 turns; the reset
between blocks is not timed). The per-turn time of a row is the median over ``repeats``
blocks after a warm-up; the ratio column is that time over the raw PIL time.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

import mmsearch_gym  # noqa: F401  (registers the ids)

ENV_ID = "mmsearch_gym/Maze-v0"
LINE_WIDTH, DOT_RADIUS = 4, 5  # VILASR's drawing style (PAPERS.md)
MALFORMED = '<think>I trace the route.</think><tool_call>{"name": "path_tracer", "arguments": {"paths": [</tool_call>'


def route_segments(env: gym.Env) -> list[dict]:
    """The shortest route as path_tracer segments between cell centres, one per straight run."""
    base = env.unwrapped
    maze, geometry = base.maze, base.geometry
    deltas = {"U": (-1, 0), "R": (0, 1), "D": (1, 0), "L": (0, -1)}
    segments, cell, i, moves = [], maze.start, 0, maze.solution
    while i < len(moves):
        j = i
        while j < len(moves) and moves[j] == moves[i]:
            j += 1
        dr, dc = deltas[moves[i]]
        nxt = (cell[0] + dr * (j - i), cell[1] + dc * (j - i))
        segments.append({"start_point_2d": list(geometry.center(cell)), "end_point_2d": list(geometry.center(nxt)),
                         "label": f"step {len(segments) + 1}"})
        cell, i = nxt, j
    assert cell == maze.goal
    return segments


def pil_draw(image: np.ndarray, segments: list[dict]) -> np.ndarray:
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for s in segments:
        draw.line([tuple(s["start_point_2d"]), tuple(s["end_point_2d"])], fill=(0, 0, 0), width=LINE_WIDTH)
    for s in segments:
        for (x, y), color in ((s["start_point_2d"], (230, 25, 25)), (s["end_point_2d"], (25, 60, 230))):
            draw.ellipse([x - DOT_RADIUS, y - DOT_RADIUS, x + DOT_RADIUS, y + DOT_RADIUS], fill=color)
    return np.asarray(canvas)


def time_env(
    env: gym.Env, seed: int, action: str, block: int, repeats: int, warmup: int, check: Callable
) -> list[float]:
    """Seconds per turn of each timed block of ``block`` steps with ``action``."""
    per_turn = []
    for r in range(warmup + repeats):
        env.reset(seed=seed)
        t0 = time.perf_counter()
        for _ in range(block):
            result = env.step(action)
        elapsed = time.perf_counter() - t0
        check(result)
        if r >= warmup:
            per_turn.append(elapsed / block)
    return per_turn


def time_pil(image: np.ndarray, segments: list[dict], block: int, repeats: int, warmup: int) -> list[float]:
    per_turn = []
    for r in range(warmup + repeats):
        t0 = time.perf_counter()
        for _ in range(block):
            out = pil_draw(image, segments)
        elapsed = time.perf_counter() - t0
        assert out.shape == image.shape
        if r >= warmup:
            per_turn.append(elapsed / block)
    return per_turn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=2000, help="timed turns per row (default 2000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed blocks per row (default turns / 8)")
    parser.add_argument("--size", type=int, default=9, help="maze side in cells (default 9, the largest default size)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")

    env = gym.make(ENV_ID, size=args.size, question_types=("moves",), max_turns=10, fatal_k=10)
    max_block = env.unwrapped.max_turns - 2  # the last turn may only answer; stay clear of it
    block = min(max_block, args.turns)
    repeats = args.repeats or max(1, args.turns // block)
    warmup = max(2, repeats // 10)

    obs, _ = env.reset(seed=args.seed)
    image = np.array(obs["images"][0])
    segments = route_segments(env)
    draw_action = (
        "<think>I trace the route from S to G.</think>"
        f"<tool_call>{json.dumps({'name': 'path_tracer', 'arguments': {'image': 'img_1', 'paths': segments}})}</tool_call>"
    )

    # The env's drawing is the same as the raw one, so that the rows compare like with like.
    env.reset(seed=args.seed)
    drawn = env.step(draw_action)[0]["images"][0]
    same = np.array_equal(drawn, pil_draw(image, segments))

    def drew(result) -> None:
        assert result[4]["step_error"] is None, result[4]["error_message"]
        assert len(result[0]["images"]) == 1

    def failed(result) -> None:
        assert result[4]["step_error"] == "parse" and not result[2]

    t_draw = time_env(env, args.seed, draw_action, block, repeats, warmup, drew)
    t_bad = time_env(env, args.seed, MALFORMED, block, repeats, warmup, failed)
    t_pil = time_pil(image, segments, block, repeats, warmup)
    env.close()

    pil = statistics.median(t_pil)
    table = Table(
        title=f"Maze-v0 turns/s: {args.size}×{args.size} maze, {image.shape[1]}×{image.shape[0]} px, "
        f"{len(segments)} segments; median of {repeats} blocks of {block} turns",
    )
    table.add_column("case")
    table.add_column("turns/s", justify="right")
    table.add_column("µs/turn", justify="right")
    table.add_column("IQR µs", justify="right")
    table.add_column("time / raw PIL", justify="right")
    for name, samples in (
        ("env.step: path_tracer call", t_draw),
        ("env.step: malformed turn", t_bad),
        ("raw PIL drawing (same path)", t_pil),
    ):
        med = statistics.median(samples)
        q = np.percentile(np.array(samples) * 1e6, [25, 75])
        table.add_row(name, f"{1 / med:,.0f}", f"{med * 1e6:,.1f}", f"{q[0]:,.0f}–{q[1]:,.0f}", f"{med / pil:.2f}×")
    console = Console()
    console.print(table)
    console.print(
        f"env drawing identical to the raw PIL drawing: {same}; python {platform.python_version()}, "
        f"numpy {np.__version__}, Pillow {Image.__version__}, gymnasium {gym.__version__}"
    )


if __name__ == "__main__":
    main()
