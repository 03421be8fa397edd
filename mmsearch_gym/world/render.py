"""Rendering the world's images: emblems, renders, documents with printed text, and degraded photos.

Colours, shapes and materials come from the entity's attributes, so the image agrees with
the article; layout details come from a per-image random stream. :func:`render` gives
the same pixels for the same world and image id on every run; :func:`png_bytes` encodes
them with fixed settings so the bytes match too.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw

from . import vocab as V
from .degrade import degrade
from .model import Entity, ImageInfo, World
from .shapes import RGB, contrast, draw_shape, font, mix

SIZE = 256
DOC_SIZE = (360, 220)


def _random_colour(rng: random.Random, lo: int = 40, hi: int = 230) -> RGB:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def _decor(rng: random.Random, d: ImageDraw.ImageDraw, n: int, area: tuple[float, float, float, float]) -> None:
    """A few small shapes in random colours: they make each render's layout its own."""
    x0, y0, x1, y1 = area
    for _ in range(n):
        r = rng.uniform(8, 22)
        x, y = rng.uniform(x0 + r, x1 - r), rng.uniform(y0 + r, y1 - r)
        draw_shape(d, rng.choice(V.SHAPES), (x - r, y - r, x + r, y + r), _random_colour(rng), _random_colour(rng))


def _colours(e: Entity) -> list[RGB]:
    a = e.attributes
    names = a.get("flag_colours") or a.get("colours") or [a.get("colour") or "grey"]
    cols = [V.COLOURS[n] for n in names]
    if "material" in a:
        cols.insert(0, V.MATERIALS[a["material"]])
    return cols


def _shape(e: Entity, rng: random.Random) -> str:
    return e.attributes.get("shape") or rng.choice(V.SHAPES)


def _flag(e: Entity, rng: random.Random, d: ImageDraw.ImageDraw) -> None:
    cols = _colours(e)
    w, h = SIZE, int(SIZE * 0.66)
    top = (SIZE - h) // 2
    pattern = rng.randrange(4)
    n = len(cols)
    for i, c in enumerate(cols):
        if pattern in (0, 2):
            d.rectangle((0, top + i * h / n, w, top + (i + 1) * h / n), fill=c)
        else:
            d.rectangle((i * w / n, top, (i + 1) * w / n, top + h), fill=c)
    if pattern == 2:
        d.polygon([(0, top), (w * 0.45, top + h / 2), (0, top + h)], fill=cols[-1] if n > 2 else (245, 245, 245))
    if pattern == 3:
        d.rectangle((0, top + h * 0.4, w, top + h * 0.6), fill=cols[0])
    r = rng.uniform(0.12, 0.2) * SIZE
    cx, cy = rng.choice([(w * 0.22, top + h * 0.3), (w / 2, top + h / 2)])
    draw_shape(d, rng.choice(V.SHAPES), (cx - r, cy - r, cx + r, cy + r), contrast(cols[0]), cols[-1])


def _emblem(e: Entity, rng: random.Random, d: ImageDraw.ImageDraw, kind: str) -> None:
    cols = _colours(e)
    m = rng.randint(24, 40)
    if kind == "coat_of_arms":
        d.polygon(
            [(m, m), (SIZE - m, m), (SIZE - m, SIZE * 0.55), (SIZE / 2, SIZE - m), (m, SIZE * 0.55)], fill=cols[0]
        )
        split = rng.choice(("pale", "fess", "bend"))
        c2 = cols[1 % len(cols)]
        if split == "pale":
            d.polygon([(SIZE / 2, m), (SIZE - m, m), (SIZE - m, SIZE * 0.55), (SIZE / 2, SIZE - m)], fill=c2)
        elif split == "fess":
            d.polygon([(m, m), (SIZE - m, m), (SIZE - m, SIZE * 0.42), (m, SIZE * 0.42)], fill=c2)
        else:
            d.polygon([(m, m), (m + 40, m), (SIZE - m, SIZE * 0.5), (SIZE - m, SIZE * 0.62)], fill=c2)
    else:  # logo: shape on a coloured disc or square, with initials
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((m, m, SIZE - m, SIZE - m), fill=cols[0])
    r = SIZE * rng.uniform(0.16, 0.24)
    cx, cy = SIZE / 2 + rng.uniform(-12, 12), SIZE * rng.uniform(0.38, 0.48)
    draw_shape(
        d, _shape(e, rng), (cx - r, cy - r, cx + r, cy + r), cols[-1] if len(cols) > 1 else contrast(cols[0]), cols[0]
    )
    if kind == "logo":
        initials = "".join(w[0] for w in e.name.split() if w[:1].isalpha())[:3].upper()
        d.text((SIZE / 2, SIZE * 0.78), initials, fill=contrast(cols[0]), font=font(34), anchor="mm")


