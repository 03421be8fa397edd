"""The task generators: one function per task type, each from a seeded scene.

Every answer distribution is designed so that a prior gives no shortcut: multiple-choice
answers sit at a uniformly random letter (counts use a window of four consecutive numbers
whose start is drawn independently of the answer's position), numeric truths are drawn
log-uniformly over about a decade per scale (``DISTANCE_RANGE``, ``SIZE_RANGE``, the scale's
region areas), and colours are drawn uniformly. A generator returns None when the scene does
not give a clean question (too few clearly visible objects, margins too small);
:func:`generate_task` then draws another scene (keeping a numeric question's drawn answer).
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from typing import Any

import numpy as np

from .geometry import Camera
from .objects import CATALOGUE, PALETTE
from .render import Renderer
from .scenes import SCALE_LABELS, SPECS, UNITS, PlacementError, Scene, draw_size, asked_size, generate_scene, main_camera
from .task import LETTERS, TASK_TYPES, SpatialTask, View, box_item, fmt_number

Gen = dict[str, Any]


def plural(kind: str) -> str:
    return {"person": "people", "box": "boxes", "bench": "benches", "trash bin": "trash bins"}.get(kind, kind + "s")


def _choice(rng: np.random.Generator, truth: str, distractors: list[str]) -> tuple[list[str], str]:
    """Options with ``truth`` at a uniformly random position; returns (options, letter)."""
    pos = int(rng.integers(len(distractors) + 1))
    options = list(distractors)
    options.insert(pos, truth)
    return options, LETTERS[pos]


def _unique_clear(view: View, rng: np.random.Generator) -> list[int]:
    names = Counter(o.name for o in view.scene.objects)
    ids = [o.oid for o in view.scene.objects if names[o.name] == 1 and view.clear(o.oid)]
    return [ids[i] for i in rng.permutation(len(ids))]


def _boxes(view: View, ids: list[int], index: int = 1) -> dict[str, Any]:
    return {"tool": "object_mapper", "items": [box_item(index, view.box(i), view.scene.by_id(i).name) for i in ids]}


def _ground(o: Any) -> np.ndarray:
    return np.array([o.x, o.z])


def _scale_hint(view: View, ref: int) -> str:
    o, spec = view.scene.by_id(ref), view.scene.spec
    tall, value = asked_size(o.size)
    dim = "tall" if tall else "long"
    return f"For scale: the {o.name} is {fmt_number(value * UNITS[spec.dist_unit])} {spec.dist_unit} {dim}."


# ---- generators ------------------------------------------------------------------------------------
def object_count(scene_rng, rng, renderer, scale) -> Gen | None:
    kinds = [k.name for k in CATALOGUE[scale] if k.name != "pond"]
    kind = kinds[int(scene_rng.integers(len(kinds)))]  # per scene: some kinds rarely show many whole
    start, pos = int(rng.integers(1, 5)), int(rng.integers(4))  # kept over retries (see ANSWER_FIRST)
    truth = start + pos
    scene = _new_scene(renderer, scale, scene_rng, require={kind: truth})
    view = View(renderer, scene, main_camera(scene, scene_rng))
    ids = [o.oid for o in scene.objects if o.kind == kind]
    if not all(view.clear(i, min_px=25, min_fraction=0.5) for i in ids):
        return None
    options = [str(start + i) for i in range(4)]
    items = [box_item(1, view.box(i), f"{kind} {n}") for n, i in enumerate(ids, 1)]
    return dict(scene=scene, views=[view], question=f"How many {plural(kind)} are there in the image?", options=options,
                answer=LETTERS[pos], oracle=[{"tool": "object_mapper", "items": items}], meta={"kind": kind, "count": truth})  # fmt: skip


def relative_direction(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    view = View(renderer, scene, main_camera(scene, scene_rng))
    ids = _unique_clear(view, rng)
    for a, b, c in itertools.permutations(ids[:6], 3):
        A, B, C = (scene.by_id(i) for i in (a, b, c))
        f = _ground(B) - _ground(A)
        v = _ground(C) - _ground(A)
        if np.linalg.norm(f) < 2 * (A.radius + B.radius) or np.linalg.norm(v) < 1.5 * (A.radius + C.radius):
            continue
        f /= np.linalg.norm(f)
        right = np.array([-f[1], f[0]])  # x right, z towards the viewer of a top view: (fx, fz) turned clockwise
        ahead, side = float(v @ f), float(v @ right)
        angle = np.degrees(np.arctan2(abs(side), abs(ahead)))
        if not 20 <= angle <= 70:
            continue
        truth = f"{'front' if ahead > 0 else 'back'}-{'right' if side > 0 else 'left'}"
        others = [d for d in ("front-left", "front-right", "back-left", "back-right") if d != truth]
        options, letter = _choice(rng, truth, [others[i] for i in rng.permutation(3)])
        q = (f"If you stand at the {A.name} facing the {B.name}, is the {C.name} to your front-left, front-right, "
             "back-left or back-right?")  # fmt: skip
        oracle = [_boxes(view, [a, b, c]), {"tool": "path_tracer", "items": [
            {"index": 1, "start_point_2d": _centre_px(view, a), "end_point_2d": _centre_px(view, b), "label": "facing"}]}]
        return dict(scene=scene, views=[view], question=q, options=options, answer=letter, oracle=oracle,
                    meta={"objects": [a, b, c], "direction": truth})  # fmt: skip
    return None


def _centre_px(view: View, oid: int) -> list[int]:
    x1, y1, x2, y2 = view.box(oid)
    return [int((x1 + x2) / 2), int((y1 + y2) / 2)]


def relative_distance(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    view = View(renderer, scene, main_camera(scene, scene_rng))
    ids = _unique_clear(view, rng)
    if len(ids) < 5:
        return None
    ref, cands = ids[0], ids[1:5]
    d = [float(np.linalg.norm(scene.by_id(ref).centre - scene.by_id(i).centre)) for i in cands]
    order = np.argsort(d)
    if d[order[1]] < 1.3 * d[order[0]]:
        return None
    names = [scene.by_id(i).name for i in cands]
    best = names[order[0]]
    options, letter = _choice(rng, best, [n for n in names if n != best])
    q = f"Which of these objects is closest to the {scene.by_id(ref).name} (measured between their centres)?"
    return dict(scene=scene, views=[view], question=q, options=options, answer=letter, oracle=[_boxes(view, [ref, *cands])],
                meta={"reference": ref, "candidates": cands, "distances": [round(v, 5) for v in d]})  # fmt: skip


# Numeric answers are drawn first, log-uniformly over about a decade per scale (question units),
# and the scene's object (pair) nearest to the drawn value is asked about when it lies within
# NUMERIC_TOLERANCE of it: the answers spread evenly in log, so no single guess fits many tasks.
# For distances the region is sized for the drawn value (a pair of objects sits about
# PAIR_SPREAD × √area apart), so that long and short distances are both found.
DISTANCE_RANGE = {"tiny_tabletop": (18.0, 250.0), "tabletop": (12.0, 160.0), "indoor": (0.8, 8.0),
                  "outdoor": (2.2, 30.0), "drone": (18.0, 250.0)}  # fmt: skip
SIZE_RANGE = {"tiny_tabletop": (7.0, 65.0), "tabletop": (4.0, 36.0), "indoor": (0.28, 2.4),
              "outdoor": (0.9, 9.0), "drone": (4.2, 55.0)}  # fmt: skip
PAIR_SPREAD = 0.5
NUMERIC_TOLERANCE = 1.2


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _nearest(values: dict[Any, float], target: float) -> Any | None:
    """The key whose value is nearest ``target`` in log, if within NUMERIC_TOLERANCE of it."""
    if not values:
        return None
    key = min(values, key=lambda k: abs(np.log(values[k] / target)))
    return key if abs(np.log(values[key] / target)) <= np.log(NUMERIC_TOLERANCE) else None


def absolute_distance(scene_rng, rng, renderer, scale) -> Gen | None:
    target = _log_uniform(rng, *DISTANCE_RANGE[scale])
    area = (target / UNITS[SPECS[scale].dist_unit] / PAIR_SPREAD) ** 2 * _log_uniform(scene_rng, 0.5, 2.0)
    scene = _new_scene(renderer, scale, scene_rng, area=area)
    view = View(renderer, scene, main_camera(scene, scene_rng))
    ids = _unique_clear(view, rng)
    if len(ids) < 3:
        return None
    unit = scene.spec.dist_unit
    pairs = {(a, b): float(np.linalg.norm(scene.by_id(a).centre - scene.by_id(b).centre)) * UNITS[unit]
             for a, b in itertools.combinations(ids, 2)}  # fmt: skip
    pair = _nearest(pairs, target)
    if pair is None:
        return None
    (a, b), dist = pair, pairs[pair]
    ref = next(i for i in ids if i not in pair)
    q = f"What is the distance between the centres of the {scene.by_id(a).name} and the {scene.by_id(b).name}, in {unit}? {_scale_hint(view, ref)}"
    oracle = [_boxes(view, [a, b, ref]), {"tool": "path_tracer", "items": [
        {"index": 1, "start_point_2d": _centre_px(view, a), "end_point_2d": _centre_px(view, b), "label": "distance"}]}]
    return dict(scene=scene, views=[view], question=q, truth=dist, unit=unit, oracle=oracle, meta={"objects": [a, b], "reference": ref})


@functools.cache
def _asked_range(scale: str, name: str) -> tuple[float, float]:
    """The least and greatest asked size (metres) of a catalogue kind, from 256 sampled sizes."""
    k = next(k for k in CATALOGUE[scale] if k.name == name)
    rng = np.random.default_rng(0)
    values = [asked_size(draw_size(k, rng))[1] for _ in range(256)]
    return min(values), max(values)


def object_size(scene_rng, rng, renderer, scale) -> Gen | None:
    target = _log_uniform(rng, *SIZE_RANGE[scale])
    metres = target / UNITS[SPECS[scale].dist_unit]
    fits = [k.name for k in CATALOGUE[scale] if k.name != "pond"
            and _asked_range(scale, k.name)[0] / NUMERIC_TOLERANCE <= metres <= _asked_range(scale, k.name)[1] * NUMERIC_TOLERANCE]  # fmt: skip
    if not fits:
        return None
    name = fits[int(scene_rng.integers(len(fits)))]  # one object of a kind that can have that size gets it
    scene = _new_scene(renderer, scale, scene_rng, require={name: 1}, sized=(name, metres))
    view = View(renderer, scene, main_camera(scene, scene_rng))
    ids = _unique_clear(view, rng)
    a = next(o.oid for o in scene.objects if o.kind == name)
    if a not in ids or len(ids) < 2:
        return None
    ref = next(i for i in ids if i != a)
    o, unit = scene.by_id(a), scene.spec.dist_unit
    tall, value = asked_size(o.size)
    what = "How tall is" if tall else "How long is (its longest side)"
    q = f"{what} the {o.name}, in {unit}? {_scale_hint(view, ref)}"
    return dict(scene=scene, views=[view], question=q, truth=value * UNITS[unit], unit=unit, oracle=[_boxes(view, [a, ref])],
                meta={"object": a, "reference": ref, "dimension": "height" if tall else "length"})  # fmt: skip


def area_size(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    view = View(renderer, scene, main_camera(scene, scene_rng))
    ids = _unique_clear(view, rng)
    spec = scene.spec
    if scale == "drone":
        pond = next(o for o in scene.objects if o.kind == "pond")
        if not view.clear(pond.oid):
            return None
        area, keep = np.pi / 4 * pond.size[0] * pond.size[2], [pond.oid]
        ids = [i for i in ids if i != pond.oid]
    else:
        area, keep = scene.region_area, []
    if not ids:
        return None
    value = area * UNITS[spec.area_unit] ** 2
    q = f"What is the area of {spec.region_name}, in square {'metres' if spec.area_unit == 'm' else 'centimetres'}? {_scale_hint(view, ids[0])}"
    return dict(scene=scene, views=[view], question=q, truth=value, unit=f"{spec.area_unit}²", oracle=[_boxes(view, [*keep, ids[0]])],
                meta={"reference": ids[0]})  # fmt: skip


def route_plan(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    view = View(renderer, scene, main_camera(scene, scene_rng))
    ids = _unique_clear(view, rng)
    hx, hz = scene.half
    for a, b in itertools.permutations(ids[:5], 2):
        A, B = scene.by_id(a), scene.by_id(b)
        gap = _ground(B) - _ground(A)
        if np.linalg.norm(gap) < 0.5 * np.hypot(hx, hz):
            continue
        u = gap / np.linalg.norm(gap)
        start, end = _ground(A) + u * A.radius * 1.3, _ground(B) - u * B.radius * 1.3
        others = [o for o in scene.objects if o.oid not in (a, b) and o.kind != "pond"]
        clear, blocked = None, []
        for _ in range(80):
            mid = np.array([rng.uniform(-hx, hx), rng.uniform(-hz, hz)]) * 0.9
            route = [start, mid, end]
            px = _route_px(view.camera, route)
            if px is None:
                continue
            gaps = [min(_seg_dist(o, route[i], route[i + 1]) for i in range(2)) / o.radius for o in others]
            if min(gaps, default=9) > 1.6 and clear is None:
                clear = px
            elif min(gaps, default=9) < 0.4 and len(blocked) < 3 and all(px != p for p in blocked):
                blocked.append(px)
            if clear and len(blocked) == 3:
                fmt = [" → ".join(f"({x}, {y})" for x, y in r) for r in (clear, *blocked)]
                options, letter = _choice(rng, fmt[0], fmt[1:])
                q = (f"Which route leads from the {A.name} to the {B.name} without passing through or over any other "
                     "object? Each route is a polyline through the listed pixel points on the ground.")  # fmt: skip
                legs = [{"index": 1, "start_point_2d": list(clear[i]), "end_point_2d": list(clear[i + 1]), "label": f"leg {i + 1}"} for i in range(2)]
                return dict(scene=scene, views=[view], question=q, options=options, answer=letter,
                            oracle=[{"tool": "path_tracer", "items": legs}], meta={"start": a, "goal": b})  # fmt: skip
    return None


def _route_px(cam: Camera, route: list[np.ndarray]) -> list[tuple[int, int]] | None:
    pts, depth = cam.project(np.array([[p[0], 0.0, p[1]] for p in route]))
    if (depth <= 0).any() or (pts < 8).any() or (pts[:, 0] > cam.width - 8).any() or (pts[:, 1] > cam.height - 8).any():
        return None
    return [(int(x), int(y)) for x, y in pts]


def _seg_dist(o: Any, p: np.ndarray, q: np.ndarray) -> float:
    c, d = _ground(o), q - p
    t = float(np.clip((c - p) @ d / max(float(d @ d), 1e-12), 0, 1))
    return float(np.linalg.norm(p + t * d - c))


def appearance_order(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    cam = main_camera(scene, scene_rng)
    n = 6
    rel = np.array([o.centre - cam.eye for o in scene.objects])
    angles = np.arctan2(rel[:, 2], rel[:, 0])
    base = float(np.arctan2(*(cam.target - cam.eye)[[2, 0]]))
    angles = (angles - base + np.pi) % (2 * np.pi) - np.pi
    lo, hi = float(angles.min()), float(angles.max())
    fov_h = max((hi - lo) / 1.6, np.radians(15))
    fov_y = float(np.degrees(2 * np.arctan(np.tan(fov_h / 2) * cam.height / cam.width)))
    look = cam.target - cam.eye
    flat, drop = float(np.hypot(look[0], look[2])), float(look[1])
    views = []
    for k in range(n):  # pan from the leftmost object's bearing to the rightmost's (right is +angle here)
        yaw = base + lo + (hi - lo) * k / (n - 1)
        target = cam.eye + np.array([np.cos(yaw) * flat, drop, np.sin(yaw) * flat])
        views.append(View(renderer, scene, Camera(cam.eye, target, fov_y, cam.width, cam.height, cam.near, cam.far)))
    names = Counter(o.name for o in scene.objects)
    first = {}
    for o in scene.objects:
        seen = [k for k, v in enumerate(views) if v.clear(o.oid, min_px=30, min_fraction=0.3)]
        if names[o.name] == 1 and seen:
            first[o.oid] = seen[0]
    by_frame: dict[int, int] = {}
    for oid in rng.permutation(sorted(first)):
        by_frame.setdefault(first[int(oid)], int(oid))
    if len(by_frame) < 4:
        return None
    frames = sorted(by_frame)[:4]
    chosen = [by_frame[f] for f in frames]
    order = [scene.by_id(i).name for i in chosen]
    shown = [chosen[i] for i in rng.permutation(4)]
    perms = [p for p in itertools.permutations(range(4)) if [chosen[i] for i in p] != chosen]
    wrong = [perms[i] for i in rng.choice(len(perms), 3, replace=False)]
    fmt = ", ".join(order)
    options, letter = _choice(rng, fmt, [", ".join(scene.by_id(chosen[i]).name for i in p) for p in wrong])
    q = (f"The {n} images are frames of a video in which the camera pans from left to right. In which order do these "
         f"objects first appear whole in the frame: {', '.join(scene.by_id(i).name for i in shown)}?")  # fmt: skip
    items = [box_item(first[i] + 1, views[first[i]].box(i), scene.by_id(i).name) for i in chosen]
    return dict(scene=scene, views=views, question=q, options=options, answer=letter,
                oracle=[{"tool": "object_mapper", "items": items}], meta={"order": chosen, "first_frame": [first[i] for i in chosen]})  # fmt: skip


MOTIONS = ("moved left", "moved right", "moved forward", "moved backward", "turned left", "turned right")


def camera_motion(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    cam = main_camera(scene, scene_rng)
    truth = MOTIONS[int(rng.integers(len(MOTIONS)))]
    dist = float(np.linalg.norm(cam.target - cam.eye))
    eye, target = cam.eye.copy(), cam.target.copy()
    right = np.array([cam.right[0], 0, cam.right[2]]) / max(np.hypot(cam.right[0], cam.right[2]), 1e-9)
    ahead = np.array([cam.forward[0], 0, cam.forward[2]]) / max(np.hypot(cam.forward[0], cam.forward[2]), 1e-9)
    step = 0.25 * dist
    if truth in ("moved left", "moved right"):
        shift = right * step * (1 if truth == "moved right" else -1)
        eye, target = eye + shift, target + shift
    elif truth in ("moved forward", "moved backward"):
        shift = ahead * step * (1 if truth == "moved forward" else -1)
        eye, target = eye + shift, target + shift
    else:
        turn = np.radians(18) * (1 if truth == "turned right" else -1)
        rel = target - eye
        c, s = np.cos(turn), np.sin(turn)
        target = eye + np.array([c * rel[0] - s * rel[2], rel[1], s * rel[0] + c * rel[2]])
    v1, v2 = View(renderer, scene, cam), View(renderer, scene, Camera(eye, target, cam.fov_y, cam.width, cam.height, cam.near, cam.far))
    common = [o.oid for o in scene.objects if v1.clear(o.oid) and v2.clear(o.oid)]
    if len(common) < 2:
        return None
    others = [m for m in MOTIONS if m != truth]
    options, letter = _choice(rng, truth, [others[i] for i in rng.permutation(5)[:3]])
    q = "Both images were taken by the same camera, first img_1 and then img_2. How did the camera move between them?"
    o = scene.by_id(common[0])
    items = [box_item(1, v1.box(o.oid), o.name), box_item(2, v2.box(o.oid), o.name)]
    return dict(scene=scene, views=[v1, v2], question=q, options=options, answer=letter,
                oracle=[{"tool": "object_mapper", "items": items}], meta={"motion": truth})  # fmt: skip


def multiview_correspondence(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    az = float(scene_rng.uniform(0.3 * np.pi, 0.7 * np.pi))
    delta = float(rng.uniform(0.25, 0.45) * np.pi) * (1 if rng.random() < 0.5 else -1)
    v1 = View(renderer, scene, main_camera(scene, np.random.default_rng(scene_rng.integers(1 << 31)), azimuth=az))
    v2 = View(renderer, scene, main_camera(scene, np.random.default_rng(scene_rng.integers(1 << 31)), azimuth=az + delta))
    both = [o.oid for o in scene.objects if v1.clear(o.oid) and v2.clear(o.oid)]
    if not both:
        return None
    target = both[int(rng.integers(len(both)))]
    cands = [o.oid for o in scene.objects if o.oid != target and v2.clear(o.oid)]
    if len(cands) < 3:
        return None
    same = [i for i in cands if scene.by_id(i).kind == scene.by_id(target).kind]
    picks = (same + [i for i in rng.permutation(cands) if int(i) not in same])[:3]
    fmt = lambda b: f"[{b[0]}, {b[1]}, {b[2]}, {b[3]}]"  # noqa: E731
    options, letter = _choice(rng, fmt(v2.box(target)), [fmt(v2.box(int(i))) for i in picks])
    q = (f"img_1 and img_2 show the same scene from two viewpoints. Which box in img_2 shows the object inside the box "
         f"{fmt(v1.box(target))} of img_1?")  # fmt: skip
    name = scene.by_id(target).name
    oracle = [{"tool": "object_mapper", "items": [box_item(1, v1.box(target), name), box_item(2, v2.box(target), name)]}]
    return dict(scene=scene, views=[v1, v2], question=q, options=options, answer=letter, oracle=oracle, meta={"object": target})


def _pick_four(view: View, rng, key, margin: float, largest: bool) -> tuple[list[int], int] | None:
    ids = _unique_clear(view, rng)[:4]
    if len(ids) < 4:
        return None
    vals = np.array([key(view.scene.by_id(i)) for i in ids])
    order = np.argsort(-vals if largest else vals)
    a, b = vals[order[0]], vals[order[1]]
    if (largest and a < margin * b) or (not largest and b < margin * a):
        return None
    return ids, ids[int(order[0])]


def depth_order(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    view = View(renderer, scene, main_camera(scene, scene_rng))
    picked = _pick_four(view, rng, lambda o: float(np.linalg.norm(o.centre - view.camera.eye)), 1.15, largest=False)
    if picked is None:
        return None
    ids, best = picked
    options, letter = _choice(rng, scene.by_id(best).name, [scene.by_id(i).name for i in ids if i != best])
    return dict(scene=scene, views=[view], question="Which of these objects is nearest to the camera?", options=options,
                answer=letter, oracle=[_boxes(view, ids)], meta={"objects": ids, "nearest": best})  # fmt: skip


def height_order(scene_rng, rng, renderer, scale) -> Gen | None:
    scene = _new_scene(renderer, scale, scene_rng)
    view = View(renderer, scene, main_camera(scene, scene_rng))
    picked = _pick_four(view, rng, lambda o: o.size[1], 1.25, largest=True)
    if picked is None:
        return None
    ids, best = picked
    options, letter = _choice(rng, scene.by_id(best).name, [scene.by_id(i).name for i in ids if i != best])
    return dict(scene=scene, views=[view], question="Which of these objects is the tallest in reality (not in the image)?",
                options=options, answer=letter, oracle=[_boxes(view, ids)], meta={"objects": ids, "tallest": best})  # fmt: skip


def nearest_colour(scene_rng, rng, renderer, scale) -> Gen | None:
    kinds = [k for k in CATALOGUE[scale] if set(k.colors) == set(PALETTE)]
    k = kinds[int(rng.integers(len(kinds)))]
    n = int(rng.integers(2, 4))
    scene = _new_scene(renderer, scale, scene_rng, require={k.name: n})
    view = View(renderer, scene, main_camera(scene, scene_rng))
    inst = [o for o in scene.objects if o.kind == k.name]
    if len({o.color for o in inst}) < n or not all(view.clear(o.oid) for o in inst):
        return None
    dist = sorted((float(np.linalg.norm(o.centre - view.camera.eye)), o.oid) for o in inst)
    if dist[1][0] < 1.15 * dist[0][0]:
        return None
    nearest = scene.by_id(dist[0][1])
    # a uniformly drawn colour: recolour the nearest one (its parts share the kind's colour)
    colour = list(PALETTE)[int(rng.integers(len(PALETTE)))]
    if colour in {o.color for o in inst if o is not nearest}:
        return None
    return dict(scene=scene, views=[view], question=f"What colour is the {k.name} nearest to the camera?", answer=colour,
                recolour=(nearest.oid, colour), oracle=[_boxes(view, [o.oid for o in inst])], meta={"kind": k.name, "object": nearest.oid})  # fmt: skip


GENERATORS = {name: globals()[name] for name in TASK_TYPES}
# generators that draw the answer before the scene (a count and its letter, a distance, a size): a
# scene rejected more often for some answers (seven whole objects are harder to show than two)
# would otherwise skew the answers, and the letter A would win blind for counts
ANSWER_FIRST = frozenset({"object_count", "absolute_distance", "object_size"})


def generate_task(rng: np.random.Generator, scale: str, task_type: str, renderer: Renderer, max_tries: int = 100) -> SpatialTask:
    """A task of ``task_type`` at ``scale``; scenes are redrawn until one gives a clean question."""
    if scale not in SPECS:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SPECS)}")
    if task_type not in GENERATORS:
        raise ValueError(f"unknown task type {task_type!r}; choose one of {', '.join(GENERATORS)}")
    for attempt in range(max_tries):
        # an answer drawn before the scene is kept over 20 new scenes, so that rejected scenes barely bend
        # the answer distribution; other questions draw afresh (their letters and colours are drawn
        # uniformly after the scene is accepted, or independently of what rejects it)
        if attempt % (20 if task_type in ANSWER_FIRST else 1) == 0:
            task_seed = int(rng.integers(1 << 63))
        scene_rng = np.random.default_rng(rng.integers(1 << 63))
        try:
            gen = GENERATORS[task_type](scene_rng, np.random.default_rng(task_seed), renderer, scale)
        except PlacementError:
            continue
        if gen is not None:
            return _task(gen, rng, scale, task_type, renderer)
    raise RuntimeError(f"no clean {task_type} task at scale {scale} in {max_tries} scenes")


def _new_scene(renderer: Renderer, scale: str, scene_rng: np.random.Generator, **kwargs: Any) -> Scene:
    scene = generate_scene(scale, scene_rng, **kwargs)
    renderer.load(scene.vertices())
    return scene


def _task(gen: Gen, rng: np.random.Generator, scale: str, task_type: str, renderer: Renderer) -> SpatialTask:
    views: list[View] = gen["views"]
    if "recolour" in gen:  # nearest_colour: repaint, then re-render the same cameras
        oid, colour = gen["recolour"]
        o = gen["scene"].by_id(oid)
        from .objects import COLORS

        old = np.asarray(COLORS[o.color])
        for p in o.parts:
            if np.abs(np.asarray(p.color) - old).max() < 0.12:  # the parts in the object's colour (jittered ±8%)
                p.color = COLORS[colour]
        o.color = colour
        renderer.load(gen["scene"].vertices())
        views = [View(renderer, gen["scene"], v.camera) for v in views]
    truth = gen.get("truth")
    answer = gen.get("answer") if truth is None else fmt_number(truth)
    metric = TASK_TYPES[task_type][0]
    intro = f"The {'images show' if len(views) > 1 else 'image shows'} {SCALE_LABELS[scale]} scene."
    task_id = f"spatial-{scale}-{task_type}-{int(rng.integers(1 << 30)):09d}"
    meta = {**gen.get("meta", {}), "metric": metric, "reasoning": TASK_TYPES[task_type][1],
            "objects_in_scene": [o.to_json() for o in gen["scene"].objects], "cameras": [v.camera.to_json() for v in views]}  # fmt: skip
    return SpatialTask(task_id, scale, task_type, f"{intro} {gen['question']}", str(answer), [v.image for v in views],
                       gen.get("options", []), truth, gen.get("unit", ""), gen["oracle"], meta)  # fmt: skip
