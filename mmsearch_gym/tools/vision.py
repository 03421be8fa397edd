"""OpenSearch-VL's vision tools (arXiv 2605.05185): crop, sharpen, super_resolution, perspective_correct, ocr.

Each is a pure function on numpy images (H×W×3 uint8 in, new array out; gray and RGBA are
converted) and a registered :class:`~mmsearch_gym.core.Tool` that stores its output image
in the episode's store and answers with the new id and size (OCR answers with text, word
boxes and confidences, and stores nothing). Importing this module registers the tools.

Crop takes OpenSearch-VL's ``x, y, width, height`` or AdaTooler-V's (arXiv 2512.16918)
``bbox_2d [x1, y1, x2, y2]``, absolute pixels or normalised to [0, 1] (all values within
[0, 1] and not all whole numbers: AdaTooler's "all < 1", plus 1.0 for the far edge), padded
by 10% of the box size on each side by default.

The tools share their results through :mod:`mmsearch_gym.core.cache` (``cache="auto"``,
the default; ``False`` turns it off): sharpen, super_resolution, perspective_correct and ocr
of the same image bytes with the same arguments are computed once per process (a GRPO
group's rollouts repeat them). Crop is not cached: the copy is cheaper than the lookup.

Failures. The pure functions raise ``ValueError`` for bad values (``TypeError`` for
non-numbers), :class:`NoQuadrilateralError`, and the OCR errors of :mod:`.ocr`. The tools
answer with step errors: ``bad_image_ref`` (unknown id, no image yet), ``bad_arguments``
(schema, bad values, an input or result over the pixel limits: the message says to crop
first or use a smaller scale), ``tool_failed`` (no quadrilateral, tesseract missing or
failing, a learned model failing, the episode's image store full) and ``timeout`` (OCR).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from ..core.cache import CacheSpec, digest, image_digest, resolve_cache
from ..core.failures import StepError
from ..core.images import as_rgb_uint8
from ..core.tool import Tool, ToolContext, ToolError, ToolResult, register_tool
from .ocr import (
    DEFAULT_PSM,
    INSTALL_HINT,
    PSM_MODES,
    OcrError,
    OcrResult,
    OcrTimeout,
    OcrWord,
    TesseractNotFound,
    ocr,
)
from .superres import SCALES, LearnedUpscaler, load_sr_model, super_resolution

__all__ = [
    "BBOX_PADDING", "INSTALL_HINT", "SCALES", "CropTool", "LearnedUpscaler", "NoQuadrilateralError", "OcrError", "OcrResult",
    "OcrTimeout", "OcrTool", "OcrWord", "PerspectiveCorrectTool", "SharpenTool", "SuperResolutionTool",
    "TesseractNotFound", "crop", "crop_box", "find_quadrilateral", "load_sr_model", "ocr", "perspective_correct",
    "rectified_size", "sharpen", "super_resolution", "warp_quadrilateral",
]

BBOX_PADDING = 0.1  # AdaTooler-V pads bbox_2d crops by 10% on each side
MAX_SHARPEN = 10.0


class NoQuadrilateralError(LookupError):
    """No dominant quadrilateral (document, sign, screen) was found in the image."""


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} is far too large") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


# ---- crop -------------------------------------------------------------------------------------
def crop_box(
    shape: Sequence[int],
    x: float | None = None,
    y: float | None = None,
    width: float | None = None,
    height: float | None = None,
    bbox_2d: Sequence[float] | None = None,
    padding: float | None = None,
) -> tuple[int, int, int, int]:
    """Pixel box ``(x1, y1, x2, y2)`` (end exclusive) of a crop of an image of ``shape``, clipped to it.

    Give ``x, y, width, height`` (pixels; padding 0 by default) or ``bbox_2d`` (padding 0.1
    by default). ``padding`` is the fraction of the box's width/height added on each side.
    Fractional edges round outwards. Raises ``ValueError`` for a missing, zero-area or
    fully outside box.
    """
    img_h, img_w = int(shape[0]), int(shape[1])
    xywh = {"x": x, "y": y, "width": width, "height": height}
    if bbox_2d is not None:
        if any(v is not None for v in xywh.values()):
            raise ValueError("give either x, y, width, height or bbox_2d, not both")
        if isinstance(bbox_2d, (str, bytes)) or not isinstance(bbox_2d, Sequence | np.ndarray) or len(bbox_2d) != 4:
            raise ValueError("bbox_2d must be four numbers [x1, y1, x2, y2]")
        x1, y1, x2, y2 = (_number(f"bbox_2d[{i}]", v) for i, v in enumerate(bbox_2d))
        if all(0 <= v <= 1 for v in (x1, y1, x2, y2)) and not all(v.is_integer() for v in (x1, y1, x2, y2)):
            x1, y1, x2, y2 = x1 * img_w, y1 * img_h, x2 * img_w, y2 * img_h
        (x1, x2), (y1, y2) = sorted((x1, x2)), sorted((y1, y2))
        if x1 == x2 or y1 == y2:
            raise ValueError(f"bbox_2d {list(bbox_2d)} has zero area")
        pad = BBOX_PADDING if padding is None else _number("padding", padding)
    else:
        missing = [k for k, v in xywh.items() if v is None]
        if missing:
            raise ValueError(
                f"missing {', '.join(missing)}: give x, y, width, height in pixels, or bbox_2d [x1, y1, x2, y2]"
            )
        x1, y1 = _number("x", x), _number("y", y)
        w, h = _number("width", width), _number("height", height)
        if w <= 0 or h <= 0:
            raise ValueError(f"width and height must be positive, got {w:g} and {h:g}")
        x2, y2 = x1 + w, y1 + h
        pad = 0.0 if padding is None else _number("padding", padding)
    if not 0 <= pad <= 1:
        raise ValueError(f"padding must be between 0 and 1 (a fraction of the box size), got {pad:g}")
    dx, dy = pad * (x2 - x1), pad * (y2 - y1)
    x1, y1, x2, y2 = x1 - dx, y1 - dy, x2 + dx, y2 + dy
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError("the box coordinates are far too large")
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(img_w)), min(y2, float(img_h))
    if cx2 <= cx1 or cy2 <= cy1:
        raise ValueError(
            f"the box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] lies outside the image ({img_w}×{img_h}); "
            f"use 0 ≤ x < {img_w}, 0 ≤ y < {img_h}"
        )
    return math.floor(cx1), math.floor(cy1), math.ceil(cx2), math.ceil(cy2)


def crop(image: np.ndarray, x=None, y=None, width=None, height=None, bbox_2d=None, padding=None) -> np.ndarray:
    """The pixels of ``image`` inside :func:`crop_box` (a copy)."""
    arr = np.asarray(image)
    x1, y1, x2, y2 = crop_box(arr.shape, x, y, width, height, bbox_2d, padding)
    return arr[y1:y2, x1:x2].copy()


# ---- sharpen ----------------------------------------------------------------------------------
def sharpen(image: np.ndarray, amount: float = 1.5, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: ``image + amount · (image − gaussian_blur(image, sigma))``, saturated to uint8."""
    amount, sigma = _number("amount", amount), _number("sigma", sigma)
    if not 0 <= amount <= MAX_SHARPEN:
        raise ValueError(f"amount must be between 0 and {MAX_SHARPEN:g}, got {amount:g}")
    if not 0 < sigma <= 50:
        raise ValueError(f"sigma must be in (0, 50], got {sigma:g}")
    rgb = as_rgb_uint8(image)
    blurred = cv2.GaussianBlur(rgb, (0, 0), sigma)
    return cv2.addWeighted(rgb, 1.0 + amount, blurred, -amount, 0.0)


