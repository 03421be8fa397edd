"""Scripted SpatialDraw agents: ``oracle``, ``blind`` and ``random``.

- ``oracle`` draws the true boxes and paths (the task's ``oracle`` calls, in VILASR's turn
  format, so its trajectories are SFT data in that format) and then answers.
- ``blind`` answers at once from the task type's prior without looking: the most common
  option letter, the training-set median for numbers (per task type and scale: the scale is
  in the prompt), the most common short answer. ``PRIORS`` holds those of a generated
  training set (seed 12345, 60 tasks per cell); :func:`priors_of` recomputes them from any tasks.
- ``random`` answers at once with a guess drawn from the answer format: a uniform option
  letter, a number log-uniform between the prior's 10th and 90th percentiles, a palette colour.
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
    "absolute_distance/tiny_tabletop": (34.47, 57.54, 129.7),
    "absolute_distance/tabletop": (19.76, 37.42, 77.21),
    "absolute_distance/indoor": (1.638, 2.566, 3.917),
    "absolute_distance/outdoor": (4.894, 9.547, 16.65),
    "absolute_distance/drone": (31.49, 66.05, 132.9),
    "object_size/tiny_tabletop": (9.6, 21.86, 47.45),
    "object_size/tabletop": (7.656, 13.9, 24.97),
    "object_size/indoor": (0.7659, 0.9901, 1.963),
    "object_size/outdoor": (0.9406, 1.975, 4.71),
    "object_size/drone": (4.84, 14.31, 43.85),
    "area_size/tiny_tabletop": (53.59, 182.8, 603.8),
    "area_size/tabletop": (2101.0, 6581.0, 20010.0),
    "area_size/indoor": (10.02, 25.72, 64.45),
    "area_size/outdoor": (193.2, 558.1, 1568.0),
    "area_size/drone": (449.9, 742.7, 1374.0),
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
    lo, _, hi = PRIORS.get(f"{task.task_type}/{task.scale}", (0.1, 1.0, 10.0))
    return _fmt(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


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
