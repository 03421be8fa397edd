"""DeepSearch-v0: oracle throughput, where an episode spends its time with the result cache off and on, a GRPO
group's speed-up from the cache, and how the baselines score.

    python benchmarks/deep_search.py [--n 200] [--groups 16] [--group-size 8] [--seed 0] [--world DIR] [--quick]

Tables, all from the same run:

1. **Time per part of an oracle episode, cache off and on**: ``reset`` (task generation: path
   sampling, fuzzy rewriting, the one-search filter, the anchor image), each tool's
   ``env.step`` (parse, validation, the tool, the record), the answer step (scoring) and the
   oracle's own decisions, over the tasks of seeds ``seed … seed+n-1`` played once each by an
   env without the cache and by one with a fresh cache; the last column is ms per call
   without over with. The malformed-turn row is the env's fixed cost.
2. **GRPO group**: ``--group-size`` rollouts of each of ``--groups`` tasks, as a GRPO step plays
   them (the same seed ``group-size`` times in a row), by two envs, cache off and cache on
   (fresh): episodes per second, the ratio, the tools' ms per call, and whether every
   rollout's record (messages, turns, rewards) is identical between the two. The oracle's
   rollouts repeat exactly, so this is the cache's best case for a group; a sampling
   policy's rollouts share less.
3. **Success by agent and anchor kind**: the oracle, the no-vision agent (search only), one
   text search of the question, and random turns (cache on).
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
from mmsearch_gym.core.cache import ResultCache

ENV_ID = "mmsearch_gym/DeepSearch-v0"
AGENTS = ("oracle", "no_vision", "single_search", "random")
_TOOL = re.compile(r'"name":\s*"(\w+)"')


def episode(env: gym.Env, seed: int, parts: dict[str, list[float]]) -> tuple[dict, str]:
    """One oracle episode: its outcome and its record as JSON; seconds per part go to ``parts``."""
    base = env.unwrapped
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
            outcome = {"success": info["success"], "anchor": base.ds_task.anchor["kind"], "turns": info["turn"]}
            return outcome, base.episode_record().to_json(sort_keys=True)


def profile_oracle(envs: dict[str, gym.Env], seeds: list[int], rollouts: int = 1, label: str = "oracle episodes"):
    """Each env plays ``rollouts`` oracle episodes of every seed (the envs take turns by seed): seconds per part,
    wall seconds, outcomes and records per env."""
    parts = {k: defaultdict(list) for k in envs}
    wall = dict.fromkeys(envs, 0.0)
    outcomes: dict[str, list[dict]] = {k: [] for k in envs}
    records: dict[str, list[str]] = {k: [] for k in envs}
    for i, seed in enumerate(track(seeds, description=label)):
        for key in list(envs) if i % 2 == 0 else list(envs)[::-1]:
            t0 = time.perf_counter()
            for _ in range(rollouts):
                outcome, record = episode(envs[key], seed, parts[key])
                outcomes[key].append(outcome)
                records[key].append(record)
            wall[key] += time.perf_counter() - t0
    return parts, wall, outcomes, records


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
    p.add_argument("--groups", type=int, default=16, help="tasks of the GRPO-group scenario")
    p.add_argument("--group-size", type=int, default=8, help="rollouts per task in the GRPO-group scenario")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--world", help="a built world folder (default: the cached default world)")
    p.add_argument("--quick", action="store_true", help="30 tasks, 4 groups of 8")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args()
    n, groups = (30, 4) if args.quick else (args.n, args.groups)
    console = Console()
    backend = f"world:{args.world}" if args.world else None
    machine = f"{platform.processor() or platform.machine()}, 1 process"
    envs = {
        "off": gym.make(ENV_ID, backend=backend, cache=False),
        "on": gym.make(ENV_ID, backend=backend, cache=ResultCache()),
    }
    seeds = list(range(args.seed, args.seed + n))
    parts, wall, outcomes, _ = profile_oracle(envs, seeds)
    base_cost = fixed_cost(envs["off"])
    oracle = outcomes["on"]

    t1 = Table(title=f"Oracle episodes, each task once: {n / wall['off']:.2f} episodes/s with the cache off, "
                     f"{n / wall['on']:.2f} on; {sum(o['turns'] for o in oracle) / n:.1f} turns each ({machine})")  # fmt: skip
    for col in ("part", "calls", "ms / call off", "ms / call on", "off / on", "share (off)"):
        t1.add_column(col, justify="right" if col != "part" else "left")
    total = sum(sum(v) for v in parts["off"].values())
    for name, times in sorted(parts["off"].items(), key=lambda kv: -sum(kv[1])):
        off_ms = 1000 * statistics.mean(times)
        on_ms = 1000 * statistics.mean(parts["on"][name]) if parts["on"].get(name) else float("nan")
        t1.add_row(
            name, str(len(times)), f"{off_ms:.1f}", f"{on_ms:.1f}", f"{off_ms / on_ms:.2f}", f"{sum(times) / total:.1%}"
        )
    t1.add_row("malformed step (fixed cost)", "200", f"{1000 * base_cost:.2f}", "", "", "")
    console.print(t1)

    group_envs = {"off": gym.make(ENV_ID, backend=backend, cache=False),
                  "on": gym.make(ENV_ID, backend=backend, cache=ResultCache())}  # fmt: skip
    group_seeds = list(range(args.seed + 10_000, args.seed + 10_000 + groups))
    g_parts, g_wall, _, g_records = profile_oracle(group_envs, group_seeds, args.group_size, "GRPO groups")
    episodes = groups * args.group_size
    same = sum(a == b for a, b in zip(g_records["off"], g_records["on"]))
    rewards_same = [json.loads(a)["reward"] for a in g_records["off"]] == [
        json.loads(b)["reward"] for b in g_records["on"]
    ]
    speedup = g_wall["off"] / g_wall["on"]
    t2 = Table(title=f"GRPO group: {args.group_size} rollouts of each of {groups} tasks ({episodes} oracle episodes)")
    for col in (
        "",
        "episodes/s",
        "reset ms",
        "image_search ms",
        "ocr ms",
        "perspective_correct ms",
        "visit ms",
        "text_search ms",
    ):
        t2.add_column(col, justify="right" if col else "left")
    for key in ("off", "on"):
        cols = [f"{1000 * statistics.mean(g_parts[key][k]):.1f}" if g_parts[key].get(k) else "–"
                for k in ("reset (task generation)", "image_search", "ocr", "perspective_correct", "visit", "text_search")]  # fmt: skip
        t2.add_row(f"cache {key}", f"{episodes / g_wall[key]:.2f}", *cols)
    console.print(t2)
    console.print(
        f"{'PASS' if speedup >= 4 else 'MISS'} cache on / off: {speedup:.2f}× the episodes per second (goal ≥ 4); "
        f"{'PASS' if same == episodes and rewards_same else 'FAIL'} records identical in {same} of {episodes} "
        f"rollouts, rewards {'identical' if rewards_same else 'DIFFERENT'}; cache {group_envs['on'].unwrapped.cache.stats()}"
    )

    env = envs["on"]
    results = {"oracle": oracle}
    for agent in AGENTS[1:]:
        results[agent] = play(env, agent, seeds)
    kinds = sorted({o["anchor"] for o in oracle})
    t3 = Table(title=f"Success rate on {n} generated tasks (× = over the oracle's)")
    t3.add_column("agent")
    t3.add_column("all", justify="right")
    for k in kinds:
        t3.add_column(f"{k} (n={Counter(o['anchor'] for o in oracle)[k]})", justify="right")
    t3.add_column("× oracle", justify="right")
    rate = {a: sum(r["success"] for r in res) / len(res) for a, res in results.items()}
    for agent, res in results.items():
        by_kind = []
        for k in kinds:
            chosen = [r for r in res if r["anchor"] == k]
            by_kind.append(f"{sum(r['success'] for r in chosen) / max(len(chosen), 1):.1%}")
        t3.add_row(agent, f"{rate[agent]:.1%}", *by_kind, f"{rate[agent] / max(rate['oracle'], 1e-9):.2f}")
    console.print(t3)
    if args.json:
        summary = {
            "episodes_per_s": {k: n / wall[k] for k in wall},
            "group_episodes_per_s": {k: episodes / g_wall[k] for k in g_wall},
            "group_speedup": speedup,
            "group_records_identical": same == episodes,
            "parts_s": {k: {name: sum(v) for name, v in parts[k].items()} for k in parts},
            "success": rate,
        }
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=2)
    for e in (*envs.values(), *group_envs.values()):
        e.close()


if __name__ == "__main__":
    main()
