"""Realistic photo degradations: the object shot at an angle in clutter, low resolution, blur, noise, JPEG.

:func:`photo_degradation` draws the parameters (kept in the image's metadata so a task can
say how hard a photo is); :func:`degrade` applies them deterministically (its noise and
clutter come from ``params["seed"]``).
"""

from __future__ import annotations

import random

import numpy as np

CANVAS = (320, 240)  # width, height of the scene before the resolution drop


def photo_degradation(rng: random.Random, strength: float = 1.0) -> dict[str, float]:
    """Random degradation parameters; ``strength`` in [0, 1] scales how harsh they are."""
    s = float(min(max(strength, 0.0), 1.0))
    return {
        "scale": round(rng.uniform(0.62, 0.9), 3),  # object height over frame height
        "perspective": round(rng.uniform(0.0, 0.12) * s, 3),  # corner jitter, fraction of object size
        "rotation": round(rng.uniform(-10, 10) * s, 2),  # degrees
        "clutter": float(rng.random() < 0.7 * s + 0.1),
        "blur": round(rng.uniform(0.0, 1.8) * s, 2),  # gaussian sigma in pixels
        "noise": round(rng.uniform(0.0, 12.0) * s, 2),  # gaussian sigma in grey levels
        "resolution": round(rng.uniform(1.0 - 0.6 * s, 1.0), 3),  # final size over CANVAS
        "jpeg": float(rng.randint(int(90 - 60 * s), 92)),  # JPEG quality
        "brightness": round(rng.uniform(1 - 0.2 * s, 1 + 0.2 * s), 3),
        "seed": float(rng.randrange(2**31)),
    }


def _background(rng: np.random.Generator, clutter: bool) -> np.ndarray:
    import cv2

    w, h = CANVAS
    base = rng.integers(60, 200, size=3)
    grad = np.linspace(0.8, 1.15, h)[:, None, None]
    bg = np.clip(base[None, None, :] * grad * np.ones((h, w, 1)), 0, 255).astype(np.uint8)
    if clutter:
        for _ in range(int(rng.integers(6, 14))):
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            if rng.random() < 0.5:
                cv2.rectangle(bg, (x, y), (x + int(rng.integers(10, 70)), y + int(rng.integers(10, 70))), colour, -1)
            else:
                cv2.circle(bg, (x, y), int(rng.integers(5, 35)), colour, -1)
        for _ in range(int(rng.integers(2, 6))):
            p0 = tuple(int(v) for v in rng.integers(0, [w, h]))
            p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
            cv2.line(bg, p0, p1, tuple(int(c) for c in rng.integers(0, 256, size=3)), int(rng.integers(1, 4)))
    return bg


def degrade(image: np.ndarray, params: dict[str, float]) -> np.ndarray:
    """A degraded "photo" of ``image`` following ``params`` (see :func:`photo_degradation`)."""
    import cv2

    rng = np.random.default_rng(int(params["seed"]))
    w, h = CANVAS
    bg = _background(rng, bool(params["clutter"]))
    ih, iw = image.shape[:2]
    target_h = params["scale"] * h
    k = min(target_h / ih, 0.92 * w / iw)
    ow, oh = iw * k, ih * k
    cx = w / 2 + rng.uniform(-1, 1) * (w - ow) / 4
    cy = h / 2 + rng.uniform(-1, 1) * (h - oh) / 4
    jitter = params["perspective"] * max(ow, oh)
    corners = np.array([[-ow / 2, -oh / 2], [ow / 2, -oh / 2], [ow / 2, oh / 2], [-ow / 2, oh / 2]])
    theta = np.deg2rad(params["rotation"])
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    dst = corners @ rot.T + [cx, cy] + rng.uniform(-jitter, jitter, size=(4, 2))
    src = np.array([[0, 0], [iw, 0], [iw, ih], [0, ih]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.full((ih, iw), 255, np.uint8), m, (w, h), flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    scene = warped.astype(np.float32) * alpha + bg.astype(np.float32) * (1 - alpha)
    scene *= params["brightness"]
    if params["blur"] > 0.05:
        scene = cv2.GaussianBlur(scene, (0, 0), params["blur"])
    if params["noise"] > 0:
        scene += rng.normal(0.0, params["noise"], size=scene.shape)
    scene8 = np.clip(np.rint(scene), 0, 255).astype(np.uint8)
    res = params["resolution"]
    if res < 0.999:
        scene8 = cv2.resize(scene8, (max(16, round(w * res)), max(16, round(h * res))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", scene8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(params["jpeg"])])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
