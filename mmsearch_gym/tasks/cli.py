"""Subcommands ``data build`` and ``data info`` of the ``mmsearch-gym`` command (task datasets).

``mmsearch-gym data build deep_search|grounded_gen --split rl|sft --n N --seed S --out DIR`` writes RL tasks
or oracle SFT trajectories (see :mod:`mmsearch_gym.tasks.deep_search_data` and
:mod:`mmsearch_gym.tasks.grounded_gen.data`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

DATASETS = ("deep_search", "grounded_gen")


def register(subparsers: Any) -> None:
    data = subparsers.add_parser("data", help="build or inspect task datasets (RL tasks, SFT trajectories)")
    sub = data.add_subparsers(dest="data_command", required=True)
    build = sub.add_parser("build", help="generate a dataset into a folder")
    build.add_argument("dataset", choices=DATASETS)
    build.add_argument("--split", choices=("rl", "sft"), default="rl", help="rl: tasks; sft: oracle trajectories")
    build.add_argument("--n", type=int, default=100, help="number of tasks (or successful trajectories)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", required=True, help="folder to write")
    build.add_argument("--world", help="a built world folder (default: the cached default world)")
    build.add_argument("--min-hops", type=int, default=2)
    build.add_argument("--max-hops", type=int, default=4)
    build.set_defaults(func=_cmd_build)
    info = sub.add_parser("info", help="summarise a dataset folder")
    info.add_argument("path")
    info.set_defaults(func=_cmd_info)


def _cmd_build(args: argparse.Namespace, console: Console) -> int:
    from .deep_search_data import build_dataset

    if args.n < 1 or args.seed < 0:
        console.print("[red]--n must be >= 1 and --seed >= 0[/red]")
        return 2
    if args.world and not (Path(args.world) / "manifest.json").is_file():
        console.print(
            f"[red]{args.world} is not a built world; run `mmsearch-gym world build --out {args.world}`[/red]"
        )
        return 2
    backend = f"world:{args.world}" if args.world else None
    start = time.perf_counter()
    if args.dataset == "grounded_gen":
        from .grounded_gen.data import build_dataset
    env_kwargs = {"min_hops": args.min_hops, "max_hops": args.max_hops} if args.dataset == "deep_search" else {}
    try:
        manifest = build_dataset(args.out, args.split, args.n, args.seed, backend=backend, env_kwargs=env_kwargs)
    except (ValueError, RuntimeError, OSError) as err:
        console.print(f"[red]{err}[/red]")
        return 1
    console.print(f"wrote {manifest['n']} {args.split} items to {args.out} in {time.perf_counter() - start:.1f} s")
    _print_manifest(manifest, console)
    return 0


def _cmd_info(args: argparse.Namespace, console: Console) -> int:
    path = Path(args.path) / "manifest.json"
    if not path.is_file():
        console.print(f"[red]{args.path} has no manifest.json; is it a dataset folder?[/red]")
        return 1
    _print_manifest(json.loads(path.read_text()), console)
    return 0


def _print_manifest(manifest: dict[str, Any], console: Console) -> None:
    table = Table(title=f"{manifest.get('kind')} · split {manifest.get('split')} · seed {manifest.get('seed')}")
    table.add_column("field")
    table.add_column("value")
    for key in ("n", "hops", "anchors", "difficulty", "categories", "compositions", "rejected", "oracle_failures", "world"):
        if key in manifest:
            table.add_row(key, json.dumps(manifest[key]) if isinstance(manifest[key], dict) else str(manifest[key]))
    console.print(table)
