"""VILASR's drawing ops (arXiv 2506.09965): Object Mapper (boxes) and Path Tracer (lines).

As the released code draws them (``verl/utils/edit_image.py`` of AntResearchNLP/ViLaSR):
coordinates are absolute pixels, origin top-left, truncated with ``int``; boxes are
rectangles of width 4 in named PIL colours (``red``, ``green``, ``blue``, … by position in
the list), their label written inside at ``(x1 + 8, y1 + 6)``; paths are black lines of
width 4 with a red start dot and a blue end dot of radius 4, their labels not drawn.

Drawn items are kept by label: every call redraws *all* the items of the image it draws on,
on that image's original (the task image it came from), and an item whose label was already
drawn replaces the old one. Each item's optional ``index`` names the 1-based image it goes on
(``img_<index>``), as in VILASR's prompt; one call may draw on several images.

``draw_boxes`` and ``draw_paths`` are pure (numpy in, new numpy out); the tools wrap them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from ..core.failures import StepError
from ..core.images import ImageStore
from ..core.tool import Tool, ToolContext, ToolError, ToolResult, register_tool

LINE_WIDTH = 4
DOT_RADIUS = 4
LABEL_OFFSET = (8, 6)
BOX_COLOR_NAMES: tuple[str, ...] = (
    "red", "green", "blue", "yellow", "orange", "pink", "purple", "brown", "gray", "beige", "turquoise", "cyan",
    "magenta", "lime", "navy", "maroon", "teal", "olive", "coral", "lavender", "violet", "gold", "silver",
    *ImageColor.colormap,
)  # fmt: skip
BOX_COLORS = [ImageColor.getrgb(name)[:3] for name in BOX_COLOR_NAMES]
PATH_COLOR = ImageColor.getrgb("black")[:3]
START_COLOR = ImageColor.getrgb("red")[:3]
END_COLOR = ImageColor.getrgb("blue")[:3]
MAX_LABEL = 80


def draw_boxes(image: np.ndarray, boxes: Sequence[dict[str, Any]], width: int = LINE_WIDTH) -> np.ndarray:
    """Draw ``{"bbox_2d": [x1, y1, x2, y2], "label": str}`` boxes, the i-th in ``BOX_COLORS[i]``."""
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    for i, box in enumerate(boxes):
        x1, y1, x2, y2 = (int(v) for v in box["bbox_2d"])
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
        color = BOX_COLORS[i % len(BOX_COLORS)]
        draw.rectangle(((x1, y1), (x2, y2)), outline=color, width=width)
        if "label" in box:
            draw.text((x1 + LABEL_OFFSET[0], y1 + LABEL_OFFSET[1]), str(box["label"])[:MAX_LABEL], fill=color)
    return np.asarray(canvas)


def draw_paths(image: np.ndarray, paths: Sequence[dict[str, Any]], width: int = LINE_WIDTH) -> np.ndarray:
    """Draw ``{"start_point_2d": [x, y], "end_point_2d": [x, y]}`` segments: black line, red start, blue end."""
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    r = DOT_RADIUS
    for path in paths:
        (x0, y0), (x1, y1) = ((int(v) for v in path[k]) for k in ("start_point_2d", "end_point_2d"))
        draw.line((x0, y0, x1, y1), fill=PATH_COLOR, width=width)
        for (x, y), color in (((x0, y0), START_COLOR), ((x1, y1), END_COLOR)):
            draw.ellipse([(x - r, y - r), (x + r, y + r)], fill=color)
    return np.asarray(canvas)


def merge_by_label(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """VILASR's merge: an old item whose label is redrawn is replaced in place; new labels are appended."""
    fresh = {item["label"]: item for item in new}
    merged = [fresh.pop(item["label"]) if item["label"] in fresh else item for item in old]
    return merged + list(fresh.values())


@dataclass(frozen=True)
class Drawing:
    """What a drawn image shows: its original and the items on it."""

    image: np.ndarray  # the drawn image itself (identity tells a stale entry from a live one)
    original: np.ndarray
    original_id: str
    boxes: tuple[dict[str, Any], ...] = ()
    paths: tuple[dict[str, Any], ...] = ()


_LEDGERS: weakref.WeakKeyDictionary[ImageStore, dict[str, Drawing]] = weakref.WeakKeyDictionary()


def drawing_of(store: ImageStore, image_id: str) -> Drawing:
    """The drawing an image shows (an image nothing was drawn on is its own original, with no items)."""
    image = store.get(image_id)
    found = _LEDGERS.get(store, {}).get(image_id)
    if found is not None and found.image is image:
        return found
    return Drawing(image, image, image_id)


def _num(v: float) -> str:
    """A coordinate for an error message; safe for 400-digit integers (``:g`` would overflow)."""
    text = f"{v:g}" if isinstance(v, float) else str(v)
    return text if len(text) <= 16 else text[:12] + "…"


def _point(name: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
            "description": f"{name} [x, y] in absolute pixels, origin top-left"}  # fmt: skip


_LABEL = {"type": "string", "description": "what the item is; redrawing a label replaces the old item"}
_INDEX = {"type": "integer", "minimum": 1, "description": "1-based image index to draw on (img_<index>)"}
PATH_ITEMS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"index": _INDEX, "start_point_2d": _point("start"), "end_point_2d": _point("end"), "label": _LABEL},
        "required": ["start_point_2d", "end_point_2d", "label"],
        "additionalProperties": False,
    },
}
BOX_ITEMS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "index": _INDEX,
            "bbox_2d": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                        "description": "[x1, y1, x2, y2] in absolute pixels"},  # fmt: skip
            "label": _LABEL,
        },
        "required": ["bbox_2d", "label"],
        "additionalProperties": False,
    },
}