# ---- perspective ------------------------------------------------------------------------------
DETECT_SIDE = 1024  # quadrilaterals are searched for on a copy at most this large


def find_quadrilateral(image: np.ndarray, min_area_fraction: float = 0.1) -> np.ndarray | None:
    """Corners (4×2 float32: top-left, top-right, bottom-right, bottom-left) of the largest convex
    quadrilateral covering at least ``min_area_fraction`` of the image, or ``None``.

    Candidates are contours of the (dilated) Canny edges and of the Otsu mask (both
    polarities), each simplified to 4 points; a candidate must fill its contour's convex hull
    (so ellipses and blobs are rejected), must not be the image frame itself, and at least 3
    of its sides must separate regions of different brightness (so noise is rejected).
    """
    gray = cv2.cvtColor(as_rgb_uint8(image), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    factor = min(1.0, DETECT_SIDE / max(h, w))
    if factor < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    gray = cv2.GaussianBlur(gray, (5, 5), 0)
    area = gray.shape[0] * gray.shape[1]
    otsu, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    edges = cv2.dilate(cv2.Canny(gray, otsu / 2, otsu), np.ones((3, 3), np.uint8))
    candidates = []
    for binary in (edges, mask, 255 - mask):
        contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            hull = cv2.convexHull(contour)
            hull_area = cv2.contourArea(hull)
            if not min_area_fraction * area < hull_area < 0.97 * area:
                continue
            quad = _four_corners(hull)
            if quad is not None and cv2.contourArea(quad) > 0.9 * hull_area and _has_border(gray, quad):
                candidates.append((cv2.contourArea(quad), _order_corners(quad.reshape(4, 2).astype(np.float32))))
    if not candidates:
        return None
    best = max(candidates, key=lambda c: c[0])[1]
    # the same outline is usually found several times: outside and inside the (dilated) edge
    # band and on the mask; their mean sits on the edge itself
    tolerance = max(3.0, 0.01 * max(gray.shape))
    same = [corners for _, corners in candidates if np.abs(corners - best).max() <= tolerance]
    return np.mean(same, axis=0).astype(np.float32) / factor


def _four_corners(hull: np.ndarray) -> np.ndarray | None:
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.02, 0.035, 0.05):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            return approx
        if len(approx) < 4:
            return None
    return None


