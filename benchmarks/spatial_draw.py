"""SpatialDraw-v0: speed against the bare renderer / PIL call, and oracle / blind / random accuracy
per scale and per task type against chance.

    python benchmarks/spatial_draw.py [--quick] [--n 300] [--json FILE]
    python benchmarks/spatial_draw.py --priors      # the blind agent's PRIORS table, from a training set
    python benchmarks/spatial_draw.py --examples docs/spatial_draw   # two rendered scenes per scale

Accuracy is VILASR's: exact letter match, the mean relative accuracy (MRA) for numbers, a
normalised exact match for short text. Chance, per (task type, scale) cell, is the accuracy of a
guess drawn from the cell's answer distribution without looking at the scene:

- multiple choice: 1 / the number of options (answers sit at a uniformly drawn letter);
- numbers: the mean MRA over all ordered pairs (i ≠ j) of the cell's truths, i.e. another task's
  truth used as the guess;
- short text: the share of ordered pairs (i ≠ j) of the cell's answers that agree (a guess drawn
  from the answer frequencies).

``blind`` answers each task type's prior (the letter A, the training set's median per scale, the
most common colour); it may beat chance on numbers by what the median gains over a random draw,
which shrinks with the spread of the answers (about 2 points for log-uniform answers over a
decade): the check is |blind − chance| ≤ 10 points per task type. ``random`` draws a letter, a
colour, or a number log-uniformly over the prior's range. Timings on a shared machine are
noisy: read the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import mmsearch_gym  # noqa: F401
from mmsearch_gym.envs.spatial_draw import SpatialDrawEnv
from mmsearch_gym.rewards.vilasr import MRA_THRESHOLDS
from mmsearch_gym.tasks.spatial_draw.agents import priors_of
from mmsearch_gym.tasks.spatial_draw.generators import GENERATORS, generate_task
from mmsearch_gym.tasks.spatial_draw.render import Renderer
from mmsearch_gym.tasks.spatial_draw.scenes import SPECS, PlacementError, generate_scene, main_camera
from mmsearch_gym.tasks.spatial_draw.task import TASK_TYPES
from mmsearch_gym.tools.draw import draw_boxes

AGENTS = ("oracle", "blind", "random")


def _time(fn, reps: int) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def timings(console: Console, reps: int) -> None:
    scene = generate_scene("outdoor", np.random.default_rng(0))
    cam = main_camera(scene, np.random.default_rng(0))
    vertices = scene.vertices()
    local = Renderer(process="local")
    t = time.perf_counter()
    remote = Renderer(process="remote")  # what a worker forked after its parent rendered uses
    start = time.perf_counter() - t
    for r in (local, remote):
        r.load(vertices)
        r.render(cam, scene.env)
    bare = _time(lambda: local.render(cam, scene.env), reps)
    helper = _time(lambda: remote.render(cam, scene.env), reps)
    load_local = _time(lambda: local.load(vertices), reps)
    load_remote = _time(lambda: remote.load(vertices), reps)
    remote.close()
    env = gym.make("mmsearch_gym/SpatialDraw-v0", task_types=("depth_order",))
    env.reset(seed=0)
    seeds = iter(range(10**6))
    reset = _time(lambda: env.reset(seed=next(seeds)), reps)
    img = env.unwrapped.images.get("img_1")
    box = [{"bbox_2d": [10, 10, 120, 90], "label": "cup"}]
    pil = _time(lambda: draw_boxes(img, box), reps * 10)
    turn = '<think>t</think> Action: Object Mapper\n```json\n[{"index": 1, "bbox_2d": [10, 10, 120, 90], "label": "cup"}]\n```'
    total = 0.0
    for i in range(reps):
        env.reset(seed=i)
        t = time.perf_counter()
        env.step(turn)
        total += time.perf_counter() - t
    step = total / reps
    t = time.perf_counter()
    for i in range(reps):
        env.reset(seed=100 + i)
        done = False
        while not done:
            *_, term, trunc, _ = env.step(env.unwrapped.oracle_action())
            done = term or trunc
    eps = reps / (time.perf_counter() - t)
    table = Table(title=f"SpatialDraw-v0 timings (448×336; {len(vertices) // 3} triangles; {reps} reps)")
    for col in ("what", "ms", "× baseline"):
        table.add_column(col)
    table.add_row("bare render, in process (baseline)", f"{bare * 1e3:.1f}", "1.0")
    table.add_row("render in a helper process (after a fork)", f"{helper * 1e3:.1f}", f"{helper / bare:.2f}× render")
    table.add_row("scene upload, in process / helper", f"{load_local * 1e3:.1f} / {load_remote * 1e3:.1f}", f"{load_remote / load_local:.1f}×")
    table.add_row("helper process start (once per forked process)", f"{start * 1e3:.0f}", f"{start / bare:.0f}× render")
    table.add_row("env.reset (depth_order: scene + views + checks)", f"{reset * 1e3:.1f}", f"{reset / bare:.1f}× render")
    table.add_row("bare PIL draw_boxes (baseline)", f"{pil * 1e3:.2f}", "1.0")
    table.add_row("env.step(VILASR drawing turn)", f"{step * 1e3:.2f}", f"{step / pil:.1f}× PIL")
    table.add_row("oracle episodes/s (depth_order)", f"{eps:.2f}", "")
    console.print(table)


def _mra_matrix(truths: np.ndarray) -> np.ndarray:
    """MRA of every truth used as the guess for every other (float32, as the reward computes it)."""
    g, t = truths.astype(np.float32)[None, :, None], truths.astype(np.float32)[:, None, None]
    limits = (1 - np.asarray(MRA_THRESHOLDS, np.float64)).astype(np.float32)
    return ((np.abs(g - t) / (np.abs(t) + np.float32(1e-8))) < limits).mean(-1)


def chance_of(metric: str, truths: list, n_options: list[int]) -> float:
    """The cell's chance accuracy (see the module docstring)."""
    if metric == "numeric":
        m = _mra_matrix(np.asarray(truths, float))
        n = len(truths)
        return float((m.sum() - np.trace(m)) / max(n * (n - 1), 1))
    if metric == "text":
        counts, n = np.unique(truths, return_counts=True)[1], len(truths)
        return float((counts * (counts - 1)).sum() / max(n * (n - 1), 1))  # pairs i ≠ j with the same answer
    return float(np.mean([1 / k for k in n_options]))


