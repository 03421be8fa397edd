"""The world generator: a seeded, connected graph of fictional entities with attributes and images.

Everything is a function of ``(n_entities, seed)``: one ``random.Random`` stream per
purpose, seeded by strings (stable across Python versions and platforms), no clocks.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from rich.progress import Progress

from . import names as N
from . import vocab as V
from .articles import caption, document_text
from .degrade import photo_degradation
from .model import Entity, ImageInfo, Relation, World
from .schema import TYPE_ORDER, TYPES, min_entities, relations_from, type_counts

NEAR_DUPLICATE_RATE = 0.08  # share of entities named as a near duplicate of an earlier one
PHOTOS_PER_ENTITY = 1


def _date(rng: random.Random, lo: int, hi: int) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(V.MONTHS)} {rng.randint(lo, hi)}"


def _colours(rng: random.Random) -> list[str]:
    return rng.sample(sorted(V.COLOURS), rng.choice((2, 2, 3)))


# attribute key -> value generator (rng, attributes so far)
_VALUES: dict[str, Callable[[random.Random, dict[str, Any]], Any]] = {
    "iso_code": lambda r, a: N.code(r, 3, 0),
    "motto": lambda r, a: N.phrase(r),
    "founded_year": lambda r, a: r.randint(600, 1950),
    "population": lambda r, a: r.randint(800, 9_000_000),
    "area_km2": lambda r, a: r.randint(40, 900_000),
    "currency": lambda r, a: f"{N.word(r, 1).lower()} {r.choice(V.CURRENCY_WORDS)}",
    "flag_colours": lambda r, a: _colours(r),
    "colours": lambda r, a: _colours(r),
    "postal_code": lambda r, a: N.code(r, 2, 4),
    "elevation_m": lambda r, a: r.randint(0, 3200),
    "nickname": lambda r, a: f"the City of {r.choice(V.NOUNS).title()}s",
    "shape": lambda r, a: r.choice(V.SHAPES),
    "birth_date": lambda r, a: _date(r, 1700, 1995),
    "occupation": lambda r, a: r.choice(V.OCCUPATIONS),
    "height_cm": lambda r, a: r.randint(20, 210) if "medium" in a else r.randint(150, 200),
    "colour": lambda r, a: r.choice(sorted(V.COLOURS)),
    "registry_code": lambda r, a: N.code(r, 3, 5),
    "slogan": lambda r, a: N.phrase(r),
    "employees": lambda r, a: r.randint(5, 250_000),
    "height_m": lambda r, a: round(r.uniform(8, 420), 1),
    "inscription": lambda r, a: N.phrase(r),
    "completed_year": lambda r, a: r.randint(900, 2015),
    "kind": lambda r, a: r.choice(V.LANDMARK_KINDS),
    "material": lambda r, a: r.choice(sorted(V.MATERIALS)),
    "style": lambda r, a: r.choice(V.ARCH_STYLES),
    "visitors": lambda r, a: r.randint(1_000, 9_000_000),
    "epithet": lambda r, a: N.epithet(r),
    "domain": lambda r, a: r.choice(V.DOMAINS),
    "sacred_number": lambda r, a: r.randint(2, 99),
    "creature": lambda r, a: r.choice(V.CREATURES),
    "first_held_date": lambda r, a: _date(r, 1100, 2005),
    "month": lambda r, a: r.choice(V.MONTHS),
    "duration_days": lambda r, a: r.randint(1, 21),
    "attendance": lambda r, a: r.randint(500, 2_000_000),
    "binomial": lambda r, a: f"{N.word(r, 2)} {N.word(r, 2).lower()}{r.choice(['i', 'ae', 'us', 'is', 'ensis'])}",
    "length_cm": lambda r, a: r.randint(2, 900),
    "lifespan_years": lambda r, a: r.randint(1, 120),
    "habitat": lambda r, a: r.choice(V.HABITATS),
    "status": lambda r, a: r.choice(V.STATUSES),
    "house_name": lambda r, a: N.epithet(r)[4:].lower(),
    "ingredient": lambda r, a: r.choice(V.INGREDIENTS),
    "dish": lambda r, a: r.choice(V.DISHES),
    "first_recorded": lambda r, a: r.randint(1200, 1990),
    "catalogue_number": lambda r, a: "INV" + N.code(r, 0, 5),
    "year": lambda r, a: r.randint(1300, 2010),
    "medium": lambda r, a: r.choice(V.ART_MEDIA),
    "width_cm": lambda r, a: r.randint(15, 600),
    "accession_number": lambda r, a: N.code(r, 2, 5),
    "century": lambda r, a: r.randint(3, 18),
    "weight_g": lambda r, a: r.randint(20, 40_000),
    "model_number": lambda r, a: N.code(r, 2, 3) + N.code(r, 1, 0),
    "release_year": lambda r, a: r.randint(1880, 2020),
    "price": lambda r, a: r.randint(1, 400),
    "release_date": lambda r, a: _date(r, 1975, 2022),
    "genre": lambda r, a: r.choice(V.GENRES),
    "players": lambda r, a: r.randint(1, 8),
    "first_issue_date": lambda r, a: _date(r, 1890, 2020),
    "issues": lambda r, a: r.randint(4, 900),
    "premiere_date": lambda r, a: _date(r, 1925, 2022),
    "episodes": lambda r, a: r.randint(6, 700),
    "seasons": lambda r, a: r.randint(1, 30),
    "catchphrase": lambda r, a: N.phrase(r) + "!",
    "first_appearance": lambda r, a: r.randint(1900, 2022),
    "introduced_year": lambda r, a: r.randint(1900, 2022),
    "death_year": lambda r, a: None,
}
# kinds of object for relics and toys (landmarks draw from LANDMARK_KINDS above)
_KIND_CHOICES = {"relic": V.RELIC_KINDS, "toy": V.TOY_KINDS}


class _Unique:
    """Taken values per namespace; ``draw`` retries a generator until it gives a fresh value."""

    def __init__(self) -> None:
        self.taken: dict[str, set[str]] = {}

    def draw(self, space: str, make: Callable[..., Any], *args: Any, tries: int = 200) -> Any:
        taken = self.taken.setdefault(space, set())
        for _ in range(tries):
            value = make(*args)
            if str(value).casefold() not in taken:
                taken.add(str(value).casefold())
                return value
        raise RuntimeError(f"could not draw a unique {space} after {tries} tries")

    def claim(self, space: str, value: str) -> bool:
        taken = self.taken.setdefault(space, set())
        if value.casefold() in taken:
            return False
        taken.add(value.casefold())
        return True


def _attributes(rng: random.Random, entity_type: str, unique: _Unique) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for spec in TYPES[entity_type].attrs:
        if spec.key == "kind" and entity_type in _KIND_CHOICES:
            attrs["kind"] = rng.choice(_KIND_CHOICES[entity_type])
            continue
        make = _VALUES[spec.key]
        if spec.unique:
            attrs[spec.key] = unique.draw("attr:" + spec.key, make, rng, attrs)
        elif spec.key == "death_year":
            born = int(attrs["birth_date"].rsplit(" ", 1)[1])
            if born < 1935:
                attrs["death_year"] = born + rng.randint(30, 95)
        else:
            attrs[spec.key] = make(rng, attrs)
    return attrs


def _pick(rng: random.Random, pool: list[str]) -> str:
    """Mildly preferential choice: early (older) entities become hubs."""
    return pool[int(len(pool) * rng.random() ** 1.6)]


def generate_world(n_entities: int, seed: int = 0, progress: bool = False) -> World:
    """Generate a world of ``n_entities`` entities from ``seed`` (deterministic)."""
    if isinstance(n_entities, bool) or not isinstance(n_entities, int) or n_entities < min_entities():
        raise ValueError(f"n_entities must be an integer >= {min_entities()}, got {n_entities!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    rng = random.Random(f"mmsearch-world:{seed}:graph")
    unique = _Unique()
    counts = type_counts(n_entities)
    entities: dict[str, Entity] = {}
    by_type: dict[str, list[str]] = {t: [] for t in TYPE_ORDER}
    relations: list[Relation] = []
    dup_pairs: list[tuple[str, str]] = []
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("entities", total=n_entities)
        for entity_type in TYPE_ORDER:
            for _ in range(counts[entity_type]):
                entity_id = f"e{len(entities):06d}"
                attrs = _attributes(rng, entity_type, unique)
                name, twin = _name(rng, entity_type, attrs, by_type[entity_type], entities, unique)
                if twin:
                    dup_pairs.append((twin, entity_id))
                alias_list = [a for a in N.aliases(rng, entity_type, name, attrs) if unique.claim("name", a)]
                entities[entity_id] = Entity(entity_id, entity_type, name, tuple(alias_list), attrs)
                relations.extend(_required_relations(rng, entity_id, entity_type, by_type))
                by_type[entity_type].append(entity_id)
                bar.advance(task)
    relations.extend(_extra_relations(rng, by_type, relations))
    images = _image_specs(seed, entities)
    return World(seed=seed, entities=entities, relations=relations, images=images, near_duplicate_pairs=dup_pairs)


def _name(
    rng: random.Random,
    entity_type: str,
    attrs: dict[str, Any],
    same_type: list[str],
    entities: dict[str, Entity],
    unique: _Unique,
) -> tuple[str, str | None]:
    if same_type and rng.random() < NEAR_DUPLICATE_RATE:
        twin = entities[rng.choice(same_type)]
        for _ in range(10):
            candidate = N.mutate(rng, twin.name, last_word=entity_type == "person")
            if candidate != twin.name and unique.claim("name", candidate):
                return candidate, twin.id
    return unique.draw("name", N.entity_name, rng, entity_type, attrs), None


def _required_relations(
    rng: random.Random, entity_id: str, entity_type: str, by_type: dict[str, list[str]]
) -> list[Relation]:
    rels = []
    for spec in relations_from(entity_type):
        if spec.name in ("member_of", "twinned_with", "capital_of"):
            continue
        pools = [t for t in spec.tails if by_type[t]]
        if not pools or (not spec.required and rng.random() < 0.5):
            continue
        tail = _pick(rng, by_type[rng.choice(pools)])
        rels.append(Relation(entity_id, spec.name, tail))
    return rels


def _extra_relations(rng: random.Random, by_type: dict[str, list[str]], required: list[Relation]) -> list[Relation]:
    """Edges added once everything exists: capitals, twin cities, memberships (cycles and hubs)."""
    rels: list[Relation] = []
    capital_of: dict[str, str] = {}
    countries = set(by_type["country"])
    for rel in required:
        if rel.relation == "located_in" and rel.tail in countries:
            capital_of.setdefault(rel.tail, rel.head)
    rels.extend(Relation(city, "capital_of", country) for country, city in capital_of.items())
    cities = by_type["city"]
    for city in cities:
        if len(cities) > 1 and rng.random() < 0.2:
            other = _pick(rng, cities)
            if other != city:
                rels.append(Relation(city, "twinned_with", other))
    for person in by_type["person"]:
        if by_type["organisation"] and rng.random() < 0.3:
            rels.append(Relation(person, "member_of", _pick(rng, by_type["organisation"])))
    return rels


def _image_specs(seed: int, entities: dict[str, Entity]) -> dict[str, ImageInfo]:
    """What each entity's images show: its main render, a document for some types, degraded photos."""
    rng = random.Random(f"mmsearch-world:{seed}:images")
    images: dict[str, ImageInfo] = {}

    def add(info_kwargs: dict[str, Any]) -> str:
        image_id = f"i{len(images):07d}"
        images[image_id] = ImageInfo(id=image_id, **info_kwargs)
        return image_id

    for e in entities.values():
        spec = TYPES[e.type]
        main = add(
            {"entity_id": e.id, "kind": spec.image_kind, "caption": caption(e, spec.image_kind), "indexed": True}
        )
        doc = None
        if spec.document_kind is not None:
            doc = add(
                {
                    "entity_id": e.id,
                    "kind": spec.document_kind,
                    "caption": caption(e, spec.document_kind),
                    "indexed": True,
                    "text": document_text(e, spec.document_kind),
                }
            )
        for _ in range(PHOTOS_PER_ENTITY):
            source = main if doc is None or rng.random() < 0.75 else doc
            add(
                {
                    "entity_id": e.id,
                    "kind": "photo",
                    "caption": f"A photograph of {e.name}",
                    "indexed": False,
                    "source": source,
                    "degradation": photo_degradation(rng),
                }
            )
    return images
