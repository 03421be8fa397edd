"""VILASR's drawing ops (arXiv 2506.09965): Object Mapper (boxes) and Path Tracer (lines).

Coordinates are absolute pixels, origin top-left. Boxes are coloured rectangles (width 4)
with their label; paths are black lines (width 4) with a red dot at the start and a blue
dot at the end. The functions are pure (numpy in, new numpy out); the tools wrap them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..core.failures import StepError
from ..core.tool import Tool, ToolContext, ToolError, ToolResult, register_tool

LINE_WIDTH = 4
DOT_RADIUS = 5
PATH_COLOR = (0, 0, 0)
START_COLOR = (230, 25, 25)
END_COLOR = (25, 60, 230)
BOX_COLORS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, color: tuple[int, int, int]) -> None:
    if text:
        draw.text(xy, text[:40], fill=color, font=_font(12), stroke_width=2, stroke_fill=(255, 255, 255))


def draw_paths(image: np.ndarray, paths: Sequence[dict[str, Any]], width: int = LINE_WIDTH) -> np.ndarray:
    """Draw line segments ``{"start_point_2d": [x, y], "end_point_2d": [x, y], "label": str}``."""
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    for p in paths:
        (x0, y0), (x1, y1) = p["start_point_2d"], p["end_point_2d"]
        draw.line([(x0, y0), (x1, y1)], fill=PATH_COLOR, width=width)
    for p in paths:  # dots on top of every line so that a later segment never hides them
        for (x, y), color in ((p["start_point_2d"], START_COLOR), (p["end_point_2d"], END_COLOR)):
            draw.ellipse([x - DOT_RADIUS, y - DOT_RADIUS, x + DOT_RADIUS, y + DOT_RADIUS], fill=color)
        (x0, y0), (x1, y1) = p["start_point_2d"], p["end_point_2d"]
        _label(draw, ((x0 + x1) / 2 + 4, (y0 + y1) / 2 + 4), str(p.get("label", "")), PATH_COLOR)
    return np.asarray(canvas)


def draw_boxes(image: np.ndarray, boxes: Sequence[dict[str, Any]], width: int = LINE_WIDTH) -> np.ndarray:
    """Draw labelled rectangles ``{"bbox_2d": [x1, y1, x2, y2], "label": str}``, one colour each."""
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    for i, b in enumerate(boxes):
        x1, y1, x2, y2 = b["bbox_2d"]
        color = BOX_COLORS[i % len(BOX_COLORS)]
        draw.rectangle([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], outline=color, width=width)
        _label(draw, (min(x1, x2) + 2, max(min(y1, y2) - 14, 0)), str(b.get("label", "")), color)
    return np.asarray(canvas)


def _point(name: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "number"},
        "minItems": 2,
        "maxItems": 2,
        "description": f"{name} [x, y] in absolute pixels, origin top-left",
    }


def _num(v: float) -> str:
    """A coordinate for an error message; safe for 400-digit integers (``:g`` would overflow)."""
    text = f"{v:g}" if isinstance(v, float) else str(v)
    return text if len(text) <= 16 else text[:12] + "…"


PointCheck = Callable[[float, float, ToolContext], str | None]


class _DrawTool(Tool):
    image_args = ("image",)
    list_arg: str
    noun: str
    noun_one: str

    def __init__(self, point_check: PointCheck | None = None, max_items: int = 64):
        self.point_check = point_check
        self.max_items = max_items
        super().__init__()

    def _points(self, item: dict[str, Any]) -> list[tuple[str, Sequence[float]]]:
        raise NotImplementedError

    def _draw(self, image: np.ndarray, items: list[dict[str, Any]]) -> np.ndarray:
        raise NotImplementedError

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        image_id = arguments.get("image") or ctx.images.latest
        if image_id is None:
            raise ToolError(StepError.BAD_IMAGE_REF, f"{self.name}: there is no image to draw on yet.")
        image = ctx.images.get(image_id)
        h, w = image.shape[:2]
        items = arguments[self.list_arg]
        if len(items) > self.max_items:
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: at most {self.max_items} {self.noun} per call.")
        for i, item in enumerate(items):
            for key, (x, y) in self._points(item):
                if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
                    raise ToolError(
                        StepError.BAD_ARGUMENTS,
                        f"{self.name}: {self.list_arg}[{i}].{key} = [{_num(x)}, {_num(y)}] is outside {image_id} "
                        f"({w}×{h}); use 0 ≤ x ≤ {w - 1}, 0 ≤ y ≤ {h - 1}.",
                    )
                if self.point_check and (msg := self.point_check(x, y, ctx)):
                    raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: {self.list_arg}[{i}].{key}: {msg}")
        new_id = ctx.images.add(self._draw(image, items), source=f"{self.name}({image_id})")
        n = len(items)
        return ToolResult(f"Drew {n} {self.noun if n != 1 else self.noun_one} on {image_id}; the result is {new_id} ({w}×{h}).", [new_id])


@register_tool
class PathTracerTool(_DrawTool):
    """Path Tracer: draw line segments on an image."""

    name = "path_tracer"
    description = (
        "Draw line segments on an image (black lines, red start dot, blue end dot) and get the drawn image back."
    )
    list_arg, noun, noun_one = "paths", "paths", "path"
    parameters = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "description": "image id to draw on (default: the latest image)"},
            "paths": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "start_point_2d": _point("start"),
                        "end_point_2d": _point("end"),
                        "label": {"type": "string"},
                    },
                    "required": ["start_point_2d", "end_point_2d"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["paths"],
    }

    def _points(self, item: dict[str, Any]) -> list[tuple[str, Sequence[float]]]:
        return [("start_point_2d", item["start_point_2d"]), ("end_point_2d", item["end_point_2d"])]

    def _draw(self, image: np.ndarray, items: list[dict[str, Any]]) -> np.ndarray:
        return draw_paths(image, items)


@register_tool
class ObjectMapperTool(_DrawTool):
    """Object Mapper: draw labelled bounding boxes on an image."""

    name = "object_mapper"
    description = "Draw labelled bounding boxes [x1, y1, x2, y2] on an image and get the drawn image back."
    list_arg, noun, noun_one = "objects", "boxes", "box"
    parameters = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "description": "image id to draw on (default: the latest image)"},
            "objects": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "bbox_2d": {
                            "type": "array",
                            "items": {"type": "number"},
                            "minItems": 4,
                            "maxItems": 4,
                            "description": "[x1, y1, x2, y2] in absolute pixels",
                        },
                        "label": {"type": "string"},
                    },
                    "required": ["bbox_2d"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["objects"],
    }

    def _points(self, item: dict[str, Any]) -> list[tuple[str, Sequence[float]]]:
        x1, y1, x2, y2 = item["bbox_2d"]
        return [("bbox_2d", (x1, y1)), ("bbox_2d", (x2, y2))]

    def _draw(self, image: np.ndarray, items: list[dict[str, Any]]) -> np.ndarray:
        for i, item in enumerate(items):
            x1, y1, x2, y2 = item["bbox_2d"]
            if x1 == x2 or y1 == y2:
                raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: objects[{i}].bbox_2d has zero area.")
        return draw_boxes(image, items)
