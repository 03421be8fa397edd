"""``report.html``: one self-contained page for one run.

Headline metrics with bootstrap 95% intervals, breakdowns by task tag, tool use, step
errors and fatal turns, turns and tokens, and a trajectory viewer: filter the episodes, open
one, read every turn with its images inline, the tool responses, the reward components and
the judge's details. Images are embedded as data URLs (downscaled to ``max_side``) up to
``image_budget_mb``; past that the page links the run folder's PNGs instead.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from algos.eval.html import Raw, bar_chart, esc, estimate, histogram, json_script, num, page, table
from algos.eval.metrics import tag_values
from algos.eval.store import RunStore
from algos.eval.viewer import VIEWER_JS

PCT_METRICS = frozenset({"success", "fatal", "valid_tool_rate", "accuracy"})
MAX_TEXT = 20_000  # characters of one message shown in the viewer


def write_report(
    store: RunStore,
    summary: dict[str, Any],
    lines: Sequence[dict[str, Any]] | None = None,
    max_side: int = 768,
    image_budget_mb: float = 64.0,
    max_episodes: int = 1000,
) -> Path:
    """Render ``store``'s run to ``report.html``; returns its path. The numbers cover every episode;
    the viewer holds at most ``max_episodes`` of them, evenly spread over the run."""
    lines = store.lines() if lines is None else lines
    config = store.read_config() or {}
    ordered = sorted(lines, key=lambda x: (x["env"], x["seed"], x["sample"]))
    if len(ordered) > max_episodes:
        ordered = [ordered[i * len(ordered) // max_episodes] for i in range(max_episodes)]
    images = _embed_images(store, ordered, max_side, int(image_budget_mb * 2**20))
    episodes = [_episode_view(line, summary) for line in ordered]
    body = "".join(
        [
            _headline(summary),
            _by_tag(summary),
            _tools(summary),
            _failures(summary),
            _turns_tokens(summary),
            _viewer(episodes, images, len(lines)),
        ]
    )
    run = summary.get("run", {})
    title = f"eval · {run.get('suite', '')} · {run.get('policy', '')}"
    status = (
        '<span class="badge ok">complete</span>'
        if summary.get("complete")
        else '<span class="badge warn">partial</span>'
    )
    versions = ", ".join(f"{k} {v}" for k, v in (config.get("versions") or {}).items() if v)
    header = (
        f"<h1>{esc(run.get('suite', 'eval'))} · {esc(run.get('model') or run.get('policy', ''))} {status}</h1>"
        f'<div class="sub">policy {esc(run.get("policy", ""))} · target {esc(run.get("target", ""))} · '
        f"{summary['episodes']} episodes on {summary['tasks']} tasks · created {esc(config.get('created', '?'))}</div>"
        f'<div class="sub" style="font-size:12px">{esc(versions)}</div>'
    )
    store.report_path.write_text(page(title, header, body, VIEWER_JS), encoding="utf-8")
    return store.report_path


# ---- sections --------------------------------------------------------------------------------
def _headline(summary: dict[str, Any]) -> str:
    envs = summary["envs"]
    names = list(dict.fromkeys(m for e in envs.values() for m in e["metrics"]))
    rows = []
    for name, e in envs.items():
        rows.append(
            [
                Raw(f'<b>{esc(name)}</b> <span class="muted">{esc(e["env_id"])}</span>'),
                e["episodes"],
                e["tasks"],
                *(estimate(e["metrics"].get(m), m in PCT_METRICS) for m in names),
            ]
        )
    if len(envs) > 1:
        rows.append(
            [
                Raw('<b>overall</b> <span class="muted">suite-weighted</span>'),
                summary["episodes"],
                summary["tasks"],
                *(estimate(summary["overall"].get(m), m in PCT_METRICS) for m in names),
            ]
        )
    out = "<section><h2>Headline metrics</h2>"
    out += '<p class="muted">Means with bootstrap 95% intervals over tasks (samples of a task are averaged first).</p>'
    out += table(["env", "episodes", "tasks", *names], rows, "headline")
    passk = [(n, e["pass_at_k"]) for n, e in envs.items() if e["pass_at_k"].get("k", 1) > 1]
    if passk:
        k = max(p["k"] for _, p in passk)
        cols = [f"pass@{j}" for j in range(1, k + 1)] + [f"mean@{k}"]
        out += f"<h3>pass@k and mean@k ({esc(passk[0][1]['metric'])}, {k} samples per task)</h3>"
        out += table(
            ["env", "tasks", *cols], [[n, p["tasks"], *(estimate(p.get(c), True) for c in cols)] for n, p in passk]
        )
    charts = [
        bar_chart(
            [
                (n, e["metrics"][m]["mean"], e["metrics"][m]["lo"], e["metrics"][m]["hi"])
                for n, e in envs.items()
                if m in e["metrics"]
            ],
            m,
            pct=m in PCT_METRICS,
            vmax=1.0 if m in PCT_METRICS else None,
        )
        for m in names[:2]
    ]
    return out + f'<div class="grid">{"".join(charts)}</div></section>'


def _by_tag(summary: dict[str, Any]) -> str:
    parts = []
    for name, e in summary["envs"].items():
        for field, groups in e["tags"].items():
            shown = list(next(iter(groups.values()))["metrics"])
            rows = [
                [v, g["episodes"], g["tasks"], *(estimate(g["metrics"][m], m in PCT_METRICS) for m in shown)]
                for v, g in groups.items()
            ]
            first = shown[0]
            chart = bar_chart(
                [
                    (v, g["metrics"][first]["mean"], g["metrics"][first]["lo"], g["metrics"][first]["hi"])
                    for v, g in groups.items()
                ],
                f"{first} by {field}",
                pct=first in PCT_METRICS,
                vmax=1.0 if first in PCT_METRICS else None,
            )
            parts.append(
                f'<h3>{esc(name)} · by {esc(field)}</h3><div class="grid">'
                f"{table([field, 'episodes', 'tasks', *shown], rows)}{chart}</div>"
            )
    if not parts:
        return ""
    return "<section><h2>By tag</h2>" + "".join(parts) + "</section>"


def _tools(summary: dict[str, Any]) -> str:
    parts = []
    for name, e in summary["envs"].items():
        t = e["tools"]
        rows = [
            [tool, d["calls"], num(d["per_episode"], digits=2), num(d["valid_rate"], pct=True)]
            for tool, d in t["per_tool"].items()
        ]
        head = (
            f"<h3>{esc(name)}</h3><p>{num(t['calls_per_episode'], digits=2)} tool calls per episode, "
            f"{num(t['valid_rate'], pct=True)} valid</p>"
        )
        parts.append(
            head
            + '<div class="grid">'
            + (table(["tool", "calls", "per episode", "valid"], rows) if rows else '<p class="muted">no tool calls</p>')
            + histogram(t["calls_histogram"], "tool calls per episode")
            + "</div>"
        )
    return "<section><h2>Tool use</h2>" + "".join(parts) + "</section>"


def _failures(summary: dict[str, Any]) -> str:
    parts = []
    for name, e in summary["envs"].items():
        fatal = e["metrics"].get("fatal")
        errors = sorted(e["step_errors"].items(), key=lambda kv: -kv[1])
        n = max(e["episodes"], 1)
        charts = [
            bar_chart([(k, v / n, None, None) for k, v in errors], "step errors per episode, by kind")
            if errors
            else "",
            bar_chart(
                [(k, v / n, None, None) for k, v in e["termination"].items()], "how episodes ended", pct=True, vmax=1.0
            ),
            histogram(e["fatal_turns"], "fatal turn"),
        ]
        fatal_text = estimate(fatal, True) if fatal else "–"
        parts.append(f'<h3>{esc(name)} · fatal rate {fatal_text}</h3><div class="grid">{"".join(charts)}</div>')
    return "<section><h2>Failures</h2>" + "".join(parts) + "</section>"


def _turns_tokens(summary: dict[str, Any]) -> str:
    parts = []
    for name, e in summary["envs"].items():
        charts = histogram(e["turns"], f"{name}: turns per episode")
        if e.get("completion_tokens"):
            charts += histogram(e["completion_tokens"], f"{name}: completion tokens per episode")
        parts.append(charts)
    return f'<section><h2>Turns and tokens</h2><div class="grid">{"".join(parts)}</div></section>'


def _viewer(episodes: list[dict[str, Any]], images: dict[str, str], total: int) -> str:
    note = (
        ""
        if len(episodes) == total
        else (
            f'<p class="muted">The viewer holds {len(episodes)} of the {total} episodes, evenly spread; '
            "every episode is in episodes.jsonl.</p>"
        )
    )
    return (
        f'<section><h2>Episodes</h2>{note}<div id="viewer"><div><div id="filters">'
        '<select id="f-env"><option value="">all envs</option></select>'
        '<select id="f-outcome"><option value="">all outcomes</option><option value="success">success</option>'
        '<option value="failure">failure</option><option value="fatal">fatal</option><option value="errors">with step errors</option></select>'
        '<select id="f-tag"><option value="">all tags</option></select>'
        '<input id="f-text" type="search" placeholder="task id, answer, text…">'
        '<span id="f-count" class="muted"></span></div><div id="ep-list"></div></div>'
        '<div id="ep-detail"><p class="muted">Open an episode from the list.</p></div></div></section>'
        + json_script("episodes-data", episodes)
        + json_script("images-data", images)
    )


# ---- data for the viewer -----------------------------------------------------------------------
def _episode_view(line: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    r = line["record"]
    env = summary["envs"].get(line["env"], {})
    fields = list(env.get("tags", {}))
    task = r.get("task", {})
    return {
        "key": line["key"],
        "env": line["env"],
        "seed": line["seed"],
        "sample": line["sample"],
        "task_id": r["task_id"],
        "success": bool(r["success"]),
        "reward": r["reward"],
        "fatal": bool(r["fatal"]),
        "fatal_turn": r["fatal_turn"],
        "termination": r["termination_reason"],
        "answer": r["answer"],
        "gold": task.get("answer"),
        "components": r["reward_components"],
        "evaluation": r["evaluation"],
        "tags": {f: tag_values(line, f) for f in fields},
        "usage": line.get("usage") or {},
        "messages": [
            {"role": m["role"], "content": _clip(m["content"]), "images": [f"{line['key']}/{i}" for i in m["images"]]}
            for m in r["messages"]
        ],
        "turns": [
            {
                "turn": t["turn"],
                "kind": t["kind"],
                "tool": t["tool"],
                "step_error": t["step_error"],
                "error_message": t["error_message"],
                "well_formed": t["well_formed"],
            }
            for t in r["turns"]
        ],
    }


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f" … [{len(text) - MAX_TEXT} more characters]"


def _embed_images(store: RunStore, lines: Sequence[dict[str, Any]], max_side: int, budget: int) -> dict[str, str]:
    """``"key/img_N"`` → a data URL (or, past the byte budget, the PNG's path relative to the report)."""
    out: dict[str, str] = {}
    used = 0
    for line in lines:
        for image_id, rel in line.get("images", {}).items():
            path = store.root / rel
            name = f"{line['key']}/{image_id}"
            if used >= budget or not path.is_file():
                out[name] = rel
                continue
            url = _data_url(path, max_side)
            used += len(url)
            out[name] = url
    return out


def _data_url(path: Path, max_side: int) -> str:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=False)
        if buf.tell() > 150_000:  # photos: JPEG is a fraction of the size
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=85)
            return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
