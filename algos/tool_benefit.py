"""AdaTooler-V's Tool Benefit Score per task of a dataset (arXiv 2512.16918), for ``at_grpo``.

    ΔS = S+ − S−

S+ and S− are a reference policy's mean accuracy on the task over ``runs`` (8) episodes with
the env's tools and ``runs`` episodes *without tools*. ``mmsearch-gym data tool-benefit DIR
--env ID --policy SPEC`` computes ΔS for every task of a dataset folder and stores it in its
``tasks.jsonl`` as ``tool_benefit`` (with the parts under ``tool_benefit_detail``); the env
copies it into each episode record's task, ``EpisodeBatch.from_records`` into
``batch.tool_benefit``, and ``at_grpo`` reads it from there.

**Without tools** means the same env and task with ``max_turns=1``: the first turn is the
last, where every ToolEnv allows only an answer (its system prompt says so; a tool call is a
``tool_disabled`` step error and the episode ends unanswered, accuracy 0). The prompt and the
images are the same, so the two conditions differ only in whether tools can be used, as in
the paper's with/without-tools runs of its reference model. Any policy works, the scripted
agents included: they answer at once on their last turn (the DeepSearch oracle then has no
evidence and says "unknown"; the Maze oracle knows the route and answers it).

**Accuracy** is ``record.success`` by default (``metric="success"``), or any reward component
(``metric="accuracy"`` for DeepSearch's judge score). Task ``i`` is played by
``reset(options={"index": i})`` on an env made with ``dataset=DIR`` (DeepSearch-v0 takes
both); each run gets its own seed, and the 2 × ``runs`` episodes of a task run as one batch
through :class:`algos.rollout.RolloutEngine`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from algos.eval.policies import make_policy  # noqa: F401  (the one spec parser; re-exported for the CLI)
from algos.rollout import RolloutEngine, SamplingParams

WITHOUT_TOOLS: dict[str, Any] = {"max_turns": 1}
TASKS_FILE = "tasks.jsonl"


@dataclass(frozen=True)
class ToolBenefit:
    """One task's score: S+ (``with_tools``), S− (``without_tools``) and ΔS (``delta``)."""

    task_id: str
    with_tools: float
    without_tools: float
    runs: int

    @property
    def delta(self) -> float:
        return self.with_tools - self.without_tools


def accuracy(record: Any, metric: str = "success") -> float:
    """An episode's accuracy: ``record.success`` (0/1) or its reward component ``metric``."""
    if metric == "success":
        return float(record.success)
    if metric not in record.reward_components:
        have = ", ".join(sorted(record.reward_components)) or "none"
        raise ValueError(f"metric {metric!r} is not a reward component of {record.env_id} (have: success, {have})")
    return float(record.reward_components[metric])


def read_tasks(dataset: str | Path) -> list[dict[str, Any]]:
    """The task lines of ``dataset/tasks.jsonl`` as dicts, in order."""
    path = Path(dataset) / TASKS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{dataset} has no {TASKS_FILE}; build one with `mmsearch-gym data build`")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{line_no}: not JSON ({err})") from None
    if not rows:
        raise ValueError(f"{path} holds no tasks")
    return rows


def score_tasks(
    env_id: str,
    dataset: str | Path,
    policy: Any,
    *,
    runs: int = 8,
    metric: str = "success",
    env_kwargs: dict[str, Any] | None = None,
    sampling: SamplingParams | None = None,
    max_episode_tokens: int = 8192,
    seed: int = 0,
    indices: Sequence[int] | None = None,
    on_task: Callable[[ToolBenefit], None] | None = None,
) -> list[ToolBenefit]:
    """ΔS of tasks ``indices`` (default: all) of ``dataset`` under ``policy``; see the module docstring."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs!r}")
    n_tasks = len(read_tasks(dataset))
    indices = list(range(n_tasks)) if indices is None else [int(i) for i in indices]
    bad = [i for i in indices if not 0 <= i < n_tasks]
    if bad:
        raise ValueError(f"task indices {bad[:5]} are outside the dataset's 0..{n_tasks - 1}")
    kwargs = {**(env_kwargs or {}), "dataset": str(dataset)}
    envs = [gym.make(env_id, **kwargs) for _ in range(runs)]
    envs += [gym.make(env_id, **{**kwargs, **WITHOUT_TOOLS}) for _ in range(runs)]
    engine = RolloutEngine(policy, sampling or SamplingParams(), max_episode_tokens=max_episode_tokens)
    out = []
    try:
        for i in indices:
            seeds = [seed + 2 * runs * i + k for k in range(2 * runs)]
            result = engine.rollout(envs, seeds, group_size=1, options={"index": i})
            scores = [accuracy(r, metric) for r in result.records]
            task_id = result.records[0].task_id
            score = ToolBenefit(task_id, sum(scores[:runs]) / runs, sum(scores[runs:]) / runs, runs)
            out.append(score)
            if on_task is not None:
                on_task(score)
    finally:
        for env in envs:
            env.close()
    return out


def write_tool_benefit(dataset: str | Path, scores: Sequence[ToolBenefit], detail: dict[str, Any]) -> Path:
    """Store each score in its task's line of ``tasks.jsonl`` (atomically; other fields kept).

    ``tool_benefit`` = ΔS; ``tool_benefit_detail`` = S+, S−, runs and ``detail`` (policy, metric).
    Scores match tasks by ``task_id``; a score for a task the file lacks is an error.
    """
    path = Path(dataset) / TASKS_FILE
    rows = read_tasks(dataset)
    by_id = {s.task_id: s for s in scores}
    unknown = sorted(set(by_id) - {str(r.get("task_id")) for r in rows})
    if unknown:
        raise ValueError(f"scores for tasks not in {path}: {unknown[:5]}")
    for row in rows:
        s = by_id.get(str(row.get("task_id")))
        if s is not None:
            row["tool_benefit"] = s.delta
            row["tool_benefit_detail"] = {"with_tools": s.with_tools, "without_tools": s.without_tools,
                                          "runs": s.runs, **detail}  # fmt: skip
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
