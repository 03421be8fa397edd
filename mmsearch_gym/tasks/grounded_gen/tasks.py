"""GroundedGen tasks (Gen-Searcher arXiv 2603.28767, Unify-Agent arXiv 2603.29620): draw what memory cannot know.

A task asks for an image of long-tail entities of a world (the offline encyclopedia or a
user's own :class:`~mmsearch_gym.world.World`), in one of KnowGen's compositions:

- ``single``: one entity as it officially looks (its emblem, figure, cover, building …);
- ``scene``: one entity placed in a named setting (``"a harbour at dusk"``);
- ``pair``: two linked entities side by side, the second named only by its relation to the
  first (``"the festival that Tunemyth the Beetle is the mascot of"``), so a page must be read;
- ``text``: one entity above a banner carrying one of its attributes as readable text (its
  motto, inscription, release date …), which only its page gives.

The category is FactIP's (12 categories mapped onto world types; types without one, such as
cities, only appear as the second entity of a pair). Each task knows its ground truth: the
entities, the visual attributes the image must show (colours, shape, material, creature,
kind of building), the text it must carry, the gold reference image of each entity, and the
ground-truth picture itself: those references composed with :func:`~mmsearch_gym.world.compose.compose`.
Difficulty: ``single`` easy; ``scene`` and ``text`` medium; ``pair`` hard.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ...world.articles import format_value
from ...world.compose import SETTINGS, Canvas, compose
from ...world.model import Entity, World
from ...world.render import MAIN_KINDS
from ...world.schema import FACTIP_CATEGORIES, RELATIONS, TYPES
from ..deep_search import contains_phrase

COMPOSITIONS = ("single", "scene", "pair", "text")
DEFAULT_COMPOSITION_WEIGHTS = {"single": 0.3, "scene": 0.25, "pair": 0.2, "text": 0.25}
DIFFICULTY = {"single": "easy", "scene": "medium", "text": "medium", "pair": "hard"}
VISUAL_KEYS = ("flag_colours", "colours", "colour", "shape", "material", "creature", "kind")


@dataclass
class GroundedGenTask:
    """One request. ``subjects`` (one per entity, in canvas order) hold ``entity_id``, ``name``, ``type``,
    ``noun``, ``url``, the gold reference ``image_id``/``image_url``/``image_kind`` and ``visual``
    (the attributes the picture shows). ``text`` is the banner the image must carry (``text`` tasks)."""

    task_id: str
    question: str
    category: str
    composition: str
    subjects: list[dict[str, Any]]
    setting: str | None = None
    text: str | None = None
    text_label: str | None = None
    relation: str | None = None
    difficulty: str = "easy"
    gt_image: np.ndarray | None = None
    gt_path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def required_words(self) -> list[str]:
        """Words a complete generation prompt states: each subject's name and visual attributes, and the setting."""
        words: list[str] = []
        for s in self.subjects:
            words.append(s["name"])
            for value in s.get("visual", {}).values():
                words.extend(value if isinstance(value, list) else [str(value)])
        if self.setting:
            words.append(self.setting.removeprefix("a ").removeprefix("an "))
        return list(dict.fromkeys(words))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("gt_image")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], gt_image: np.ndarray | None = None) -> GroundedGenTask:
        missing = [k for k in ("task_id", "question") if not isinstance(d.get(k), str) or not d.get(k)]
        if missing:
            raise ValueError(f"a GroundedGen task needs string {', '.join(missing)}; got keys {sorted(d)}")
        known = {f for f in cls.__dataclass_fields__ if f != "gt_image"}
        fields_ = {k: v for k, v in d.items() if k in known}
        fields_.setdefault("category", str(d.get("category") or "other"))
        fields_.setdefault("composition", "single")
        fields_.setdefault("subjects", [])
        if not isinstance(fields_["subjects"], list) or not all(isinstance(s, dict) for s in fields_["subjects"]):
            raise ValueError(f"task {d['task_id']!r}: subjects must be a list of objects")
        fields_["meta"] = {**(d.get("meta") or {}), **{k: v for k, v in d.items() if k not in known}}
        return cls(gt_image=gt_image, **fields_)


