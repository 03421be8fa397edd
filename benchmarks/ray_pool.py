"""DeepSearch-v0 oracle episodes/s: the local pool against Ray pools of 1 and 2 actors, same seeds.

    python benchmarks/ray_pool.py [--episodes 16] [--quick]

Ratios are against the local pool measured in the same run. Actor start-up (Ray's, and each
actor loading the world from the cache) is timed apart and not in episodes/s. On 2 shared cores
2 actors can at best double the local rate, and the driver's own work (the oracle's turns,
Ray's messaging) competes with them for those cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Keep this folder off the import path: benchmarks/algos.py would shadow the algos package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import gymnasium as gym  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import mmsearch_gym  # noqa: E402,F401
from algos.rollout import RolloutEngine, SamplingParams, ScriptedTextPolicy  # noqa: E402

ENV = "mmsearch_gym/DeepSearch-v0"


def run(pool, seeds) -> tuple[float, float]:
    engine = RolloutEngine(ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=600))
    start = time.perf_counter()
    result = engine.rollout(pool, seeds)
    elapsed = time.perf_counter() - start
    return len(seeds) / elapsed, sum(r.success for r in result.records) / len(seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="8 episodes")
    args = parser.parse_args()
    n = 8 if args.quick else args.episodes
    seeds = list(range(1000, 1000 + n))
    import ray

    from algos.integrations.ray import RayEnvPool

    rows = []
    envs = [gym.make(ENV) for _ in range(n)]
    run(envs[:1], seeds[:1])  # warm the world cache and imports
    local_rate, local_ok = run(envs, seeds)
    rows.append(("local pool (this process)", 0.0, local_rate, local_ok))
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - t
    for workers in (1, 2):
        t = time.perf_counter()
        pool = RayEnvPool(ENV, n=n, num_workers=workers)
        pool.reset(seeds)  # actors load their worlds here
        startup = time.perf_counter() - t
        rate, ok = run(pool, seeds)
        pool.close()
        rows.append((f"Ray pool, {workers} actor{'s' if workers > 1 else ''}", startup, rate, ok))
    ray.shutdown()

    table = Table(title=f"DeepSearch-v0 oracle, {n} episodes (ray.init {ray_start:.1f} s)")
    for col in ("pool", "start-up s", "episodes/s", "vs local", "success"):
        table.add_column(col, justify="right" if col != "pool" else "left")
    for name, startup, rate, ok in rows:
        table.add_row(name, f"{startup:.1f}", f"{rate:.2f}", f"{rate / local_rate:.2f}x", f"{ok:.0%}")
    Console().print(table)


if __name__ == "__main__":
    main()
