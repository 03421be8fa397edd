"""The reverse image index as it was before issue 18 (Lab layout views + template re-ranking of 40 candidates).

Kept only as the baseline of ``benchmarks/image_search.py``; the package uses
:mod:`mmsearch_gym.world.image_index`. The code below is unchanged from that version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

GRID = 8  # layout descriptor cells per side
QUERY_H = 96  # stage-1 working height of the query
MATCH_H = 48  # stage-2 working height of the query
THUMB_H = 48  # stored height of each indexed image, for stage 2
VIEW_SCALES = (0.6, 0.7, 0.8, 0.9, 1.0)
VIEW_ROTATIONS = (-6.0, 0.0, 6.0)
TEMPLATE_SCALES = (0.55, 0.65, 0.75, 0.85, 0.95)
TEMPLATE_ROTATIONS = (-7.0, 0.0, 7.0)


def _lab_integral(image: np.ndarray) -> np.ndarray:
    """Summed-area table of the blurred Lab image (float64, one row/column of zeros in front)."""
    lab = cv2.cvtColor(cv2.GaussianBlur(image, (0, 0), 1.2), cv2.COLOR_RGB2LAB).astype(np.float64)
    return cv2.integral(lab)


def _layouts(integral: np.ndarray, boxes: np.ndarray, grid: int = GRID) -> np.ndarray:
    """``grid``×``grid`` Lab layout descriptors of the ``(x0, y0, x1, y1)`` boxes (unit rows, float32)."""
    t = np.linspace(0.0, 1.0, grid + 1)
    xs = np.rint(boxes[:, [0]] + (boxes[:, [2]] - boxes[:, [0]]) * t).astype(np.intp)
    ys = np.rint(boxes[:, [1]] + (boxes[:, [3]] - boxes[:, [1]]) * t).astype(np.intp)
    corners = integral[ys[:, :, None], xs[:, None, :]]  # (n, 9, 9, 3)
    sums = corners[:, 1:, 1:] - corners[:, :-1, 1:] - corners[:, 1:, :-1] + corners[:, :-1, :-1]
    area = (np.diff(ys, axis=1)[:, :, None] * np.diff(xs, axis=1)[:, None, :]).clip(min=1)
    lab = sums / area[..., None]
    light = lab[..., 0].reshape(len(boxes), -1)
    lab[..., 0] = ((light - light.mean(1, keepdims=True)) / (light.std(1, keepdims=True) + 5.0) * 20.0).reshape(
        lab.shape[:3]
    )
    lab[..., 1:] -= 128.0
    v = lab.reshape(len(boxes), -1)
    return (v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-6)).astype(np.float32)


def layout_descriptor(image: np.ndarray) -> np.ndarray:
    """The 8×8 Lab colour-layout descriptor of a whole RGB image (unit length, float32)."""
    small = _resize_h(image, QUERY_H)
    h, w = small.shape[:2]
    return _layouts(_lab_integral(small), np.array([[0, 0, w, h]], dtype=np.float64))[0]


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


def query_descriptors(image: np.ndarray, aspect: float) -> np.ndarray:
    """Layout descriptors of views of ``image`` with width/height ``aspect``: several scales,
    positions and small rotations (rows of a float32 matrix)."""
    small = _resize_h(image, QUERY_H)
    h, w = small.shape[:2]
    boxes = []
    for s in VIEW_SCALES:
        ch, cw = s * h, s * h * aspect
        if cw > w:
            cw, ch = 0.98 * w, 0.98 * w / aspect
        for fx in np.linspace(0.0, 1.0, 5):
            for fy in np.linspace(0.0, 1.0, 3):
                x0, y0 = fx * (w - cw), fy * (h - ch)
                boxes.append((x0, y0, x0 + cw, y0 + ch))
    box_array = np.array(boxes, dtype=np.float64)
    return np.concatenate([_layouts(_lab_integral(_rotate(small, d)), box_array) for d in VIEW_ROTATIONS])


def _lab_blur(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.GaussianBlur(image, (0, 0), 0.8), cv2.COLOR_RGB2LAB).astype(np.float32)


def _templates(thumb: np.ndarray) -> list[np.ndarray]:
    out = []
    for s in TEMPLATE_SCALES:
        th = int(MATCH_H * s)
        tw = max(4, int(th * thumb.shape[1] / thumb.shape[0]))
        if tw >= MATCH_H * 4 / 3:
            continue
        t = _lab_blur(cv2.resize(thumb, (tw, th), interpolation=cv2.INTER_AREA))
        for degrees in TEMPLATE_ROTATIONS:
            if degrees:
                c = int(min(tw, th) * 0.08)
                out.append(_rotate(t, degrees)[c : th - c, c : tw - c])
            else:
                out.append(t)
    return out


def template_score(query_lab: np.ndarray, thumb: np.ndarray) -> float:
    """Best normalised cross-correlation of ``thumb``'s templates inside the query (−1…1)."""
    best = -1.0
    for t in _templates(thumb):
        if t.shape[0] <= query_lab.shape[0] and t.shape[1] <= query_lab.shape[1]:
            best = max(best, float(cv2.matchTemplate(query_lab, t, cv2.TM_CCOEFF_NORMED).max()))
    return best


