"""SpatialDraw-v0: reset and drawing-turn time against the bare renderer / PIL call, episodes/s,
and oracle / blind / random accuracy per scale and per task type against chance.

    python benchmarks/spatial_draw.py [--quick] [--n 300] [--png DIR]

Chance: 1/options for multiple choice; for numbers, the mean MRA of a guess drawn from the same
(task type, scale) truths (each truth scored against another task's); for short text, the sum of
squared answer frequencies. Timings on a shared machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

import mmsearch_gym  # noqa: F401
from mmsearch_gym.rewards.vilasr import mean_relative_accuracy
from mmsearch_gym.tasks.spatial_draw.generators import GENERATORS, generate_task
from mmsearch_gym.tasks.spatial_draw.render import Renderer
from mmsearch_gym.tasks.spatial_draw.scenes import SPECS, generate_scene, main_camera
from mmsearch_gym.tools.draw import draw_boxes


def timings(console: Console, reps: int) -> None:
    r = Renderer()
    scene = generate_scene("outdoor", np.random.default_rng(0))
    r.load(scene.vertices())
    cam = main_camera(scene, np.random.default_rng(0))
    r.render(cam, scene.env)
    t = time.perf_counter()
    for _ in range(reps):
        r.render(cam, scene.env)
    bare = (time.perf_counter() - t) / reps
    env = gym.make("mmsearch_gym/SpatialDraw-v0", task_types=("depth_order",))
    env.reset(seed=0)
    t = time.perf_counter()
    for i in range(reps):
        env.reset(seed=i)
    reset = (time.perf_counter() - t) / reps
    img = env.unwrapped.images.get("img_1")
    box = [{"bbox_2d": [10, 10, 120, 90], "label": "cup"}]
    t = time.perf_counter()
    for _ in range(reps * 10):
        draw_boxes(img, box)
    pil = (time.perf_counter() - t) / (reps * 10)
    turn = '<think>t</think> Action: Object Mapper\n```json\n[{"index": 1, "bbox_2d": [10, 10, 120, 90], "label": "cup"}]\n```'
    total = 0.0
    for i in range(reps):
        env.reset(seed=i)
        t = time.perf_counter()
        env.step(turn)
        total += time.perf_counter() - t
    step = total / reps
    t, n = time.perf_counter(), 0
    for i in range(reps):
        env.reset(seed=100 + i)
        done = False
        while not done:
            *_, term, trunc, _ = env.step(env.unwrapped.oracle_action())
            done = term or trunc
        n += 1
    eps = n / (time.perf_counter() - t)
    table = Table(title="SpatialDraw-v0 timings (depth_order tasks; 448×336)")
    for col in ("what", "ms", "× baseline"):
        table.add_column(col)
    table.add_row("bare render (one view, outdoor scene)", f"{bare * 1e3:.1f}", "1.0")
    table.add_row("env.reset (scene + views + checks)", f"{reset * 1e3:.1f}", f"{reset / bare:.1f}× render")
    table.add_row("bare PIL draw_boxes", f"{pil * 1e3:.2f}", "1.0")
    table.add_row("env.step(VILASR drawing turn)", f"{step * 1e3:.2f}", f"{step / pil:.1f}× PIL")
    table.add_row("oracle episodes/s", f"{eps:.2f}", "")
    console.print(table)


def accuracy(console: Console, n: int, png: Path | None) -> None:
    r = Renderer()
    from mmsearch_gym.envs.spatial_draw import SpatialDrawEnv

    env = SpatialDrawEnv()
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    truths: dict[tuple[str, str], list] = defaultdict(list)
    chance_mc: dict[tuple[str, str], list[float]] = defaultdict(list)
    for scale in SPECS:
        for ttype in GENERATORS:
            for i in range(n):
                task = generate_task(np.random.default_rng([77, i]), scale, ttype, r)
                if png is not None and i == 0 and ttype == "depth_order":
                    png.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(task.images[0]).save(png / f"{scale}.png")
                for agent in ("oracle", "blind", "random"):
                    env.reset(seed=i, options={"task": task})
                    done, info = False, {}
                    while not done:
                        *_, term, trunc, info = env.step(env.scripted_action(agent))
                        done = term or trunc
                    acc[(scale, ttype, agent)].append(info["reward_components"]["accuracy"])
                truths[(scale, ttype)].append(task.truth if task.metric == "numeric" else task.answer)
                chance_mc[(scale, ttype)].append(1 / len(task.options) if task.options else 0.0)
    table = Table(title=f"accuracy per task type ({n} tasks per scale and type)")
    for col in ("task type", "metric", "oracle", "blind", "random", "chance", "|blind−chance|"):
        table.add_column(col)
    worst = 0.0
    for ttype, (metric, *_) in [(t, v) for t, v in __import__("mmsearch_gym.tasks.spatial_draw.task", fromlist=["TASK_TYPES"]).TASK_TYPES.items()]:
        row = {a: np.mean([v for s in SPECS for v in acc[(s, ttype, a)]]) for a in ("oracle", "blind", "random")}
        chances = []
        for s in SPECS:
            vals = truths[(s, ttype)]
            if metric == "numeric":
                shuffled = np.roll(vals, 1)
                chances.append(np.mean([mean_relative_accuracy(g, t) for g, t in zip(shuffled, vals, strict=True)]))
            elif metric == "text":
                freq = np.unique(vals, return_counts=True)[1] / len(vals)
                chances.append(float((freq**2).sum()))
            else:
                chances.append(float(np.mean(chance_mc[(s, ttype)])))
        chance = float(np.mean(chances))
        worst = max(worst, abs(row["blind"] - chance))
        table.add_row(ttype, metric, f"{row['oracle']:.1%}", f"{row['blind']:.1%}", f"{row['random']:.1%}", f"{chance:.1%}",
                      f"{abs(row['blind'] - chance) * 100:.1f} pts")  # fmt: skip
    console.print(table)
    per_scale = Table(title="oracle accuracy per scale")
    per_scale.add_column("scale")
    per_scale.add_column("oracle")
    for s in SPECS:
        per_scale.add_row(s, f"{np.mean([v for t in GENERATORS for v in acc[(s, t, 'oracle')]]):.1%}")
    console.print(per_scale)
    console.print(f"largest |blind − chance| over task types: {worst * 100:.1f} points")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="few tasks (a smoke run)")
    p.add_argument("--n", type=int, default=300, help="tasks per scale and task type (300: the issue's check)")
    p.add_argument("--png", type=Path, help="save one depth_order image per scale here")
    args = p.parse_args()
    console = Console()
    timings(console, reps=3 if args.quick else 10)
    accuracy(console, 4 if args.quick else args.n, args.png)


if __name__ == "__main__":
    main()
