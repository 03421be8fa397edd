"""Per-episode metrics, pass@k, and task tags.

A metric maps one stored episode line (see :mod:`algos.eval.store`) to a number, or None
where it does not apply (the valid-call rate of an episode without calls). Built in:
``success``, ``reward``, ``fatal``, ``turns``, ``tool_calls``, ``valid_tool_rate``,
``step_errors``, ``completion_tokens``; every reward component (``accuracy``, ``format``, …)
is a metric by its own name. Add one with :func:`register_metric`, or name
``module:function`` in a suite's ``metrics`` list.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Metric = Callable[[dict[str, Any]], float | None]

DEFAULT_METRICS = ("success", "reward", "fatal", "turns", "tool_calls", "valid_tool_rate")


def _record(line: dict[str, Any]) -> dict[str, Any]:
    return line["record"]


def _valid_rate(line: dict[str, Any]) -> float | None:
    r = _record(line)
    return r["n_valid_tool_calls"] / r["n_tool_calls"] if r["n_tool_calls"] else None


METRICS: dict[str, Metric] = {
    "success": lambda line: float(bool(_record(line)["success"])),
    "reward": lambda line: float(_record(line)["reward"]),
    "fatal": lambda line: float(bool(_record(line)["fatal"])),
    "turns": lambda line: float(len(_record(line)["turns"])),
    "tool_calls": lambda line: float(_record(line)["n_tool_calls"]),
    "valid_tool_rate": _valid_rate,
    "step_errors": lambda line: float(sum(t["step_error"] is not None for t in _record(line)["turns"])),
    "completion_tokens": lambda line: _usage(line, "completion_tokens"),
    "prompt_tokens": lambda line: _usage(line, "prompt_tokens"),
}


def _usage(line: dict[str, Any], key: str) -> float | None:
    value = (line.get("usage") or {}).get(key)
    return None if value is None else float(value)


def register_metric(name: str, fn: Metric) -> None:
    """Make ``name`` usable in suites and summaries; ``fn(line) -> float | None``."""
    if not callable(fn):
        raise TypeError(f"metric {name!r} must be callable, got {type(fn).__name__}")
    METRICS[name] = fn


def resolve(name: str) -> Metric:
    """The metric called ``name``: built in, registered, a reward component, or ``module:function``."""
    if name in METRICS:
        return METRICS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"metric {name!r}: cannot load {attr} from {module} ({err})") from None
        if not callable(fn):
            raise ValueError(f"metric {name!r} is not callable")
        return fn

    def component(line: dict[str, Any]) -> float | None:
        value = _record(line).get("reward_components", {}).get(name)
        return None if value is None else float(value)

    return component


def metric_names(lines: Sequence[dict[str, Any]], requested: Sequence[str] | None = None) -> list[str]:
    """``requested``, else the defaults plus every reward component and token count the lines have."""
    if requested:
        return list(dict.fromkeys(requested))
    names = list(DEFAULT_METRICS)
    comps = sorted({k for line in lines for k in _record(line).get("reward_components", {})})
    names += [c for c in comps if c not in names]
    if any((line.get("usage") or {}).get("completion_tokens") is not None for line in lines):
        names.append("completion_tokens")
    return names


def values(lines: Iterable[dict[str, Any]], metric: Metric) -> list[float | None]:
    out = []
    for line in lines:
        v = metric(line)
        out.append(None if v is None or not math.isfinite(float(v)) else float(v))
    return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct: ``1 - C(n-c, k) / C(n, k)``
    (Chen et al. 2021, arXiv 2107.03374)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


# ---- tags ---------------------------------------------------------------------------------
# Task fields that identify or describe one task rather than group many.
NOT_TAGS = frozenset(
    {
        "task_id",
        "prompt",
        "answer",
        "answers",
        "question",
        "options",
        "image_paths",
        "evidence_urls",
        "start",
        "goal",
        "path",
        "difficulty_score",
    }
)
MAX_TAG_VALUES = 30


def tag_values(line: dict[str, Any], field: str) -> list[str]:
    """The values of task field ``field`` for this episode (a list field gives one per item)."""
    value = _record(line).get("task", {}).get(field)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int, bool))]
    if isinstance(value, (str, int, bool, float)):
        return [str(value)]
    return []


def tag_fields(lines: Sequence[dict[str, Any]], requested: Sequence[str] | None = None) -> list[str]:
    """``requested``, else every task field with at most 30 values that does not single out tasks."""
    if requested:
        return list(requested)
    candidates = sorted({k for line in lines for k in _record(line).get("task", {})} - NOT_TAGS)
    tasks = {(line["env"], line["seed"]) for line in lines}
    out = []
    for field in candidates:
        seen: Counter = Counter()
        for line in lines:
            seen.update(set(tag_values(line, field)))
        if not seen or len(seen) > MAX_TAG_VALUES:
            continue
        if len(tasks) >= 10 and len(seen) >= len(tasks):
            continue  # one value per task: an id, not a tag
        out.append(field)
    return out