def _has_border(gray: np.ndarray, quad: np.ndarray, min_step: float = 12.0) -> bool:
    """Whether at least 3 sides of ``quad`` separate regions of different brightness (noise does not)."""
    pts = quad.reshape(4, 2).astype(np.float64)
    centre = pts.mean(axis=0)
    h, w = gray.shape
    offset = max(2.0, 0.015 * max(h, w))
    sides_with_step = 0
    for p, q in zip(pts, np.roll(pts, -1, axis=0)):
        normal = np.array([q[1] - p[1], p[0] - q[0]]) / max(np.linalg.norm(q - p), 1e-9)
        if np.dot(centre - (p + q) / 2, normal) < 0:
            normal = -normal  # point inwards
        along = p + np.linspace(0.1, 0.9, 16)[:, None] * (q - p)
        inner, outer = np.rint(along + offset * normal).astype(int), np.rint(along - offset * normal).astype(int)
        ok = (outer[:, 0] >= 0) & (outer[:, 0] < w) & (outer[:, 1] >= 0) & (outer[:, 1] < h)
        ok &= (inner[:, 0] >= 0) & (inner[:, 0] < w) & (inner[:, 1] >= 0) & (inner[:, 1] < h)
        if ok.sum() >= 8:
            step = gray[inner[ok, 1], inner[ok, 0]].astype(float) - gray[outer[ok, 1], outer[ok, 0]]
            sides_with_step += abs(float(np.mean(step))) >= min_step
    return sides_with_step >= 3


def _order_corners(pts: np.ndarray) -> np.ndarray:
    centre = pts.mean(axis=0)
    pts = pts[np.argsort(np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0]))]  # clockwise on screen
    return np.roll(pts, -int(np.argmin(pts.sum(axis=1))), axis=0)


def rectified_size(corners: np.ndarray) -> tuple[int, int]:
    """Width and height of the rectangle the quadrilateral ``corners`` is warped to."""
    tl, tr, br, bl = np.asarray(corners, np.float64)
    width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    return max(1, round(width)), max(1, round(height))


