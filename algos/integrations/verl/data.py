"""Parquet datasets for verl whose rows name env episodes: ``python -m algos.integrations.verl.data``.

Each row: ``prompt`` (the env's opening chat, for verl's length filter; the loop replays the
env's own reset), ``data_source`` (the env id), ``agent_name: mmsearch_gym`` and
``extra_info = {index, mmsearch_gym: {env_id, seed, env_kwargs}}``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from algos.integrations.ray import make_env


def episode_rows(env_id: str, seeds: Iterable[int], env_kwargs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    env = make_env(env_id, env_kwargs)
    rows = []
    for i, seed in enumerate(seeds):
        _, info = env.reset(seed=int(seed))
        rows.append({
            "data_source": env_id,
            "agent_name": "mmsearch_gym",
            "prompt": [{"role": m["role"], "content": m["content"]} for m in info["messages"]],
            "extra_info": {"index": i, "mmsearch_gym": {"env_id": env_id, "seed": int(seed),
                                                        "env_kwargs": json.dumps(env_kwargs or {})}},
        })  # fmt: skip
    env.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algos.integrations.verl.data", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0, help="first seed (rows use seed, seed+1, …)")
    parser.add_argument("--kw", default="{}", help="env kwargs as JSON")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    import pandas as pd

    rows = episode_rows(args.env, range(args.seed, args.seed + args.n), json.loads(args.kw))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(args.out)
    print(f"wrote {len(rows)} episodes of {args.env} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
