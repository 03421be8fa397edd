"""What the trainer reports: rollout and evaluation metrics, and progress bars."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from algos.rollout import RolloutResult


def eval_metrics(result: RolloutResult) -> dict[str, float]:
    """Success rate, mean reward, fatal rate (any flag), cascade rate (ended by ``fatal_k`` errors in a
    row) and mean turns of a rollout's episodes."""
    recs = result.records
    n = max(len(recs), 1)
    out = {
        "episodes": float(len(recs)),
        "success_rate": sum(r.success for r in recs) / n,
        "reward_mean": sum(r.reward for r in recs) / n,
        "fatal_rate": sum(r.fatal for r in recs) / n,
        "cascade_rate": sum(r.termination_reason == "fatal_errors" for r in recs) / n,
        "turns_mean": sum(len(r.turns) for r in recs) / n,
    }
    for key in sorted({k for r in recs for k in r.reward_components}):
        out[f"reward_{key}"] = sum(r.reward_components.get(key, 0.0) for r in recs) / n
    return out


def rollout_metrics(result: RolloutResult) -> dict[str, float]:
    """:func:`eval_metrics` plus token counts and how turns ended."""
    out = eval_metrics(result)
    if result.batch is not None:
        b = result.batch
        out["response_tokens_mean"] = float(b.response_mask.sum(dim=1).float().mean())
        out["context_tokens_mean"] = float(b.attention_mask.sum(dim=1).float().mean())
    turns = sum(result.finish_reasons.values()) or 1
    out["turns_cut_at_limit"] = result.finish_reasons.get("length", 0) / turns
    errors = [t.step_error is not None for r in result.records for t in r.turns]
    out["step_error_rate"] = sum(errors) / max(len(errors), 1)
    return out


@contextlib.contextmanager
def progress(
    label: str, total: int, done: int, enabled: bool = True, console: Any = None
) -> Iterator[Callable[[str], None]]:
    """A rich progress bar; yields ``advance(description)``."""
    if not enabled or total == 0:
        yield lambda _desc: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(f"{label:>4}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("", total=total, completed=done)

        def advance(desc: str) -> None:
            bar.update(task, advance=1, description=desc)

        yield advance