def examples(console: Console, folder: Path, per_scale: int = 2) -> None:
    """The main view of the first scenes seeded [2024, 0], [2024, 1], … at each scale, as the env renders them."""
    folder.mkdir(parents=True, exist_ok=True)
    renderer = Renderer()
    for scale in SPECS:
        seeds = iter(range(100))
        for k in range(per_scale):
            while True:  # the next seed whose scene fits its objects
                rng = np.random.default_rng([2024, next(seeds)])
                try:
                    scene = generate_scene(scale, rng)
                    break
                except PlacementError:
                    continue
            renderer.load(scene.vertices())
            frame = renderer.render(main_camera(scene, rng), scene.env)
            Image.fromarray(frame.image).save(folder / f"{scale}_{k}.png")
    console.print(f"wrote {per_scale * len(SPECS)} PNGs to {folder}")


def _play_cell(renderer: Renderer, env: SpatialDrawEnv, scale: str, ttype: str, n: int, bar: Progress, job: Any) -> dict:
    """Generate a cell's n tasks (seeds [77, i]) and play each with every agent."""
    cell: dict[str, Any] = {"acc": {a: [] for a in AGENTS}, "truths": [], "options": [], "failed": 0}
    for i in range(n):
        bar.advance(job)
        try:
            task = generate_task(np.random.default_rng([77, i]), scale, ttype, renderer)
        except RuntimeError:  # no clean scene in max_tries: counted and reported
            cell["failed"] += 1
            continue
        for agent in AGENTS:
            env.reset(seed=i, options={"task": task})
            done, info = False, {}
            while not done:
                *_, term, trunc, info = env.step(env.scripted_action(agent))
                done = term or trunc
            cell["acc"][agent].append(info["reward_components"]["accuracy"])
        cell["truths"].append(task.truth if task.metric == "numeric" else task.answer)
        cell["options"].append(len(task.options))
    return cell


