"""Reverse image search over the world's images, robust to the photo degradations of :mod:`.degrade`.

Every indexed image is one row of a matrix of **Lab colour-layout descriptors**: the image
blurred, in Lab, averaged over an 8×8 grid, lightness standardised (so brightness, blur,
noise and JPEG barely move it), unit length. A query is searched in two steps, both on
small images and both vectorised (about 10 ms of CPU against the default world's 3,000
images; ``benchmarks/image_search.py``):

1. **Views.** The query (96 px high) is cut into views for each aspect ratio in the index:
   5 scales, at each every position in steps of 15% of the view's size (about 120 views at
   an aspect of 1), at two rotations (−4°, +4°), plus the whole query upright and the
   rectified dominant quadrilateral when there is one. All their descriptors come from one
   summed-area table per rotation; one matrix product per aspect gives every image's best
   view and its cosine similarity.
2. **Re-ranking a short list.** The ``shortlist`` best images have their best view refined:
   27 boxes around it (±6% shifts, ±6% scale) at its rotation, then that box 4° either
   way (so 0° and ±8° are reached too). Step 1 misplaces the object by up to half a step;
   aligned, the right image stands out from its look-alikes.

The score of a hit is the cosine similarity of its best view (−1…1). Ties are broken by
index order, so results are deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..core.images import as_rgb_uint8

GRID = 8  # layout descriptor cells per side
QUERY_H = 96  # working height of the query and of every indexed image
ROTATIONS = (-8.0, -4.0, 0.0, 4.0, 8.0)  # degrees; step-1 views use two, refinement one step either way
VIEW_ROTATIONS = (1, 3)  # indices into ROTATIONS of the step-1 views: −4°, +4°
UPRIGHT = 2  # index of 0° in ROTATIONS
VIEW_SCALES = (0.6, 0.7, 0.8, 0.9, 1.0)  # view height over query height
VIEW_STEP = 0.15  # step-1 positions are this share of the view's size apart
REFINE_SCALES = (0.94, 1.0, 1.06)
REFINE_SHIFTS = (-0.06, 0.0, 0.06)  # fraction of the view's size
ASPECT_STEP = 0.05  # images whose width/height round to the same multiple share one set of views
SHORTLIST = 20
_T = np.linspace(0.0, 1.0, GRID + 1)


def _resize_h(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    if not degrees:
        return image
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _lab_integral(image: np.ndarray) -> np.ndarray:
    """Summed-area table (int32, a row and column of zeros in front) of the blurred Lab image."""
    lab = cv2.cvtColor(cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), 1.2), cv2.COLOR_RGB2LAB)
    return cv2.integral(lab, sdepth=cv2.CV_32S)


def _layouts(integral: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Layout descriptors of the ``(x0, y0, x1, y1)`` boxes of the image behind ``integral`` (unit float32 rows)."""
    n = len(boxes)
    xs = np.rint(boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * _T).astype(np.intp)
    ys = np.rint(boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * _T).astype(np.intp)
    c = integral[ys[:, :, None], xs[:, None, :]]  # (n, GRID+1, GRID+1, 3)
    sums = (c[:, 1:, 1:] - c[:, :-1, 1:] - c[:, 1:, :-1] + c[:, :-1, :-1]).astype(np.float32)
    area = ((ys[:, 1:] - ys[:, :-1])[:, :, None] * (xs[:, 1:] - xs[:, :-1])[:, None, :]).clip(min=1)
    lab = (sums / area[..., None].astype(np.float32)).reshape(n, GRID * GRID, 3)
    light = lab[:, :, 0]
    centred = light - light.sum(axis=1, keepdims=True) * (1.0 / (GRID * GRID))
    spread = np.sqrt(np.einsum("ij,ij->i", centred, centred) * (1.0 / (GRID * GRID)))[:, None]
    lab[:, :, 0] = centred * (20.0 / (spread + 5.0))
    lab[:, :, 1:] -= 128.0
    v = lab.reshape(n, -1)
    return v * (1.0 / (np.sqrt(np.einsum("ij,ij->i", v, v)) + 1e-6))[:, None]