def visual_attributes(e: Entity) -> dict[str, Any]:
    """The attributes a picture of ``e`` shows (colours, shape, material, creature, kind of landmark)."""
    keep = [k for k in VISUAL_KEYS if k in e.attributes and (k != "kind" or e.type == "landmark")]
    return {k: e.attributes[k] for k in keep}


def noun(e: Entity) -> str:
    spec = TYPES.get(e.type)
    return spec.noun if spec else e.type.replace("_", " ")


def main_image(world: World, e: Entity) -> Any:
    """The entity's main render (what its official look is), or None."""
    return next((i for i in world.images_of(e.id) if i.kind in MAIN_KINDS and i.text is None), None)


def text_attribute(e: Entity) -> tuple[str, str] | None:
    """``(label, text)`` of the entity's first unique attribute (a motto, inscription, date …), if any."""
    spec = TYPES.get(e.type)
    for a in spec.attrs if spec else ():
        if a.unique and a.key in e.attributes and a.kind in ("text", "date"):
            text = format_value(a, e.attributes[a.key])
            if 3 <= len(text) <= 60:
                return a.label, text
    return None


def describe_linked(world: World, a: Entity, b: Entity, relation: str, a_is_head: bool) -> str:
    """``b`` named only through its relation with ``a``: ``"the festival that X is the mascot of"``."""
    spec = RELATIONS.get(f"{relation}:{a.type if a_is_head else b.type}")
    if spec is not None:
        text = spec.phrase.format(h=a.name, t="@@") if a_is_head else spec.inverse.format(t=a.name, h="@@")
        if text.endswith("@@") and "@@" not in text[:-2]:
            return f"the {noun(b)} that {text[:-2].strip()}"
    return f"the {noun(b)} linked to {a.name} ({relation.replace('_', ' ')})"


