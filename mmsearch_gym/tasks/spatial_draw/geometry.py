"""Meshes and cameras for SpatialDraw scenes: metric world, y up, the ground at y = 0.

A shape is a unit primitive (``box``, ``cylinder``, ``cone``, ``sphere``, ``plane``) placed by
a 4×4 transform; its triangles are built once and cached. :class:`Camera` is a pinhole
camera (look-at + vertical field of view) whose ``project`` gives pixel coordinates, origin
top-left, exactly as the renderer draws them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

MATERIALS = {"plain": 0, "wood": 1, "tiles": 2, "grass": 3, "asphalt": 4, "facade": 5, "mat": 6, "fabric": 7,
             "water": 8, "metal": 9, "sky": 10, "paint": 11, "field": 12, "roof": 13}  # fmt: skip


@lru_cache(maxsize=None)
def primitive(shape: str, segments: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of a unit shape as (positions (N, 3), normals (N, 3)), N a multiple of 3.

    ``box``: [-.5, .5]³; ``cylinder``/``cone``: radius .5, y in [0, 1]; ``sphere``: radius .5
    centred at the origin; ``plane``: the square [-.5, .5]² at y = 0 facing up.
    """
    if shape == "box":
        v = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
        faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
        normals = [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)]
        tris, nrm = [], []
        for (a, b, c, d), n in zip(faces, normals, strict=True):
            tris += [v[a], v[b], v[c], v[a], v[c], v[d]]
            nrm += [n] * 6
        return _fix_winding(np.array(tris, float), np.array(nrm, float))
    if shape == "plane":
        p = np.array([[-0.5, 0, -0.5], [0.5, 0, -0.5], [0.5, 0, 0.5], [-0.5, 0, -0.5], [0.5, 0, 0.5], [-0.5, 0, 0.5]])
        return p, np.tile([0.0, 1.0, 0.0], (6, 1))
    if shape in ("cylinder", "cone"):
        a = np.linspace(0, 2 * np.pi, segments + 1)
        ring = np.stack([0.5 * np.cos(a), np.zeros_like(a), 0.5 * np.sin(a)], 1)
        top_r = 1.0 if shape == "cylinder" else 0.0
        tris, nrm = [], []
        slope = 0.5 if shape == "cone" else 0.0
        for i in range(segments):
            p0, p1 = ring[i], ring[i + 1]
            t0, t1 = p0 * top_r + [0, 1, 0], p1 * top_r + [0, 1, 0]
            n0 = np.array([np.cos(a[i]), slope, np.sin(a[i])])
            n1 = np.array([np.cos(a[i + 1]), slope, np.sin(a[i + 1])])
            tris += [p0, p1, t1, p0, t1, t0]
            nrm += [n0, n1, n1, n0, n1, n0]
            tris += [[0, 0, 0], p1, p0]
            nrm += [[0, -1, 0]] * 3
            if shape == "cylinder":
                tris += [[0, 1, 0], t0, t1]
                nrm += [[0, 1, 0]] * 3
        nrm = np.array(nrm, float)
        return np.array(tris, float), nrm / np.linalg.norm(nrm, axis=1, keepdims=True)
    if shape == "sphere":
        n_lat, n_lon = segments // 2, segments
        lat = np.linspace(0, np.pi, n_lat + 1)
        lon = np.linspace(0, 2 * np.pi, n_lon + 1)
        pts = np.stack([np.sin(lat)[:, None] * np.cos(lon), np.cos(lat)[:, None] * np.ones_like(lon),
                        np.sin(lat)[:, None] * np.sin(lon)], -1)  # fmt: skip
        tris = []
        for i in range(n_lat):
            for j in range(n_lon):
                a, b, c, d = pts[i, j], pts[i, j + 1], pts[i + 1, j + 1], pts[i + 1, j]
                tris += [a, c, b, a, d, c]
        unit = np.array(tris, float)
        return 0.5 * unit, unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-9)
    raise ValueError(f"unknown shape {shape!r}; use box, cylinder, cone, sphere or plane")


def _fix_winding(tris: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = tris.reshape(-1, 3, 3)
    face_n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    flip = (face_n * normals.reshape(-1, 3, 3)[:, 0]).sum(1) < 0
    t[flip] = t[flip][:, ::-1]
    return t.reshape(-1, 3), normals


def transform(position=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0), yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """4×4 matrix: scale, then rotate about x (``pitch``) and y (``yaw``, radians), then translate."""
    s = np.diag([*np.broadcast_to(np.asarray(scale, float), 3), 1.0])
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0, 0], [0, cp, -sp, 0], [0, sp, cp, 0], [0, 0, 0, 1]])
    ry = np.array([[cy, 0, sy, 0], [0, 1, 0, 0], [-sy, 0, cy, 0], [0, 0, 0, 1]])
    t = np.eye(4)
    t[:3, 3] = position
    return t @ ry @ rx @ s


@dataclass
class Part:
    """One primitive of an object: shape, placement, colour (RGB 0–1) and material name."""

    shape: str
    matrix: np.ndarray
    color: tuple[float, float, float]
    material: str = "plain"

    def triangles(self) -> tuple[np.ndarray, np.ndarray]:
        pos, nrm = primitive(self.shape)
        m = self.matrix
        world = pos @ m[:3, :3].T + m[:3, 3]
        normal_m = np.linalg.inv(m[:3, :3]).T
        n = nrm @ normal_m.T
        return world, n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


@dataclass
class Camera:
    """Pinhole camera looking from ``eye`` at ``target``; ``fov_y`` in degrees; pixels origin top-left."""

    eye: np.ndarray
    target: np.ndarray
    fov_y: float
    width: int
    height: int
    near: float = 0.01
    far: float = 1000.0
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))

    def __post_init__(self) -> None:
        self.eye, self.target = np.asarray(self.eye, float), np.asarray(self.target, float)
        f = self.target - self.eye
        f /= np.linalg.norm(f)
        up = self.up if abs(float(f @ self.up)) < 0.999 else np.array([0.0, 0.0, -1.0])
        s = np.cross(f, up)
        s /= np.linalg.norm(s)
        u = np.cross(s, f)
        self.forward, self.right, self.true_up = f, s, u

    @property
    def view(self) -> np.ndarray:
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = self.right, self.true_up, -self.forward
        m[:3, 3] = -m[:3, :3] @ self.eye
        return m

    @property
    def proj(self) -> np.ndarray:
        t = 1.0 / np.tan(np.radians(self.fov_y) / 2)
        n, f = self.near, self.far
        return np.array([[t * self.height / self.width, 0, 0, 0], [0, t, 0, 0],
                         [0, 0, (f + n) / (n - f), 2 * f * n / (n - f)], [0, 0, -1, 0]])  # fmt: skip

    @property
    def focal_px(self) -> float:
        return self.height / 2 / np.tan(np.radians(self.fov_y) / 2)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (x, y) of world points (N, 3) and their depth along the view axis (metres)."""
        p = np.asarray(points, float).reshape(-1, 3) - self.eye
        depth = p @ self.forward
        x = self.width / 2 + self.focal_px * (p @ self.right) / np.maximum(depth, 1e-9)
        y = self.height / 2 - self.focal_px * (p @ self.true_up) / np.maximum(depth, 1e-9)
        return np.stack([x, y], 1), depth

    def to_json(self) -> dict:
        return {"eye": [round(float(v), 4) for v in self.eye], "target": [round(float(v), 4) for v in self.target],
                "fov_y": self.fov_y, "width": self.width, "height": self.height}  # fmt: skip
