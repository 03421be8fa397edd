"""Composed pictures: subjects in a row on a backdrop or in a setting, with an optional text banner.

GroundedGen's ground truth is a composition of the world's own renders (one entity, an
entity in a setting, two entities side by side, an entity above a banner of text), and the
offline generator composes what a prompt asks for on the same canvas. Both go through
:func:`compose`, so a faithful prompt with the right references lands its subjects where
the ground truth has them; the judge still compares pixels only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .shapes import RGB, font, mix

CANVAS_W, CANVAS_H = 512, 384
BANNER_H = 56

# setting phrase -> (sky top, sky bottom, ground, what is scattered over it)
SETTINGS: dict[str, tuple[RGB, RGB, RGB, str]] = {
    "a harbour at dusk": ((40, 40, 90), (240, 130, 80), (30, 70, 110), "waves"),
    "a snowy mountain pass": ((150, 180, 215), (235, 240, 250), (240, 242, 248), "snow"),
    "a desert at noon": ((90, 170, 240), (200, 225, 250), (225, 190, 120), "dunes"),
    "a forest clearing": ((120, 180, 120), (200, 230, 190), (50, 110, 50), "trees"),
    "a city square at night": ((10, 12, 40), (40, 40, 80), (70, 70, 80), "stars"),
    "a flower meadow in spring": ((140, 200, 250), (220, 240, 255), (110, 190, 80), "flowers"),
    "a museum gallery": ((150, 30, 40), (190, 60, 60), (120, 90, 60), "frames"),
    "a beach at sunrise": ((250, 200, 150), (255, 235, 200), (235, 215, 160), "waves"),
}
BACKDROP: tuple[RGB, RGB] = ((232, 232, 236), (200, 200, 208))


@dataclass
class Canvas:
    """What to draw: ``panels`` (images, left to right), a ``setting`` from :data:`SETTINGS`, a ``banner`` text.

    ``jitter`` holds one ``(dx, dy, scale)`` per panel: small offsets (pixels) and a scale
    of the panel's box, so that two compositions of the same subjects need not coincide.
    """

    panels: list[np.ndarray]
    setting: str | None = None
    banner: str | None = None
    jitter: list[tuple[float, float, float]] = field(default_factory=list)


def panel_boxes(n_panels: int, banner: bool) -> list[tuple[int, int, int, int]]:
    """``(x0, y0, x1, y1)`` of each panel on the canvas: square boxes in a centred row."""
    if not 1 <= n_panels <= 4:
        raise ValueError(f"a canvas holds 1 to 4 panels, got {n_panels}")
    top, bottom = 24, CANVAS_H - (BANNER_H + 24 if banner else 24)
    gap = 24
    side = min(bottom - top, (CANVAS_W - 32 - gap * (n_panels - 1)) // n_panels)
    x = (CANVAS_W - n_panels * side - gap * (n_panels - 1)) // 2
    y = top + (bottom - top - side) // 2
    return [(x + i * (side + gap), y, x + i * (side + gap) + side, y + side) for i in range(n_panels)]


def banner_box() -> tuple[int, int, int, int]:
    return (16, CANVAS_H - BANNER_H - 12, CANVAS_W - 16, CANVAS_H - 12)


def _background(setting: str | None) -> Image.Image:
    top, bottom, ground, extra = SETTINGS[setting] if setting else (*BACKDROP, BACKDROP[1], "")
    img = Image.new("RGB", (CANVAS_W, CANVAS_H), top)
    d = ImageDraw.Draw(img)
    horizon = int(CANVAS_H * 0.68) if setting else CANVAS_H
    for y in range(0, horizon, 4):
        d.rectangle((0, y, CANVAS_W, y + 4), fill=mix(top, bottom, y / max(horizon, 1)))
    if not setting:
        return img
    d.rectangle((0, horizon, CANVAS_W, CANVAS_H), fill=ground)
    # fixed scatter (a setting looks the same in every composition): a sine lattice, no RNG
    for i in range(28):
        x = (i * 97) % CANVAS_W
        y = int((math.sin(i * 1.7) * 0.5 + 0.5) * (horizon - 20))
        gy = horizon + 6 + (i * 37) % max(CANVAS_H - horizon - 12, 1)
        if extra == "stars":
            d.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(250, 245, 200))
        elif extra == "snow":
            d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(255, 255, 255))
        elif extra == "waves":
            d.arc((x - 14, gy - 6, x + 14, gy + 6), 180, 360, fill=mix(ground, (255, 255, 255), 0.5), width=2)
        elif extra == "dunes":
            d.arc((x - 40, gy - 10, x + 40, gy + 20), 180, 360, fill=mix(ground, (120, 80, 30), 0.4), width=3)
        elif extra == "trees" and i % 2 == 0:
            d.polygon([(x, horizon - 70), (x - 22, horizon), (x + 22, horizon)], fill=(30, 80, 35))
        elif extra == "flowers":
            d.ellipse((x - 4, gy - 4, x + 4, gy + 4), fill=((240, 80, 120), (250, 220, 60), (255, 255, 255))[i % 3])
        elif extra == "frames" and i % 4 == 0:
            d.rectangle((x, 30, x + 40, 80), outline=(200, 170, 60), width=4)
    return img


def compose(canvas: Canvas) -> np.ndarray:
    """Draw ``canvas`` as a ``CANVAS_H × CANVAS_W`` uint8 RGB image."""
    if canvas.setting is not None and canvas.setting not in SETTINGS:
        raise ValueError(f"unknown setting {canvas.setting!r}; known: {', '.join(SETTINGS)}")
    img = _background(canvas.setting)
    boxes = panel_boxes(len(canvas.panels), canvas.banner is not None)
    for i, (panel, (x0, y0, x1, y1)) in enumerate(zip(canvas.panels, boxes)):
        dx, dy, scale = canvas.jitter[i] if i < len(canvas.jitter) else (0.0, 0.0, 1.0)
        side = max(8, int(round((x1 - x0) * scale)))
        cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
        px, py = int(round(cx - side / 2)), int(round(cy - side / 2))
        arr = np.ascontiguousarray(np.asarray(panel, dtype=np.uint8)[:, :, :3])
        tile = cv2.resize(arr, (side, side), interpolation=cv2.INTER_AREA if arr.shape[0] > side else cv2.INTER_LINEAR)
        frame = Image.new("RGB", (side + 6, side + 6), (40, 40, 46))
        frame.paste(Image.fromarray(tile), (3, 3))
        img.paste(frame, (px - 3, py - 3))
    if canvas.banner is not None:
        d = ImageDraw.Draw(img)
        bx0, by0, bx1, by1 = banner_box()
        d.rectangle((bx0, by0, bx1, by1), fill=(250, 250, 246), outline=(60, 60, 70), width=2)
        text = " ".join(canvas.banner.split())[:120]
        size = 30
        while size > 11 and font(size).getlength(text) > bx1 - bx0 - 24:
            size -= 1
        d.text(((bx0 + bx1) / 2, (by0 + by1) / 2), text, fill=(20, 20, 28), font=font(size), anchor="mm")
    return np.asarray(img)
