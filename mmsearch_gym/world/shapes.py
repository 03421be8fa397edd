"""Drawing primitives for the renderers: the world's 20 emblem shapes as PIL polygons and ellipses."""

from __future__ import annotations

import math
from functools import lru_cache

from PIL import ImageDraw, ImageFont

Box = tuple[float, float, float, float]
RGB = tuple[int, int, int]


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font: the same glyphs on every machine with the same Pillow."""
    return ImageFont.load_default(size=size)


def _poly(
    cx: float, cy: float, r: float, n: int, phase: float = -math.pi / 2, inner: float | None = None
) -> list[tuple[float, float]]:
    pts = []
    steps = n * 2 if inner else n
    for i in range(steps):
        rad = (inner if inner and i % 2 else 1.0) * r
        ang = phase + 2 * math.pi * i / steps
        pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
    return pts


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: Box, fill: RGB, accent: RGB) -> None:
    """Draw ``shape`` filling ``box`` with ``fill``; ``accent`` colours inner details."""
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) / 2
    w = max(2, int(r / 6))
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle((cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85), fill=fill)
    elif shape == "triangle":
        draw.polygon(_poly(cx, cy + r * 0.15, r, 3), fill=fill)
    elif shape == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif shape == "hexagon":
        draw.polygon(_poly(cx, cy, r, 6, 0), fill=fill)
    elif shape == "star":
        draw.polygon(_poly(cx, cy, r, 5, inner=0.45), fill=fill)
    elif shape == "crescent":
        draw.ellipse(box, fill=fill)
        draw.ellipse((x0 + r * 0.5, y0 - r * 0.1, x1 + r * 0.5, y1 - r * 0.1), fill=accent)
    elif shape == "cross":
        draw.rectangle((cx - r * 0.25, y0, cx + r * 0.25, y1), fill=fill)
        draw.rectangle((x0, cy - r * 0.25, x1, cy + r * 0.25), fill=fill)
    elif shape == "ring":
        draw.ellipse(box, outline=fill, width=max(3, int(r / 3)))
    elif shape == "arch":
        draw.pieslice((x0, y0, x1, y1 + (y1 - y0)), 180, 360, fill=fill)
        draw.pieslice((cx - r * 0.5, cy, cx + r * 0.5, y1 + r), 180, 360, fill=accent)
    elif shape == "wave":
        for k in range(3):
            yy = y0 + (k + 0.5) * (y1 - y0) / 3
            pts = [(x0 + t * (x1 - x0) / 20, yy + r * 0.2 * math.sin(t * math.pi / 5)) for t in range(21)]
            draw.line(pts, fill=fill, width=w * 2)
    elif shape == "spiral":
        pts = [(cx + r * t / 60 * math.cos(t / 6), cy + r * t / 60 * math.sin(t / 6)) for t in range(61)]
        draw.line(pts, fill=fill, width=w * 2)
    elif shape == "shield":
        draw.polygon([(x0, y0), (x1, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif shape == "key":
        draw.ellipse((x0, cy - r * 0.4, x0 + r * 0.8, cy + r * 0.4), outline=fill, width=w * 2)
        draw.rectangle((x0 + r * 0.8, cy - r * 0.1, x1, cy + r * 0.1), fill=fill)
        draw.rectangle((x1 - r * 0.4, cy, x1 - r * 0.25, cy + r * 0.45), fill=fill)
    elif shape == "tower":
        draw.rectangle((cx - r * 0.35, cy - r * 0.6, cx + r * 0.35, y1), fill=fill)
        draw.polygon([(cx - r * 0.5, cy - r * 0.6), (cx + r * 0.5, cy - r * 0.6), (cx, y0)], fill=fill)
    elif shape == "leaf":
        draw.ellipse((x0 + r * 0.4, y0, x1 - r * 0.4, y1), fill=fill)
        draw.line([(cx, y0 + r * 0.2), (cx, y1)], fill=accent, width=w)
    elif shape == "sun":
        draw.polygon(_poly(cx, cy, r, 12, inner=0.7), fill=fill)
        draw.ellipse((cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45), fill=accent)
    elif shape == "eye":
        draw.ellipse((x0, cy - r * 0.5, x1, cy + r * 0.5), fill=fill)
        draw.ellipse((cx - r * 0.3, cy - r * 0.3, cx + r * 0.3, cy + r * 0.3), fill=accent)
    elif shape == "anchor":
        draw.rectangle((cx - r * 0.1, y0 + r * 0.3, cx + r * 0.1, y1 - r * 0.1), fill=fill)
        draw.arc((x0 + r * 0.2, cy - r * 0.2, x1 - r * 0.2, y1), 0, 180, fill=fill, width=w * 2)
        draw.ellipse((cx - r * 0.25, y0, cx + r * 0.25, y0 + r * 0.45), outline=fill, width=w)
    elif shape == "crown":
        draw.polygon(
            [
                (x0, y1),
                (x0, y0 + r * 0.3),
                (x0 + r * 0.5, cy),
                (cx, y0),
                (x1 - r * 0.5, cy),
                (x1, y0 + r * 0.3),
                (x1, y1),
            ],
            fill=fill,
        )
    else:
        raise ValueError(f"unknown shape {shape!r}")


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def contrast(c: RGB) -> RGB:
    """Black or white, whichever reads better on ``c``."""
    return (20, 20, 20) if 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 else (245, 245, 245)
