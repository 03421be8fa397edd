"""The seeded offline world: a fictional encyclopedia with a typed graph, articles, images and search indexes.

>>> from mmsearch_gym.world import generate_world
>>> world = generate_world(300, seed=7)          # pure data, deterministic, ~0.05 s
>>> e = world.of_type("landmark")[0]
>>> [(rel.relation, other.name) for rel, other in world.neighbours(e.id)]
>>> world.images_of(e.id)                         # main render, plaque, degraded photo

``build_world(out, n_entities, seed)`` writes it with its tantivy and image indexes;
``LocalWorldBackend(out)`` searches it (the ``text_search``/``image_search``/``visit``
tools use the cached default world when given no backend). Heavy dependencies
(tantivy, OpenCV) are imported only when a world is built or searched.
"""

from .articles import format_value, make_article
from .generate import generate_world
from .model import IMAGE_URL_PREFIX, URL_PREFIX, Article, Entity, ImageInfo, Relation, World, slugify
from .schema import FACTIP_CATEGORIES, RELATIONS, TYPES, AttrSpec, RelSpec, TypeSpec
from .store import (
    CACHE_ENV,
    DEFAULT_ENTITIES,
    DEFAULT_SEED,
    build_world,
    cache_root,
    ensure_world,
    is_complete,
    iter_articles,
    load_world,
    world_dir,
)

__all__ = [
    "CACHE_ENV",
    "DEFAULT_ENTITIES",
    "DEFAULT_SEED",
    "FACTIP_CATEGORIES",
    "IMAGE_URL_PREFIX",
    "RELATIONS",
    "TYPES",
    "URL_PREFIX",
    "Article",
    "AttrSpec",
    "Entity",
    "ImageInfo",
    "RelSpec",
    "Relation",
    "TypeSpec",
    "World",
    "build_world",
    "cache_root",
    "ensure_world",
    "format_value",
    "generate_world",
    "is_complete",
    "iter_articles",
    "load_world",
    "make_article",
    "slugify",
    "world_dir",
]