def layout_descriptor(image: np.ndarray) -> np.ndarray:
    """The 8×8 Lab colour-layout descriptor of a whole RGB image (unit length, float32)."""
    small = _resize_h(image, QUERY_H)
    h, w = small.shape[:2]
    return _layouts(_lab_integral(small), np.array([[0, 0, w, h]], dtype=np.float64))[0]


def _view_boxes(width: int, height: int, aspect: float, scales: int | None = None) -> np.ndarray:
    """Step-1 boxes of width/height ``aspect`` inside a ``width``×``height`` query (only the centred
    box of the largest scale when ``scales`` is 1)."""
    boxes = []
    for s in VIEW_SCALES[::-1][:scales] if scales else VIEW_SCALES:
        bh, bw = s * height, s * height * aspect
        if bw > width:
            bw, bh = 0.98 * width, 0.98 * width / aspect
        nx = math.ceil((width - bw) / (VIEW_STEP * bw)) + 1 if not scales else 1
        ny = math.ceil((height - bh) / (VIEW_STEP * bh)) + 1 if not scales else 1
        for fx in np.linspace(0.0, 1.0, nx) if nx > 1 else (0.5,):
            for fy in np.linspace(0.0, 1.0, ny) if ny > 1 else (0.5,):
                x0, y0 = fx * (width - bw), fy * (height - bh)
                boxes.append((x0, y0, x0 + bw, y0 + bh))
    return np.array(boxes, dtype=np.float64)


