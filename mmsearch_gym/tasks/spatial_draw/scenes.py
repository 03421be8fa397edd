"""Scene generation at SpaceVista's five scales, and the cameras that look at them.

A :class:`Scene` is metric (metres): a ground with its surroundings (a cutting mat on a
desk, a table top in a room, a room's floor and walls, a lawn by a street with houses
behind, a patchwork of fields and roads seen from the air) and objects of the scale's
catalogue placed without overlap. The region's area is drawn log-uniformly over about a
decade, so no single guess fits every scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import Camera, Part, transform
from .objects import CATALOGUE, COLORS, Kind
from .render import Environment, pack

WIDTH, HEIGHT = 448, 336  # multiples of 28, as VILASR's Qwen2.5-VL pipeline asserts


@dataclass(frozen=True)
class ScaleSpec:
    """How a scale looks: area range (m²) of its region, objects, camera rig, units and wording."""

    name: str
    area: tuple[float, float]
    n_objects: tuple[int, int]
    dist_unit: str  # unit of distances and sizes in questions
    area_unit: str
    region_name: str  # "the cutting mat"
    cam_distance: tuple[float, float]  # × the region's half diagonal
    cam_pitch: tuple[float, float]  # degrees below the horizon
    fov: float


UNITS = {"mm": 1000.0, "cm": 100.0, "m": 1.0}
POND_AREA = (200.0, 2000.0)  # m², the drone scale's area question
SPECS = {
    "tiny_tabletop": ScaleSpec("tiny_tabletop", (0.004, 0.08), (6, 10), "mm", "cm", "the cutting mat", (1.5, 2.0), (38, 60), 45),
    "tabletop": ScaleSpec("tabletop", (0.16, 2.6), (5, 9), "cm", "cm", "the table top", (1.7, 2.2), (32, 50), 50),
    "indoor": ScaleSpec("indoor", (7.0, 110.0), (5, 9), "m", "m", "the room's floor", (1.0, 1.0), (25, 40), 75),
    "outdoor": ScaleSpec("outdoor", (150.0, 2000.0), (8, 12), "m", "m", "the lawn", (1.0, 1.25), (12, 22), 62),
    "drone": ScaleSpec("drone", (8000.0, 80000.0), (10, 15), "m", "m", "the pond", (0.9, 1.2), (50, 75), 55),
}  # fmt: skip
SCALE_LABELS = {"tiny_tabletop": "a tiny tabletop (millimetres to centimetres)", "tabletop": "a tabletop",
                "indoor": "an indoor room", "outdoor": "an outdoor street and park", "drone": "a drone's view"}  # fmt: skip


@dataclass
class SceneObject:
    """A placed object; ``oid`` is its id in the renderer's id buffer (1-based)."""

    oid: int
    kind: str
    color: str
    x: float
    z: float
    yaw: float
    size: tuple[float, float, float]  # width, height, depth (metres, before yaw)
    parts: list[Part] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return f"{self.color} {self.kind}"

    @property
    def centre(self) -> np.ndarray:
        return np.array([self.x, self.size[1] / 2, self.z])

    @property
    def radius(self) -> float:
        return 0.5 * float(np.hypot(self.size[0], self.size[2]))

    def world_parts(self) -> list[Part]:
        m = transform((self.x, 0.0, self.z), 1.0, self.yaw)
        return [Part(p.shape, m @ p.matrix, p.color, p.material) for p in self.parts]

    def to_json(self) -> dict:
        return {"id": self.oid, "kind": self.kind, "color": self.color, "x": round(self.x, 5), "z": round(self.z, 5),
                "yaw": round(self.yaw, 4), "size": [round(v, 5) for v in self.size]}  # fmt: skip