def accuracy(console: Console, n: int, scales: list[str], types: list[str], out: Path | None) -> dict:
    renderer = Renderer()
    env = SpatialDrawEnv()
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    truths: dict[tuple[str, str], list] = defaultdict(list)
    options: dict[tuple[str, str], list[int]] = defaultdict(list)
    failed: dict[tuple[str, str], int] = {}
    done_cells: dict[str, dict] = {}
    log = out.with_suffix(".cells.jsonl") if out is not None else None
    if log is not None and log.exists():  # resume: cells of an earlier run with the same n
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if rec["n"] == n:
                done_cells[rec["cell"]] = rec
    t0 = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task("tasks", total=n * len(scales) * len(types))
        for scale in scales:
            for ttype in types:
                cell = done_cells.get(f"{scale}/{ttype}")
                if cell is None:
                    cell = _play_cell(renderer, env, scale, ttype, n, bar, job)
                    if log is not None:
                        with log.open("a") as f:
                            f.write(json.dumps({"cell": f"{scale}/{ttype}", "n": n, **cell}) + "\n")
                else:
                    bar.advance(job, n)
                for a in AGENTS:
                    acc[(scale, ttype, a)] = cell["acc"][a]
                truths[(scale, ttype)], options[(scale, ttype)] = cell["truths"], cell["options"]
                failed[(scale, ttype)] = cell["failed"]
                if not console.is_terminal:  # a log: one line per cell
                    console.print(f"{scale}/{ttype}: " + ", ".join(f"{a} {np.mean(acc[(scale, ttype, a)]):.1%}" for a in AGENTS)
                                  + f", {cell['failed']} not generated ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    chance = {k: chance_of(TASK_TYPES[k[1]][0], v, options[k]) for k, v in truths.items()}
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    cells = {f"{s}/{t}": {**{a: mean(acc[(s, t, a)]) for a in AGENTS}, "chance": chance[(s, t)]} for s in scales for t in types}

    def row(keys: list[tuple[str, str]]) -> dict[str, float]:
        r = {a: mean([v for k in keys for v in acc[(k[0], k[1], a)]]) for a in AGENTS}
        r["chance"] = mean([chance[k] for k in keys])
        return r

    by_type = {t: row([(s, t) for s in scales]) for t in types}
    by_scale = {s: row([(s, t) for t in types]) for s in scales}
    for title, rows, first in (("per task type (all scales)", by_type, "task type"), ("per scale (all task types)", by_scale, "scale")):
        table = Table(title=f"accuracy {title}; {n} tasks per scale and task type")
        for col in (first, *(["metric"] if first == "task type" else []), "oracle", "blind", "random", "chance", "blind − chance", "random − chance"):
            table.add_column(col, justify="left" if col in (first, "metric") else "right")
        for name, r in rows.items():
            metric = [TASK_TYPES[name][0]] if first == "task type" else []
            table.add_row(name, *metric, *(f"{r[c]:.1%}" for c in ("oracle", "blind", "random", "chance")),
                          f"{(r['blind'] - r['chance']) * 100:+.1f} pts", f"{(r['random'] - r['chance']) * 100:+.1f} pts")  # fmt: skip
        console.print(table)
    worst_oracle = min([*by_type.values(), *by_scale.values(), *cells.values()], key=lambda r: r["oracle"])["oracle"]
    worst_blind = max(abs(r["blind"] - r["chance"]) for r in by_type.values())
    worst_cell = max(cells.items(), key=lambda kv: abs(kv[1]["blind"] - kv[1]["chance"]))
    console.print(f"lowest oracle accuracy (per type, per scale, per cell): {worst_oracle:.1%} (goal ≥ 95%)")
    console.print(f"largest |blind − chance| per task type: {worst_blind * 100:.1f} points (goal ≤ 10); per cell: "
                  f"{abs(worst_cell[1]['blind'] - worst_cell[1]['chance']) * 100:.1f} ({worst_cell[0]})")  # fmt: skip
    console.print(f"tasks not generated (no clean scene in generate_task's tries): {sum(failed.values())} of {n * len(failed)}")
    console.print(f"largest |random − chance| per task type: {max(abs(r['random'] - r['chance']) for r in by_type.values()) * 100:.1f} points; "
                  f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    result = {"n": n, "by_type": by_type, "by_scale": by_scale, "cells": cells, "not_generated": sum(failed.values())}
    if out is not None:
        out.write_text(json.dumps(result, indent=1))
    return result


def print_priors(console: Console, n: int) -> None:
    """The blind agent's numeric priors from a training set (seed 12345), as agents.PRIORS holds them."""
    renderer = Renderer()
    tasks = [generate_task(np.random.default_rng([12345, i]), s, t, renderer)
             for t, (metric, *_) in TASK_TYPES.items() if metric == "numeric" for s in SPECS for i in range(n)]  # fmt: skip
    for key, (lo, mid, hi) in ((k, v) for k, v in priors_of(tasks).items() if isinstance(v, tuple)):
        console.print(f'    "{key}": ({lo:.4g}, {mid:.4g}, {hi:.4g}),')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few tasks (a smoke run)")
    p.add_argument("--n", type=int, default=300, help="tasks per scale and task type (300: the issue's check)")
    p.add_argument("--scales", default=",".join(SPECS), help="comma-separated scales")
    p.add_argument("--types", default=",".join(GENERATORS), help="comma-separated task types")
    p.add_argument("--no-timings", action="store_true")
    p.add_argument("--examples", type=Path, help="write two rendered scenes per scale here and stop")
    p.add_argument("--json", type=Path, help="write the accuracy tables here (and each cell, as it ends, to FILE.cells.jsonl: "
                   "a rerun with the same --json and --n resumes from it)")
    p.add_argument("--priors", action="store_true", help="print the blind agent's PRIORS from 60 training tasks per cell")
    args = p.parse_args()
    console = Console(width=max(Console().width, 120))
    if args.priors:
        print_priors(console, 60)
        return
    if args.examples:
        examples(console, args.examples)
        return
    if not args.no_timings:
        timings(console, reps=3 if args.quick else 10)
    accuracy(console, 4 if args.quick else args.n, args.scales.split(","), args.types.split(","), args.json)


if __name__ == "__main__":
    main()
