"""Scripted SpatialDraw agents: ``oracle``, ``blind`` and ``random``.

- ``oracle`` draws the true boxes and paths (the task's ``oracle`` calls, in VILASR's turn
  format, so its trajectories are SFT data in that format) and then answers.
- ``blind`` answers at once from the task type's prior without looking: the most common
  option letter, the training-set median for numbers (per task type and scale: the scale is
  in the prompt), the most common short answer. ``PRIORS`` holds those of a generated
  training set (seed 12345, 60 tasks per cell: ``python benchmarks/spatial_draw.py --priors``
  prints them); :func:`priors_of` recomputes them from any tasks.
- ``random`` answers at once with a guess drawn from the answer format: a uniform option
  letter, a number log-uniform over the prior's range (its 10th–90th percentiles widened by an
  eighth of their log span on each side: the whole range of a log-uniform), a palette colour.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from .objects import PALETTE
from .task import LETTERS, SpatialTask

if TYPE_CHECKING:
    from ...envs.spatial_draw import SpatialDrawEnv

AGENTS = ("oracle", "blind", "random")
# task_type/scale → (10th percentile, median, 90th percentile) of the numeric truths
PRIORS: dict[str, tuple[float, float, float]] = {
    "absolute_distance/tiny_tabletop": (24.27, 73.83, 196.7),
    "absolute_distance/tabletop": (16.12, 44.42, 121.8),
    "absolute_distance/indoor": (1.268, 2.657, 6.767),
    "absolute_distance/outdoor": (3.113, 8.125, 21.67),
    "absolute_distance/drone": (27.69, 76, 195.8),
    "object_size/tiny_tabletop": (7.513, 19.29, 48.33),
    "object_size/tabletop": (4.957, 12.19, 29.29),
    "object_size/indoor": (0.3453, 0.8326, 1.962),
    "object_size/outdoor": (1.127, 2.894, 7.25),
    "object_size/drone": (5.399, 15.48, 43.2),
    "area_size/tiny_tabletop": (50, 128.4, 529.5),
    "area_size/tabletop": (1969, 4289, 1.771e+04),
    "area_size/indoor": (8.595, 18.54, 75.27),
    "area_size/outdoor": (181.9, 374.9, 1400),
    "area_size/drone": (242.2, 460, 1309),
}
MC_PRIOR, TEXT_PRIOR = "A", "red"


def priors_of(tasks: Iterable[SpatialTask]) -> dict[str, Any]:
    """The blind agent's priors from a training set: per numeric cell the percentiles, else the most common answer."""
    numeric: dict[str, list[float]] = {}
    answers: dict[str, Counter] = {}
    for t in tasks:
        if t.metric == "numeric" and t.truth is not None:
            numeric.setdefault(f"{t.task_type}/{t.scale}", []).append(t.truth)
        else:
            answers.setdefault(t.metric, Counter())[t.answer] += 1
    out: dict[str, Any] = {k: tuple(float(v) for v in np.quantile(vals, [0.1, 0.5, 0.9])) for k, vals in numeric.items()}
    out.update({m: c.most_common(1)[0][0] for m, c in answers.items()})
    return out


def blind_answer(task: SpatialTask) -> str:
    if task.metric == "multiple_choice":
        return MC_PRIOR
    if task.metric == "text":
        return TEXT_PRIOR
    prior = PRIORS.get(f"{task.task_type}/{task.scale}")
    return _fmt(prior[1]) if prior else "1"


def random_guess(task: SpatialTask, rng: np.random.Generator) -> str:
    if task.metric == "multiple_choice":
        return LETTERS[int(rng.integers(max(len(task.options), 2)))]
    if task.metric == "text":
        return list(PALETTE)[int(rng.integers(len(PALETTE)))]
    p10, _, p90 = PRIORS.get(f"{task.task_type}/{task.scale}", (0.1, 1.0, 10.0))
    lo, hi = np.log(p10), np.log(p90)
    pad = (hi - lo) / 8  # the 10th–90th percentiles of a log-uniform cover 80% of its log range
    return _fmt(float(np.exp(rng.uniform(lo - pad, hi + pad))))


def _fmt(value: float) -> str:
    from .task import fmt_number

    return fmt_number(value)


def vilasr_draw(call: dict[str, Any], think: str) -> str:
    """A drawing turn exactly as VILASR's prompt asks for it."""
    name = "Object Mapper" if call["tool"] == "object_mapper" else "Path Tracer"
    return f"<think>{think}</think> Action: {name}\n```json\n{json.dumps(call['items'], indent=1)}\n```"


def vilasr_answer(answer: str, think: str) -> str:
    return f"<think>{think}</think> Action: Answer\n<answer>{answer}</answer>"


class SpatialAgent:
    """A scripted agent; ``act(env)`` returns its next turn (``env`` is the unwrapped SpatialDrawEnv)."""

    def __init__(self, mode: str = "oracle"):
        if mode not in AGENTS:
            raise ValueError(f"unknown SpatialDraw agent {mode!r}; choose one of {', '.join(AGENTS)}")
        self.mode = mode

    def act(self, env: SpatialDrawEnv) -> str:
        task = env.spatial_task
        if task is None:
            raise RuntimeError("call env.reset() before asking a scripted agent for a turn")
        if self.mode == "blind":
            return vilasr_answer(blind_answer(task), "Answering from what such questions usually have as answer.")
        if self.mode == "random":
            return vilasr_answer(random_guess(task, env.np_random), "A guess.")
        done = sum(1 for t in env.episode_record().turns if t.kind == "tool_call" and t.step_error is None)
        if done < len(task.oracle) and env._turn < env.max_turns - 1:
            call = task.oracle[done]
            labels = ", ".join(str(i["label"]) for i in call["items"])
            what = "mark" if call["tool"] == "object_mapper" else "trace"
            return vilasr_draw(call, f"I {what} {labels} to check the spatial relation before answering.")
        return vilasr_answer(task.answer, "The drawings confirm it.")
