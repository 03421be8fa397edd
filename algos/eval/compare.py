"""``mmsearch-gym report DIR_A DIR_B …``: a leaderboard of runs and their paired differences.

Runs are paired on the tasks they share (same suite entry and ``task_id``; samples of a
task averaged first); every run is compared with the first (the baseline): the mean
difference, its bootstrap 95% interval and a sign-flip permutation p-value, per env and
metric, and per tag value.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from algos.eval.html import Raw, bar_chart, esc, estimate, num, page, table
from algos.eval.metrics import resolve, tag_fields, tag_values, values
from algos.eval.stats import paired_comparison, task_means
from algos.eval.store import RunStore
from algos.eval.suite import Suite
from algos.eval.summary import summarize

COMPARED = ("success", "reward", "fatal", "turns", "tool_calls")
PCT = frozenset({"success", "fatal", "accuracy", "valid_tool_rate"})


class Run:
    """A run folder loaded for comparison."""

    def __init__(self, folder: str | Path, label: str | None = None):
        self.store = RunStore(folder)
        if not self.store.episodes_path.exists():
            raise FileNotFoundError(f"{folder} holds no episodes.jsonl: is it the --out folder of `mmsearch-gym eval`?")
        self.config = self.store.read_config() or {}
        self.lines = self.store.lines()
        self.suite = _suite(self.config)
        self.summary = summarize(self.lines, self.suite)
        model = self.config.get("model")
        self.label = label or f"{Path(folder).name} ({model or self.config.get('policy', '?')})"

    def task_values(self, env: str, metric: str, lines: Sequence[dict[str, Any]] | None = None) -> dict[Any, float]:
        chosen = [x for x in (self.lines if lines is None else lines) if x["env"] == env]
        keys = ((x["env"], x["record"]["task_id"]) for x in chosen)
        return task_means(zip(keys, values(chosen, resolve(metric))))


def _suite(config: dict[str, Any]) -> Suite | None:
    return Suite.from_dict(config["suite"]) if config.get("suite") else None


def compare_runs(folders: Sequence[str | Path], metrics: Sequence[str] = COMPARED) -> dict[str, Any]:
    """Leaderboard and paired differences against the first folder (see the module docstring)."""
    if len(folders) < 1:
        raise ValueError("give at least one run folder")
    runs = [Run(f) for f in folders]
    base = runs[0]
    envs = sorted(set.intersection(*(set(r.summary["envs"]) for r in runs)))
    board = []
    for r in runs:
        board.append(
            {
                "run": r.label,
                "folder": str(r.store.root),
                "policy": r.config.get("policy"),
                "model": r.config.get("model"),
                "envs": {e: r.summary["envs"][e]["metrics"] for e in envs},
                "overall": r.summary["overall"],
            }
        )
    paired: dict[str, Any] = {}
    for r in runs[1:]:
        per_env: dict[str, Any] = {}
        for env in envs:
            rows = {}
            for m in metrics:
                p = paired_comparison(base.task_values(env, m), r.task_values(env, m))
                rows[m] = p.to_dict() if p else None
            per_env[env] = {"metrics": rows, "tags": _tag_deltas(base, r, env, metrics[0])}
        shared_a = {k: v for env in envs for k, v in base.task_values(env, metrics[0]).items()}
        shared_b = {k: v for env in envs for k, v in r.task_values(env, metrics[0]).items()}
        pooled = paired_comparison(shared_a, shared_b)
        paired[r.label] = {
            "envs": per_env,
            "pooled": pooled.to_dict() if pooled else None,
            "common_tasks": len(set(shared_a) & set(shared_b)),
            "tasks": (len(shared_a), len(shared_b)),
        }
    return {"baseline": base.label, "envs": envs, "metrics": list(metrics), "leaderboard": board, "paired": paired}


def _tag_deltas(a: Run, b: Run, env: str, metric: str) -> dict[str, Any]:
    lines_a = [x for x in a.lines if x["env"] == env]
    lines_b = [x for x in b.lines if x["env"] == env]
    out: dict[str, Any] = {}
    for field in tag_fields(lines_a):
        groups: dict[str, Any] = defaultdict(lambda: ([], []))
        for x in lines_a:
            for v in tag_values(x, field):
                groups[v][0].append(x)
        for x in lines_b:
            for v in tag_values(x, field):
                groups[v][1].append(x)
        deltas = {}
        for v, (ga, gb) in sorted(groups.items()):
            p = paired_comparison(a.task_values(env, metric, ga), b.task_values(env, metric, gb))
            if p is not None:
                deltas[v] = p.to_dict()
        if deltas:
            out[field] = deltas
    return out


def write_comparison(
    folders: Sequence[str | Path], out: str | Path, metrics: Sequence[str] = COMPARED
) -> dict[str, Any]:
    """Write ``out`` (HTML) and the same numbers as JSON beside it; return them."""
    data = compare_runs(folders, metrics)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
    out.write_text(_render(data), encoding="utf-8")
    return data


def _delta(p: dict[str, Any] | None, pct: bool) -> Raw:
    if not p:
        return Raw("–")
    cls = "ok" if p["significant"] and p["delta"] > 0 else "bad" if p["significant"] else ""
    sign = "+" if p["delta"] > 0 else ""
    value = f"{sign}{num(p['delta'], pct)}"
    badge = f'<span class="badge {cls}">{esc(value)}</span>' if cls else esc(value)
    return Raw(
        f'{badge} <span class="ci">[{num(p["lo"], pct)}, {num(p["hi"], pct)}] p={p["p_value"]:.3g} n={p["n"]}</span>'
    )


def _render(data: dict[str, Any]) -> str:
    envs, metrics = data["envs"], data["metrics"]
    primary = metrics[0]
    pct = primary in PCT
    rows = []
    for row in sorted(data["leaderboard"], key=lambda r: -((r["overall"].get(primary) or {}).get("mean") or 0.0)):
        rows.append(
            [
                row["run"],
                *(estimate(row["envs"][e].get(primary), pct) for e in envs),
                estimate(row["overall"].get(primary), pct),
            ]
        )
    body = "<section><h2>Leaderboard</h2>"
    body += f'<p class="muted">{esc(primary)}, means with bootstrap 95% intervals over tasks; sorted by the suite-weighted overall.</p>'
    body += table(["run", *envs, "overall"], rows)
    chart = bar_chart(
        [
            (
                r["run"][:28],
                (r["overall"].get(primary) or {}).get("mean"),
                (r["overall"].get(primary) or {}).get("lo"),
                (r["overall"].get(primary) or {}).get("hi"),
            )
            for r in data["leaderboard"]
        ],
        f"overall {primary}",
        pct=pct,
        vmax=1.0 if pct else None,
    )
    body += chart + "</section>"
    for label, p in data["paired"].items():
        body += f"<section><h2>{esc(label)} − {esc(data['baseline'])}</h2>"
        body += (
            f"<p>Paired on {p['common_tasks']} common tasks (of {p['tasks'][0]} and {p['tasks'][1]}). "
            f"Pooled {esc(primary)} difference: {_delta(p['pooled'], pct)}</p>"
        )
        if p["common_tasks"] < max(p["tasks"]):
            body += (
                '<p><span class="badge warn">the runs played different tasks</span> only common tasks are compared</p>'
            )
        rows = [[e, *(_delta(p["envs"][e]["metrics"].get(m), m in PCT) for m in metrics)] for e in envs]
        body += table(["env", *(f"Δ {m}" for m in metrics)], rows)
        for env in envs:
            for field, deltas in p["envs"][env]["tags"].items():
                body += f'<h3>{esc(env)} · Δ {esc(primary)} by {esc(field)}</h3><div class="grid">'
                body += table([field, f"Δ {primary}"], [[v, _delta(d, pct)] for v, d in deltas.items()])
                body += bar_chart([(v, d["delta"], d["lo"], d["hi"]) for v, d in deltas.items()], pct=pct)
                body += "</div>"
        body += "</section>"
    header = (
        f'<h1>Comparison · {len(data["leaderboard"])} runs</h1><div class="sub">baseline: '
        f"{esc(data['baseline'])} · envs: {esc(', '.join(envs))}</div>"
    )
    return page("eval comparison", header, body)