@dataclass
class ImageIndex:
    """Descriptors and small thumbnails of the indexed images, searchable by example image."""

    ids: list[str]
    descriptors: np.ndarray  # (n, GRID*GRID*3) float32, unit rows
    aspects: np.ndarray  # (n,) width / height
    thumbs: list[np.ndarray]  # uint8 RGB, THUMB_H high

    @classmethod
    def build(cls, images: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]]) -> ImageIndex:
        """Index ``{image_id: RGB array}`` or ``(id, array)`` pairs, in the given order (only small
        features are kept, so a generator of images never holds them all in memory)."""
        ids, desc, aspects, thumbs = [], [], [], []
        for image_id, image in images.items() if isinstance(images, Mapping) else images:
            ids.append(image_id)
            desc.append(layout_descriptor(image))
            aspects.append(image.shape[1] / image.shape[0])
            thumbs.append(_resize_h(image, THUMB_H))
        matrix = np.stack(desc) if desc else np.zeros((0, GRID * GRID * 3), np.float32)
        return cls(ids, matrix.astype(np.float32), np.array(aspects, dtype=np.float32), thumbs)

    def search(self, image: np.ndarray, top_k: int = 5, rerank: int = 40) -> list[tuple[str, float]]:
        """``(image_id, score)`` best first; the score is the best template correlation (−1…1)."""
        if not self.ids:
            return []
        from mmsearch_gym.tools.vision import find_quadrilateral, warp_quadrilateral

        extra = []
        corners = find_quadrilateral(image)
        if corners is not None:
            extra.append(warp_quadrilateral(image, corners))
        distance = np.full(len(self.ids), np.inf, dtype=np.float32)
        for aspect in np.unique(np.round(self.aspects, 2)):
            sel = np.abs(self.aspects - aspect) < 0.05
            views = np.concatenate(
                [query_descriptors(image, float(aspect))] + [layout_descriptor(x)[None] for x in extra]
            )
            distance[sel] = np.minimum(distance[sel], (2.0 - 2.0 * views @ self.descriptors[sel].T).min(axis=0))
        order = np.lexsort((np.arange(len(self.ids)), distance))  # ties broken by index: deterministic
        head = order[: max(rerank, top_k)]
        query_lab = _lab_blur(_resize_h(image, MATCH_H))
        scores = np.array([template_score(query_lab, self.thumbs[j]) for j in head])
        reranked = head[np.lexsort((np.arange(len(head)), -scores))]
        by_id = dict(zip(head.tolist(), scores.tolist()))
        return [(self.ids[j], round(by_id[j], 6)) for j in reranked[:top_k]]

    def save(self, path: Path) -> None:
        flat = np.concatenate([t.reshape(-1) for t in self.thumbs]) if self.thumbs else np.zeros(0, np.uint8)
        shapes = np.array([t.shape[:2] for t in self.thumbs], dtype=np.int32).reshape(-1, 2)
        np.savez_compressed(
            path, ids=np.array(self.ids), descriptors=self.descriptors, aspects=self.aspects, thumbs=flat, shapes=shapes
        )

    @classmethod
    def load(cls, path: Path) -> ImageIndex:
        with np.load(path, allow_pickle=False) as z:
            thumbs, offset = [], 0
            flat = z["thumbs"]
            for h, w in z["shapes"]:
                n = int(h) * int(w) * 3
                thumbs.append(flat[offset : offset + n].reshape(int(h), int(w), 3))
                offset += n
            return cls([str(i) for i in z["ids"]], z["descriptors"], z["aspects"], thumbs)