class TaskSampler:
    """Samples GroundedGen tasks from a world.

    Args:
        world: the graph; entities need a main image (a render kind) to be drawn.
        image_fn: world image id → RGB array (default: :func:`~mmsearch_gym.world.render.render`;
            a ``LocalWorldBackend``'s ``image_array`` reads a built world's PNGs).
        composition_weights: how often each composition is drawn (``single``, ``scene``, ``pair``, ``text``).
        categories: FactIP categories to draw from (default all 12 present in the world), each equally often.
        article_text: entity id → article text, to check that a pair's second entity is named on
            the first one's page (default: generated articles).
        render: make the ground-truth picture (False is faster, for studying questions only).
    """

    def __init__(
        self,
        world: World,
        image_fn: Callable[[str], np.ndarray] | None = None,
        composition_weights: dict[str, float] | None = None,
        categories: tuple[str, ...] | None = None,
        article_text: Callable[[str], str] | None = None,
        render: bool = True,
        max_tries: int = 200,
    ):
        weights = dict(DEFAULT_COMPOSITION_WEIGHTS if composition_weights is None else composition_weights)
        if set(weights) - set(COMPOSITIONS) or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"composition_weights must map some of {COMPOSITIONS} to non-negative weights, got {weights!r}")
        self.world, self.weights, self.render, self.max_tries = world, weights, render, max_tries
        if image_fn is None:
            from ...world.render import render as render_image

            image_fn = lambda image_id: render_image(world, image_id)  # noqa: E731
        self.image_fn = image_fn
        self._article_text = article_text
        self._articles: dict[str, str] = {}
        by_cat: dict[str, list[str]] = {}
        for e in world.iter_entities():
            cat = TYPES[e.type].category if e.type in TYPES else e.attributes.get("category")
            if cat and main_image(world, e) is not None:
                by_cat.setdefault(str(cat), []).append(e.id)
        wanted = tuple(categories) if categories is not None else tuple(c for c in FACTIP_CATEGORIES if c in by_cat)
        missing = [c for c in wanted if c not in by_cat]
        if missing or not wanted:
            raise ValueError(
                f"no drawable entity for categories {missing or list(wanted)}; the world has {sorted(by_cat)}"
            )
        self.categories, self.by_category = wanted, by_cat
        self.rejected: Counter[str] = Counter()

    def article(self, entity_id: str) -> str:
        if entity_id not in self._articles:
            if self._article_text is not None:
                self._articles[entity_id] = self._article_text(entity_id)
            else:
                from ...world.articles import make_article

                self._articles[entity_id] = make_article(self.world, entity_id).text
        return self._articles[entity_id]

    def sample(self, rng: np.random.Generator, category: str | None = None, composition: str | None = None) -> GroundedGenTask:
        """One task (category and composition drawn unless given); RuntimeError after ``max_tries`` misses."""
        if composition is not None and composition not in COMPOSITIONS:
            raise ValueError(f"unknown composition {composition!r}; choose from {COMPOSITIONS}")
        for _ in range(self.max_tries):
            cat = category or self.categories[int(rng.integers(len(self.categories)))]
            comp = composition or _weighted(rng, self.weights)
            pool = self.by_category.get(cat)
            if not pool:
                raise ValueError(f"unknown or empty category {cat!r}; choose from {self.categories}")
            task = self._try(rng, cat, comp, self.world.entity(pool[int(rng.integers(len(pool)))]))
            if task is not None:
                return task
        raise RuntimeError(f"no GroundedGen task in {self.max_tries} tries ({dict(self.rejected)})")

    def _subject(self, e: Entity) -> dict[str, Any]:
        info = main_image(self.world, e)
        return {"entity_id": e.id, "name": e.name, "type": e.type, "noun": noun(e), "url": e.url,
                "image_id": info.id, "image_url": info.url, "image_kind": info.kind,
                "visual": visual_attributes(e)}  # fmt: skip

    def _try(self, rng: np.random.Generator, category: str, comp: str, e: Entity) -> GroundedGenTask | None:
        subjects = [self._subject(e)]
        setting = text = label = relation = None
        head = f"Generate an image of {e.name}, the {noun(e)}"
        if comp == "single":
            question = f"{head}, exactly as it officially looks."
        elif comp == "scene":
            setting = sorted(SETTINGS)[int(rng.integers(len(SETTINGS)))]
            question = f"{head}, shown in {setting}."
        elif comp == "text":
            found = text_attribute(e)
            if found is None or not contains_phrase(self.article(e.id), found[1]):
                self.rejected["no_text_attribute"] += 1
                return None
            label, text = found
            question = f"{head}, above a banner that shows its {label} in clear letters."
        else:
            options = []
            for rel, other in self.world.neighbours(e.id):
                if main_image(self.world, other) is not None and contains_phrase(self.article(e.id), other.name):
                    options.append((rel, other))
            if not options:
                self.rejected["no_linked_entity"] += 1
                return None
            rel, other = options[int(rng.integers(len(options)))]
            relation = rel.relation
            subjects.append(self._subject(other))
            question = f"{head}, side by side with {describe_linked(self.world, e, other, rel.relation, rel.head == e.id)}."
        question += " Find out what it looks like and gather reference images before you write the generation prompt."
        key = f"{e.id}|{comp}|{setting}|{text}|{'/'.join(s['entity_id'] for s in subjects)}"
        task = GroundedGenTask(
            task_id="gg-" + hashlib.sha1(key.encode()).hexdigest()[:12], question=question, category=category,
            composition=comp, subjects=subjects, setting=setting, text=text, text_label=label, relation=relation,
            difficulty=DIFFICULTY[comp],
        )  # fmt: skip
        if self.render:
            task.gt_image = ground_truth(task, self.image_fn)
        return task


def ground_truth(task: GroundedGenTask, image_fn: Callable[[str], np.ndarray]) -> np.ndarray:
    """The picture the task asks for: its subjects' gold references composed on the canvas."""
    panels = [image_fn(s["image_id"]) for s in task.subjects]
    return compose(Canvas(panels=panels, setting=task.setting, banner=task.text))


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = sorted(k for k, w in weights.items() if w > 0)
    p = np.array([weights[k] for k in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]
