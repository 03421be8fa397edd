"""Image measures for offline judges: structure, colour, sharpness, colourfulness, where a picture sits, text match.

Pure functions on uint8 RGB arrays (OpenCV and NumPy); every similarity is in [0, 1].
"""

from __future__ import annotations

import difflib
import re
import unicodedata

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def _gray(image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    g = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.resize(g, size, interpolation=cv2.INTER_AREA) if size is not None else g


def ssim(a: np.ndarray, b: np.ndarray, size: tuple[int, int] = (64, 64)) -> float:
    """Structural similarity (Wang et al. 2004, 7×7 Gaussian window) of the two images' grey levels at ``size``, clipped to [0, 1]."""
    x, y = _gray(a, size), _gray(b, size)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (7, 7), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(np.clip(s.mean(), 0.0, 1.0))


def colour_similarity(a: np.ndarray, b: np.ndarray, bins: tuple[int, int, int] = (12, 4, 4)) -> float:
    """Histogram intersection of the two images' HSV colours (hue × saturation × value bins)."""

    def hist(img: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2HSV)
        h = cv2.calcHist([hsv], [0, 1, 2], None, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
        return h / max(float(h.sum()), 1.0)

    return float(np.minimum(hist(a), hist(b)).sum())


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Half structure, half colour: how much ``b`` looks like ``a`` (resized to ``a``'s size)."""
    if a.shape[:2] != b.shape[:2]:
        b = cv2.resize(np.ascontiguousarray(b), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    return 0.5 * ssim(a, b) + 0.5 * colour_similarity(a, b)


def locate(patch: np.ndarray, image: np.ndarray, box: Box, slack: float = 0.2, work: int = 48) -> Box:
    """Where ``patch`` (expected at ``box`` of ``image``) best matches within ``slack`` of its side, at 88–108% of its size."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    H, W = image.shape[:2]
    best, best_box = -2.0, box
    for scale in (0.88, 0.94, 1.0, 1.08):
        sw, sh = max(4, int(w * scale)), max(4, int(h * scale))
        f = work / max(sw, sh)
        t = _gray(patch, (max(4, int(sw * f)), max(4, int(sh * f))))
        mx, my = int(w * slack), int(h * slack)
        ax0, ay0 = max(0, x0 + (w - sw) // 2 - mx), max(0, y0 + (h - sh) // 2 - my)
        ax1, ay1 = min(W, ax0 + sw + 2 * mx), min(H, ay0 + sh + 2 * my)
        if ax1 - ax0 < sw or ay1 - ay0 < sh:
            continue
        area = _gray(image[ay0:ay1, ax0:ax1], (max(t.shape[1], int((ax1 - ax0) * f)), max(t.shape[0], int((ay1 - ay0) * f))))
        if float(t.std()) < 1e-3 or float(area.std()) < 1e-3:
            continue
        res = cv2.matchTemplate(area, t, cv2.TM_CCOEFF_NORMED)
        _, score, _, (bx, by) = cv2.minMaxLoc(res)
        if score > best:
            best = score
            ox, oy = ax0 + int(round(bx / f)), ay0 + int(round(by / f))
            best_box = (ox, oy, min(W, ox + sw), min(H, oy + sh))
    return best_box


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return image[max(0, y0) : max(y0 + 1, y1), max(0, x0) : max(x0 + 1, x1)]


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey levels (higher: crisper edges, more detail)."""
    return float(cv2.Laplacian(_gray(image), cv2.CV_32F).var())


def colourfulness(image: np.ndarray) -> float:
    """Hasler & Süsstrunk's (2003) colourfulness metric."""
    r, g, b = (image[:, :, i].astype(np.float32) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def normalize_text(text: str) -> str:
    """Casefolded letters and digits, single spaces: how printed text is compared."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def text_match(found: str, required: str) -> float:
    """How well ``found`` (OCR output) reproduces ``required``: the best ``difflib`` ratio of ``required``
    against any window of ``found`` of its length (extra text around it costs nothing)."""
    want, got = normalize_text(required), normalize_text(found)[:2000]
    if not want:
        return 1.0
    if not got:
        return 0.0
    n = len(want)
    if len(got) <= n:
        return difflib.SequenceMatcher(None, want, got).ratio()
    return max(difflib.SequenceMatcher(None, want, got[i : i + n]).ratio() for i in range(len(got) - n + 1))
