"""The ``mmsearch-gym`` command: list the envs, play scripted policies on them."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import envs_registry

from .policies import POLICY_NAMES, make_policy


@dataclass
class PlayStats:
    """What ``play`` measured for one policy."""

    policy: str
    episodes: int = 0
    successes: int = 0
    reward: float = 0.0
    turns: int = 0
    fatal: int = 0
    errors: Counter = field(default_factory=Counter)

    def row(self) -> list[str]:
        n = max(self.episodes, 1)
        return [self.policy, str(self.episodes), f"{self.successes / n:.1%}", f"{self.reward / n:.3f}",
                f"{self.turns / n:.2f}", f"{self.fatal / n:.1%}", f"{sum(self.errors.values()) / n:.2f}"]


def _parse_kwargs(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--kw expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def play(env_id: str, policy: str, episodes: int, seed: int, env_kwargs: dict[str, Any], show: bool = False,
         out: str | None = None, console: Console | None = None, progress: Progress | None = None) -> PlayStats:
    """Play ``episodes`` episodes of ``policy`` on ``env_id`` (seeds ``seed``, ``seed+1``, …)."""
    console = console or Console()
    env = gym.make(env_id, **env_kwargs)
    agent = make_policy(policy, seed=seed)
    stats = PlayStats(policy)
    task = progress.add_task(f"{policy:>8}", total=episodes) if progress else None
    try:
        for ep in range(episodes):
            obs, info = env.reset(seed=seed + ep)
            done = False
            while not done:
                obs, reward, terminated, truncated, info = env.step(agent.act(env))
                done = terminated or truncated
                stats.reward += float(reward)
                stats.turns += 1
                if info.get("step_error"):
                    stats.errors[info["step_error"]] += 1
            stats.episodes += 1
            stats.successes += bool(info.get("success", info.get("is_success", False)))
            stats.fatal += bool(info.get("fatal", False))
            base = env.unwrapped
            if show and hasattr(base, "transcript"):
                console.rule(f"{policy} · episode {ep} · seed {seed + ep}")
                console.print(base.transcript(), markup=False, highlight=False)
            if out and hasattr(base, "episode_record"):
                base.episode_record().save(out)
            if progress is not None and task is not None:
                progress.advance(task)
    finally:
        env.close()
    return stats


def _cmd_list(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="mmsearch-gym environments")
    table.add_column("id", style="bold")
    table.add_column("description")
    for entry in envs_registry.ENVS.values():
        table.add_row(entry.id, entry.description)
    console.print(table)
    return 0


def _cmd_play(args: argparse.Namespace, console: Console) -> int:
    if args.env_id not in envs_registry.ENVS:
        console.print(f"[red]unknown env {args.env_id!r}[/red]; known: {', '.join(envs_registry.ENVS)}")
        return 2
    if args.episodes < 1:
        console.print("[red]--episodes must be >= 1[/red]")
        return 2
    kwargs = _parse_kwargs(args.kw)
    policies = args.policy or ["oracle"]
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=args.show) as progress:
        for name in policies:
            try:
                results.append(play(args.env_id, name, args.episodes, args.seed, kwargs, args.show, args.out, console, progress))
            except (TypeError, ValueError) as err:
                console.print(f"[red]{err}[/red]")
                return 2
    table = Table(title=f"{args.env_id} · {args.episodes} episodes per policy · seeds {args.seed}…{args.seed + args.episodes - 1}")
    for col in ("policy", "episodes", "success", "mean reward", "mean turns", "fatal", "errors/ep"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for stats in results:
        table.add_row(*stats.row())
    console.print(table)
    kinds = sorted({k for s in results for k in s.errors})
    if kinds:
        errors = Table(title="step errors by kind (total)")
        errors.add_column("policy")
        for kind in kinds:
            errors.add_column(kind, justify="right")
        for stats in results:
            errors.add_row(stats.policy, *(str(stats.errors[k]) for k in kinds))
        console.print(errors)
    return 0


# Modules adding their own subcommands: each has ``register(subparsers)`` that adds parsers
# with ``set_defaults(func=handler)``, ``handler(args, console) -> int``; they import their
# heavy dependencies (torch, tantivy …) inside the handler so that ``list`` stays fast.
COMMAND_MODULES: list[str] = ["mmsearch_gym.world.cli", "mmsearch_gym.tasks.cli", "algos.cli", "algos.eval.cli"]
# Which module owns which subcommand, so that one command imports only its own module
# (``list`` and ``play`` never import torch).
COMMAND_OWNERS: dict[str, str] = {
    "world": "mmsearch_gym.world.cli",
    "serve": "mmsearch_gym.world.cli",
    "data": "mmsearch_gym.tasks.cli",
    "train": "algos.cli",
    "eval": "algos.eval.cli",
    "report": "algos.eval.cli",
}


def _modules_for(argv: Sequence[str]) -> list[str]:
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in ("list", "play"):
        return []
    owner = COMMAND_OWNERS.get(first or "")
    return [owner] if owner in COMMAND_MODULES else list(COMMAND_MODULES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mmsearch-gym", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered environments").set_defaults(func=_cmd_list)
    p = sub.add_parser("play", help="play scripted policies on an env and print a summary table")
    p.add_argument("env_id")
    p.add_argument("--policy", action="append", choices=sorted(POLICY_NAMES), help="repeat to compare policies")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", action="store_true", help="print every transcript")
    p.add_argument("--out", help="append episode records to this JSONL file")
    p.add_argument("--kw", action="append", default=[], metavar="KEY=VALUE", help="env kwarg (JSON value), repeatable")
    p.set_defaults(func=_cmd_play)
    argv = list(sys.argv[1:] if argv is None else argv)
    for module in _modules_for(argv):
        importlib.import_module(module).register(sub)
    args = parser.parse_args(argv)
    console = Console()
    import mmsearch_gym  # noqa: F401  (registers the envs)

    return int(args.func(args, console))


if __name__ == "__main__":
    sys.exit(main())
