"""Tables and curves of a ``train_tiny_maze.py`` run: every arm, mean and 95% t-interval over seeds.

    python examples/ablation_report.py runs/tiny_maze                      # markdown to stdout
    python examples/ablation_report.py runs/tiny_maze --png docs/ablation.png --md docs/ablation.md

Curves (one line per arm, mean over seeds, shaded 95% t-interval): held-out success (greedy
and sampled), held-out fatal rate and turns per episode (sampled), against the RL step; then
the training rollouts' success, fatal rate and turns (a moving average over ``--smooth`` steps).
Tables: each arm's held-out numbers after SFT and after RL; the RL − SFT gain and each
arm's difference to ``vanilla``, paired seed by seed (same SFT checkpoint, same RNG).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from algos.trainer.metrics import read_metrics
from algos.trainer.stats import Interval, t_interval

ORDER = ("vanilla", "hard_mask", "fatal_mask", "full")
HELD_OUT = (
    ("success_rate", "held-out success (greedy)"),
    ("sampled_success_rate", "held-out success (sampled, T=1)"),
    ("sampled_fatal_rate", "held-out fatal rate (sampled)"),
    ("sampled_turns_mean", "held-out turns / episode (sampled)"),
)
TRAIN = (("success_rate", "train rollouts: success"), ("fatal_rate", "train rollouts: fatal rate"), ("turns_mean", "train rollouts: turns"))


def load(run: Path) -> tuple[dict[int, Any], list[str], list[int]]:
    """Every finished stage under ``run`` (``seed-S/sft`` and ``seed-S/<arm>``, read from their
    ``summary.json``), so runs made by several calls (other seeds, other arms) report together.
    Each arm is reported over the seeds that have it; stages must share their config but for the
    seed and paths (a mix of recipes is refused)."""
    results: dict[int, Any] = {}
    recipes: dict[str, tuple[str, Any]] = {}
    for summary in sorted(run.glob("seed-*/*/summary.json")):
        seed, stage = int(summary.parent.parent.name.removeprefix("seed-")), summary.parent.name
        data = json.loads(summary.read_text())
        recipe = {k: v for k, v in data["config"].items() if k not in ("seed", "out_dir", "model")}
        kind = "sft" if stage == "sft" else "rl"
        key = json.dumps(recipe, sort_keys=True) if kind == "sft" else json.dumps(
            {k: v for k, v in recipe.items() if k != "algo_options"}, sort_keys=True)
        if kind in recipes and recipes[kind][1] != key:
            raise SystemExit(f"{summary}: another recipe than {recipes[kind][0]}; report runs of one recipe")
        recipes.setdefault(kind, (str(summary), key))
        results.setdefault(seed, {"stages": {}})["stages"][stage] = data
    results = {s: r for s, r in results.items() if "sft" in r["stages"]}
    if not results:
        raise SystemExit(f"no finished stages under {run}")
    found = {a for r in results.values() for a in r["stages"] if a != "sft"}
    arms = [a for a in ORDER if a in found] + sorted(found - set(ORDER))
    return results, arms, sorted(results)


def seeds_of(results: dict[int, Any], arm: str) -> list[int]:
    """The seeds that have a finished ``arm``."""
    return sorted(s for s, r in results.items() if arm in r["stages"])


def eval_series(run: Path, seed: int, arm: str, key: str, after_sft: dict[str, Any]) -> dict[int, float]:
    """RL step -> held-out ``key`` for one seed and arm (step 0 is the SFT checkpoint)."""
    points = {0: after_sft[key]} if key in after_sft else {}
    for r in read_metrics(run / f"seed-{seed}" / arm / "metrics.jsonl"):
        if r["phase"] == "eval" and key in r:
            points[int(r["step"])] = r[key]
    return points


def train_series(run: Path, seed: int, arm: str, key: str) -> dict[int, float]:
    return {int(r["step"]): r[key] for r in read_metrics(run / f"seed-{seed}" / arm / "metrics.jsonl") if r["phase"] == "rl"}


def band(series: list[dict[int, float]]) -> tuple[list[int], list[float], list[float], list[float]]:
    steps = sorted(set.intersection(*(set(s) for s in series)))
    ivs = [t_interval([s[k] for s in series]) for k in steps]
    finite = [(iv.low, iv.high) if math.isfinite(iv.low) else (iv.mean, iv.mean) for iv in ivs]
    return steps, [iv.mean for iv in ivs], [f[0] for f in finite], [f[1] for f in finite]


def smooth(series: dict[int, float], width: int) -> dict[int, float]:
    steps = sorted(series)
    return {s: sum(series[x] for x in steps[max(0, i - width + 1) : i + 1]) / len(steps[max(0, i - width + 1) : i + 1])
            for i, s in enumerate(steps)}


def plot(run: Path, png: Path, smooth_width: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, arms, seeds = load(run)
    fig, axes = plt.subplots(2, 4, figsize=(18, 8))
    for arm in arms:
        seeds = seeds_of(results, arm)
        for ax, (key, title) in zip(axes[0], HELD_OUT):
            series = [eval_series(run, s, arm, key, results[s]["stages"]["sft"]["evals"]["after_sft"]) for s in seeds]
            if not all(series):
                continue
            x, mean, lo, hi = band(series)
            ax.plot(x, mean, "o-", label=f"{arm} ({len(seeds)} seeds)")
            ax.fill_between(x, lo, hi, alpha=0.15)
            ax.set_title(title, fontsize=10)
        for ax, (key, title) in zip(axes[1], TRAIN):
            series = [smooth(train_series(run, s, arm, key), smooth_width) for s in seeds]
            if not all(series):
                continue
            x, mean, lo, hi = band(series)
            ax.plot(x, mean, label=arm)
            ax.fill_between(x, lo, hi, alpha=0.15)
            ax.set_title(f"{title} ({smooth_width}-step mean)", fontsize=10)
    for ax in axes.flat:
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=9)
    axes[1][3].axis("off")
    fig.suptitle(f"MazeWalk-v0 held-out tasks: mean and 95% t-interval over seeds ({run.name})")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png


def _pct(iv: Interval) -> str:
    if not math.isfinite(iv.low):
        return f"{iv.mean * 100:.1f}"
    return f"{iv.mean * 100:.1f} ± {iv.half_width * 100:.1f}"


def tables(run: Path) -> str:
    results, arms, seeds = load(run)
    sft_all = {s: results[s]["stages"]["sft"]["evals"]["after_sft"] for s in seeds}
    keys = [k for k, _ in HELD_OUT if k in sft_all[seeds[0]]] + ["turns_mean"]
    names = dict(HELD_OUT) | {"turns_mean": "turns (greedy)"}
    lines = [f"Held-out tasks (test layouts): mean ± 95% t-interval half-width over seeds, in % (turns: count); "
             f"SFT checkpoints of seeds {', '.join(map(str, seeds))}.", ""]  # fmt: skip
    lines += ["| stage | seeds | " + " | ".join(names[k] for k in keys) + " |", "|---" * (len(keys) + 2) + "|"]

    def cell(values: list[float], key: str) -> str:
        if "turns" not in key:
            return _pct(t_interval(values))
        iv = t_interval(values)
        return f"{iv.mean:.2f} ± {iv.half_width:.2f}" if math.isfinite(iv.low) else f"{iv.mean:.2f}"

    def seed_list(ss: list[int]) -> str:
        return ",".join(map(str, ss))

    lines.append(f"| after SFT | {seed_list(seeds)} | " + " | ".join(cell([e[k] for e in sft_all.values()], k) for k in keys) + " |")
    for arm in arms:
        ss = seeds_of(results, arm)
        after = [results[s]["stages"][arm]["evals"]["after_rl"] for s in ss]
        lines.append(f"| RL: {arm} | {seed_list(ss)} | " + " | ".join(cell([e[k] for e in after], k) for k in keys) + " |")
    lines += ["", "Paired differences in points (per seed in brackets): RL − SFT (the arm's seeds), and arm − vanilla "
              "after RL (the seeds both have).", ""]  # fmt: skip
    lines += ["| arm | metric | RL − SFT | arm − vanilla |", "|---|---|---|---|"]

    def diff(a: list[float], b: list[float]) -> str:
        d = [x - y for x, y in zip(a, b, strict=True)]
        return f"{_pct(t_interval(d))} [{', '.join(f'{x * 100:+.1f}' for x in d)}]"

    for arm in arms:
        ss = seeds_of(results, arm)
        for key in keys[:3]:
            after = [results[s]["stages"][arm]["evals"]["after_rl"][key] for s in ss]
            vs = "-"
            if "vanilla" in arms and arm != "vanilla":
                both = [s for s in ss if "vanilla" in results[s]["stages"]]
                vs = diff([results[s]["stages"][arm]["evals"]["after_rl"][key] for s in both],
                          [results[s]["stages"]["vanilla"]["evals"]["after_rl"][key] for s in both])  # fmt: skip
            lines.append(f"| {arm} | {names[key]} | {diff(after, [sft_all[s][key] for s in ss])} | {vs} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the --out directory of examples/train_tiny_maze.py")
    parser.add_argument("--png", type=Path, default=None, help="curves PNG (default RUN/ablation.png)")
    parser.add_argument("--md", type=Path, default=None, help="also write the tables to this markdown file")
    parser.add_argument("--smooth", type=int, default=5, help="moving-average width of the training curves")
    args = parser.parse_args(argv)
    png = plot(args.run, args.png or args.run / "ablation.png", args.smooth)
    text = tables(args.run)
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text + "\n")
    print(text)
    print(f"\ncurves: {png}")
    return text


if __name__ == "__main__":
    main()
