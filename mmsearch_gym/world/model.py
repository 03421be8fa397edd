"""The world's data model and graph API: entities, typed relations, images and articles.

A :class:`World` is plain data (JSON round-trips exactly) plus indexes for graph walks.
Task pipelines (e.g. DeepSearch's multi-hop path sampling) use :meth:`World.neighbours`,
:meth:`World.images_of`, :meth:`World.unique_attributes` and :meth:`World.near_duplicates`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .schema import TYPES, rel_spec

URL_PREFIX = "https://world.invalid/wiki/"
IMAGE_URL_PREFIX = "https://world.invalid/img/"


def slugify(name: str) -> str:
    """URL slug of a title: ``"Order of the Key"`` → ``"Order_of_the_Key"``."""
    text = unicodedata.normalize("NFKC", name).strip()
    return re.sub(r"[^\w\-.,'()]+", "_", text).strip("_")


@dataclass(frozen=True)
class Entity:
    """One node: ``attributes`` maps attribute keys (see :mod:`.schema`) to JSON values."""

    id: str
    type: str
    name: str
    aliases: tuple[str, ...]
    attributes: dict[str, Any]

    @property
    def category(self) -> str | None:
        """The FactIP category (``None`` for cities, countries, organisations)."""
        return TYPES[self.type].category

    @property
    def url(self) -> str:
        return URL_PREFIX + slugify(self.name)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "aliases": list(self.aliases),
            "attributes": self.attributes,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Entity:
        return cls(d["id"], d["type"], d["name"], tuple(d["aliases"]), dict(d["attributes"]))


@dataclass(frozen=True)
class Relation:
    """A typed edge ``head --relation--> tail`` (entity ids)."""

    head: str
    relation: str
    tail: str


@dataclass(frozen=True)
class ImageInfo:
    """An image of an entity.

    ``kind`` is the main render (flag, coat_of_arms, logo, poster, portrait, landmark,
    figure, object, painting, cover), a document with printed ``text`` (sign, plaque, label,
    ticket, menu, letterhead) or a ``photo``: a degraded shot of image ``source`` with the
    parameters in ``degradation``. ``indexed`` images are the ones reverse search can find.
    """

    id: str
    entity_id: str
    kind: str
    caption: str
    indexed: bool
    source: str | None = None
    degradation: dict[str, float] | None = None
    text: str | None = None

    @property
    def url(self) -> str:
        return f"{IMAGE_URL_PREFIX}{self.id}.png"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Article:
    """An encyclopedia page: ``doc_id`` is the entity id; ``infobox`` lines come before ``body``."""

    doc_id: str
    title: str
    url: str
    aliases: tuple[str, ...]
    infobox: tuple[tuple[str, str], ...]
    body: str

    @property
    def text(self) -> str:
        """The page as plain text, as ``visit`` shows it."""
        box = "\n".join(f"{k}: {v}" for k, v in self.infobox)
        aka = f"Also known as: {', '.join(self.aliases)}\n" if self.aliases else ""
        return f"{self.title}\n{aka}{box}\n\n{self.body}"

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "url": self.url,
            "aliases": list(self.aliases),
            "infobox": [list(kv) for kv in self.infobox],
            "body": self.body,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Article:
        return cls(
            d["doc_id"], d["title"], d["url"], tuple(d["aliases"]), tuple((k, v) for k, v in d["infobox"]), d["body"]
        )


@dataclass
class World:
    """A generated world: entities, relations and images, with lookup and graph indexes."""

    seed: int
    entities: dict[str, Entity]
    relations: list[Relation]
    images: dict[str, ImageInfo]
    near_duplicate_pairs: list[tuple[str, str]] = field(default_factory=list)
    _out: dict[str, list[Relation]] = field(default_factory=dict, init=False, repr=False)
    _in: dict[str, list[Relation]] = field(default_factory=dict, init=False, repr=False)
    _names: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _slugs: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _images_by_entity: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _dups: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        out, inc, by_entity, dups = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(list)
        for rel in self.relations:
            out[rel.head].append(rel)
            inc[rel.tail].append(rel)
        for img in self.images.values():
            by_entity[img.entity_id].append(img.id)
        for a, b in self.near_duplicate_pairs:
            dups[a].append(b)
            dups[b].append(a)
        self._out, self._in, self._images_by_entity, self._dups = dict(out), dict(inc), dict(by_entity), dict(dups)
        self._names = {_key(e.name): e.id for e in self.entities.values()}
        for e in self.entities.values():
            for alias in e.aliases:
                self._names.setdefault(_key(alias), e.id)
        self._slugs = {slugify(e.name).casefold(): e.id for e in self.entities.values()}

    # ---- lookup -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entities)

    def entity(self, entity_id: str) -> Entity:
        return self.entities[entity_id]

    def find(self, name: str) -> Entity | None:
        """The entity called ``name`` or having it as an alias (case-insensitive), else None."""
        entity_id = self._names.get(_key(name))
        return self.entities[entity_id] if entity_id else None

    def entity_for_url(self, url: str) -> Entity | None:
        """The entity of an article url (scheme, case and trailing slash forgiven), else None."""
        text = url.strip()
        for prefix in (URL_PREFIX, URL_PREFIX.replace("https://", "http://"), "world.invalid/wiki/"):
            if text.lower().startswith(prefix.lower()):
                text = text[len(prefix) :]
                break
        else:
            return None
        entity_id = self._slugs.get(slugify(text.rstrip("/").replace("%20", " ")).casefold())
        return self.entities[entity_id] if entity_id else None

    def of_type(self, entity_type: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.type == entity_type]

    # ---- graph ----------------------------------------------------------------------------------
    def relations_of(self, entity_id: str, direction: str = "both") -> list[Relation]:
        """Edges touching ``entity_id``: ``"out"`` (it is the head), ``"in"`` or ``"both"``."""
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction must be 'out', 'in' or 'both', got {direction!r}")
        out = self._out.get(entity_id, []) if direction != "in" else []
        inc = self._in.get(entity_id, []) if direction != "out" else []
        return [*out, *inc]

    def neighbours(
        self, entity_id: str, relation: str | None = None, direction: str = "both"
    ) -> list[tuple[Relation, Entity]]:
        """``(edge, other entity)`` pairs around ``entity_id``, optionally of one relation name."""
        pairs = []
        for rel in self.relations_of(entity_id, direction):
            if relation is None or rel.relation == relation:
                other = rel.tail if rel.head == entity_id else rel.head
                pairs.append((rel, self.entities[other]))
        return pairs

    def describe_relation(self, rel: Relation) -> str:
        """The edge as an English sentence (``"X was born in Y"``)."""
        head, tail = self.entities[rel.head], self.entities[rel.tail]
        return rel_spec(rel.relation, head.type).phrase.format(h=head.name, t=tail.name)

    def is_connected(self) -> bool:
        """Whether every entity is reachable from the first one (edges taken both ways)."""
        if not self.entities:
            return True
        start = next(iter(self.entities))
        seen, stack = {start}, [start]
        while stack:
            for _, other in self.neighbours(stack.pop()):
                if other.id not in seen:
                    seen.add(other.id)
                    stack.append(other.id)
        return len(seen) == len(self.entities)

    def near_duplicates(self, entity_id: str) -> list[Entity]:
        """Other entities whose names are near duplicates of this one's (distractors)."""
        return [self.entities[i] for i in self._dups.get(entity_id, [])]

    def unique_attributes(self, entity_id: str) -> dict[str, Any]:
        """Attributes of ``entity_id`` whose value no other entity has."""
        e = self.entities[entity_id]
        return {a.key: e.attributes[a.key] for a in TYPES[e.type].attrs if a.unique and a.key in e.attributes}

    # ---- images ---------------------------------------------------------------------------------
    def images_of(self, entity_id: str, kind: str | None = None) -> list[ImageInfo]:
        """Images of an entity (main render first, then documents, then photos)."""
        infos = [self.images[i] for i in self._images_by_entity.get(entity_id, [])]
        return [i for i in infos if kind is None or i.kind == kind]

    def image_for_url(self, url: str) -> ImageInfo | None:
        text = url.strip()
        name = text.rsplit("/", 1)[-1].removesuffix(".png")
        if "world.invalid/img/" not in text.lower() and text != name:
            return None
        return self.images.get(name)

    def iter_entities(self) -> Iterator[Entity]:
        return iter(self.entities.values())


def _key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())
