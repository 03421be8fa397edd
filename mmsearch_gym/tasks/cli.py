"""Subcommands ``data build`` and ``data info`` of the ``mmsearch-gym`` command (task datasets).

``mmsearch-gym data build deep_search|grounded_gen --split rl|sft --n N --seed S --out DIR`` writes RL tasks
or oracle SFT trajectories (see :mod:`mmsearch_gym.tasks.deep_search_data` and
:mod:`mmsearch_gym.tasks.grounded_gen.data`).
``mmsearch-gym data tool-benefit DIR --env ID --policy SPEC`` stores AdaTooler's Tool Benefit
Score ΔS per task in ``DIR/tasks.jsonl`` (see :mod:`algos.tool_benefit`).
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
    tb = sub.add_parser(
        "tool-benefit",
        help="AdaTooler's Tool Benefit Score ΔS = S+ − S− per task, stored in DIR/tasks.jsonl (for at_grpo)",
    )
    tb.add_argument("path", help="dataset folder with tasks.jsonl")
    tb.add_argument("--env", default="mmsearch_gym/DeepSearch-v0", help="env id that takes dataset=DIR")
    tb.add_argument("--policy", default="oracle",
                    help="oracle | random | no_vision | single_search | http://HOST:PORT/v1 | hf:PATH | vllm:PATH")  # fmt: skip
    tb.add_argument("--model", help="served model name for an http:// policy")
    tb.add_argument("--runs", type=int, default=8, help="episodes with tools and as many without (paper: 8)")
    tb.add_argument("--metric", default="success", help="accuracy of an episode: success or a reward component")
    tb.add_argument("--seed", type=int, default=0)
    tb.add_argument("--temperature", type=float, default=1.0)
    tb.add_argument("--max-new-tokens", type=int, default=512)
    tb.add_argument("--max-episode-tokens", type=int, default=8192)
    tb.add_argument("--device", default="cpu", help="device of an hf: policy")
    tb.add_argument("--kw", action="append", default=[], metavar="KEY=VALUE", help="env kwarg (JSON value)")
    tb.set_defaults(func=_cmd_tool_benefit)


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


def _cmd_tool_benefit(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import Progress

    from algos.rollout import SamplingParams
    from algos.tool_benefit import make_policy, read_tasks, score_tasks, write_tool_benefit

    from ..cli import _parse_kwargs

    if args.runs < 1:
        console.print("[red]--runs must be >= 1[/red]")
        return 2
    try:
        n = len(read_tasks(args.path))
        policy = make_policy(args.policy, model=args.model, device=args.device, seed=args.seed)
        sampling = SamplingParams(args.max_new_tokens, args.temperature)
        with Progress(console=console, transient=True) as bar:
            job = bar.add_task(f"{args.policy}: {args.runs} runs with and without tools", total=n)
            scores = score_tasks(
                args.env, args.path, policy, runs=args.runs, metric=args.metric, env_kwargs=_parse_kwargs(args.kw),
                sampling=sampling, max_episode_tokens=args.max_episode_tokens, seed=args.seed,
                on_task=lambda _: bar.advance(job),
            )  # fmt: skip
        detail = {"policy": args.policy, "metric": args.metric, "env": args.env}
        path = write_tool_benefit(args.path, scores, detail)
    except (ValueError, TypeError, OSError, RuntimeError) as err:
        console.print(f"[red]{err}[/red]", highlight=False, soft_wrap=True)
        return 1
    table = Table(title=f"Tool Benefit Score · {args.policy} · {args.runs} runs each · {args.metric}")
    for col in ("task", "S+ (tools)", "S− (no tools)", "ΔS"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for s in scores:
        table.add_row(s.task_id, f"{s.with_tools:.3f}", f"{s.without_tools:.3f}", f"{s.delta:+.3f}")
    mean = [sum(getattr(s, k) for s in scores) / len(scores) for k in ("with_tools", "without_tools", "delta")]
    table.add_row("mean", f"{mean[0]:.3f}", f"{mean[1]:.3f}", f"{mean[2]:+.3f}", style="bold")
    console.print(table)
    console.print(f"wrote tool_benefit for {len(scores)} tasks to {path}")
    return 0


def _print_manifest(manifest: dict[str, Any], console: Console) -> None:
    table = Table(title=f"{manifest.get('kind')} · split {manifest.get('split')} · seed {manifest.get('seed')}")
    table.add_column("field")
    table.add_column("value")
    for key in ("n", "hops", "anchors", "difficulty", "categories", "compositions", "rejected", "oracle_failures", "world"):
        if key in manifest:
            table.add_row(key, json.dumps(manifest[key]) if isinstance(manifest[key], dict) else str(manifest[key]))
    console.print(table)
