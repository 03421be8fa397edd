"""A tiny model learns to walk text mazes on the CPU: SFT on oracle walks with error turns, then RL.

    python examples/train_tiny_maze.py                     # seed 0: SFT, then RL with fatal_grpo (full)
    python examples/train_tiny_maze.py --seeds 0 1 2       # three seeds: mean and 95% t-interval per stage
    python examples/train_tiny_maze.py --seeds 0 1 2 --arms vanilla hard_mask fatal_mask full   # the ablation
    python examples/ablation_report.py runs/tiny_maze      # its table and curves (PNG)
    python examples/train_tiny_maze.py --smoke             # seconds: one step of each phase

The env is ``mmsearch_gym/MazeWalk-v0`` (3x3 and 4x4 mazes as ASCII text): each turn is one
``move`` tool call, a move into a wall is a step error (three in a row end the episode: the
fatal signal fatal_grpo reads), and the agent answers ``done`` on the goal. Reward:
``r_fmt · accuracy`` (errors cost reward). A tokenizer and a small Qwen2-style model are built
locally, nothing is downloaded.

**Held-out split.** Training envs use ``split="train"``, evaluation envs ``split="test"``:
the env assigns each maze *layout* (its walls) to one split by a hash, so no evaluation maze
shares its walls with any training maze, and evaluation seeds (10**9 + i) are disjoint from
training seeds too. :func:`check_heldout` asserts both before training and the run prints it.

**Stages per seed** (each a :class:`algos.trainer.Trainer` run, all seeded): build the
model; SFT on oracle walks in which the oracle bumps into a wall on 20% of its turns and
recovers (real agent SFT data has error turns, and the model learns to make them); then RL
from that SFT checkpoint, once per ``--arm``. Every arm of a seed starts from the same
checkpoint with the same RNG state, so arms differ only by the algorithm. Held-out success is
measured greedily (``success``) and by sampling each task 4 times at temperature 1
(``sampled``), after SFT, every ``--eval-every`` RL steps and at the end.

**Arms** (``fatal_grpo`` options, every other option passed explicitly, see ``ALGO``):
``vanilla`` no mask and no clamp; ``hard_mask`` every token of a flagged episode (fatal
cascade or no answer) or of one with more than half its turns in error leaves the loss
(Vision-DeepResearch's baseline); ``fatal_mask`` only turns from the fatal turn on leave the
loss; ``full`` fatal mask plus the one-sided clamp ``A = max(A, 0)`` of flagged episodes.

**What to expect** (5 seeds, 2-core CPU, one seed ≈ 13 CPU-minutes: SFT ~400 s, RL ~380 s):
held-out success after SFT 45.2 ± 8.5% sampled / 58.8 ± 7.3% greedy; after 80 RL steps of
``full`` 63.0 ± 9.2% / 67.3 ± 10.0%; RL − SFT +17.8 ± 9.0 points sampled (95% t-interval
excludes zero), +8.6 ± 10.8 greedy (it does not). The ablation and its reading: README,
"A learning signal"; tables in ``docs/tiny_maze/ablation.md``.

Outputs under ``--out``: ``seed-S/sft`` and ``seed-S/<arm>`` (metrics.jsonl, curves.png,
TensorBoard, final model), ``results.json`` (every evaluation, wall and CPU seconds per
stage). A stage whose ``summary.json`` matches its config is reused, so an interrupted run
continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from algos import tiny
from algos.trainer import Trainer, load_config
from algos.trainer.data import rl_seeds, sft_seeds
from algos.trainer.stats import t_interval

ENV = "mmsearch_gym/MazeWalk-v0"
ENV_KWARGS = {
    "image": False,
    "min_size": 3,
    "max_size": 3,
    "max_turns": 12,
    "show_exits": True,
    "split": "train",
    "test_fraction": 0.2,
    "oracle_error_rate": 0.2,
}
EVAL_KWARGS = {"split": "test"}
# Every fatal_grpo option the arms share, given explicitly (the registry's defaults may move).
ALGO = {
    "estimator": "rloo",
    "clip_low": 0.2,
    "clip_high": 0.28,
    "clip_ratio_c": 3.0,
    "loss_agg_mode": "seq-mean-token-sum",
    "kl_coef": 0.0,
    "drop_from_group": False,
    "clamp_unanswered": True,
}
ARMS = {
    "vanilla": {"clamp_fatal": False, "mask_fatal": False, "hard_mask": False},
    "hard_mask": {"clamp_fatal": False, "mask_fatal": False, "hard_mask": True},
    "fatal_mask": {"clamp_fatal": False, "mask_fatal": True, "hard_mask": False},
    "full": {"clamp_fatal": True, "mask_fatal": True, "hard_mask": False},
}
MODEL = {"hidden": 64, "layers": 2, "heads": 4}
SMOKE_MODEL = {"hidden": 32, "layers": 1, "heads": 2}


def corpus(episodes: int = 200) -> Any:
    """Texts of MazeWalk episodes (sides 2-5, oracle with errors and random turns) for the tokenizer."""
    env = gym.make(ENV, min_size=2, max_size=5, oracle_error_rate=0.3, image=False)
    base: Any = env.unwrapped
    for ep in range(episodes):
        _, info = env.reset(seed=ep)
        yield from (m["content"] for m in info["messages"])
        done = False
        while not done:
            action = base.oracle_action() if ep % 4 else base.random_action()
            obs, _, terminated, truncated, _ = env.step(action)
            yield action
            yield obs["text"]
            done = terminated or truncated
    env.close()


def _kv(item: str) -> tuple[str, Any]:
    import yaml

    key, _, value = item.partition("=")
    return key, yaml.safe_load(value)


def base_config(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """What the SFT and RL stages of one seed share (``--smoke`` shrinks the counts)."""
    smoke = args.smoke
    return {
        "env": ENV,
        "algo": "fatal_grpo",
        "seed": seed,
        "env_kwargs": {**ENV_KWARGS, **dict(_kv(x) for x in args.env_kw)},
        "ref_model": None,
        "rollout": {
            "tasks_per_step": 2 if smoke else args.tasks_per_step,
            "group_size": 2 if smoke else args.group_size,
            "max_new_tokens": 24,
            "max_episode_tokens": 2048,
            "temperature": 1.0,
        },
        "optim": {"micro_batch_size": 16, "max_grad_norm": 1.0},
        "eval": {
            "episodes": 4 if smoke else args.eval_episodes,
            "sampled": 1 if smoke else args.eval_samples,
            "env_kwargs": dict(EVAL_KWARGS),
            "before": False,
        },
        "checkpoint": {"every": 1000},
        "logging": {"tensorboard": not smoke, "progress": not smoke, "plot": True},
    }


def sft_config(args: argparse.Namespace, seed: int, model: Path, out: Path) -> dict[str, Any]:
    cfg = base_config(args, seed)
    cfg.update(model=str(model), out_dir=str(out), algo_options={**ALGO, **ARMS["full"]})
    cfg["sft"] = {"steps": 1 if args.smoke else args.sft_steps, "episodes": 8 if args.smoke else args.sft_episodes,
                  "batch_size": 16, "lr": args.sft_lr}
    cfg["rl"] = {"steps": 0}  # no RL options: changing --rl-* must not retrain (and re-key) SFT
    cfg["eval"]["before"] = not args.smoke
    return cfg


def rl_config(args: argparse.Namespace, seed: int, arm: str, sft_model: Path, out: Path) -> dict[str, Any]:
    cfg = base_config(args, seed)
    cfg.update(model=str(sft_model), out_dir=str(out), algo_options={**ALGO, **ARMS[arm]})
    cfg["sft"] = {"steps": 0}
    cfg["rl"] = {"steps": 1 if args.smoke else args.rl_steps, "lr": args.rl_lr}
    cfg["eval"]["every"] = 0 if args.smoke else args.eval_every
    return cfg


def check_heldout(sft: dict[str, Any], rl: dict[str, Any]) -> dict[str, int]:
    """Assert that no evaluation task shares its prompt, or its maze layout, with a training task."""
    cfg = load_config(None, **rl)
    train = sft_seeds(sft["seed"], sft["sft"]["episodes"]) + rl_seeds(
        cfg.seed, 0, cfg.rl.steps * cfg.rollout.tasks_per_step
    )
    evals = [cfg.eval.seed + i for i in range(cfg.eval.episodes)]
    assert not set(train) & set(evals), "evaluation seeds overlap training seeds"

    def tasks(kwargs: dict[str, Any], seeds: list[int]) -> tuple[set[str], set[bytes]]:
        env = gym.make(ENV, **kwargs)
        prompts, layouts = set(), set()
        for s in seeds:
            env.reset(seed=s)
            maze = env.unwrapped.maze
            prompts.add(env.unwrapped.task.prompt)
            layouts.add(maze.open_east.tobytes() + maze.open_south.tobytes() + bytes([maze.rows]))
        return prompts, layouts

    train_prompts, train_layouts = tasks(cfg.env_kwargs, train)
    eval_prompts, eval_layouts = tasks({**cfg.env_kwargs, **cfg.eval.env_kwargs}, evals)
    shared_prompts, shared_layouts = len(train_prompts & eval_prompts), len(train_layouts & eval_layouts)
    assert shared_prompts == 0 and shared_layouts == 0, f"{shared_prompts} prompts, {shared_layouts} layouts shared"
    return {"train_tasks": len(train), "eval_tasks": len(evals), "train_layouts": len(train_layouts),
            "eval_layouts": len(eval_layouts), "shared_prompts": 0, "shared_layouts": 0}


def run_stage(raw: dict[str, Any], console: Any) -> dict[str, Any]:
    """Train one stage, or reuse it when its ``summary.json`` holds the same config."""
    out = Path(raw["out_dir"])
    done = out / "summary.json"
    if done.exists():
        summary = json.loads(done.read_text())
        if summary.get("config") == raw:
            return summary
    if out.exists():
        shutil.rmtree(out)
    wall, cpu = time.perf_counter(), time.process_time()
    result = Trainer(load_config(None, **raw), console=console).fit()
    summary = {"config": raw, "evals": result["evals"], "wall_s": time.perf_counter() - wall,
               "cpu_s": time.process_time() - cpu}
    done.write_text(json.dumps(summary, indent=1))
    return summary


def run_seed(args: argparse.Namespace, seed: int, console: Any) -> dict[str, Any]:
    """Model, SFT and one RL run per arm for ``seed``."""
    root = Path(args.out) / f"seed-{seed}"
    model = root / "model"
    sizes = SMOKE_MODEL if args.smoke else {**MODEL, "hidden": args.hidden, "layers": args.layers, "arch": args.arch}
    built = model / "built.json"
    if not built.exists() or json.loads(built.read_text())["sizes"] != sizes:
        wall, cpu = time.perf_counter(), time.process_time()
        tiny.save_tiny_model(model, "text", tokenizer=tiny.build_tokenizer(corpus(), maze_rows=4), seed=seed, **sizes)
        timing = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        built.write_text(json.dumps({"sizes": sizes, **timing}))
    model_s = json.loads(built.read_text())
    sft = sft_config(args, seed, model, root / "sft")
    heldout = check_heldout(sft, rl_config(args, seed, args.arms[0], root / "sft" / "final", root / args.arms[0]))
    console.print(f"seed {seed}: held-out check passed: {heldout}")
    stages = {"model": model_s, "sft": run_stage(sft, console)}
    for arm in args.arms:
        stages[arm] = run_stage(rl_config(args, seed, arm, root / "sft" / "final", root / arm), console)
    return {"heldout": heldout, "stages": stages}


METRICS = (
    ("success_rate", "success (greedy)"),
    ("sampled_success_rate", "success (sampled)"),
    ("sampled_cascade_rate", "fatal cascades (sampled)"),
    ("sampled_turns_mean", "turns (sampled)"),
)


def evals_of(result: dict[str, Any], arm: str) -> dict[str, dict[str, Any]]:
    """A seed's held-out evaluations along one arm: the SFT stage's, then the arm's RL stage's."""
    return {**result["stages"]["sft"]["evals"], **result["stages"][arm]["evals"]}


def _cell(values: list[float], key: str) -> str:
    iv = t_interval(values)
    scale, unit = (1.0, "") if "turns" in key else (100.0, "%")
    if iv.n == 1:
        return f"{iv.mean * scale:.1f}{unit}"
    return f"{iv.mean * scale:.1f} ± {iv.half_width * scale:.1f}{unit}"


def report(results: dict[int, dict[str, Any]], arms: list[str], console: Any) -> dict[str, Any]:
    """Print every stage's held-out numbers (mean ± 95% t-interval half-width over seeds), the paired
    RL − SFT gains and the time per stage; return the gains."""
    from rich.markup import escape
    from rich.table import Table

    seeds = sorted(results)
    table = Table(title=f"held-out MazeWalk-v0 tasks (test layouts): mean ± 95% t-interval, {len(seeds)} seed(s)")
    for col in ("arm", "stage", *(label for _, label in METRICS)):
        table.add_column(col)
    for arm in arms:
        per_seed = [evals_of(results[s], arm) for s in seeds]
        for tag in [t for t in per_seed[0] if all(t in e for e in per_seed)]:
            keys = [k for k, _ in METRICS if k in per_seed[0][tag]]
            table.add_row(arm, tag, *(_cell([e[tag][k] for e in per_seed], k) for k in keys))
    console.print(table)
    gains: dict[str, Any] = {}
    for arm in arms:
        for key, label in METRICS[:3]:
            pairs = [(evals_of(results[s], arm).get("after_sft"), evals_of(results[s], arm).get("after_rl")) for s in seeds]
            if any(a is None or b is None or key not in a for a, b in pairs):
                continue
            diffs = [b[key] - a[key] for a, b in pairs]
            iv = gains[f"{arm}/{key}"] = t_interval(diffs)
            shown = f"{iv:pct}" if iv.n > 1 else f"{iv.mean * 100:+.1f}"
            per = ", ".join(f"{d * 100:+.1f}" for d in diffs)
            console.print(escape(f"RL − SFT, {arm}, {label}: {shown} points [per seed: {per}]"))
    for seed in seeds:
        st = results[seed]["stages"]
        first = arms[0]
        wall = sum(st[k]["wall_s"] for k in ("model", "sft", first))
        cpu = sum(st[k]["cpu_s"] for k in ("model", "sft", first))
        per_arm = ", ".join(f"{a} {st[a]['wall_s']:.0f}/{st[a]['cpu_s']:.0f}" for a in arms)
        console.print(
            f"seed {seed}: model + SFT + {first}: wall {wall:.0f} s, CPU {cpu:.0f} s "
            f"(SFT {st['sft']['wall_s']:.0f}/{st['sft']['cpu_s']:.0f}; RL wall/CPU s: {per_arm})"
        )
    return gains


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/tiny_maze", help="output directory (finished stages are reused)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=["full"], help="RL arms, each from the SFT checkpoint")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: two seeds fit two cores)")
    parser.add_argument("--sft-steps", type=int, default=900)
    parser.add_argument("--sft-episodes", type=int, default=1024)
    parser.add_argument("--sft-lr", type=float, default=3e-3)
    parser.add_argument("--rl-steps", type=int, default=80)
    parser.add_argument("--rl-lr", type=float, default=1e-3)
    parser.add_argument("--tasks-per-step", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--eval-episodes", type=int, default=128)
    parser.add_argument("--eval-samples", type=int, default=2, help="sampled episodes per held-out task (0: greedy only)")
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--env-kw", action="append", default=[], help="env kwarg KEY=VALUE (YAML value) over ENV_KWARGS")
    parser.add_argument("--arch", choices=("qwen2", "gpt2"), default="qwen2")
    parser.add_argument("--hidden", type=int, default=MODEL["hidden"])
    parser.add_argument("--layers", type=int, default=MODEL["layers"])
    parser.add_argument("--smoke", action="store_true", help="one step of each phase, tiny sizes")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    from rich.console import Console

    console = Console()
    results = {seed: run_seed(args, seed, console) for seed in args.seeds}
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    gains = report(results, args.arms, console)
    return {"results": results, "gains": gains, "out": str(out)}


if __name__ == "__main__":
    main()
