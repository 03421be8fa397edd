"""DeepSearch anchor images: kinds, determinism, and that the perception tools recover the entity."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from mmsearch_gym.tasks.deep_search_anchor import ANCHOR_KINDS, Anchor, anchor_kinds_for, make_anchor
from mmsearch_gym.world import World, build_world
from mmsearch_gym.world.backend import LocalWorldBackend
from mmsearch_gym.world.schema import TYPES

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> LocalWorldBackend:
    return LocalWorldBackend(build_world(tmp_path_factory.mktemp("anchor") / "w", 300, 7))


@pytest.fixture(scope="module")
def sample(backend: LocalWorldBackend) -> list[str]:
    """One entity of each of the 17 types (every document style and render kind is covered)."""
    by_type: dict[str, list[str]] = {}
    for e in backend.world.iter_entities():
        by_type.setdefault(e.type, []).append(e.id)
    return [ids[len(ids) // 2] for ids in by_type.values()]


def _anchor(backend: LocalWorldBackend, eid: str, kind: str, seed: int = 0) -> Anchor:
    return make_anchor(backend.world, eid, kind, np.random.default_rng(seed), backend.image_array)


def _top1(backend: LocalWorldBackend, image: np.ndarray) -> str:
    hit = backend.image_search(image=image, top_k=1)[0]
    return backend.world.images[hit.image_id].entity_id


@pytest.fixture(scope="module")
def scenes(backend: LocalWorldBackend, sample: list[str]) -> list[Anchor]:
    return [_anchor(backend, eid, "scene", i) for i, eid in enumerate(sample)]


@pytest.fixture(scope="module")
def documents(backend: LocalWorldBackend, sample: list[str]) -> list[Anchor]:
    return [_anchor(backend, eid, "document", i) for i, eid in enumerate(sample)]


# ---- API ----------------------------------------------------------------------------------------
def test_invalid_kind_lists_the_kinds(backend: LocalWorldBackend) -> None:
    eid = next(iter(backend.world.entities))
    with pytest.raises(ValueError, match="render, photo, scene, document"):
        make_anchor(backend.world, eid, "sketch", np.random.default_rng(0))


def test_impossible_kind(backend: LocalWorldBackend) -> None:
    w = backend.world
    eid = next(iter(w.entities))
    main = w.images_of(eid, TYPES[w.entity(eid).type].image_kind)[0].id
    images = {i: info for i, info in w.images.items() if not (info.entity_id == eid and info.kind == "photo")}
    no_photo = World(w.seed, w.entities, w.relations, images, w.near_duplicate_pairs)
    assert anchor_kinds_for(w, eid) == ANCHOR_KINDS
    assert anchor_kinds_for(no_photo, eid) == ("render", "scene", "document")
    with pytest.raises(ValueError, match="cannot have a 'photo' anchor"):
        make_anchor(no_photo, eid, "photo", np.random.default_rng(0))
    bare = World(w.seed, w.entities, w.relations, {i: x for i, x in images.items() if i != main})
    assert anchor_kinds_for(bare, eid) == ("document",)
    for kind in ("render", "scene"):
        with pytest.raises(ValueError, match="possible kinds are document"):
            make_anchor(bare, eid, kind, np.random.default_rng(0))
    assert make_anchor(bare, eid, "document", np.random.default_rng(0)).kind == "document"


@pytest.mark.parametrize("kind", ANCHOR_KINDS)
def test_deterministic(backend: LocalWorldBackend, sample: list[str], kind: str) -> None:
    eid = sample[3]
    a, b = _anchor(backend, eid, kind, 11), _anchor(backend, eid, kind, 11)
    assert np.array_equal(a.image, b.image)
    assert (a.bbox, a.text, a.required_tools, a.difficulty, a.source_image_id) == (
        b.bbox,
        b.text,
        b.required_tools,
        b.difficulty,
        b.source_image_id,
    )
    # the default image source (rendering) gives the same anchor as the built world's PNGs
    c = make_anchor(backend.world, eid, kind, np.random.default_rng(11))
    assert np.array_equal(a.image, c.image)
    if kind in ("scene", "document"):
        assert not np.array_equal(a.image, _anchor(backend, eid, kind, 12).image)


@pytest.mark.parametrize("kind", ANCHOR_KINDS)
def test_shape_dtype_and_fields(backend: LocalWorldBackend, sample: list[str], kind: str) -> None:
    w = backend.world
    for i, eid in enumerate(sample[::4]):
        a = _anchor(backend, eid, kind, i)
        assert a.kind == kind and a.entity_id == eid
        assert a.image.dtype == np.uint8 and a.image.ndim == 3 and a.image.shape[2] == 3
        assert max(a.image.shape[:2]) <= 1024 and min(a.image.shape[:2]) >= 64
        assert 0.0 <= a.difficulty <= 1.0
        if kind == "document":
            assert a.source_image_id is None and a.bbox is None and a.text
            assert a.required_tools in (
                ("perspective_correct", "ocr", "text_search"),
                ("perspective_correct", "super_resolution", "ocr", "text_search"),
            )
            continue
        info = w.images[a.source_image_id]
        assert info.entity_id == eid and a.text is None
        if kind == "render":
            assert info.kind == TYPES[w.entity(eid).type].image_kind
            assert np.array_equal(a.image, backend.image_array(info.id))
            assert a.required_tools == ("image_search",) and a.difficulty == 0.0
        elif kind == "photo":
            assert info.kind == "photo" and a.required_tools == ("image_search",)
            assert np.array_equal(a.image, backend.image_array(info.id))
        else:
            assert a.required_tools == ("crop", "image_search")


# ---- scene --------------------------------------------------------------------------------------
def test_scene_bbox_shows_the_render(backend: LocalWorldBackend, scenes: list[Anchor]) -> None:
    widths = []
    for a in scenes:
        assert a.bbox is not None
        x, y, bw, bh = a.bbox
        h, w = a.image.shape[:2]
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
        widths.append(bw / w)
        render = backend.image_array(a.source_image_id)
        expected = cv2.resize(render, (bw, bh), interpolation=cv2.INTER_AREA)
        assert np.array_equal(a.image[y : y + bh, x : x + bw], expected)
        # the picture is a small part of the scene
        assert bw * bh < 0.15 * w * h
    assert 0.19 <= min(widths) and max(widths) <= 0.36


def test_scene_needs_the_crop(backend: LocalWorldBackend, scenes: list[Anchor]) -> None:
    from mmsearch_gym.tools.vision import crop

    whole = [_top1(backend, a.image) == a.entity_id for a in scenes]
    cropped = [_top1(backend, crop(a.image, *a.bbox)) == a.entity_id for a in scenes]
    assert np.mean(cropped) >= 0.9, cropped
    assert np.mean(whole) <= 0.25, whole


# ---- document -----------------------------------------------------------------------------------
def test_document_text(backend: LocalWorldBackend, documents: list[Anchor]) -> None:
    for a in documents:
        e = backend.world.entity(a.entity_id)
        assert e.name.casefold() in a.text.casefold()
        # a document type prints its world document's lines (in a new style); others get a name card
        indexed = [i.text for i in backend.world.images_of(e.id) if i.text]
        assert a.text == (indexed[0] if indexed else f"{e.name}\n{TYPES[e.type].noun.upper()}")


def test_document_ocr_then_text_search(backend: LocalWorldBackend, documents: list[Anchor]) -> None:
    from mmsearch_gym.tools.vision import ocr, perspective_correct, super_resolution

    found = []
    for a in documents:
        flat = perspective_correct(a.image)
        if "super_resolution" in a.required_tools:
            flat = super_resolution(flat, 2)
        text = ocr(flat).text
        hits = backend.text_search(text.replace("\n", " "), 5)
        found.append(a.entity_id in [h.doc_id for h in hits[:3]])
    assert np.mean(found) >= 0.9, found
    # both near shots (no super_resolution) and far ones are in the sample
    assert len({a.required_tools for a in documents}) == 2


def test_document_raw_reverse_search_rarely_finds_it(backend: LocalWorldBackend, documents: list[Anchor]) -> None:
    found = [_top1(backend, a.image) == a.entity_id for a in documents]
    assert np.mean(found) <= 0.2, found
