"""A SpatialDraw task: question, images, answer and its metric, tags, and the oracle's drawings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .geometry import Camera
from .render import Frame, Renderer
from .scenes import Scene

METRICS = ("multiple_choice", "numeric", "text")
LETTERS = "ABCDEFGH"
# task type → (metric, MME-Reasoning kind, what it asks)
TASK_TYPES: dict[str, tuple[str, str, str]] = {
    "object_count": ("multiple_choice", "inductive", "how many objects of a kind are in view"),
    "relative_direction": ("multiple_choice", "deductive", "where an object is, standing at one object facing another"),
    "relative_distance": ("multiple_choice", "deductive", "which object is closest to a reference object"),
    "absolute_distance": ("numeric", "deductive", "the distance between two objects"),
    "object_size": ("numeric", "deductive", "an object's height or length"),
    "area_size": ("numeric", "deductive", "the area of the mat, table top, room, lawn or pond"),
    "route_plan": ("multiple_choice", "deductive", "which drawn route reaches the goal without passing through objects"),
    "appearance_order": ("multiple_choice", "inductive", "the order in which objects first appear in a panning sequence"),
    "camera_motion": ("multiple_choice", "abductive", "how the camera moved between two views"),
    "multiview_correspondence": ("multiple_choice", "abductive", "which box in a second view shows a given object"),
    "depth_order": ("multiple_choice", "deductive", "which object is nearest to the camera"),
    "height_order": ("multiple_choice", "deductive", "which object is the tallest"),
    "nearest_colour": ("text", "deductive", "the colour of the nearest object of a kind"),
}
ANSWER_HINTS = {  # VILASR's TYPE_TEMPLATE (verl/utils/dataset_multimodal.py), short text added
    "multiple_choice": "Answer with the option's letter from the given choices directly.",
    "numeric": "Please answer the question using a single word or phrase (e.g., 42 or 3.14).",
    "text": "Please answer the question using a single word.",
}


@dataclass
class SpatialTask:
    """One question; ``oracle`` holds the drawing calls (tool name + items) an oracle makes before answering."""

    task_id: str
    scale: str
    task_type: str
    question: str
    answer: str
    images: list[np.ndarray] = field(default_factory=list, repr=False)
    options: list[str] = field(default_factory=list)
    truth: float | None = None  # numeric tasks: the exact value the answer rounds
    unit: str = ""
    oracle: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    image_paths: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return self.meta.get("metric") or TASK_TYPES[self.task_type][0]

    @property
    def reasoning(self) -> str:
        return self.meta.get("reasoning") or TASK_TYPES.get(self.task_type, ("", "deductive"))[1]

    def tags(self) -> dict[str, str]:
        return {"scale": self.scale, "task_type": self.task_type, "metric": self.metric, "reasoning": self.reasoning}

    def prompt(self) -> str:
        ids = ", ".join(f"img_{i + 1}" for i in range(len(self.images)))
        sizes = {f"{im.shape[1]}×{im.shape[0]}" for im in self.images}
        lines = [f"{'Images' if len(self.images) > 1 else 'Image'} {ids} ({', '.join(sorted(sizes))} pixels; "
                 "coordinates are pixels from the top-left corner).", self.question]  # fmt: skip
        if self.options:
            lines.append("Options:\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(self.options)))
        lines.append(ANSWER_HINTS[self.metric])
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out = {"task_id": self.task_id, **self.tags(), "question": self.question, "answer": self.answer,
               "options": self.options, "truth": self.truth, "unit": self.unit, "oracle": self.oracle,
               "meta": {k: v for k, v in self.meta.items() if k not in ("metric", "reasoning")},
               "image_paths": self.image_paths}  # fmt: skip
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], images: list[np.ndarray] | None = None) -> SpatialTask:
        metric = data.get("metric", "multiple_choice")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        for key in ("task_id", "question", "answer"):
            if not isinstance(data.get(key), (str, int, float)) or isinstance(data.get(key), bool):
                raise ValueError(f"{key!r} is missing or not a string")
        options = data.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise ValueError("'options' must be a list of strings")
        truth = data.get("truth")
        meta = dict(data.get("meta") or {}, metric=metric, reasoning=data.get("reasoning", "deductive"))
        return cls(str(data["task_id"]), str(data.get("scale", "unknown")), str(data.get("task_type", "unknown")),
                   str(data["question"]), str(data["answer"]), images or [], options,
                   float(truth) if truth is not None else None, str(data.get("unit", "")), list(data.get("oracle") or []),
                   meta, list(data.get("image_paths") or data.get("frames") or []))  # fmt: skip


class View:
    """A rendered view of a scene with the visibility tests the task generators need."""

    def __init__(self, renderer: Renderer, scene: Scene, camera: Camera):
        self.scene, self.camera = scene, camera
        self.frame: Frame = renderer.render(camera, scene.env)

    @property
    def image(self) -> np.ndarray:
        return self.frame.image

    def clear(self, oid: int, min_px: int = 40, min_fraction: float = 0.4) -> bool:
        """Whole in frame and mostly unoccluded: visible pixels against the area of its projected 3D box's hull."""
        o = self.scene.by_id(oid)
        corners = _corners(o)
        pts, depth = self.camera.project(corners)
        if (depth <= 0).any():
            return False
        w, h = self.camera.width, self.camera.height
        if pts[:, 0].min() < 1 or pts[:, 1].min() < 1 or pts[:, 0].max() > w - 2 or pts[:, 1].max() > h - 2:
            return False
        import cv2

        hull = cv2.convexHull(pts.astype(np.float32))
        area = float(cv2.contourArea(hull))
        px = self.frame.pixels.get(oid, 0)
        return px >= min_px and px >= min_fraction * area

    def box(self, oid: int) -> list[int]:
        return list(self.frame.boxes[oid])


def _corners(o: Any) -> np.ndarray:
    w, h, d = o.size
    c, s = np.cos(o.yaw), np.sin(o.yaw)
    pts = []
    for dx in (-w / 2, w / 2):
        for dz in (-d / 2, d / 2):
            for y in (0.0, h):
                pts.append([o.x + c * dx + s * dz, y, o.z - s * dx + c * dz])
    return np.array(pts)


def box_item(view_index: int, box: list[int], label: str) -> dict[str, Any]:
    return {"index": view_index, "bbox_2d": [int(v) for v in box], "label": label}


def fmt_number(value: float) -> str:
    """Three significant digits, no exponent: what the oracle answers (MRA 1.0 against the truth)."""
    if value == 0:
        return "0"
    digits = max(0, 2 - int(np.floor(np.log10(abs(value)))))
    return f"{value:.{digits}f}"