def _jitter(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(n, 27, 4): each box shifted and scaled by the refinement steps, clipped to the query."""
    scale, dx, dy = (g.ravel() for g in np.meshgrid(REFINE_SCALES, REFINE_SHIFTS, REFINE_SHIFTS, indexing="ij"))
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2])[:, None] / 2 + dx * bw[:, None]
    cy = (boxes[:, 1] + boxes[:, 3])[:, None] / 2 + dy * bh[:, None]
    half_w, half_h = bw[:, None] * scale / 2, bh[:, None] * scale / 2
    out = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1)
    out[..., [0, 2]] = out[..., [0, 2]].clip(0, width)
    out[..., [1, 3]] = out[..., [1, 3]].clip(0, height)
    return out


class _Query:
    """A query image at working size, with its rotated summed-area tables made on demand."""

    def __init__(self, image: np.ndarray):
        self.small = _resize_h(as_rgb_uint8(image), QUERY_H)
        self.height, self.width = self.small.shape[:2]
        self._integrals: dict[int, np.ndarray] = {}

    def integral(self, rotation: int) -> np.ndarray:
        if rotation not in self._integrals:
            self._integrals[rotation] = _lab_integral(_rotate(self.small, ROTATIONS[rotation]))
        return self._integrals[rotation]


@dataclass
class ImageIndex:
    """Layout descriptors of the indexed images (one float32 matrix), searchable by example image."""

    ids: list[str]
    descriptors: np.ndarray  # (n, GRID*GRID*3) float32, unit rows
    aspects: np.ndarray  # (n,) width / height
    _groups: list[tuple[float, np.ndarray, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.descriptors = np.ascontiguousarray(self.descriptors, dtype=np.float32)
        self.aspects = np.asarray(self.aspects, dtype=np.float32)
        bins = np.round(self.aspects / ASPECT_STEP).astype(np.int64)
        self._groups = []  # (aspect, rows, their descriptors transposed) per aspect bin
        for b in np.unique(bins):
            rows = np.flatnonzero(bins == b)
            aspect = float(np.median(self.aspects[rows]))
            self._groups.append((aspect, rows, np.ascontiguousarray(self.descriptors[rows].T)))

    @classmethod
    def build(cls, images: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]]) -> ImageIndex:
        """Index ``{image_id: RGB array}`` or ``(id, array)`` pairs, in the given order (only the
        descriptors are kept, so a generator of images never holds them all in memory)."""
        ids, desc, aspects = [], [], []
        for image_id, image in images.items() if isinstance(images, Mapping) else images:
            ids.append(image_id)
            desc.append(layout_descriptor(image))
            aspects.append(image.shape[1] / image.shape[0])
        matrix = np.stack(desc) if desc else np.zeros((0, GRID * GRID * 3), np.float32)
        return cls(ids, matrix, np.array(aspects, dtype=np.float32))

    def search(self, image: np.ndarray, top_k: int = 5, shortlist: int = SHORTLIST) -> list[tuple[str, float]]:
        """``(image_id, score)`` best first; the score is the cosine similarity of the best view (−1…1)."""
        if not self.ids:
            return []
        from ..tools.vision import find_quadrilateral, warp_quadrilateral

        query = _Query(image)
        corners = find_quadrilateral(image)
        rectified = layout_descriptor(warp_quadrilateral(image, corners))[None] if corners is not None else None
        similarity, rotation, box = self._views(query, rectified)
        order = np.lexsort((np.arange(len(self.ids)), -similarity))
        head = order[: max(shortlist, top_k)]
        refined = self._refine(query, head, similarity[head], rotation[head], box[head])
        ranked = head[np.lexsort((np.arange(len(head)), -refined))]
        by_row = dict(zip(head.tolist(), refined.tolist()))
        return [(self.ids[j], round(by_row[j], 6)) for j in ranked[:top_k]]

    def _views(self, query: _Query, rectified: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 1: each image's best similarity, with the rotation index and box of its view
        (rotation −1: the rectified quadrilateral)."""
        n = len(self.ids)
        similarity = np.empty(n, np.float32)
        rotation = np.empty(n, np.int64)
        box = np.empty((n, 4), np.float64)
        for aspect, rows, columns in self._groups:
            boxes = _view_boxes(query.width, query.height, aspect)
            # the views at each rotation, and the whole query upright (an unchanged image finds itself at 1.0)
            blocks = [(r, boxes) for r in VIEW_ROTATIONS] + [
                (UPRIGHT, _view_boxes(query.width, query.height, aspect, 1))
            ]
            views = [_layouts(query.integral(r), b) for r, b in blocks]
            view_rotation = np.concatenate([np.full(len(b), r) for r, b in blocks])
            view_box = np.concatenate([b for _, b in blocks])
            if rectified is not None:
                views.append(rectified)
                view_rotation = np.append(view_rotation, -1)
                view_box = np.concatenate([view_box, np.zeros((1, 4))])
            # OpenCV's product: numpy's BLAS threads slow it down several-fold on a busy machine
            sims = cv2.gemm(np.concatenate(views), columns, 1.0, None, 0.0)
            best = sims.argmax(axis=0)
            similarity[rows] = sims[best, np.arange(len(rows))]
            rotation[rows] = view_rotation[best]
            box[rows] = view_box[best]
        return similarity, rotation, box

    def _refine(
        self, query: _Query, head: np.ndarray, similarity: np.ndarray, rotation: np.ndarray, box: np.ndarray
    ) -> np.ndarray:
        """Step 2: the best similarity of each short-listed image over boxes around its view."""
        best = similarity.copy()
        movable = rotation >= 0
        for step in (0, -1, 1):  # the box first, then the rotation of the best box
            candidates = _jitter(box, query.width, query.height) if step == 0 else box[:, None]
            rot = np.clip(rotation + step, 0, len(ROTATIONS) - 1)
            sims = np.full(candidates.shape[:2], -2.0, np.float32)
            for r in np.unique(rot[movable]):
                sel = movable & (rot == r)
                views = _layouts(query.integral(int(r)), candidates[sel].reshape(-1, 4))
                views = views.reshape(int(sel.sum()), candidates.shape[1], -1)
                sims[sel] = np.einsum("hjd,hd->hj", views, self.descriptors[head[sel]])
            pick = sims.argmax(axis=1)
            found = sims[np.arange(len(head)), pick]
            better = movable & (found > best)
            best = np.where(better, found, best)
            if step == 0:
                box = np.where(better[:, None], candidates[np.arange(len(head)), pick], box)
        return best

    def save(self, path: Path) -> None:
        np.savez_compressed(path, ids=np.array(self.ids), descriptors=self.descriptors, aspects=self.aspects)

    @classmethod
    def load(cls, path: Path) -> ImageIndex:
        with np.load(path, allow_pickle=False) as z:
            return cls([str(i) for i in z["ids"]], z["descriptors"], z["aspects"])