def _scene(e: Entity, rng: random.Random, d: ImageDraw.ImageDraw, kind: str) -> None:
    cols = _colours(e)
    sky = _random_colour(rng, 60, 250)
    for y in range(0, SIZE, 4):
        d.rectangle((0, y, SIZE, y + 4), fill=mix(sky, (255, 255, 255), y / SIZE * 0.6))
    ground = rng.uniform(0.72, 0.85) * SIZE
    d.rectangle((0, ground, SIZE, SIZE), fill=mix(_random_colour(rng, 40, 180), cols[0], 0.15))
    _decor(rng, d, rng.randint(2, 4), (0, 0, SIZE, ground * 0.55))
    if kind == "landmark":
        x0 = rng.uniform(0.25, 0.45) * SIZE
        x1 = x0 + rng.uniform(0.2, 0.35) * SIZE
        top = rng.uniform(0.12, 0.35) * SIZE
        body = cols[0]
        lk = e.attributes.get("kind", "tower")
        if lk in ("bridge", "aqueduct"):
            d.rectangle((10, ground - 60, SIZE - 10, ground - 44), fill=body)
            for i in range(rng.randint(2, 5)):
                px = 20 + i * (SIZE - 40) / max(1, rng.randint(2, 5))
                d.rectangle((px, ground - 44, px + 14, ground), fill=mix(body, (0, 0, 0), 0.2))
        elif lk in ("dome", "observatory", "arena"):
            d.rectangle((x0 - 20, ground - 50, x1 + 20, ground), fill=body)
            d.pieslice(
                (x0 - 20, ground - 50 - (x1 - x0 + 40) / 2, x1 + 20, ground - 50 + (x1 - x0 + 40) / 2),
                180,
                360,
                fill=mix(body, (255, 255, 255), 0.2),
            )
        else:
            d.rectangle((x0, top, x1, ground), fill=body)
            d.polygon(
                [(x0 - 8, top), (x1 + 8, top), ((x0 + x1) / 2, top - rng.uniform(20, 50))],
                fill=mix(body, (0, 0, 0), 0.3),
            )
            for wy in range(int(top) + 14, int(ground) - 10, 22):
                d.rectangle(((x0 + x1) / 2 - 4, wy, (x0 + x1) / 2 + 4, wy + 10), fill=(30, 30, 40))
    else:  # portrait or figure: a creature or a person made of ellipses
        body = cols[-1] if kind == "portrait" else cols[0]
        bx, by = SIZE / 2 + rng.uniform(-20, 20), ground - rng.uniform(10, 30)
        d.ellipse((bx - 60, by - 90, bx + 60, by + 20), fill=body)
        head = (225, 190, 160) if kind == "portrait" else mix(body, (255, 255, 255), 0.25)
        hx, hy, hr = bx + rng.uniform(-12, 12), by - 110, rng.uniform(30, 40)
        d.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=head)
        if kind == "portrait":
            d.chord(
                (hx - hr, hy - hr - 6, hx + hr, hy + hr * 0.4),
                180,
                360,
                fill=rng.choice([(40, 30, 20), (150, 100, 40), (200, 200, 190)]),
            )
        else:
            for sx in (-1, 1):
                d.polygon(
                    [
                        (hx + sx * hr * 0.5, hy - hr * 0.6),
                        (hx + sx * hr * 1.1, hy - hr * 1.6),
                        (hx + sx * hr, hy - hr * 0.2),
                    ],
                    fill=body,
                )
        for sx in (-1, 1):
            d.ellipse((hx + sx * hr * 0.4 - 5, hy - 6, hx + sx * hr * 0.4 + 5, hy + 4), fill=(20, 20, 20))


def _object(e: Entity, rng: random.Random, d: ImageDraw.ImageDraw, kind: str) -> None:
    cols = _colours(e)
    bg = _random_colour(rng, 50, 245)
    d.rectangle((0, 0, SIZE, SIZE), fill=bg)
    if kind != "painting":
        _decor(rng, d, rng.randint(2, 4), (0, 0, SIZE, SIZE * 0.3))
    if kind == "painting":
        d.rectangle((14, 14, SIZE - 14, SIZE - 14), fill=rng.choice([(120, 80, 30), (200, 170, 60), (30, 30, 30)]))
        d.rectangle((30, 30, SIZE - 30, SIZE - 30), fill=mix(cols[0], (255, 255, 255), 0.5))
        for _ in range(rng.randint(4, 8)):
            c = rng.choice(cols + [V.COLOURS[rng.choice(sorted(V.COLOURS))]])
            x, y, r = rng.uniform(40, SIZE - 40), rng.uniform(40, SIZE - 40), rng.uniform(12, 50)
            (d.ellipse if rng.random() < 0.5 else d.rectangle)(
                (max(30, x - r), max(30, y - r), min(SIZE - 30, x + r), min(SIZE - 30, y + r)), fill=c
            )
        return
    d.ellipse((50, SIZE * 0.8, SIZE - 50, SIZE * 0.9), fill=mix(bg, (0, 0, 0), 0.3))
    r = SIZE * rng.uniform(0.28, 0.36)
    cx, cy = SIZE / 2 + rng.uniform(-15, 15), SIZE * 0.48
    draw_shape(
        d, _shape(e, rng), (cx - r, cy - r, cx + r, cy + r), cols[0], cols[-1] if len(cols) > 1 else contrast(cols[0])
    )
    for _ in range(rng.randint(1, 3)):
        x, y = rng.uniform(cx - r * 0.5, cx + r * 0.5), rng.uniform(cy - r * 0.5, cy + r * 0.5)
        d.ellipse((x - 6, y - 6, x + 6, y + 6), fill=mix(cols[-1], (255, 255, 255), 0.5))