def warp_quadrilateral(image: np.ndarray, corners: np.ndarray, margin: int | None = None) -> np.ndarray:
    """Warp the quadrilateral ``corners`` (tl, tr, br, bl) of ``image`` to an upright rectangle.

    ``margin`` pixels are trimmed from each side of the result (default: 0.4% of its longest
    side, at least 1): the outline's own pixels mix page and background, and a dark sliver
    along the edge of a page reads as ``|`` to OCR.
    """
    w, h = rectified_size(corners)
    target = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), target)
    flat = cv2.warpPerspective(as_rgb_uint8(image), matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    m = max(1, round(0.004 * max(w, h))) if margin is None else int(margin)
    if m < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    return flat[m : h - m, m : w - m] if min(w, h) > 2 * m + 2 else flat


def perspective_correct(image: np.ndarray) -> np.ndarray:
    """Find the dominant quadrilateral and warp it to a rectangle; :class:`NoQuadrilateralError` if none."""
    corners = find_quadrilateral(image)
    if corners is None:
        raise NoQuadrilateralError("no quadrilateral (document, sign or screen) was found in the image")
    return warp_quadrilateral(image, corners)


# ---- the tools --------------------------------------------------------------------------------
_IMAGE = {"type": "string", "description": "image id, e.g. img_1 (default: the latest image)"}


@contextmanager
def _bad_arguments(tool: str) -> Iterator[None]:
    try:
        yield
    except ValueError as err:
        raise ToolError(StepError.BAD_ARGUMENTS, f"{tool}: {err}") from None


def _file_key(path: Any) -> list[Any]:
    """What identifies a model file's contents in a cache key: its path, size and modification time."""
    st = os.stat(path)
    return [str(path), st.st_size, st.st_mtime_ns]


def _check_pixels(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class _VisionTool(Tool):
    """Shared by the vision tools: which image, the input pixel limit, storing the result.

    Args:
        max_input_pixels: largest H×W the tool accepts (the agent is told to crop first).
        cache: where results are shared (see the module docstring).
    """

    image_args = ("image",)

    def __init__(self, max_input_pixels: int = 16_000_000, cache: CacheSpec = "auto"):
        self.max_input_pixels = _check_pixels("max_input_pixels", max_input_pixels)
        self.cache = resolve_cache(cache)
        super().__init__()

    def _cached(self, op: str, image: np.ndarray, arguments: tuple[Any, ...], compute: Any) -> Any:
        """``compute()``, shared by every call of ``op`` on the same image bytes with the same arguments."""
        if self.cache is None:
            return compute()
        return self.cache.get_or_compute(digest(op, image_digest(image), *arguments), compute)

    def _input(self, arguments: dict[str, Any], ctx: ToolContext) -> tuple[str, np.ndarray]:
        image_id = arguments.get("image") or ctx.images.latest
        if image_id is None:
            raise ToolError(StepError.BAD_IMAGE_REF, f"{self.name}: there is no image yet.")
        image = ctx.images.get(image_id)
        h, w = image.shape[:2]
        if h * w > self.max_input_pixels:
            raise ToolError(
                StepError.BAD_ARGUMENTS,
                f"{self.name}: {image_id} is {w}×{h} = {h * w:,} pixels, over this tool's limit of "
                f"{self.max_input_pixels:,}; crop it first.",
            )
        return image_id, image

    def _check_output(self, width: int, height: int, ctx: ToolContext, hint: str, max_pixels: int | None = None) -> None:
        """Refuse, before any work, a result the episode's store (or ``max_pixels``) would not take."""
        limit = min(ctx.images.max_pixels, max_pixels or ctx.images.max_pixels)
        if width * height > limit or max(width, height) > ctx.images.max_side:
            raise ToolError(
                StepError.BAD_ARGUMENTS,
                f"{self.name}: the result would be {width}×{height}, over the limit of {limit:,} pixels "
                f"(longest side {ctx.images.max_side}); {hint}.",
            )

    def _store(self, image: np.ndarray, ctx: ToolContext, source: str) -> tuple[str, str]:
        new_id = ctx.images.add(image, source=source)
        h, w = image.shape[:2]
        return new_id, f"{new_id} ({w}×{h})"


@register_tool
class CropTool(_VisionTool):
    name = "crop"
    description = (
        "Crop a region of an image: x, y, width, height in pixels, or bbox_2d [x1, y1, x2, y2] in pixels "
        "or normalised to 0-1 (padded by 10% unless padding says otherwise). Returns the crop as a new image."
    )
    parameters = {
        "type": "object",
        "properties": {
            "image": _IMAGE,
            "x": {"type": "number", "description": "left edge in pixels"},
            "y": {"type": "number", "description": "top edge in pixels"},
            "width": {"type": "number", "description": "width in pixels"},
            "height": {"type": "number", "description": "height in pixels"},
            "bbox_2d": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 4,
                "maxItems": 4,
                "description": "[x1, y1, x2, y2], pixels or normalised to 0-1; instead of x, y, width, height",
            },
            "padding": {"type": "number", "description": "fraction of the box size added on each side, 0 to 1"},
        },
    }

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        image_id, image = self._input(arguments, ctx)
        box_args = {k: arguments.get(k) for k in ("x", "y", "width", "height", "bbox_2d", "padding")}
        with _bad_arguments(self.name):
            x1, y1, x2, y2 = crop_box(image.shape, **box_args)
        new_id, described = self._store(image[y1:y2, x1:x2], ctx, f"crop({image_id})")
        return ToolResult(f"Cropped {image_id} to [{x1}, {y1}, {x2}, {y2}]; the result is {described}.", [new_id])


@register_tool
class SharpenTool(_VisionTool):
    name = "sharpen"
    description = "Sharpen an image with an unsharp mask of the given amount (0-10, default 1.5)."
    parameters = {
        "type": "object",
        "properties": {
            "image": _IMAGE,
            "amount": {"type": "number", "minimum": 0, "maximum": MAX_SHARPEN, "default": 1.5},
        },
    }

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        image_id, image = self._input(arguments, ctx)
        amount = arguments.get("amount", 1.5)
        with _bad_arguments(self.name):
            out = self._cached("sharpen", image, (amount,), lambda: sharpen(image, amount))
        new_id, described = self._store(out, ctx, f"sharpen({image_id})")
        return ToolResult(f"Sharpened {image_id} (amount {amount:g}); the result is {described}.", [new_id])


@register_tool
class SuperResolutionTool(_VisionTool):
    """Args: model_path: a local learned model (see :func:`load_sr_model`), loaded once; default:
    classical. max_output_pixels: largest H×W of a result."""

    name = "super_resolution"
    description = "Upscale an image by 2, 3 or 4 (default 4), restoring sharp edges and text."
    parameters = {
        "type": "object",
        "properties": {"image": _IMAGE, "scale": {"type": "integer", "enum": list(SCALES), "default": 4}},
    }

    def __init__(
        self,
        model_path: str | None = None,
        max_input_pixels: int = 16_000_000,
        max_output_pixels: int = 16_000_000,
        cache: CacheSpec = "auto",
    ):
        self.max_output_pixels = _check_pixels("max_output_pixels", max_output_pixels)
        self.model = load_sr_model(model_path) if model_path is not None else None
        self._model_key = _file_key(self.model.path) if self.model is not None else "classical"
        super().__init__(max_input_pixels, cache)

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        image_id, image = self._input(arguments, ctx)
        scale = int(arguments.get("scale", 4))
        h, w = image.shape[:2]
        self._check_output(w * scale, h * scale, ctx, "crop first or use a smaller scale", self.max_output_pixels)
        with _bad_arguments(self.name):
            out = self._cached(
                "super_resolution", image, (scale, self._model_key), lambda: super_resolution(image, scale, model=self.model)
            )
        backend = f"model {self.model.path.name}" if self.model else "classical: Lanczos + detail enhancement"
        new_id, described = self._store(out, ctx, f"super_resolution({image_id})")
        return ToolResult(f"Upscaled {image_id} ×{scale} ({backend}); the result is {described}.", [new_id])


@register_tool
class PerspectiveCorrectTool(_VisionTool):
    name = "perspective_correct"
    description = "Find the dominant quadrilateral (document, sign, screen) in an image and warp it to a flat rectangle."
    parameters = {"type": "object", "properties": {"image": _IMAGE}}

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        image_id, image = self._input(arguments, ctx)
        corners = self._cached("find_quadrilateral", image, (), lambda: find_quadrilateral(image))
        if corners is None:
            raise ToolError(
                StepError.TOOL_FAILED,
                f"{self.name}: no quadrilateral (document, sign or screen) was found in {image_id}; "
                "nothing was changed. Try crop on the region instead.",
            )
        self._check_output(*rectified_size(corners), ctx, "crop first")
        flat = self._cached("warp_quadrilateral", image, (corners.tolist(),), lambda: warp_quadrilateral(image, corners))
        new_id, described = self._store(flat, ctx, f"perspective_correct({image_id})")
        points = json.dumps(np.rint(corners).astype(int).tolist())
        return ToolResult(
            f"Found a quadrilateral in {image_id} with corners {points} (top-left, top-right, bottom-right, "
            f"bottom-left) and warped it flat; the result is {described}.",
            [new_id],
        )


@register_tool
class OcrTool(_VisionTool):
    """Args: lang: default language; psm: default tesseract page segmentation mode (see
    :data:`~mmsearch_gym.tools.ocr.DEFAULT_PSM`); timeout_s: seconds before tesseract is
    stopped (``timeout`` step error); tesseract_cmd: path of the binary; max_words: words
    listed in the answer."""

    name = "ocr"
    description = (
        "Read the text in an image (tesseract OCR): the text, then each word with its box and confidence. "
        "psm is tesseract's page segmentation mode: 6 (default) one block of text, 3 automatic page layout, "
        "4 one column, 11 or 12 sparse text."
    )
    parameters = {
        "type": "object",
        "properties": {
            "image": _IMAGE,
            "lang": {"type": "string", "description": "tesseract language code(s), e.g. eng or eng+deu", "default": "eng"},
            "psm": {"type": "integer", "enum": list(PSM_MODES), "description": "page segmentation mode"},
        },
    }

    def __init__(
        self,
        lang: str = "eng",
        timeout_s: float = 30.0,
        tesseract_cmd: str | None = None,
        max_words: int = 200,
        max_input_pixels: int = 16_000_000,
        psm: int = DEFAULT_PSM,
        cache: CacheSpec = "auto",
    ):
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < math.inf:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 0:
            raise ValueError(f"max_words must be an integer >= 0, got {max_words!r}")
        if psm not in PSM_MODES or isinstance(psm, bool):
            raise ValueError(f"psm must be one of {list(PSM_MODES)}, got {psm!r}")
        self.lang, self.timeout_s, self.tesseract_cmd, self.max_words = lang, timeout_s, tesseract_cmd, max_words
        self.psm = psm
        super().__init__(max_input_pixels, cache)

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        image_id, image = self._input(arguments, ctx)
        lang, psm = arguments.get("lang", self.lang), int(arguments.get("psm", self.psm))
        try:
            with _bad_arguments(self.name):
                result = self._cached(
                    "ocr", image, (lang, psm, self.tesseract_cmd),
                    lambda: ocr(image, lang, self.timeout_s, self.tesseract_cmd, psm=psm),
                )  # fmt: skip
        except OcrTimeout as err:
            raise ToolError(StepError.TIMEOUT, f"{self.name}: {err}") from None
        except OcrError as err:
            raise ToolError(StepError.TOOL_FAILED, f"{self.name}: {err}") from None
        h, w = image.shape[:2]
        if not result.words:
            return ToolResult(f"OCR of {image_id} ({w}×{h}): no text found.")
        n_lines = result.words[-1].line + 1
        shown = [[wd.text, list(wd.bbox), round(wd.confidence)] for wd in result.words[: self.max_words]]
        more = len(result.words) - len(shown)
        return ToolResult(
            f"OCR of {image_id} ({w}×{h}): {len(result.words)} words in {n_lines} lines, mean confidence "
            f"{result.mean_confidence:.0f}.\nText:\n{result.text}\n"
            f"Words [text, bbox_2d [x1, y1, x2, y2], confidence]:\n{json.dumps(shown, ensure_ascii=False)}"
            + (f"\n(+{more} more words)" if more > 0 else "")
        )
