"""Anchor images for DeepSearch tasks (OpenSearch-VL, arXiv 2605.05185).

A DeepSearch question is anchored on an image of the first entity of its multi-hop path:
the agent has to perceive the image (crop, perspective_correct, super_resolution, ocr) and
search (image_search, text_search) before it can walk the rest of the path. This module
makes those images, in four kinds of increasing perception effort:

- ``"render"``: the entity's main render (flag, logo, portrait, …) as the world indexes it;
  ``("image_search",)``; difficulty 0.
- ``"photo"``: one of the entity's degraded photos from the world (not indexed: shot at an
  angle in clutter, blurred, noisy, low resolution, JPEG); ``("image_search",)``; the
  difficulty is the mean of its degradation parameters over their ranges (≈ the strength
  they were drawn with).
- ``"scene"``: the main render pasted small (:data:`SCENE_FRACTION`, 20–30% of the canvas
  width) at a random place into a larger cluttered canvas (:data:`SCENE_SIZE`, 640×480: a
  gradient under 25–45 rectangles, ellipses, triangles, lines, stripes and framed abstract
  "pictures", never another entity); :attr:`Anchor.bbox` is where the picture is;
  ``("crop", "image_search")``; the difficulty grows as the picture shrinks and the
  clutter grows.
- ``"document"``: a fresh printed card of the entity (never in the world or its index): a
  document type's printed lines (:func:`~mmsearch_gym.world.articles.document_text`) or a
  name card (the name large, its noun below), in a style unlike the world's documents
  (tinted paper, centred text, the name line larger and underlined, no frame or emblem
  panel), photographed: on a dark cluttered table (nothing touching the card), tilted
  ±12° with up to 8% corner jitter, blurred (σ ≤ 1.2), noisy (σ ≤ 6) and downscaled. A
  near shot (card at 0.45–1.0 of its printed size) needs ``("perspective_correct", "ocr",
  "text_search")``; a far one (30% of them, 0.27–0.34) adds ``super_resolution`` (×2)
  before OCR. :attr:`Anchor.text` is the printed text; the difficulty is the mean of
  blur, noise, downscale and tilt over their ranges.

Measured (``benchmarks/deep_search_anchor.py``, 100 entities per kind, 2000-entity world;
300-entity world in brackets): reverse search finds a render at top-1 100% (100%), a photo
97% (98%); a whole scene 6% (4%), its crop at ``bbox`` 100% (100%), which is what searching
the unchanged render gives for the same entities; a raw document photo 0% (0%), while
perspective_correct → [super_resolution ×2] → ocr → ``text_search(ocr text, 5)`` has the
entity in the top 3 for 100% (100%); far shots without super_resolution: 93% (100%), now
that ``ocr`` reads one block of text by default (``psm=6``; it was 79% (68%) with
tesseract's automatic layout, ``psm=3``).

Everything is drawn from the ``rng`` given to :func:`make_anchor` (PIL and OpenCV drawing
and warps are deterministic), so the same generator state gives the same pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ..world.articles import document_text
from ..world.model import Entity, World
from ..world.schema import TYPES
from ..world.shapes import font

ANCHOR_KINDS = ("render", "photo", "scene", "document")
MAX_SIDE = 1024

SCENE_SIZE = (640, 480)  # width, height of a scene anchor
SCENE_FRACTION = (0.20, 0.30)  # the entity's picture width over the scene width

CARD_WIDTH = 560  # the printed card before it is photographed (height follows its lines)
PHOTO_SIZE = (800, 600)  # the document photo before its resolution drop
CARD_FRACTION = (0.55, 0.78)  # card width over photo width
DOC_TILT = 12.0  # ± degrees of in-plane rotation
DOC_PERSPECTIVE = 0.08  # ± corner jitter, fraction of the card's size
DOC_BLUR = (0.0, 1.2)  # gaussian sigma in pixels (before the resolution drop)
DOC_NOISE = (0.0, 6.0)  # gaussian sigma in grey levels
# the resolution drop, as the card's final scale (photo pixels per printed pixel; its name
# line is printed 36-42 px high): a near shot reads as is, a far one (FAR_SHARE of them)
# needs super_resolution ×2 before OCR
DOC_SCALE_NEAR = (0.45, 1.0)
DOC_SCALE_FAR = (0.27, 0.34)
FAR_SHARE = 0.3
CARD_HALO = 16  # clutter-free pixels around the card

_PAPERS = (  # tinted papers (the world's documents are near-white with a coloured frame)
    (236, 224, 196),  # manila
    (222, 232, 240),  # pale blue
    (226, 238, 220),  # pale green
    (244, 226, 226),  # pale pink
    (238, 236, 214),  # ivory
    (232, 226, 240),  # lavender
)
_INKS = ((20, 20, 25), (25, 30, 70), (60, 20, 20), (20, 50, 30))


@dataclass(frozen=True, eq=False)
class Anchor:
    """An anchor image of ``entity_id`` and what an agent needs to get from it to the entity.

    ``bbox`` (``x, y, width, height`` in pixels) is where the entity's picture is inside a
    scene; ``text`` is the printed text of a document anchor (what OCR should read);
    ``required_tools`` are the perception and search tools an agent needs, in order;
    ``difficulty`` (0…1) says how hard the perception is. Compared by identity (``eq=False``):
    a field-wise ``==`` on the image array would be ambiguous.
    """

    image: np.ndarray
    kind: str
    entity_id: str
    source_image_id: str | None
    bbox: tuple[int, int, int, int] | None
    text: str | None
    required_tools: tuple[str, ...]
    difficulty: float


def _main_render(world: World, entity_id: str) -> str | None:
    """The entity's main picture: its type's image kind, or (types the schema does not know) its first non-photo."""
    e = world.entity(entity_id)
    spec = TYPES.get(e.type)
    if spec is not None:
        renders = world.images_of(entity_id, spec.image_kind)
    else:
        renders = [i for i in world.images_of(entity_id) if i.kind != "photo" and i.text is None]
    return renders[0].id if renders else None


def anchor_kinds_for(world: World, entity_id: str) -> tuple[str, ...]:
    """The anchor kinds :func:`make_anchor` can make for ``entity_id`` (in :data:`ANCHOR_KINDS` order).

    A render and a scene need the entity's main render, a photo one of its photos; a
    document is always possible (a name card for types without a document kind).
    """
    if entity_id not in world.entities:
        raise KeyError(f"unknown entity {entity_id!r}")
    has_render = _main_render(world, entity_id) is not None
    possible = {
        "render": has_render,
        "photo": bool(world.images_of(entity_id, "photo")),
        "scene": has_render,
        "document": True,
    }
    return tuple(k for k in ANCHOR_KINDS if possible[k])


def make_anchor(
    world: World,
    entity_id: str,
    kind: str,
    rng: np.random.Generator,
    image_array: Callable[[str], np.ndarray] | None = None,
) -> Anchor:
    """An anchor image of ``kind`` (one of :data:`ANCHOR_KINDS`) for ``entity_id``.

    ``image_array`` gets a world image by id (e.g. ``LocalWorldBackend.image_array``, which
    reads the built world's PNGs); by default images are rendered with
    :func:`mmsearch_gym.world.render.render`. Raises ``ValueError`` for an unknown kind or
    one this entity cannot have (see :func:`anchor_kinds_for`), ``KeyError`` for an
    unknown entity.
    """
    if kind not in ANCHOR_KINDS:
        raise ValueError(f"unknown anchor kind {kind!r}; the kinds are {', '.join(ANCHOR_KINDS)}")
    possible = anchor_kinds_for(world, entity_id)
    if kind not in possible:
        raise ValueError(
            f"entity {entity_id!r} cannot have a {kind!r} anchor; its possible kinds are {', '.join(possible)}"
        )
    if image_array is None:
        from ..world.render import render

        def image_array(image_id: str) -> np.ndarray:
            return render(world, image_id)

    if kind == "render":
        source = _main_render(world, entity_id)
        assert source is not None
        image = _fit(np.asarray(image_array(source)))
        return Anchor(image, kind, entity_id, source, None, None, ("image_search",), 0.0)
    if kind == "photo":
        photos = world.images_of(entity_id, "photo")
        info = photos[int(rng.integers(len(photos)))]
        image = _fit(np.asarray(image_array(info.id)))
        return Anchor(
            image, kind, entity_id, info.id, None, None, ("image_search",), _photo_difficulty(info.degradation)
        )
    if kind == "scene":
        source = _main_render(world, entity_id)
        assert source is not None
        image, bbox, difficulty = _scene(_fit(image_array(source)), rng)
        return Anchor(image, kind, entity_id, source, bbox, None, ("crop", "image_search"), difficulty)
    e = world.entity(entity_id)
    text = _card_text(e)
    card = _card(text, rng)
    image, needs_sr, difficulty = _photograph(card, rng)
    tools = (
        ("perspective_correct", "super_resolution", "ocr", "text_search")
        if needs_sr
        else ("perspective_correct", "ocr", "text_search")
    )
    return Anchor(image, kind, entity_id, None, None, text, tools, difficulty)


# ---- helpers ----------------------------------------------------------------------------------
def _fit(image: np.ndarray) -> np.ndarray:
    """``image`` as contiguous uint8 RGB, downscaled so its longest side is at most :data:`MAX_SIDE`."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = np.ascontiguousarray(arr[:, :, :3], dtype=np.uint8)
    h, w = arr.shape[:2]
    if max(h, w) > MAX_SIDE:
        k = MAX_SIDE / max(h, w)
        arr = cv2.resize(arr, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    return arr


def _photo_difficulty(params: dict[str, float] | None) -> float:
    """How harsh a world photo's degradation is: the mean of its parameters, each over its range
    in :func:`~mmsearch_gym.world.degrade.photo_degradation` (≈ the ``strength`` it was drawn with)."""
    if not params:
        return 0.0
    parts = [
        params["perspective"] / 0.12,
        abs(params["rotation"]) / 10.0,
        params["blur"] / 1.8,
        params["noise"] / 12.0,
        (1.0 - params["resolution"]) / 0.6,
        (92.0 - params["jpeg"]) / 62.0,
    ]
    return round(float(np.clip(np.mean(parts), 0.0, 1.0)), 3)


def _colour(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(lo, hi + 1, size=3))
    return r, g, b


def _gradient(rng: np.random.Generator, size: tuple[int, int], lo: int, hi: int) -> np.ndarray:
    """A linear gradient between two random colours at a random angle (float32 H×W×3)."""
    w, h = size
    a, b = np.array(_colour(rng, lo, hi), np.float32), np.array(_colour(rng, lo, hi), np.float32)
    theta = float(rng.uniform(0, 2 * np.pi))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * np.cos(theta) + yy * np.sin(theta)).astype(np.float32)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return a * (1 - t[..., None]) + b * t[..., None]


def _clutter(rng: np.random.Generator, d: ImageDraw.ImageDraw, size: tuple[int, int], n: int, lo: int, hi: int) -> None:
    """``n`` random shapes and lines (rectangles, ellipses, polygons, framed abstract pictures)."""
    w, h = size
    for _ in range(n):
        kind = int(rng.integers(6))
        x, y = float(rng.uniform(-20, w)), float(rng.uniform(-20, h))
        sw, sh = float(rng.uniform(12, 0.3 * w)), float(rng.uniform(12, 0.3 * h))
        fill = _colour(rng, lo, hi)
        if kind == 0:
            d.rectangle((x, y, x + sw, y + sh), fill=fill)
        elif kind == 1:
            d.ellipse((x, y, x + sw, y + sh), fill=fill)
        elif kind == 2:
            pts = [(float(px), float(py)) for px, py in rng.uniform([x, y], [x + sw, y + sh], size=(3, 2))]
            d.polygon(pts, fill=fill)
        elif kind == 3:
            x2, y2 = float(rng.uniform(0, w)), float(rng.uniform(0, h))
            d.line((x, y, x2, y2), fill=fill, width=int(rng.integers(1, 7)))
        elif kind == 4:  # a framed abstract "picture": a frame with a few coloured blocks
            d.rectangle((x, y, x + sw, y + sh), fill=_colour(rng, lo, hi))
            m = max(3.0, 0.08 * min(sw, sh))
            d.rectangle((x + m, y + m, x + sw - m, y + sh - m), fill=fill)
            for _ in range(int(rng.integers(2, 5))):
                bx, by = float(rng.uniform(x + m, x + sw - m)), float(rng.uniform(y + m, y + sh - m))
                bw, bh = float(rng.uniform(2, sw / 2)), float(rng.uniform(2, sh / 2))
                d.rectangle((bx, by, min(bx + bw, x + sw - m), min(by + bh, y + sh - m)), fill=_colour(rng, lo, hi))
        else:  # stripes
            step = float(rng.uniform(4, 12))
            c2 = _colour(rng, lo, hi)
            for i in range(int(sh / step)):
                d.rectangle((x, y + i * step, x + sw, y + i * step + step / 2), fill=fill if i % 2 else c2)


# ---- scene ------------------------------------------------------------------------------------
def _scene(render: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int], float]:
    w, h = SCENE_SIZE
    canvas = Image.fromarray(np.clip(np.rint(_gradient(rng, (w, h), 30, 230)), 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(canvas)
    clutter = int(rng.integers(25, 46))
    _clutter(rng, d, (w, h), clutter, 20, 240)
    frac = float(rng.uniform(*SCENE_FRACTION))
    rh, rw = render.shape[:2]
    bw = max(8, round(frac * w))
    bh = max(8, round(bw * rh / rw))
    small = cv2.resize(np.ascontiguousarray(render[:, :, :3]), (bw, bh), interpolation=cv2.INTER_AREA)
    x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    canvas.paste(Image.fromarray(small), (x, y))
    difficulty = 0.6 * (SCENE_FRACTION[1] - frac) / (SCENE_FRACTION[1] - SCENE_FRACTION[0]) + 0.4 * (clutter - 25) / 20
    return np.asarray(canvas).copy(), (x, y, bw, bh), round(float(np.clip(difficulty, 0, 1)), 3)


# ---- document ---------------------------------------------------------------------------------
def _card_text(e: Entity) -> str:
    """What the card prints: a document type's lines, else the name and the entity's noun."""
    spec = TYPES.get(e.type)
    if spec is not None and spec.document_kind is not None:
        return document_text(e, spec.document_kind)
    noun = spec.noun if spec is not None else e.type.replace("_", " ")
    return f"{e.name}\n{noun.upper()}"


def _card(text: str, rng: np.random.Generator) -> np.ndarray:
    """The printed card: centred lines on tinted paper, the name line larger and underlined."""
    lines = text.split("\n")
    paper = np.array(_PAPERS[int(rng.integers(len(_PAPERS)))]) + rng.integers(-6, 7, size=3)
    paper_rgb = tuple(int(v) for v in np.clip(paper, 0, 255))
    ink = _INKS[int(rng.integers(len(_INKS)))]
    w, pad = CARD_WIDTH, 34
    big, small = int(rng.integers(36, 43)), int(rng.integers(24, 29))
    name_line = 1 if lines[0] == "WELCOME TO" else 0  # the sign's name is its second line
    sizes = []
    for i, line in enumerate(lines):
        size = big if i == name_line else small
        while size > 14 and font(size).getlength(line) > w - 2 * pad:
            size -= 1
        sizes.append(size)
    gap = int(rng.integers(12, 19))
    h = 2 * pad + 8 + sum(sizes) + gap * (len(lines) - 1) + 10
    img = Image.new("RGB", (w, h), paper_rgb)
    d = ImageDraw.Draw(img)
    rule = float(rng.uniform(0.3, 0.6)) * w  # a rule under the name line (no box: tesseract skips boxed text)
    y = pad + 4
    for i, (line, size) in enumerate(zip(lines, sizes)):
        d.text((w / 2, y), line, fill=ink, font=font(size), anchor="ma")
        y += size + gap
        if i == name_line and len(lines) > 1:
            d.line((w / 2 - rule / 2, y - gap / 2 + 2, w / 2 + rule / 2, y - gap / 2 + 2), fill=ink, width=2)
    return np.asarray(img)


def _photograph(card: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, bool, float]:
    """The card on a dark cluttered table, tilted, blurred, noisy and downscaled; also whether
    OCR needs super_resolution first, and the difficulty."""
    w, h = PHOTO_SIZE
    plain = np.clip(np.rint(_gradient(rng, (w, h), 25, 110)), 0, 255).astype(np.uint8)
    table = Image.fromarray(plain)
    _clutter(rng, ImageDraw.Draw(table), (w, h), int(rng.integers(8, 16)), 10, 120)
    ch, cw = card.shape[:2]
    frac = float(rng.uniform(*CARD_FRACTION))
    k = min(frac * w / cw, 0.8 * h / ch)
    ow, oh = cw * k, ch * k
    tilt = float(rng.uniform(-DOC_TILT, DOC_TILT))
    jitter = float(rng.uniform(0, DOC_PERSPECTIVE))
    corners = np.array([[-ow / 2, -oh / 2], [ow / 2, -oh / 2], [ow / 2, oh / 2], [-ow / 2, oh / 2]])
    theta = np.deg2rad(tilt)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    rel = corners @ rot.T + rng.uniform(-1, 1, size=(4, 2)) * jitter * np.array([ow, oh])
    margin = 0.04 * w  # the whole card stays in the frame: perspective_correct needs its four sides
    lo, hi = rel.min(axis=0), rel.max(axis=0)
    shrink = min(1.0, (w - 2 * margin) / (hi[0] - lo[0]), (h - 2 * margin) / (hi[1] - lo[1]))
    rel, lo, hi, k = rel * shrink, lo * shrink, hi * shrink, k * shrink
    cx = float(rng.uniform(margin - lo[0], w - margin - hi[0]))
    cy = float(rng.uniform(margin - lo[1], h - margin - hi[1]))
    dst = rel + [cx, cy]
    src = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(card, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.full((ch, cw), 255, np.uint8), m, (w, h), flags=cv2.INTER_LINEAR)
    # nothing on the table touches the card: clutter crossing its edge would bend its outline
    halo = cv2.dilate(
        (mask > 0).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * CARD_HALO + 1,) * 2)
    )
    bg = np.where(halo[:, :, None] > 0, plain, np.asarray(table)).astype(np.float32)
    alpha = (mask.astype(np.float32) / 255.0)[:, :, None]
    photo = warped.astype(np.float32) * alpha + bg * (1 - alpha)
    photo *= float(rng.uniform(0.85, 1.05))  # exposure
    blur = float(rng.uniform(*DOC_BLUR))
    if blur > 0.05:
        photo = cv2.GaussianBlur(photo, (0, 0), blur)
    noise = float(rng.uniform(*DOC_NOISE))
    photo += rng.normal(0.0, noise, size=photo.shape).astype(np.float32)
    out = np.clip(np.rint(photo), 0, 255).astype(np.uint8)
    needs_sr = bool(rng.random() < FAR_SHARE)
    res = min(1.0, float(rng.uniform(*(DOC_SCALE_FAR if needs_sr else DOC_SCALE_NEAR))) / k)
    if res < 0.999:
        out = cv2.resize(out, (round(w * res), round(h * res)), interpolation=cv2.INTER_AREA)
    scale = k * res  # final card pixels per printed pixel
    difficulty = np.mean(
        [
            blur / DOC_BLUR[1],
            noise / DOC_NOISE[1],
            float(np.clip((1.0 - scale) / (1.0 - DOC_SCALE_FAR[0]), 0.0, 1.0)),
            (abs(tilt) / DOC_TILT + jitter / DOC_PERSPECTIVE) / 2,
        ]
    )
    return _fit(out), needs_sr, round(float(np.clip(difficulty, 0, 1)), 3)
