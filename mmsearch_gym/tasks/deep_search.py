"""DeepSearch task pipeline (OpenSearch-VL, arXiv 2605.05185): path sampling, fuzzy rewriting, visual anchoring.

A task is a relation path ``e0 → e1 → … → en`` of 2–4 hops over a graph of linked
articles (the offline world, or any :class:`~mmsearch_gym.world.World` a user builds from
their own data):

1. **Path sampling.** Each hop follows one edge, either way, to an entity the previous
   entity's article mentions (so the hop can be read off a page) and never revisits one.
2. **Fuzzy entity rewriting.** No entity is named: each is a noun plus fuzzy clues built
   from its attributes (:mod:`.deep_search_clues`), the fewest that single it out among the
   entities the hop leaves open. The question asks for ``en``'s name or one attribute.
3. **Source-anchor visual grounding.** ``e0`` is given only as an image (its render, a
   degraded photo, a small picture inside a cluttered scene, or a photographed card whose
   text must be read; :mod:`.deep_search_anchor`).
4. **Shortcut filters.** A question is dropped when it contains the answer or any path
   entity's name or alias, or when one ``text_search`` of the question collapses the
   search: ``en``'s page in the top ``filter_top_k`` hits, or the answer in the top hit.

Each task is tagged with its hops, the tools it needs and a difficulty: ``meta["difficulty_score"]
= 0.45·(hops−1)/3 + 0.35·(anchor perception difficulty) + 0.2·(clues per hop / 2, at most 1)``,
binned at 0.45 and 0.65 (about the terciles on the default world) into easy, medium and hard.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..world.model import Entity, Relation, World
from ..world.schema import RELATIONS
from .deep_search_clues import Clue, GraphView, describe, disambiguating_clues

ORDINALS = ("first", "second", "third", "fourth", "fifth")
DEFAULT_ANCHOR_WEIGHTS = {"photo": 0.35, "document": 0.3, "scene": 0.25, "render": 0.1}
ANSWER_KINDS = ("name", "attribute")


@dataclass
class DeepSearchTask:
    """One question. ``answers[0]`` is the canonical answer, the rest accepted variants (aliases, units).

    Generated tasks also carry the gold ``path`` (entity id, name, type, url per entity),
    the ``relations`` between them, the clues used, the asked attribute and the anchor
    (kind, bounding box, printed text): the oracle agent and the search-quality reward
    read them. Tasks loaded from a real dataset may have only ``task_id``, ``question``,
    ``answers`` and ``image_paths``.
    """

    task_id: str
    question: str
    answers: list[str]
    image: np.ndarray | None = None
    hops: int = 0
    path: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, str]] = field(default_factory=list)
    clues: list[list[str]] = field(default_factory=list)
    asked: str = "name"  # "name" or the attribute key
    asked_label: str = ""
    anchor: dict[str, Any] = field(default_factory=dict)
    required_tools: list[str] = field(default_factory=list)
    difficulty: str = "medium"
    image_paths: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def evidence_urls(self) -> list[str]:
        """The pages of the gold path (what good evidence looks like)."""
        return [p["url"] for p in self.path if p.get("url")]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe fields (the image is written separately, see :mod:`.deep_search_data`)."""
        d = asdict(self)
        d.pop("image")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], image: np.ndarray | None = None) -> DeepSearchTask:
        missing = [k for k in ("task_id", "question", "answers") if k not in d]
        if missing:
            raise ValueError(f"a DeepSearch task needs {', '.join(missing)}; got keys {sorted(d)}")
        answers = d["answers"]
        if isinstance(answers, str):
            answers = [answers]
        if not answers or not all(isinstance(a, str) and a.strip() for a in answers):
            raise ValueError(f"task {d['task_id']!r}: answers must be a non-empty list of strings, got {answers!r}")
        known = {f for f in cls.__dataclass_fields__ if f != "image"}
        extra = {k: v for k, v in d.items() if k not in known}
        fields_ = {k: v for k, v in d.items() if k in known}
        fields_["answers"] = list(answers)
        fields_["meta"] = {**fields_.get("meta", {}), **extra}
        return cls(image=image, **fields_)


