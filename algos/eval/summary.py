"""``summary.json``: a run's numbers, per env and overall, from its episode lines.

Per env: every metric's mean with a bootstrap 95% interval over tasks; pass@j and mean@k of
the primary metric when tasks have several samples; the same metrics by each tag value; tool
use (calls per episode, per tool with the valid rate); step errors by kind; fatal rate, the
fatal-turn and turn histograms, termination reasons and tokens. Overall: each metric's
suite-weighted mean over envs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from algos.eval.metrics import metric_names, pass_at_k, resolve, tag_fields, tag_values, values
from algos.eval.stats import bootstrap_ci, stratified_ci, task_means
from algos.eval.suite import Suite


def task_of(line: dict[str, Any]) -> tuple[str, int]:
    """The unit of analysis: one task of one suite entry (its samples share it)."""
    return (line["env"], int(line["seed"]))


def summarize(lines: Sequence[dict[str, Any]], suite: Suite | None = None, seed: int = 0) -> dict[str, Any]:
    """The summary of ``lines`` (see the module docstring); ``suite`` gives metrics, tags and weights."""
    by_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_env[line["env"]].append(line)
    envs = {}
    for name in sorted(by_env):
        spec = _spec(suite, name)
        envs[name] = env_summary(by_env[name], spec, seed)
    weights = suite.weights if suite is not None else {}
    overall = {}
    shared = sorted(set.intersection(*(set(e["metrics"]) for e in envs.values()))) if envs else []
    for m in shared:
        groups = {name: list(_task_values(by_env[name], m).values()) for name in envs}
        overall[m] = stratified_ci(groups, weights, seed=seed).to_dict()
    return {
        "episodes": len(lines),
        "tasks": len({task_of(line) for line in lines}),
        "weights": {name: weights.get(name, 1.0) for name in envs},
        "overall": overall,
        "envs": envs,
    }


def _spec(suite: Suite | None, name: str) -> Any:
    if suite is None:
        return None
    try:
        return suite.entry(name)
    except KeyError:
        return None


def _task_values(lines: Sequence[dict[str, Any]], metric: str) -> dict[Any, float]:
    return task_means(zip((task_of(x) for x in lines), values(lines, resolve(metric))))


def env_summary(lines: Sequence[dict[str, Any]], spec: Any = None, seed: int = 0) -> dict[str, Any]:
    names = metric_names(lines, getattr(spec, "metrics", None))
    primary = getattr(spec, "primary", "success")
    metrics = {m: bootstrap_ci(list(_task_values(lines, m).values()), seed=seed).to_dict() for m in names}
    records = [x["record"] for x in lines]
    out: dict[str, Any] = {
        "env_id": lines[0]["env_id"],
        "episodes": len(lines),
        "tasks": len({task_of(x) for x in lines}),
        "samples": max(x["sample"] for x in lines) + 1,
        "primary": primary,
        "metrics": metrics,
        "pass_at_k": _pass_at_k(lines, primary),
        "tags": _tags(lines, names, getattr(spec, "tags", None), seed),
        "tools": _tools(records),
        "step_errors": dict(Counter(t["step_error"] for r in records for t in r["turns"] if t["step_error"])),
        "termination": dict(Counter(str(r["termination_reason"]) for r in records)),
        "fatal_turns": _histogram(r["fatal_turn"] for r in records if r["fatal"] and r["fatal_turn"] is not None),
        "turns": _histogram(len(r["turns"]) for r in records),
    }
    tokens = [
        x["usage"]["completion_tokens"] for x in lines if (x.get("usage") or {}).get("completion_tokens") is not None
    ]
    if tokens:
        out["completion_tokens"] = _histogram(_bucket(t) for t in tokens)
    return out


def _pass_at_k(lines: Sequence[dict[str, Any]], primary: str) -> dict[str, Any]:
    """pass@j for j = 1…k (tasks with k samples, a sample passing when the primary metric is > 0) and mean@k."""
    per_task: dict[Any, list[float]] = defaultdict(list)
    for line, v in zip(lines, values(lines, resolve(primary))):
        if v is not None:
            per_task[task_of(line)].append(v)
    if not per_task:
        return {}
    k = max(len(v) for v in per_task.values())
    full = {t: v for t, v in per_task.items() if len(v) == k}
    out: dict[str, Any] = {"k": k, "tasks": len(full), "metric": primary}
    if k > 1 and full:
        for j in range(1, k + 1):
            out[f"pass@{j}"] = bootstrap_ci([pass_at_k(k, sum(x > 0 for x in v), j) for v in full.values()]).to_dict()
        out[f"mean@{k}"] = bootstrap_ci([sum(v) / k for v in full.values()]).to_dict()
    return out


def _tags(lines: Sequence[dict[str, Any]], names: list[str], requested: Any, seed: int) -> dict[str, Any]:
    shown = [m for m in ("success", "reward", "fatal", "turns") if m in names] or names[:4]
    out: dict[str, Any] = {}
    for field in tag_fields(lines, requested):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            for value in tag_values(line, field):
                groups[value].append(line)
        if not groups:
            continue
        out[field] = {
            value: {
                "episodes": len(group),
                "tasks": len({task_of(x) for x in group}),
                "metrics": {m: bootstrap_ci(list(_task_values(group, m).values()), seed=seed).to_dict() for m in shown},
            }
            for value, group in sorted(groups.items(), key=lambda kv: _natural(kv[0]))
        }
    return out


def _tools(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    calls: Counter = Counter()
    valid: Counter = Counter()
    for r in records:
        for t in r["turns"]:
            if t["kind"] == "tool_call":
                name = str(t["tool"])[:60]
                calls[name] += 1
                valid[name] += t["step_error"] is None
    n = max(len(records), 1)
    per_tool = {
        name: {"calls": calls[name], "per_episode": calls[name] / n, "valid_rate": valid[name] / calls[name]}
        for name in sorted(calls, key=lambda k: -calls[k])
    }
    total = sum(calls.values())
    return {
        "calls_per_episode": total / n,
        "valid_rate": (sum(valid.values()) / total) if total else None,
        "per_tool": per_tool,
        "calls_histogram": _histogram(r["n_tool_calls"] for r in records),
    }


def _histogram(xs: Any) -> dict[str, int]:
    counts = Counter(xs)
    return {str(k): counts[k] for k in sorted(counts, key=_natural)}


def _bucket(tokens: int) -> str:
    """Token counts in powers-of-two buckets (``"128-255"``)."""
    if tokens < 16:
        return "0-15"
    lo = 1 << (int(tokens).bit_length() - 1)
    return f"{lo}-{2 * lo - 1}"


def _natural(value: Any) -> tuple[int, float, str]:
    text = str(value)
    head = text.split("-")[0]
    try:
        return (0, float(head), text)
    except ValueError:
        return (1, 0.0, text)