def _cover(e: Entity, rng: random.Random, d: ImageDraw.ImageDraw, kind: str) -> None:
    cols = _colours(e)
    d.rectangle((0, 0, SIZE, SIZE), fill=cols[0])
    band = rng.uniform(0.05, 0.2) * SIZE
    d.rectangle((0, band, SIZE, band + 44), fill=contrast(cols[0]))
    title = e.name.split(":")[0][:18]
    d.text((SIZE / 2, band + 22), title, fill=cols[0], font=font(24), anchor="mm")
    r = SIZE * rng.uniform(0.18, 0.26)
    cx, cy = SIZE * rng.uniform(0.35, 0.65), SIZE * 0.65
    accent = V.COLOURS[rng.choice(sorted(V.COLOURS))]
    draw_shape(d, _shape(e, rng), (cx - r, cy - r, cx + r, cy + r), mix(accent, contrast(cols[0]), 0.3), cols[0])
    if kind == "poster":
        d.text(
            (SIZE / 2, SIZE - 20),
            e.attributes.get("month", "").upper(),
            fill=contrast(cols[0]),
            font=font(18),
            anchor="mm",
        )


def _document(info: ImageInfo, e: Entity, rng: random.Random) -> Image.Image:
    """Dark text on light paper (OCR-friendly) beside a coloured panel with the entity's emblem."""
    cols = _colours(e)
    paper = _random_colour(rng, 225, 255)
    img = Image.new("RGB", DOC_SIZE, paper)
    d = ImageDraw.Draw(img)
    w, h = DOC_SIZE
    border = rng.randint(5, 14)
    frame = (60, 50, 40) if info.kind == "plaque" else cols[0]
    d.rectangle((0, 0, w, h), fill=frame)
    d.rectangle((border, border, w - border, h - border), fill=paper)
    side = rng.randint(80, 110)
    px = w - border - side - rng.randint(4, 14)
    py = rng.randint(border + 4, h - border - side - 4)
    panel = cols[-1] if len(cols) > 1 else _random_colour(rng)
    d.rectangle((px, py, px + side, py + side), fill=panel)
    draw_shape(d, _shape(e, rng), (px + 14, py + 14, px + side - 14, py + side - 14), contrast(panel), cols[0])
    stripe = rng.randint(8, 20)
    d.rectangle((border, h - border - stripe, px - 8, h - border), fill=_random_colour(rng))
    lines = (info.text or "").split("\n")
    y, text_w = border + 12, px - border - 24
    for i, line in enumerate(lines):
        size = 22 if i == 0 else 17
        while size > 10 and font(size).getlength(line) > text_w:
            size -= 1
        d.text((border + 10, y), line, fill=(20, 20, 25), font=font(size))
        y += size + 12
    return img


def render(world: World, image_id: str) -> np.ndarray:
    """The pixels (uint8 H×W×3) of image ``image_id``; photos are degraded renders of their source."""
    info = world.images[image_id]
    e = world.entity(info.entity_id)
    rng = random.Random(f"mmsearch-world:{world.seed}:render:{image_id}")
    if info.kind == "photo":
        assert info.source is not None and info.degradation is not None
        return degrade(render(world, info.source), info.degradation)
    if info.text is not None:
        return np.asarray(_document(info, e, rng))
    return render_entity(e, info.kind, rng)


MAIN_KINDS = ("flag", "coat_of_arms", "logo", "landmark", "portrait", "figure", "object", "painting", "cover", "poster")


def render_entity(e: Entity, kind: str, rng: random.Random) -> np.ndarray:
    """A main render (``kind`` in :data:`MAIN_KINDS`) of ``e`` from its attributes, laid out by ``rng``.

    The world's images come from here; so do the offline generator's imagined subjects
    (an entity made up from the attributes a prompt states).
    """
    img = Image.new("RGB", (SIZE, SIZE), _random_colour(rng, 200, 250))
    d = ImageDraw.Draw(img)
    if kind == "flag":
        _flag(e, rng, d)
    elif kind in ("coat_of_arms", "logo"):
        _emblem(e, rng, d, kind)
    elif kind in ("landmark", "portrait", "figure"):
        _scene(e, rng, d, kind)
    elif kind in ("object", "painting"):
        _object(e, rng, d, kind)
    elif kind in ("cover", "poster"):
        _cover(e, rng, d, kind)
    else:
        raise ValueError(f"unknown image kind {kind!r}; main kinds: {', '.join(MAIN_KINDS)}")
    return np.asarray(img)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding with fixed settings (same pixels, same bytes)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=3, optimize=False)
    return buf.getvalue()
