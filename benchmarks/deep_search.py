"""DeepSearch-v0: oracle throughput, where an oracle episode spends its time, and how the baselines score.

    python benchmarks/deep_search.py [--n 200] [--seed 0] [--world DIR] [--quick]

Tables, all from the same run on the same generated tasks (seeds ``seed … seed+n-1``):

1. **Time per part of an oracle episode**: ``reset`` (task generation: path sampling, fuzzy
   rewriting, the one-search filter, the anchor image), each tool's ``env.step`` (parse,
   validation, the tool, the record), the answer step (scoring), and the oracle's own
   decisions. Shares are of the total wall time; the ratio column is ms per call over a
   malformed turn's ``env.step`` (the env's fixed cost, measured in the same run).
2. **Success by agent and anchor kind**: the oracle, the no-vision agent (search only), one
   text search of the question, and random turns.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
from collections import Counter, defaultdict

import gymnasium as gym
from rich.console import Console
from rich.progress import track
from rich.table import Table

import mmsearch_gym  # noqa: F401  (registers the ids)

ENV_ID = "mmsearch_gym/DeepSearch-v0"
AGENTS = ("oracle", "no_vision", "single_search", "random")
_TOOL = re.compile(r'"name":\s*"(\w+)"')


def profile_oracle(env: gym.Env, seeds: list[int]) -> tuple[dict[str, list[float]], list[dict]]:
    """Seconds per part over oracle episodes, and each episode's outcome."""
    base, parts, outcomes = env.unwrapped, defaultdict(list), []
    for seed in track(seeds, description="oracle episodes"):
        t0 = time.perf_counter()
        env.reset(seed=seed)
        parts["reset (task generation)"].append(time.perf_counter() - t0)
        while True:
            t0 = time.perf_counter()
            action = base.oracle_action()
            parts["oracle decisions"].append(time.perf_counter() - t0)
            m = _TOOL.search(action) if "<tool_call>" in action else None
            t0 = time.perf_counter()
            _, _, terminated, truncated, info = env.step(action)
            parts[m.group(1) if m else "answer + scoring"].append(time.perf_counter() - t0)
            if terminated or truncated:
                outcomes.append(
                    {"success": info["success"], "anchor": base.ds_task.anchor["kind"], "turns": info["turn"]}
                )
                break
    return parts, outcomes


def fixed_cost(env: gym.Env, repeats: int = 200) -> float:
    """Median seconds of one malformed turn (parse error): the env's own overhead per step."""
    env.reset(seed=0)
    times = []
    for i in range(repeats):
        if i % 2 == 0:
            env.reset(seed=0)
        t0 = time.perf_counter()
        env.step("<think>x</think><tool_call>{broken</tool_call>")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def play(env: gym.Env, agent: str, seeds: list[int]) -> list[dict]:
    base, out = env.unwrapped, []
    for seed in track(seeds, description=f"{agent:>13}"):
        env.reset(seed=seed)
        while True:
            action = base.random_action() if agent == "random" else base.scripted_action(agent)
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                out.append({"success": info["success"], "anchor": base.ds_task.anchor["kind"]})
                break
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200, help="tasks per agent")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--world", help="a built world folder (default: the cached default world)")
    p.add_argument("--quick", action="store_true", help="30 tasks")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()
    n = 30 if args.quick else args.n
    console = Console()
    env = gym.make(ENV_ID, backend=f"world:{args.world}" if args.world else None)
    seeds = list(range(args.seed, args.seed + n))
    start = time.perf_counter()
    parts, oracle = profile_oracle(env, seeds)
    wall = time.perf_counter() - start
    base_cost = fixed_cost(env)

    total = sum(sum(v) for v in parts.values())
    t1 = Table(title=f"Oracle episodes: {n / wall:.2f} episodes/s, {sum(o['turns'] for o in oracle) / n:.1f} turns each "
                     f"({platform.processor() or platform.machine()}, 1 process)")  # fmt: skip
    for col in ("part", "calls", "total s", "share", "ms / call", "× malformed step"):
        t1.add_column(col, justify="right" if col != "part" else "left")
    for name, times in sorted(parts.items(), key=lambda kv: -sum(kv[1])):
        ms = 1000 * sum(times) / len(times)
        t1.add_row(name, str(len(times)), f"{sum(times):.2f}", f"{sum(times) / total:.1%}", f"{ms:.1f}",
                   f"{ms / (1000 * base_cost):.0f}")  # fmt: skip
    t1.add_row("malformed step (baseline)", "200", "", "", f"{1000 * base_cost:.2f}", "1")
    console.print(t1)

    results = {"oracle": oracle}
    for agent in AGENTS[1:]:
        results[agent] = play(env, agent, seeds)
    kinds = sorted({o["anchor"] for o in oracle})
    t2 = Table(title=f"Success rate on {n} generated tasks (× = over the oracle's)")
    t2.add_column("agent")
    t2.add_column("all", justify="right")
    for k in kinds:
        t2.add_column(f"{k} (n={Counter(o['anchor'] for o in oracle)[k]})", justify="right")
    t2.add_column("× oracle", justify="right")
    rate = {a: sum(r["success"] for r in res) / len(res) for a, res in results.items()}
    for agent, res in results.items():
        by_kind = []
        for k in kinds:
            chosen = [r for r in res if r["anchor"] == k]
            by_kind.append(f"{sum(r['success'] for r in chosen) / max(len(chosen), 1):.1%}")
        t2.add_row(agent, f"{rate[agent]:.1%}", *by_kind, f"{rate[agent] / max(rate['oracle'], 1e-9):.2f}")
    console.print(t2)
    if args.json:
        summary = {"episodes_per_s": n / wall, "parts_s": {k: sum(v) for k, v in parts.items()}, "success": rate}
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=2)
    env.close()


if __name__ == "__main__":
    main()