@dataclass
class Scene:
    """Objects, surroundings, light; ``half`` are the region's half extents (x, z)."""

    scale: str
    half: tuple[float, float]
    objects: list[SceneObject]
    structure: list[Part]
    env: Environment
    region_area: float

    @property
    def spec(self) -> ScaleSpec:
        return SPECS[self.scale]

    def vertices(self, only: set[int] | None = None) -> np.ndarray:
        parts = [] if only is not None else [(0, p) for p in self.structure]
        parts += [(o.oid, p) for o in self.objects if only is None or o.oid in only for p in o.world_parts()]
        return pack(parts)

    def by_id(self, oid: int) -> SceneObject:
        return self.objects[oid - 1]


def _surroundings(scale: str, hx: float, hz: float, rng: np.random.Generator) -> tuple[list[Part], Environment]:
    """Ground, walls and backdrop of a scale."""
    if scale == "tiny_tabletop":
        desk = Part("box", transform((0, -0.0121, 0), (max(hx, hz) * 12, 0.02, max(hx, hz) * 12)), (0.55, 0.38, 0.22), "wood")
        mat = Part("box", transform((0, -0.001, 0), (2 * hx, 0.002, 2 * hz)), (0.13, 0.36, 0.27), "mat")
        return [desk, mat], Environment(light_dir=(-0.3, -1.0, -0.5), ambient=0.5)
    if scale == "tabletop":
        wood = tuple(float(v) for v in rng.uniform([0.45, 0.28, 0.15], [0.68, 0.48, 0.3]))
        top = Part("box", transform((0, -0.02, 0), (2 * hx, 0.04, 2 * hz)), wood, "wood")
        legs = [Part("box", transform((sx * hx * 0.9, -0.4, sz * hz * 0.9), (0.05, 0.76, 0.05)), wood, "wood")
                for sx in (-1, 1) for sz in (-1, 1)]  # fmt: skip
        floor = Part("box", transform((0, -0.785, 0), (12, 0.01, 12)), (0.6, 0.55, 0.5), "tiles")
        wall = tuple(float(v) for v in rng.uniform(0.75, 0.92, 3))
        walls = [Part("box", transform((0, 0.5, -3.0), (12, 3, 0.05)), wall), Part("box", transform((-3.0, 0.5, 0), (0.05, 3, 12)), wall)]
        return [top, *legs, floor, *walls], Environment(light_dir=(-0.5, -1.0, -0.4), ambient=0.5)
    if scale == "indoor":
        floor = Part("box", transform((0, -0.01, 0), (2 * hx, 0.02, 2 * hz)), (0.62, 0.44, 0.27), "wood")
        wall = tuple(float(v) for v in rng.uniform(0.72, 0.93, 3))
        h = 2.7
        walls = [Part("box", transform((0, h / 2, -hz), (2 * hx, h, 0.1)), wall), Part("box", transform((0, h / 2, hz), (2 * hx, h, 0.1)), wall),
                 Part("box", transform((-hx, h / 2, 0), (0.1, h, 2 * hz)), wall), Part("box", transform((hx, h / 2, 0), (0.1, h, 2 * hz)), wall)]
        rug = Part("box", transform((0, 0.001, 0), (hx * 0.8, 0.004, hz * 0.8)), tuple(float(v) for v in rng.uniform(0.3, 0.7, 3)), "fabric")
        return [floor, *walls, rug], Environment(light_dir=(-0.35, -1.0, -0.25), ambient=0.55, shadows=True)
    if scale == "outdoor":
        lawn = Part("box", transform((0, -0.02, 0), (2 * hx, 0.04, 2 * hz)), (0.3, 0.5, 0.2), "grass")
        road = Part("box", transform((0, -0.015, -hz - 5), (2 * hx + 80, 0.04, 8)), (0.3, 0.3, 0.32), "asphalt")
        walk = Part("box", transform((0, -0.01, -hz - 0.5), (2 * hx + 80, 0.05, 1.2)), (0.7, 0.68, 0.64), "tiles")
        ground = Part("box", transform((0, -0.05, 0), (2 * hx + 200, 0.04, 2 * hz + 200)), (0.32, 0.46, 0.22), "grass")
        houses = []
        for i in range(int((2 * hx + 60) // 14)):
            w, h = rng.uniform(8, 13), rng.uniform(6, 18)
            c = tuple(float(v) for v in rng.uniform(0.55, 0.9, 3))
            houses.append(Part("box", transform((-hx - 30 + i * 14 + 7, h / 2, -hz - 18), (w, h, 10)), c, "facade"))
        return [ground, lawn, road, walk, *houses], Environment(light_dir=(-0.4, -0.9, -0.35), fog_dist=400.0)
    ground = Part("box", transform((0, -0.1, 0), (2 * hx * 3, 0.1, 2 * hz * 3)), (0.36, 0.47, 0.24), "grass")
    parts = [ground]
    for i in range(-3, 4):  # a road grid and fields between the roads
        parts.append(Part("box", transform((i * hx * 0.6, -0.03, 0), (9, 0.05, hz * 6)), (0.28, 0.28, 0.3), "asphalt"))
        for j in range(-3, 4):
            if rng.random() < 0.45:
                c = tuple(float(v) for v in rng.uniform([0.35, 0.4, 0.15], [0.65, 0.6, 0.3]))
                parts.append(Part("box", transform(((i + 0.5) * hx * 0.6, -0.06, j * hz * 0.6), (hx * 0.5, 0.04, hz * 0.5)), c, "grass"))
    for j in range(-3, 4):
        parts.append(Part("box", transform((0, -0.035, j * hz * 0.6 + hz * 0.3), (hx * 6, 0.05, 8)), (0.28, 0.28, 0.3), "asphalt"))
    return parts, Environment(light_dir=(-0.45, -1.0, -0.3), fog_dist=max(hx, hz) * 7, ambient=0.5)


def generate_scene(scale: str, rng: np.random.Generator, require: dict[str, int] | None = None,
                   exclude: set[str] | frozenset = frozenset(), n_objects: int | None = None,
                   area: float | None = None, sized: tuple[str, float] | None = None) -> Scene:  # fmt: skip
    """A random scene; ``require`` forces kinds and counts, ``exclude`` keeps kinds out of the rest,
    ``area`` (m², clipped to the scale's range) replaces the log-uniform draw of the region's area,
    ``sized=(kind, metres)`` gives the first object of that kind this :func:`asked_size`."""
    spec = SPECS[scale]
    drawn = float(np.exp(rng.uniform(*np.log(spec.area))))
    area = drawn if area is None else float(np.clip(area, *spec.area))
    aspect = float(rng.uniform(0.65, 1.5))
    hx, hz = np.sqrt(area * aspect) / 2, np.sqrt(area / aspect) / 2
    structure, env = _surroundings(scale, hx, hz, rng)
    kinds = {k.name: k for k in CATALOGUE[scale]}
    wanted: list[Kind] = [kinds[name] for name, n in (require or {}).items() for _ in range(n)]
    if scale == "drone" and "pond" not in (require or {}) and "pond" not in exclude:
        wanted.append(kinds["pond"])  # the drone's area question is about the pond
    pool = [k for k in CATALOGUE[scale] if k.name not in exclude and k.name not in (require or {}) and k.name != "pond"]
    n = n_objects if n_objects is not None else int(rng.integers(spec.n_objects[0], spec.n_objects[1] + 1))
    while len(wanted) < n and pool:
        wanted.append(pool[int(rng.integers(len(pool)))])
    objects: list[SceneObject] = []
    margin = 0.06 * min(hx, hz)
    for k in sorted(wanted, key=lambda k: -np.prod(k.size_hi)):  # big things first: they are hardest to fit
        size = draw_size(k, rng)
        if sized is not None and k.name == sized[0]:  # the size question's object: nearest of 16 draws, scaled
            size = min((draw_size(k, rng) for _ in range(16)), key=lambda z: abs(np.log(asked_size(z)[1] / sized[1])))
            size = tuple(v * sized[1] / asked_size(size)[1] for v in size)
            sized = None
        radius = 0.5 * float(np.hypot(size[0], size[2]))
        z_hi = hz - radius - margin - (min(1.2, hz * 0.5) if scale == "indoor" else 0.0)  # the camera's side of a room
        for _ in range(60):
            x = float(rng.uniform(-hx + radius + margin, hx - radius - margin)) if hx > radius + margin else 0.0
            z = float(rng.uniform(-hz + radius + margin, z_hi)) if z_hi > -hz + radius + margin else 0.0
            if all(np.hypot(x - o.x, z - o.z) > radius + o.radius + margin * 0.5 for o in objects):
                break
        else:
            if k.name in (require or {}) or k.name == "pond":
                raise PlacementError(f"could not place a {k.name} in a {scale} scene")
            continue
        color = k.colors[int(rng.integers(len(k.colors)))]
        rgb = tuple(float(np.clip(v * rng.uniform(0.92, 1.08), 0, 1)) for v in COLORS[color])
        objects.append(SceneObject(0, k.name, color, x, z, float(rng.uniform(0, 2 * np.pi)), size, k.build(np.array(size), rgb, rng)))
    order = rng.permutation(len(objects))
    objects = [objects[i] for i in order]
    for i, o in enumerate(objects, 1):
        o.oid = i
    return Scene(scale, (float(hx), float(hz)), objects, structure, env, float(4 * hx * hz))


def asked_size(size: tuple[float, float, float]) -> tuple[bool, float]:
    """(tall, metres) of a (width, height, depth): an upright object's height, else its longest side."""
    tall = size[1] >= 0.5 * max(size[0], size[2])
    return tall, (size[1] if tall else max(size[0], size[2]))


def draw_size(k: Kind, rng: np.random.Generator) -> tuple[float, float, float]:
    """A size (width, height, depth) of kind ``k`` as scenes draw it."""
    size = tuple(float(v) for v in rng.uniform(k.size_lo, k.size_hi))
    if k.name == "pond":  # its area is the drone's area question: log-uniform over a decade
        area_m2, aspect = float(np.exp(rng.uniform(*np.log(POND_AREA)))), float(rng.uniform(1.0, 1.5))
        size = (float(np.sqrt(4 / np.pi * area_m2 * aspect)), size[1], float(np.sqrt(4 / np.pi * area_m2 / aspect)))
    if k.lying:
        size = (size[1], size[1], size[2])
    return size  # type: ignore[return-value]


class PlacementError(RuntimeError):
    """The requested objects did not fit in the scene."""


def main_camera(scene: Scene, rng: np.random.Generator, azimuth: float | None = None, width: int = WIDTH,
                height: int = HEIGHT) -> Camera:  # fmt: skip
    """The scale's usual view: from outside the region (inside a room's corner) looking at its centre."""
    spec = scene.spec
    hx, hz = scene.half
    diag = float(np.hypot(hx, hz))
    az = float(rng.uniform(0.3 * np.pi, 0.7 * np.pi)) if azimuth is None else azimuth
    pitch = np.radians(rng.uniform(*spec.cam_pitch))
    dist = diag * float(rng.uniform(*spec.cam_distance))
    if scene.scale == "indoor":  # from high on the +z wall, as a person standing in a doorway would see it
        eye = np.array([float(rng.uniform(-0.5, 0.5)) * hx, float(rng.uniform(2.0, 2.4)), hz - 0.15])
        target = np.array([0.0, 0.0, -0.15 * hz])
    elif scene.scale == "outdoor":
        eye = np.array([np.cos(az) * dist, float(rng.uniform(3.0, 6.0)), np.sin(az) * dist])
        target = np.array([0.0, 0.0, 0.0])
    else:
        eye = np.array([np.cos(az) * np.cos(pitch) * dist, np.sin(pitch) * dist, np.sin(az) * np.cos(pitch) * dist])
        target = np.zeros(3)
    return Camera(eye, target, spec.fov, width, height, near=dist * 0.01, far=dist * 20 + diag * 10)