PointCheck = Callable[[float, float, ToolContext], str | None]


class _DrawTool(Tool):
    image_args = ("image",)
    own: str  # the item list this tool is named for: "paths" or "objects"

    def __init__(self, point_check: PointCheck | None = None, max_items: int = 64):
        self.point_check = point_check
        self.max_items = max_items
        super().__init__()

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        boxes, paths = list(arguments.get("objects", [])), list(arguments.get("paths", []))
        if len(boxes) + len(paths) > self.max_items:
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: at most {self.max_items} items per call.")
        default = arguments.get("image") or ctx.images.latest
        groups: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        for kind, items in (("objects", boxes), ("paths", paths)):
            for i, item in enumerate(items):
                target = ctx.images.resolve(item["index"]) if "index" in item else default
                if target is None:
                    raise ToolError(StepError.BAD_IMAGE_REF, f"{self.name}: there is no image to draw on yet.")
                self._check(kind, i, item, target, ctx)
                groups.setdefault(target, ([], []))[kind == "paths"].append(item)
        if len(ctx.images) + len(groups) > ctx.images.max_images:
            raise ToolError(StepError.TOOL_FAILED, f"{self.name}: the episode already holds {len(ctx.images)} images.")
        ledger = _LEDGERS.setdefault(ctx.images, {})
        for stale in [k for k, d in ledger.items() if k not in ctx.images or ctx.images.get(k) is not d.image]:
            del ledger[stale]  # images of an earlier episode (the store was cleared)
        replies, new_ids = [], []
        for target, (new_boxes, new_paths) in groups.items():
            old = drawing_of(ctx.images, target)
            merged_boxes = merge_by_label(old.boxes, [_plain(b) for b in new_boxes])
            merged_paths = merge_by_label(old.paths, [_plain(p) for p in new_paths])
            image = draw_paths(draw_boxes(old.original, merged_boxes), merged_paths)
            new_id = ctx.images.add(image, source=f"{self.name}({target})")
            stored = ctx.images.get(new_id)
            ledger[new_id] = Drawing(stored, old.original, old.original_id, tuple(merged_boxes), tuple(merged_paths))
            h, w = stored.shape[:2]
            what = _count(len(merged_boxes), "box", "boxes") + " and " + _count(len(merged_paths), "path", "paths")
            replies.append(
                f"{new_id} is {old.original_id} with {what} drawn on it ({w}×{h}). "
                f"The index of the given image is {new_id.split('_')[1]} (width: {w}, height: {h})."
            )
            new_ids.append(new_id)
        return ToolResult(" ".join(replies), new_ids)

    def _check(self, kind: str, i: int, item: dict[str, Any], target: str, ctx: ToolContext) -> None:
        h, w = ctx.images.get(target).shape[:2]
        if kind == "objects":
            x1, y1, x2, y2 = item["bbox_2d"]
            points = [("bbox_2d", (x1, y1)), ("bbox_2d", (x2, y2))]
        else:
            points = [(k, item[k]) for k in ("start_point_2d", "end_point_2d")]
        for key, (x, y) in points:
            if not (0 <= x <= w and 0 <= y <= h):
                raise ToolError(
                    StepError.BAD_ARGUMENTS,
                    f"{self.name}: {kind}[{i}].{key} = [{_num(x)}, {_num(y)}] is outside {target} "
                    f"({w}×{h}); use 0 ≤ x ≤ {w}, 0 ≤ y ≤ {h}.",
                )
            if kind == "paths" and self.point_check and (msg := self.point_check(x, y, ctx)):
                raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: {kind}[{i}].{key}: {msg}")
        if kind == "objects" and (int(x1) == int(x2) or int(y1) == int(y2)):
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: objects[{i}].bbox_2d has zero area.")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "index"}


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@register_tool
class PathTracerTool(_DrawTool):
    """Path Tracer: draw line segments on an image."""

    name = "path_tracer"
    description = (
        "Draw labelled line segments (black, red start dot, blue end dot) on an image and get the drawn image "
        "back; every call redraws all items kept for that image on its original, a repeated label replaces its item."
    )
    own = "paths"
    parameters = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "description": "image id to draw on (default: the latest image)"},
            "paths": {**PATH_ITEMS, "minItems": 1},
            "objects": {**BOX_ITEMS, "description": "boxes to draw in the same call (VILASR allows both kinds)"},
        },
        "required": ["paths"],
    }


@register_tool
class ObjectMapperTool(_DrawTool):
    """Object Mapper: draw labelled bounding boxes on an image."""

    name = "object_mapper"
    description = (
        "Draw labelled bounding boxes [x1, y1, x2, y2] on an image and get the drawn image back; every call "
        "redraws all items kept for that image on its original, a repeated label replaces its item."
    )
    own = "objects"
    parameters = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "description": "image id to draw on (default: the latest image)"},
            "objects": {**BOX_ITEMS, "minItems": 1},
            "paths": {**PATH_ITEMS, "description": "paths to draw in the same call (VILASR allows both kinds)"},
        },
        "required": ["objects"],
    }
