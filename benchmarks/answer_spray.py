"""Answer spraying against DeepSearch-v0's default judge: hedged lists score 0, honest answers keep their score.

    python benchmarks/answer_spray.py [--n 100] [--seed 0] [--quick]

An RL policy can game "does the answer contain the correct answer" by listing every candidate
of the asked kind (every person's name, every year…) without a single tool call. For ``n``
generated tasks, each answer below is given as the first and only turn, and the table shows
the accuracy component under the current judge (``hedging`` with the world's rival answers,
then containment), the same judge without rivals (what a real dataset without a world gets),
and the bare containment rule it replaced (``answer_accuracy``), all in the same run.

Sprays (the attacker does not know the answer; it knows the kind asked): ``list`` every
candidate joined by commas, ``or`` joined by " or ", ``spaces`` joined by spaces, ``fit`` as
many random candidates as fit in the length cap, ``pair`` two random candidates.
Honest: ``gold``, ``sentence`` ("The answer is …."), ``title`` (a name with a title and an
honorific, or a value with a source), ``alias`` (the answer and an accepted variant).
"""

from __future__ import annotations

import argparse
import random

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.rewards.deep_search import answer_accuracy
from mmsearch_gym.rewards.judge import MAX_ANSWER_CHARS, RuleJudge
from mmsearch_gym.tasks.deep_search_clues import GraphView

SPRAYS = ("list", "or", "spaces", "fit", "pair")
HONEST = ("gold", "sentence", "title", "alias")


def candidates(env, task) -> list[str]:
    """Every answer of the asked kind in the world, as an attacker would collect them (gold included)."""
    world = env.unwrapped.world
    view = GraphView(world)
    kind = world.entity(task.path[-1]["id"]).type
    found: set[str] = set()
    for e in world.iter_entities():
        if task.asked == "name" and e.type == kind:
            found.add(e.name)
        elif task.asked != "name":
            found.update(a.text for a in view.attributes(e) if a.key == task.asked)
    return sorted(found)


def spray(kind: str, pool: list[str], rng: random.Random) -> str:
    pool = pool[:]
    rng.shuffle(pool)
    if kind == "list":
        return ", ".join(pool)
    if kind == "or":
        return " or ".join(pool)
    if kind == "spaces":
        return " ".join(pool)
    if kind == "pair":
        return " or ".join(pool[:2])
    out = ""
    for c in pool:  # fit: as many as the length cap allows, separated by spaces only
        if len(out) + len(c) + 1 > MAX_ANSWER_CHARS:
            break
        out = f"{out} {c}".strip()
    return out


def honest(kind: str, task) -> str:
    gold = task.answers[0]
    if kind == "gold":
        return gold
    if kind == "sentence":
        return f"The answer is {gold}."
    if kind == "title":
        return f"Dr. {gold}, Fellow of the Academy" if task.asked == "name" else f"{gold}, according to its article"
    alias = next((a for a in task.answers[1:] if a != gold), None)
    return f"{gold} (also known as {alias})" if alias else gold


def accuracy(env, task, answer: str) -> tuple[float, float, float]:
    """(the env's accuracy component, the judge without rivals, the bare containment rule) for one answer."""
    env.reset(options={"task": task})
    *_, info = env.step(f"<think>answer now</think><answer>{answer}</answer>")
    no_rivals = RuleJudge()(task.question, answer, task.answers)
    return info["reward_components"]["accuracy"], no_rivals, answer_accuracy(answer, task.answers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="30 tasks")
    args = ap.parse_args()
    n = 30 if args.quick else args.n
    env = gym.make("mmsearch_gym/DeepSearch-v0", max_turns=4)
    sampler = env.unwrapped.sampler
    tasks = [sampler.sample(np.random.default_rng([args.seed, i])) for i in track(range(n), description="tasks")]
    rng = random.Random(args.seed)
    rows = {}
    for kind in track(SPRAYS + HONEST, description="answers"):
        scores = []
        for task in tasks:
            answer = spray(kind, candidates(env, task), rng) if kind in SPRAYS else honest(kind, task)
            scores.append(accuracy(env, task, answer))
        rows[kind] = tuple(sum(col) / n for col in zip(*scores))
    table = Table(title=f"DeepSearch-v0 accuracy of sprayed and honest answers ({n} tasks, no tool call)")
    for col in (
        "answer",
        "kind",
        "judge now",
        "without rivals (real data)",
        "containment only (baseline)",
        "now / baseline",
    ):
        table.add_column(col, justify="left" if col in ("answer", "kind") else "right")
    for kind, (now, no_rivals, base) in rows.items():
        ratio = f"{now / base:.2f}" if base else "-"
        table.add_row(
            kind, "spray" if kind in SPRAYS else "honest", f"{now:.1%}", f"{no_rivals:.1%}", f"{base:.1%}", ratio
        )
    Console().print(table)


if __name__ == "__main__":
    main()
