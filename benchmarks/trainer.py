"""Seconds per RL step of the tiny-model trainer, and where they go.

    python benchmarks/trainer.py                          # the example's model, env and RL step
    python benchmarks/trainer.py --max-turns 2 --kl 0.001 # multi-turn (draw, then answer), reference model
    python benchmarks/trainer.py --quick                  # a smaller model and batch, for a smoke run

Builds the tiny text model of ``examples/train_tiny_maze.py`` (Qwen2, hidden 64, 2 layers),
warm-starts it with a few SFT steps on oracle trajectories so that turns end the way a
trained policy ends them, then times RL steps of ``fatal_grpo`` on 2x2 text mazes, 8 tasks
x 8 episodes. Phases of one step:

- generation: the policy's batched ``generate`` calls (all turns of all episodes);
- env: stepping the envs (tools, drawing) and tokenising their replies (chat-template deltas);
- scoring: reference log-probs (when ``--kl`` > 0) and the algorithm's advantages and mask;
- update: forward, backward and optimizer step over micro-batches of 16;
- other: the rest of the rollout (batch assembly).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

# Keep this folder off the import path: benchmarks/algos.py would shadow the algos package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import torch  # noqa: E402

from algos import tiny  # noqa: E402
from algos.trainer import Trainer, from_dict  # noqa: E402

PHASES = ("generation", "env", "scoring", "update")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="timed RL steps")
    parser.add_argument("--sft-steps", type=int, default=30, help="warm-start steps before timing")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-turns", type=int, default=1)
    parser.add_argument("--kl", type=float, default=0.0, help="kl_coef (> 0 adds the reference model's log-probs)")
    parser.add_argument("--quick", action="store_true", help="hidden 32, 1 layer, 2 tasks x 2 episodes")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = {"hidden": 32, "layers": 1, "heads": 2} if args.quick else {"hidden": 64, "layers": 2, "heads": 4}
    tasks, group = (2, 2) if args.quick else (8, 8)
    steps: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        model = tiny.save_tiny_model(Path(tmp) / "model", "text", tokenizer=tiny.default_tokenizer(), **sizes)
        cfg = from_dict(
            {
                "env": "mmsearch_gym/Maze-v0",
                "algo": "fatal_grpo",
                "model": str(model),
                "out_dir": str(Path(tmp) / "run"),
                "env_kwargs": {"size": 2, "text_maze": True, "question_types": ["moves"], "max_turns": args.max_turns},
                "algo_options": {"kl_coef": args.kl},
                "ref_model": "init" if args.kl > 0 else None,
                "rollout": {
                    "tasks_per_step": tasks,
                    "group_size": group,
                    "max_new_tokens": 96,
                    "max_episode_tokens": 1024,
                },
                "sft": {"steps": args.sft_steps, "episodes": 64, "batch_size": 16, "lr": 3e-3},
                "rl": {"steps": args.steps, "lr": 5e-4},
                "optim": {"micro_batch_size": 16},
                "eval": {"episodes": 0},
                "checkpoint": {"every": 10**6},
                "logging": {"tensorboard": False, "progress": False, "plot": False},
            }
        )
        trainer = Trainer(cfg, callbacks=[lambda t, m: steps.append(m) if "time_step" in m else None])
        trainer.fit()
    rows = {p: statistics.mean(s[f"time_{p}"] for s in steps) for p in PHASES}
    total = statistics.mean(s["time_step"] for s in steps)
    rows["other"] = max(total - sum(rows.values()), 0.0)
    tokens = statistics.mean(s["response_tokens_mean"] for s in steps) * tasks * group
    turns = statistics.mean(s["turns_mean"] for s in steps)
    print(
        f"fatal_grpo RL step on Maze-v0 2x2 (text, max_turns {args.max_turns}, {turns:.1f} turns/episode), "
        f"kl_coef {args.kl}, {tasks} tasks x {group} episodes, tiny Qwen2 (hidden {sizes['hidden']}, "
        f"{sizes['layers']} layers), {args.threads} threads, mean of {len(steps)} steps"
    )
    print(f"{'phase':<12}{'s/step':>10}{'share':>9}")
    for name, sec in rows.items():
        print(f"{name:<12}{sec:>10.3f}{sec / total:>9.1%}")
    print(f"{'total':<12}{total:>10.3f}{1:>9.1%}")
    print(
        f"sampled tokens per step: {tokens:.0f} ({tokens / max(rows['generation'], 1e-9):.0f} tokens/s in generation)"
    )
    return {"total": total, **rows}


if __name__ == "__main__":
    main()
