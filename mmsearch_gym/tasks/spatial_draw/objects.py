"""The object catalogue: what stands in a scene at each of SpaceVista's five scales.

Each kind builds its parts in local coordinates (base centre at the origin, y up, metres)
from a size ``(width, height, depth)`` and a colour; sizes are drawn per object from the
kind's range so that a kind's name alone does not give its size away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .geometry import Part, transform

PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.13, 0.11), "orange": (0.95, 0.52, 0.10), "yellow": (0.95, 0.82, 0.16),
    "green": (0.18, 0.58, 0.24), "blue": (0.14, 0.34, 0.82), "purple": (0.50, 0.24, 0.66),
    "white": (0.93, 0.93, 0.91), "black": (0.09, 0.09, 0.10),
}  # fmt: skip
NATURAL: dict[str, tuple[float, float, float]] = {
    "brown": (0.45, 0.29, 0.16), "gray": (0.52, 0.53, 0.55), "silver": (0.75, 0.76, 0.78),
    "gold": (0.83, 0.66, 0.26), "beige": (0.86, 0.80, 0.66), "dark green": (0.16, 0.36, 0.15),
}  # fmt: skip
COLORS = {**PALETTE, **NATURAL}
METAL, DARK, WOOD = NATURAL["silver"], (0.12, 0.12, 0.13), NATURAL["brown"]

Builder = Callable[[np.ndarray, tuple[float, float, float], np.random.Generator], list[Part]]


@dataclass(frozen=True)
class Kind:
    """An object kind: its name, size range (min and max of width, height, depth) and colours."""

    name: str
    size_lo: tuple[float, float, float]
    size_hi: tuple[float, float, float]
    colors: tuple[str, ...]
    build: Builder
    lying: bool = False  # long side on the ground (batteries, screws)


def _box(c, w, h, d, color, material="plain", y=0.0, x=0.0, z=0.0, yaw=0.0) -> Part:
    return Part("box", transform((x, y + h / 2, z), (w, h, d), yaw), color, material)


def _cyl(shape, r, h, color, material="plain", x=0.0, y=0.0, z=0.0, pitch=0.0, yaw=0.0, rz=None) -> Part:
    return Part(shape, transform((x, y, z), (2 * r, h, 2 * (rz if rz is not None else r)), yaw, pitch), color, material)


def _sphere(r, color, x=0.0, y=0.0, z=0.0, material="plain", ry=None) -> Part:
    return Part("sphere", transform((x, y, z), (2 * r, 2 * (ry or r), 2 * r)), color, material)


# ---- builders ------------------------------------------------------------------------------------
def coin(s, c, rng):
    return [_cyl("cylinder", s[0] / 2, s[1], c, "metal")]


def die(s, c, rng):
    parts = [_box(None, *s, c, "paint")]
    for dx, dz in [(0, 0), (-0.28, -0.28), (0.28, 0.28)]:
        parts.append(_cyl("cylinder", s[0] * 0.09, s[1] * 0.02, (0.95, 0.95, 0.95), x=dx * s[0], y=s[1], z=dz * s[2]))
    return parts


def bead(s, c, rng):
    return [_sphere(s[0] / 2, c, y=s[1] / 2, material="paint")]


def _lying(r, length, z0, color, material="plain", y=None) -> Part:
    """A cylinder of radius ``r`` lying along +z from ``z0`` (its axis at height ``y``, default ``r``)."""
    return Part("cylinder", transform((0, r if y is None else y, z0), (2 * r, length, 2 * r), 0, np.pi / 2), color, material)


def battery(s, c, rng):
    r, length = s[1] / 2, s[2]
    return [_lying(r, length * 0.9, -length / 2, c, "paint"), _lying(r, length * 0.1, length * 0.4, METAL, "metal", y=r),
            _lying(r * 0.35, length * 0.03, length * 0.5, METAL, "metal", y=r)]


def brick(s, c, rng):
    w, h, d = s
    parts = [_box(None, w, h, d, c, "paint")]
    nx, nz = max(1, round(w / (d / 2))), 2
    for i in range(nx):
        for j in range(nz):
            parts.append(_cyl("cylinder", d * 0.15, h * 0.18, c, "paint", x=(i + 0.5) * w / nx - w / 2, y=h, z=(j + 0.5) * d / nz - d / 2))
    return parts


def screw(s, c, rng):
    r, length = s[1] / 2, s[2]
    return [_lying(r * 0.55, length * 0.88, -length * 0.38, METAL, "metal", y=r), _lying(r, length * 0.12, -length / 2, c, "metal")]


def mug(s, c, rng):
    w, h, _ = s
    return [_cyl("cylinder", w * 0.4, h, c, "paint"), _box(None, w * 0.12, h * 0.55, w * 0.1, c, "paint", y=h * 0.2, x=w * 0.45),
            _cyl("cylinder", w * 0.36, h * 0.02, DARK, y=h * 0.985)]


def bottle(s, c, rng):
    w, h, _ = s
    return [_cyl("cylinder", w / 2, h * 0.62, c, "paint"), _cyl("cone", w / 2, h * 0.25, c, "paint", y=h * 0.62),
            _cyl("cylinder", w * 0.17, h * 0.2, c, "paint", y=h * 0.8), _cyl("cylinder", w * 0.19, h * 0.05, DARK, y=h * 0.95)]


def book(s, c, rng):
    w, h, d = s
    return [_box(None, w, h, d, c, "paint"), _box(None, w * 0.96, h * 0.8, d * 1.005, (0.95, 0.93, 0.86), y=h * 0.1, x=w * 0.03)]


def fruit(s, c, rng):
    return [_sphere(s[0] / 2, c, y=s[1] / 2, ry=s[1] / 2, material="paint"), _cyl("cylinder", s[0] * 0.03, s[1] * 0.15, WOOD, y=s[1] * 0.95)]


def bowl(s, c, rng):
    w, h, _ = s
    return [Part("cone", transform((0, h, 0), (w, -h, w)), c, "paint"), _cyl("cylinder", w * 0.46, h * 0.02, c, y=h * 0.98)]


def carton(s, c, rng):
    return [_box(None, *s, c, "paint"), _box(None, s[0] * 1.01, s[1] * 0.12, s[2] * 1.01, (0.93, 0.9, 0.82), y=s[1] * 0.7)]


def bed(s, c, rng):
    w, h, d = s
    return [_box(None, w, h * 0.45, d, WOOD, "wood"), _box(None, w * 0.98, h * 0.25, d * 0.9, c, "fabric", y=h * 0.45, z=d * 0.05),
            _box(None, w, h * 1.9, d * 0.06, WOOD, "wood", z=-d * 0.47), _box(None, w * 0.7, h * 0.15, d * 0.15, (0.95,) * 3, "fabric", y=h * 0.7, z=-d * 0.35)]


def sofa(s, c, rng):
    w, h, d = s
    return [_box(None, w, h * 0.45, d, c, "fabric"), _box(None, w, h, d * 0.22, c, "fabric", z=-d * 0.39),
            _box(None, w * 0.1, h * 0.65, d, c, "fabric", x=-w * 0.45), _box(None, w * 0.1, h * 0.65, d, c, "fabric", x=w * 0.45)]


def table(s, c, rng):
    w, h, d = s
    legs = [_box(None, w * 0.05, h * 0.93, w * 0.05, c, "wood", x=sx * w * 0.44, z=sz * d * 0.42) for sx in (-1, 1) for sz in (-1, 1)]
    return [_box(None, w, h * 0.07, d, c, "wood", y=h * 0.93), *legs]


def chair(s, c, rng):
    w, h, d = s
    legs = [_box(None, w * 0.08, h * 0.45, w * 0.08, c, "paint", x=sx * w * 0.42, z=sz * d * 0.42) for sx in (-1, 1) for sz in (-1, 1)]
    return [_box(None, w, h * 0.06, d, c, "paint", y=h * 0.45), _box(None, w, h * 0.5, d * 0.08, c, "paint", y=h * 0.5, z=-d * 0.46), *legs]


def cabinet(s, c, rng):
    w, h, d = s
    return [_box(None, w, h, d, c, "paint"), _box(None, w * 0.005, h * 0.9, d * 1.01, DARK, y=h * 0.05),
            _box(None, w * 0.04, h * 0.12, d * 1.04, METAL, "metal", y=h * 0.5, x=w * 0.06)]


def floor_lamp(s, c, rng):
    w, h, _ = s
    return [_cyl("cylinder", w * 0.3, h * 0.03, DARK), _cyl("cylinder", w * 0.04, h * 0.8, METAL, "metal"),
            Part("cone", transform((0, h, 0), (w, -h * 0.25, w)), c, "fabric")]


def plant(s, c, rng):
    w, h, _ = s
    return [Part("cone", transform((0, h * 0.35, 0), (w * 0.6, -h * 0.35, w * 0.6)), c, "paint"),
            _sphere(w / 2, NATURAL["dark green"], y=h * 0.67, ry=h * 0.33, material="grass")]


def car(s, c, rng):
    w, h, d = s  # w: length along x
    wheels = [Part("cylinder", transform((sx * w * 0.32, h * 0.17, sz * d * 0.42 - d * 0.06), (h * 0.34, d * 0.12, h * 0.34), 0, np.pi / 2), DARK)
              for sx in (-1, 1) for sz in (-1, 1)]  # fmt: skip
    return [_box(None, w, h * 0.42, d * 0.95, c, "paint", y=h * 0.15), _box(None, w * 0.55, h * 0.42, d * 0.85, c, "paint", y=h * 0.57, x=-w * 0.05),
            _box(None, w * 0.5, h * 0.3, d * 0.87, (0.2, 0.27, 0.35), "metal", y=h * 0.62, x=-w * 0.05), *wheels]


def tree(s, c, rng):
    w, h, _ = s
    crown = _sphere(w / 2, c, y=h * 0.62, ry=h * 0.38, material="grass") if rng.random() < 0.6 else \
        Part("cone", transform((0, h * 0.25, 0), (w, h * 0.75, w)), c, "grass")
    return [_cyl("cylinder", w * 0.07, h * 0.45, WOOD, "wood"), crown]


def bench(s, c, rng):
    w, h, d = s
    legs = [_box(None, w * 0.04, h * 0.45, d, DARK, "metal", x=sx * w * 0.42) for sx in (-1, 1)]
    return [_box(None, w, h * 0.07, d, c, "wood", y=h * 0.42), _box(None, w, h * 0.35, d * 0.1, c, "wood", y=h * 0.6, z=-d * 0.45), *legs]


def lamp_post(s, c, rng):
    w, h, _ = s
    return [_cyl("cylinder", w * 0.15, h, c, "metal"), _box(None, w, h * 0.04, w * 0.5, c, "metal", y=h * 0.97, x=w * 0.4),
            _box(None, w * 0.5, h * 0.02, w * 0.4, (1.0, 0.97, 0.8), y=h * 0.955, x=w * 0.6)]


def bin_(s, c, rng):
    w, h, _ = s
    return [_cyl("cylinder", w / 2, h, c, "paint"), _cyl("cylinder", w * 0.53, h * 0.06, DARK, y=h)]


def person(s, c, rng):
    w, h, d = s
    pants = (0.15, 0.18, 0.3)
    return [_cyl("cylinder", w * 0.15, h * 0.47, pants, x=-w * 0.17), _cyl("cylinder", w * 0.15, h * 0.47, pants, x=w * 0.17),
            _cyl("cylinder", w * 0.42, h * 0.35, c, "fabric", y=h * 0.46, rz=d * 0.5),
            _sphere(h * 0.07, (0.85, 0.67, 0.52), y=h * 0.89)]


def building(s, c, rng):
    w, h, d = s
    return [_box(None, w, h, d, c, "facade"), _box(None, w * 1.02, h * 0.02, d * 1.02, (0.35, 0.35, 0.37), "roof", y=h),
            _box(None, w * 0.2, h * 0.04, d * 0.2, (0.6, 0.6, 0.62), "metal", y=h * 1.02, x=w * 0.2)]


def truck(s, c, rng):
    w, h, d = s
    return [_box(None, w * 0.72, h * 0.85, d, (0.9, 0.9, 0.9), "paint", y=h * 0.15, x=-w * 0.14),
            _box(None, w * 0.24, h * 0.65, d * 0.95, c, "paint", y=h * 0.15, x=w * 0.37)]


def pond(s, c, rng):
    return [_cyl("cylinder", s[0] / 2, s[1], c, "water", rz=s[2] / 2)]


def field(s, c, rng):
    return [_box(None, *s, c, "field")]


def silo(s, c, rng):
    w, h, _ = s
    return [_cyl("cylinder", w / 2, h * 0.85, c, "metal"), Part("cone", transform((0, h * 0.85, 0), (w, h * 0.15, w)), c, "metal")]


P = tuple(PALETTE)
FRUIT = ("red", "green", "yellow", "orange")
SCALES = ("tiny_tabletop", "tabletop", "indoor", "outdoor", "drone")
CATALOGUE: dict[str, list[Kind]] = {
    "tiny_tabletop": [
        Kind("coin", (0.016, 0.0015, 0.016), (0.028, 0.0025, 0.028), ("gold", "silver"), coin),
        Kind("die", (0.010, 0.010, 0.010), (0.018, 0.018, 0.018), P, die),
        Kind("bead", (0.006, 0.006, 0.006), (0.014, 0.014, 0.014), P, bead),
        Kind("battery", (0.010, 0.010, 0.044), (0.018, 0.018, 0.065), P, battery, lying=True),
        Kind("brick", (0.016, 0.0096, 0.008), (0.032, 0.0096, 0.016), P, brick),
        Kind("screw", (0.004, 0.004, 0.016), (0.006, 0.006, 0.036), ("silver", "gold", "black"), screw, lying=True),
    ],
    "tabletop": [
        Kind("mug", (0.07, 0.08, 0.07), (0.10, 0.12, 0.10), P, mug),
        Kind("bottle", (0.06, 0.18, 0.06), (0.09, 0.36, 0.09), P, bottle),
        Kind("book", (0.14, 0.02, 0.20), (0.24, 0.05, 0.28), P, book),
        Kind("apple", (0.065, 0.06, 0.065), (0.095, 0.09, 0.095), FRUIT, fruit),
        Kind("bowl", (0.12, 0.05, 0.12), (0.22, 0.09, 0.22), P, bowl),
        Kind("box", (0.03, 0.03, 0.03), (0.20, 0.18, 0.16), P, carton),
    ],
    "indoor": [
        Kind("bed", (1.0, 0.5, 1.9), (1.8, 0.6, 2.1), P, bed),
        Kind("sofa", (1.5, 0.8, 0.8), (2.4, 0.95, 1.0), P, sofa),
        Kind("table", (0.7, 0.7, 0.6), (1.8, 0.78, 1.0), ("brown", "white", "black"), table),
        Kind("chair", (0.42, 0.85, 0.42), (0.52, 1.0, 0.52), P, chair),
        Kind("cabinet", (0.5, 0.8, 0.4), (1.2, 2.0, 0.6), P, cabinet),
        Kind("lamp", (0.3, 1.4, 0.3), (0.5, 1.8, 0.5), P, floor_lamp),
        Kind("plant", (0.35, 0.6, 0.35), (0.7, 1.5, 0.7), P, plant),
        Kind("box", (0.2, 0.15, 0.2), (0.6, 0.5, 0.45), P, carton),
    ],
    "outdoor": [
        Kind("car", (3.8, 1.4, 1.7), (4.9, 1.7, 1.9), P, car),
        Kind("tree", (1.8, 2.5, 1.8), (6.0, 10.0, 6.0), ("green", "dark green"), tree),
        Kind("bench", (1.5, 0.85, 0.6), (2.2, 0.95, 0.7), P, bench),
        Kind("lamp post", (0.6, 3.0, 0.6), (1.0, 7.0, 1.0), ("gray", "black", "green"), lamp_post),
        Kind("trash bin", (0.5, 0.9, 0.5), (0.7, 1.2, 0.7), P, bin_),
        Kind("person", (0.45, 1.55, 0.3), (0.55, 1.95, 0.35), P, person),
    ],
    "drone": [
        Kind("building", (15.0, 8.0, 15.0), (50.0, 60.0, 50.0), ("white", "gray", "beige", "red", "blue"), building),
        Kind("tree", (5.0, 7.0, 5.0), (11.0, 16.0, 11.0), ("green", "dark green"), tree),
        Kind("car", (4.0, 1.5, 1.8), (4.9, 1.7, 1.9), P, car),
        Kind("truck", (9.0, 3.2, 2.5), (16.0, 4.0, 2.6), P, truck),
        Kind("pond", (20.0, 0.3, 15.0), (60.0, 0.3, 45.0), ("blue",), pond),
        Kind("silo", (6.0, 10.0, 6.0), (14.0, 25.0, 14.0), ("silver", "white", "gray"), silo),
    ],
}


def kind(scale: str, name: str) -> Kind:
    return next(k for k in CATALOGUE[scale] if k.name == name)
