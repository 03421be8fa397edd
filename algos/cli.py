"""``mmsearch-gym train``: SFT warm start then RL of a local model on an env with any zoo algorithm.

    mmsearch-gym train --env mmsearch_gym/Maze-v0 --algo fatal_grpo --model runs/tiny \\
        --config train.yaml --out runs/maze --set rl.steps=50 --set rollout.group_size=8

``register(subparsers)`` adds the subcommand; torch and transformers are imported only
when it runs, so the rest of the CLI stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="SFT on oracle trajectories, then RL with a registered algorithm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--env", help="registered env id (overrides the config's env)")
    p.add_argument("--algo", help="registered algorithm name, see algos.available() (overrides the config's algo)")
    p.add_argument("--model", help="local model directory: config.json, weights, tokenizer with a chat template")
    p.add_argument("--config", help="YAML file with TrainConfig's keys (unknown keys are an error)")
    p.add_argument("--out", help="output directory (checkpoints, metrics.jsonl, tensorboard/, curves.png, final/)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. rl.lr=1e-4"
    )
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the output directory")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace, console: Any) -> int:
    import torch

    from algos.rollout import ModelPathError, PolicyError
    from algos.trainer import ConfigError, Trainer, load_config

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = load_config(args.config, sets=args.set, env=args.env, algo=args.algo, model=args.model, out_dir=args.out)
        trainer = Trainer(cfg, console=console)
    except (ConfigError, ModelPathError, ValueError, TypeError) as err:  # also: unknown algorithm or option, env kwargs
        console.print(f"[red]{err}[/red]", highlight=False, soft_wrap=True)
        return 2
    try:
        summary = trainer.fit(resume=args.resume)
    except (ConfigError, PolicyError, ValueError) as err:  # ValueError: e.g. at_grpo on tasks without ΔS
        console.print(f"[red]{err}[/red]", highlight=False, soft_wrap=True)
        return 1
    from rich.table import Table

    table = Table(title=f"{cfg.env} · {cfg.algo} · held-out success ({cfg.eval.episodes} tasks)")
    for col in ("when", "success", "reward", "fatal"):
        table.add_column(col, justify="left" if col == "when" else "right")
    for tag, m in summary["evals"].items():
        table.add_row(tag, f"{m['success_rate']:.3f}", f"{m['reward_mean']:.3f}", f"{m['fatal_rate']:.3f}")
    console.print(table)
    console.print(f"outputs in {summary['out_dir']}")
    return 0