def normalize(text: str) -> str:
    """Casefolded words (punctuation as spaces) for leak checks."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` on word boundaries, after :func:`normalize`."""
    p = normalize(phrase)
    return bool(p) and f" {p} " in f" {normalize(text)} "


def relation_phrase(world: World, rel: Relation) -> str:
    """The relation as a sentence template with ``{h}`` and ``{t}`` (generic for unknown schemas)."""
    spec = RELATIONS.get(f"{rel.relation}:{world.entity(rel.head).type}")
    return spec.phrase if spec else "{h} is linked to {t} as " + rel.relation.replace("_", " ")


class TaskSampler:
    """Samples DeepSearch tasks from a world.

    Args:
        world: the graph (entities with attributes, relations, images).
        backend: a search backend over the same world, for the one-search shortcut filter
            and for article texts and images (``LocalWorldBackend``); None skips that filter.
        min_hops, max_hops: path length range (OpenSearch-VL: 2–4).
        anchor_weights: how often each anchor kind is drawn (kinds an entity cannot have
            are skipped): ``photo``, ``document``, ``scene``, ``render``.
        answer_weights: how often the answer is the last entity's ``name`` or an ``attribute``.
        max_clues: most clues per entity; filter_top_k: hits checked by the shortcut filter.
        article_text: entity id → article text (default: the backend's articles, else generated).
        max_tries: paths tried per task before giving up.
    """

    def __init__(
        self,
        world: World,
        backend: Any = None,
        min_hops: int = 2,
        max_hops: int = 4,
        anchor_weights: dict[str, float] | None = None,
        answer_weights: dict[str, float] | None = None,
        max_clues: int = 3,
        filter_top_k: int = 5,
        article_text: Callable[[str], str] | None = None,
        max_tries: int = 200,
    ):
        from .deep_search_anchor import ANCHOR_KINDS

        if not 1 <= min_hops <= max_hops <= 8:
            raise ValueError(f"need 1 <= min_hops <= max_hops <= 8, got {min_hops} and {max_hops}")
        weights = dict(DEFAULT_ANCHOR_WEIGHTS if anchor_weights is None else anchor_weights)
        bad = set(weights) - set(ANCHOR_KINDS)
        if bad or not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"anchor_weights must map some of {ANCHOR_KINDS} to non-negative weights, got {weights!r}")
        answers = dict(answer_weights or {"name": 0.35, "attribute": 0.65})
        if set(answers) - set(ANSWER_KINDS) or sum(answers.values()) <= 0:
            raise ValueError(f"answer_weights must map some of {ANSWER_KINDS} to weights, got {answers!r}")
        if not 1 <= max_clues <= 6 or filter_top_k < 1:
            raise ValueError("max_clues must be in 1..6 and filter_top_k >= 1")
        self.world, self.backend, self.view = world, backend, GraphView(world)
        self.min_hops, self.max_hops, self.max_clues, self.filter_top_k = min_hops, max_hops, max_clues, filter_top_k
        self.anchor_weights, self.answer_weights, self.max_tries = weights, answers, max_tries
        self._article_text = article_text
        self._article_cache: dict[str, str] = {}
        self._anchors = [e.id for e in world.iter_entities() if world.images_of(e.id)]
        if not self._anchors:
            raise ValueError("the world has no entity with an image to anchor a question on")
        self.rejected: Counter[str] = Counter()  # why sampled candidates were dropped

    # ---- articles -----------------------------------------------------------------------
    def article(self, entity_id: str) -> str:
        if entity_id not in self._article_cache:
            if self._article_text is not None:
                text = self._article_text(entity_id)
            elif self.backend is not None and hasattr(self.backend, "articles"):
                text = self.backend.articles[entity_id].text
            else:
                from ..world.articles import make_article

                text = make_article(self.world, entity_id).text
            self._article_cache[entity_id] = text
        return self._article_cache[entity_id]

    # ---- sampling -------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, render: bool = True) -> DeepSearchTask:
        """One task that passed every filter (raises RuntimeError after ``max_tries`` rejections).

        ``render=False`` skips making the anchor image (fast: for studying questions only).
        """
        for _ in range(self.max_tries):
            task = self._try(rng, render)
            if task is not None:
                return task
        raise RuntimeError(
            f"no DeepSearch task passed the filters in {self.max_tries} tries ({dict(self.rejected)}); "
            "the graph may be too small or too sparse for the requested hops"
        )

    def _try(self, rng: np.random.Generator, render: bool) -> DeepSearchTask | None:
        w = self.world
        hops = int(rng.integers(self.min_hops, self.max_hops + 1))
        answer_kind = _weighted(rng, self.answer_weights)
        path = [w.entity(self._anchors[int(rng.integers(len(self._anchors)))])]
        steps: list[tuple[Relation, str, list[Clue]]] = []
        for hop in range(hops):
            step = self._hop(path, rng, last=hop == hops - 1, answer_kind=answer_kind)
            if step is None:
                self.rejected["dead_end"] += 1
                return None
            rel, direction, nxt, clues = step
            path.append(nxt)
            steps.append((rel, direction, clues))
        asked = None
        if answer_kind == "attribute":
            used = {c.key for c in steps[-1][2]}
            options = [a for a in self.view.attributes(path[-1]) if a.key not in used and a.kind != "colours"]
            options = [a for a in options if contains_phrase(self.article(path[-1].id), a.text)]
            if not options:
                self.rejected["no_attribute"] += 1
                return None
            asked = options[int(rng.integers(len(options)))]
        from .deep_search_anchor import anchor_kinds_for

        possible = [k for k in anchor_kinds_for(w, path[0].id) if self.anchor_weights.get(k, 0) > 0]
        if not possible:
            self.rejected["no_anchor"] += 1
            return None
        kind = _weighted(rng, {k: self.anchor_weights[k] for k in possible})
        question = self._question(path, steps, kind, asked)
        if asked is None:
            answers = [path[-1].name, *path[-1].aliases]
        else:
            answers = [asked.text] + ([str(asked.value)] if str(asked.value) != asked.text else [])
        reason = self._shortcut(question, path, answers)
        if reason:
            self.rejected[reason] += 1
            return None
        return self._finish(rng, path, steps, kind, asked, question, answers, render)

    def _hop(
        self, path: list[Entity], rng: np.random.Generator, last: bool, answer_kind: str
    ) -> tuple[Relation, str, Entity, list[Clue]] | None:
        w, prev = self.world, path[-1]
        seen = {e.id for e in path}
        text = self.article(prev.id)
        edges = [
            (rel, other) for rel, other in w.neighbours(prev.id)
            if other.id not in seen and contains_phrase(text, other.name)
        ]  # fmt: skip
        for i in rng.permutation(len(edges)):
            rel, nxt = edges[int(i)]
            direction = "out" if rel.head == prev.id else "in"
            rivals = [o for r, o in w.neighbours(prev.id, rel.relation, direction) if o.type == nxt.type]
            clues = disambiguating_clues(self.view, nxt, rivals, rng, max_clues=self.max_clues)
            if clues is not None and (not last or answer_kind == "name" or len(self.view.attributes(nxt)) > len(clues)):
                return rel, direction, nxt, clues
        return None

    def _question(
        self, path: list[Entity], steps: list[tuple[Relation, str, list[Clue]]], kind: str, asked: Any
    ) -> str:
        nouns = [self.view.noun(e) for e in path]
        repeated = {n for n, c in Counter(nouns).items() if c > 1}
        order = [nouns[: i + 1].count(n) for i, n in enumerate(nouns)]

        def ref(i: int) -> str:
            return f"the {ORDINALS[order[i] - 1]} {nouns[i]}" if nouns[i] in repeated else f"that {nouns[i]}"

        def intro(i: int, clues: list[Clue]) -> str:
            return describe(nouns[i], clues, "another" if order[i] > 1 else "a")

        first = nouns[0]
        a_first = describe(first, [])
        opening = {
            "render": f"The image shows {a_first}.",
            "photo": f"The photo shows {a_first}.",
            "scene": f"Somewhere in the picture is a small image of {a_first}.",
            "document": f"The photo shows a printed card about {a_first}.",
        }[kind]
        sentences = [opening]
        for i, (rel, direction, clues) in enumerate(steps, start=1):
            template = relation_phrase(self.world, rel)
            prev_ref = ref(i - 1) if i > 1 else (f"the {first}" if first not in repeated else f"the first {first}")
            h, t = (prev_ref, intro(i, clues)) if direction == "out" else (intro(i, clues), prev_ref)
            sentence = template.format(h=h, t=t)
            sentences.append(sentence[:1].upper() + sentence[1:] + ".")
        last = ref(len(path) - 1)
        if asked is None:
            sentences.append(f"What is the name of {last}?")
        else:
            sentences.append(f"What is the {asked.label} of {last}?")
        return " ".join(sentences)

    def _shortcut(self, question: str, path: list[Entity], answers: list[str]) -> str | None:
        if any(contains_phrase(question, a) for a in answers):
            return "contains_answer"
        if any(contains_phrase(question, n) for e in path for n in (e.name, *e.aliases)):
            return "leaks_entity"
        if self.backend is None:
            return None
        hits = self.backend.text_search(question, self.filter_top_k)
        if any(h.url == path[-1].url for h in hits):
            return "one_search_finds_page"
        if hits and any(contains_phrase(f"{hits[0].title} {hits[0].snippet}", a) for a in answers):
            return "one_search_finds_answer"
        return None

    def _finish(
        self,
        rng: np.random.Generator,
        path: list[Entity],
        steps: list[tuple[Relation, str, list[Clue]]],
        kind: str,
        asked: Any,
        question: str,
        answers: list[str],
        render: bool,
    ) -> DeepSearchTask:
        from .deep_search_anchor import Anchor, make_anchor

        if render:
            image_array = getattr(self.backend, "image_array", None)
            anchor = make_anchor(self.world, path[0].id, kind, rng, image_array=image_array)
        else:
            anchor = Anchor(None, kind, path[0].id, None, None, None, (), 0.5)  # type: ignore[arg-type]
        required = list(dict.fromkeys([*anchor.required_tools, "text_search", "visit"]))
        n_clues = sum(len(c) for _, _, c in steps)
        score = 0.45 * (len(steps) - 1) / 3 + 0.35 * anchor.difficulty + 0.2 * min(n_clues / (2 * len(steps)), 1.0)
        # thresholds near the terciles of the default world's tasks
        difficulty = "easy" if score < 0.45 else "medium" if score < 0.65 else "hard"
        digest = hashlib.sha1(f"{question}|{answers[0]}|{kind}".encode()).hexdigest()[:10]
        return DeepSearchTask(
            task_id=f"ds-{len(steps)}hop-{kind}-{digest}",
            question=question,
            answers=answers,
            image=anchor.image,
            hops=len(steps),
            path=[{"id": e.id, "name": e.name, "aliases": list(e.aliases), "type": e.type, "url": e.url} for e in path],
            relations=[{"relation": r.relation, "direction": d} for r, d, _ in steps],
            clues=[[c.phrase for c in cl] for _, _, cl in steps],
            asked="name" if asked is None else asked.key,
            asked_label="name" if asked is None else asked.label,
            anchor={
                "kind": kind,
                "source_image_id": anchor.source_image_id,
                "bbox": list(anchor.bbox) if anchor.bbox else None,
                "text": anchor.text,
                "difficulty": round(float(anchor.difficulty), 3),
            },
            required_tools=required,
            difficulty=difficulty,
            meta={"difficulty_score": round(score, 3)},
        )


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def task_leaks(task: DeepSearchTask) -> list[str]:
    """Names, aliases or answers of ``task`` that its question reveals (empty when none)."""
    leaks = [a for a in task.answers if contains_phrase(task.question, a)]
    for p in task.path:
        leaks += [n for n in [p["name"], *p.get("aliases", [])] if contains_phrase(task.question, n)]
    return leaks


__all__: Sequence[str] = (
    "ANSWER_KINDS",
    "DEFAULT_ANCHOR_WEIGHTS",
    "DeepSearchTask",
    "TaskSampler",
    "contains_phrase",
    "normalize",
    "relation_phrase",
    "task_leaks",
)
