"""Pieces of the self-contained HTML pages: escaping, tables, SVG charts, the page shell.

Nothing here loads anything from the network: styles and scripts are inline, charts are
inline SVG, data is embedded as JSON with ``<``, ``>`` and ``&`` escaped so that agent text
(hostile: it may hold ``</script>``) can never close the script element it lives in.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any


class Raw(str):
    """Markup that :func:`table` inserts as is (already escaped)."""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def json_script(element_id: str, data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def num(value: float | None, pct: bool = False, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.1f}%" if pct else f"{value:.{digits}f}"


def estimate(est: Mapping[str, Any] | None, pct: bool = False) -> Raw:
    """``mean [lo, hi]`` with the interval in small type."""
    if not est or est.get("mean") is None:
        return Raw("–")
    ci = ""
    if est.get("lo") is not None:
        ci = f' <span class="ci">[{num(est["lo"], pct)}, {num(est["hi"], pct)}]</span>'
    return Raw(f"{num(est['mean'], pct)}{ci}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, Raw) else esc(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def bar_chart(
    items: Sequence[tuple[str, float | None, float | None, float | None]],
    title: str = "",
    pct: bool = False,
    vmax: float | None = None,
    vmin: float | None = None,
) -> str:
    """Horizontal bars ``(label, value, lo, hi)`` with interval whiskers; signed values get a zero line."""
    items = [(label, v, lo, hi) for label, v, lo, hi in items if v is not None]
    if not items:
        return ""
    row, label_w, plot_w, pad = 22, 170, 330, 70
    highs = [max(v, hi if hi is not None else v) for _, v, _, hi in items]
    lows = [min(v, lo if lo is not None else v) for _, v, lo, _ in items]
    top = vmax if vmax is not None else max(max(highs), 1e-9)
    bottom = vmin if vmin is not None else min(0.0, min(lows))
    span = (top - bottom) or 1.0

    def x(v: float) -> float:
        return label_w + (min(max(v, bottom), top) - bottom) / span * plot_w

    h = row * len(items) + (24 if title else 6)
    y0 = 22 if title else 4
    parts = [
        f'<svg class="chart" viewBox="0 0 {label_w + plot_w + pad} {h}" width="{label_w + plot_w + pad}" height="{h}" role="img">'
    ]
    if title:
        parts.append(f'<text x="0" y="14" class="ttl">{esc(title)}</text>')
    zero = x(0.0)
    for i, (label, v, lo, hi) in enumerate(items):
        y = y0 + i * row
        a, b = sorted((zero, x(v)))
        cls = "bar neg" if v < 0 else "bar"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" class="lbl" text-anchor="end">{esc(str(label)[:28])}</text>'
        )
        parts.append(f'<rect x="{a:.1f}" y="{y + 3}" width="{max(b - a, 1):.1f}" height="{row - 8}" class="{cls}"/>')
        if lo is not None and hi is not None:
            parts.append(
                f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{y + row / 2 - 1}" y2="{y + row / 2 - 1}" class="ci"/>'
            )
        parts.append(f'<text x="{label_w + plot_w + 4}" y="{y + 14}" class="val">{esc(num(v, pct))}</text>')
    if bottom < 0:
        parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{y0}" y2="{h}" class="zero"/>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(counts: Mapping[str, int], title: str = "") -> str:
    """Vertical bars of ``counts`` (labels in their order)."""
    if not counts:
        return ""
    labels = list(counts)
    n = len(labels)
    bw = max(8, min(40, 480 // max(n, 1)))
    w, h, base = max(bw * n + 40, 240, 7 * len(title) + 10), 150, 120
    top = max(counts.values()) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">']
    if title:
        parts.append(f'<text x="0" y="12" class="ttl">{esc(title)}</text>')
    step = max(1, n // 12)
    for i, label in enumerate(labels):
        c = counts[label]
        bh = (base - 24) * c / top
        x0 = 20 + i * bw
        parts.append(
            f'<rect x="{x0 + 1}" y="{base - bh:.1f}" width="{bw - 2}" height="{bh:.1f}" class="bar"><title>{esc(label)}: {c}</title></rect>'
        )
        if i % step == 0:
            parts.append(
                f'<text x="{x0 + bw / 2}" y="{base + 13}" class="lbl" text-anchor="middle">{esc(str(label)[:9])}</text>'
            )
    parts.append(f'<line x1="18" x2="{w - 18}" y1="{base}" y2="{base}" class="zero"/></svg>')
    return "".join(parts)


CSS = """
:root{--fg:#1d232b;--mut:#66707c;--bg:#f6f7f9;--card:#fff;--line:#e1e4e8;--acc:#2f6fde;--ok:#1e8e3e;--bad:#c5221f;--warn:#b06000}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#172033;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:20px}header .sub{color:#c8d1e0}
main{max-width:1280px;margin:0 auto;padding:18px 28px}section{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:0 0 18px}
h2{font-size:17px;margin:2px 0 10px}h3{font-size:14px;margin:14px 0 6px;color:#35404e}
table{border-collapse:collapse;margin:4px 0 10px;font-variant-numeric:tabular-nums}th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}th{font-weight:600;color:#3b4654;background:#fafbfc}.ci{color:var(--mut);font-size:12px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;background:#e8eefc;color:#2447a8}.badge.ok{background:#e6f4ea;color:var(--ok)}.badge.bad{background:#fce8e6;color:var(--bad)}.badge.warn{background:#fef3e0;color:var(--warn)}
.grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}.chart .bar{fill:#8fb0ee}.chart .bar.neg{fill:#f0a39c}.chart line.ci{stroke:#223;stroke-width:1.5}.chart .zero{stroke:#889;stroke-width:1}
.chart text{font-size:11px;fill:#333}.chart .ttl{font-weight:600;font-size:12px}.chart .val{fill:#444}
details summary{cursor:pointer;color:var(--acc)}code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
#viewer{display:grid;grid-template-columns:minmax(300px,36%) 1fr;gap:14px}#filters{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:8px}
#filters select,#filters input{font:inherit;padding:3px 6px;border:1px solid var(--line);border-radius:5px}
#ep-list{max-height:640px;overflow:auto;border:1px solid var(--line);border-radius:6px}#ep-list table{width:100%;margin:0}#ep-list tr{cursor:pointer}#ep-list tr:hover{background:#f1f5fe}#ep-list tr.sel{background:#dce7fb}
#ep-detail{min-height:300px;max-height:900px;overflow:auto;border:1px solid var(--line);border-radius:6px;padding:10px 14px}
.msg{border-left:3px solid var(--line);padding:4px 10px;margin:8px 0}.msg.system{border-color:#b8c0cc}.msg.user{border-color:#8fb0ee}.msg.assistant{border-color:#7bc48a}.msg.err{border-color:var(--bad)}
.msg .role{font-size:11px;text-transform:uppercase;color:var(--mut);letter-spacing:.04em}.msg pre{white-space:pre-wrap;word-break:break-word;margin:4px 0}
.imgs{display:flex;flex-wrap:wrap;gap:8px}.imgs figure{margin:0}.imgs img{max-width:260px;max-height:260px;border:1px solid var(--line);border-radius:4px;cursor:zoom-in;image-rendering:auto}.imgs img.zoom{max-width:100%;max-height:none;cursor:zoom-out}
.imgs figcaption{font-size:11px;color:var(--mut)}.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}.kv div:nth-child(odd){color:var(--mut)}.muted{color:var(--mut)}
"""


def page(title: str, header: str, body: str, script: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{esc(title)}</title>'
        '<link rel="icon" href="data:,">'
        f"<style>{CSS}</style></head><body><header>{header}</header><main>{body}</main>"
        f"{f'<script>{script}</script>' if script else ''}</body></html>"
    )
