"""The long hostile-agent run: every registered env, many thousand turns, crashes counted.

    python benchmarks/fuzz.py [--minutes 3] [--seed 0] [--env ID ...] [--quick]

For each env in ``envs_registry.ENVS`` (or ``--env``), :func:`mmsearch_gym.fuzz.fuzz_env` plays
batches of hostile and plausible turns until the time budget is spent, and the table shows the
actions tried, episodes, crashes (exceptions out of ``step``/``reset``) and contract violations,
the step errors met, and actions per second next to the env's own random agent
(``random_action``, or ``action_space.sample`` without one) measured in the same run. The first
crashes are printed in full.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import gymnasium as gym
from rich.console import Console
from rich.table import Table

import mmsearch_gym  # noqa: F401  (registers the ids)
from envs_registry import ENVS
from mmsearch_gym.fuzz import Crash, fuzz_env

BATCH = 200


def baseline_rate(env: gym.Env, seconds: float) -> float:
    """Actions per second of the env's own random agent."""
    base, n, start = env.unwrapped, 0, time.perf_counter()
    env.reset(seed=0)
    while time.perf_counter() - start < seconds:
        action = base.random_action() if hasattr(base, "random_action") else env.action_space.sample()
        *_, terminated, truncated, _ = env.step(action)
        n += 1
        if terminated or truncated:
            env.reset()
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="time per env")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--env", action="append", help="env id (repeatable; default: every registered env)")
    ap.add_argument("--quick", action="store_true", help="20 seconds per env")
    args = ap.parse_args()
    budget = 20.0 if args.quick else 60.0 * args.minutes
    console = Console(width=max(Console().width, 150))
    table = Table(title=f"Hostile agent, {budget:.0f} s per env (seed {args.seed})")
    for col in (
        "env",
        "actions",
        "episodes",
        "crashes",
        "contract",
        "step errors",
        "actions/s",
        "random agent/s",
        "ratio",
    ):
        table.add_column(col, justify="left" if col in ("env", "step errors") else "right")
    found: list[tuple[str, Crash]] = []
    for env_id in args.env or sorted(ENVS):
        env = gym.make(env_id)
        base_rate = baseline_rate(env, min(10.0, budget / 6))
        actions = episodes = batch = 0
        crashes: list[Crash] = []
        errors: Counter = Counter()
        start = time.perf_counter()
        while time.perf_counter() - start < budget:
            report = fuzz_env(env, BATCH, seed=args.seed * 1_000_003 + batch)
            actions, episodes, batch = actions + report.actions, episodes + report.episodes, batch + 1
            crashes += report.crashes
            errors.update(report.step_errors)
        rate = actions / (time.perf_counter() - start)
        n_exc = sum(c.kind == "exception" for c in crashes)
        top = ", ".join(f"{k or 'none'} {v}" for k, v in errors.most_common(4))
        table.add_row(env_id, f"{actions:,}", f"{episodes:,}", str(n_exc), str(len(crashes) - n_exc), top,
                      f"{rate:.0f}", f"{base_rate:.0f}", f"{rate / base_rate:.2f}")  # fmt: skip
        found += [(env_id, c) for c in crashes[:3]]
        env.close()
    console.print(table)
    for env_id, c in found:
        console.print(f"[red]{env_id} [{c.attack}/{c.kind}][/red] {c.action[:200]!r}\n{c.error}")


if __name__ == "__main__":
    main()
