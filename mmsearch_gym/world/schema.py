"""The world's schema: entity types (with their FactIP category), attributes and typed relations.

Entities are generated type by type in :data:`TYPE_ORDER`; each new entity gets its
``required`` relations to entities made before it, so the graph is connected by
construction. ``unique`` attributes have a value no other entity shares (one per entity
at least): a question can pin an entity down by one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# FactIP's 12 categories (Gen-Searcher, arXiv 2603.28767)
FACTIP_CATEGORIES = (
    "animation",
    "comic",
    "celebrity",
    "game",
    "mascot",
    "mythology",
    "food",
    "relic/art",
    "toy",
    "animal/plant",
    "landmark",
    "festival",
)


@dataclass(frozen=True)
class AttrSpec:
    """One attribute: ``kind`` is date, year, number, colour, colours, material, shape or text."""

    key: str
    label: str
    kind: str
    unit: str = ""
    unique: bool = False


@dataclass(frozen=True)
class TypeSpec:
    """An entity type: its noun in prose, FactIP category, main image kind and attributes."""

    name: str
    noun: str
    category: str | None
    image_kind: str
    document_kind: str | None
    share: float  # fraction of a world's entities
    attrs: tuple[AttrSpec, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RelSpec:
    """A typed relation ``head --name--> tail`` and how prose says it both ways."""

    name: str
    head: str
    tails: tuple[str, ...]
    phrase: str  # "{head} was born in {tail}"
    inverse: str  # "{tail} is the birthplace of {head}"
    required: bool = True


def _a(key: str, label: str, kind: str, unit: str = "", unique: bool = False) -> AttrSpec:
    return AttrSpec(key, label, kind, unit, unique)


# fmt: off
TYPES: dict[str, TypeSpec] = {t.name: t for t in [
    TypeSpec("country", "country", None, "flag", None, 0.02, (
        _a("iso_code", "ISO code", "text", unique=True), _a("motto", "motto", "text", unique=True),
        _a("founded_year", "year of founding", "year"), _a("population", "population", "number"),
        _a("area_km2", "area", "number", "km²"), _a("currency", "currency", "text"),
        _a("flag_colours", "flag colours", "colours"))),
    TypeSpec("city", "city", None, "coat_of_arms", "sign", 0.1, (
        _a("postal_code", "postal code", "text", unique=True), _a("founded_year", "year of founding", "year"),
        _a("population", "population", "number"), _a("elevation_m", "elevation", "number", "m"),
        _a("nickname", "nickname", "text"), _a("colours", "civic colours", "colours"),
        _a("shape", "emblem", "shape"))),
    TypeSpec("person", "person", "celebrity", "portrait", None, 0.17, (
        _a("birth_date", "date of birth", "date", unique=True), _a("occupation", "occupation", "text"),
        _a("height_cm", "height", "number", "cm"), _a("death_year", "year of death", "year"),
        _a("colour", "signature colour", "colour"))),
    TypeSpec("organisation", "organisation", None, "logo", "letterhead", 0.08, (
        _a("registry_code", "registry code", "text", unique=True), _a("slogan", "slogan", "text", unique=True),
        _a("founded_year", "year of founding", "year"), _a("employees", "employees", "number"),
        _a("colours", "logo colours", "colours"), _a("shape", "logo shape", "shape"))),
    TypeSpec("landmark", "landmark", "landmark", "landmark", "plaque", 0.07, (
        _a("inscription", "inscription", "text", unique=True), _a("height_m", "height", "number", "m"),
        _a("completed_year", "year of completion", "year"), _a("kind", "kind", "text"),
        _a("material", "material", "material"), _a("style", "style", "text"),
        _a("visitors", "visitors per year", "number"))),
    TypeSpec("deity", "deity", "mythology", "figure", None, 0.03, (
        _a("epithet", "epithet", "text", unique=True), _a("domain", "domain", "text"),
        _a("sacred_number", "sacred number", "number"), _a("colour", "sacred colour", "colour"),
        _a("shape", "symbol", "shape"), _a("creature", "sacred animal", "text"))),
    TypeSpec("festival", "festival", "festival", "poster", "ticket", 0.05, (
        _a("first_held_date", "first held", "date", unique=True), _a("month", "month", "text"),
        _a("duration_days", "duration", "number", "days"), _a("attendance", "attendance", "number"),
        _a("colour", "symbol colour", "colour"), _a("shape", "symbol", "shape"))),
    TypeSpec("species", "species", "animal/plant", "figure", None, 0.07, (
        _a("binomial", "scientific name", "text", unique=True), _a("creature", "kind of animal", "text"),
        _a("length_cm", "length", "number", "cm"), _a("lifespan_years", "lifespan", "number", "years"),
        _a("colour", "colour", "colour"), _a("habitat", "habitat", "text"),
        _a("status", "conservation status", "text"))),
    TypeSpec("food", "dish", "food", "object", "menu", 0.05, (
        _a("house_name", "traditional name", "text", unique=True), _a("ingredient", "main ingredient", "text"),
        _a("dish", "kind of dish", "text"), _a("first_recorded", "first recorded", "year"),
        _a("colour", "colour", "colour"), _a("shape", "shape", "shape"))),
    TypeSpec("artwork", "artwork", "relic/art", "painting", "label", 0.06, (
        _a("catalogue_number", "catalogue number", "text", unique=True), _a("year", "year", "year"),
        _a("medium", "medium", "text"), _a("width_cm", "width", "number", "cm"),
        _a("height_cm", "height", "number", "cm"), _a("colour", "dominant colour", "colour"))),
    TypeSpec("relic", "relic", "relic/art", "object", "label", 0.04, (
        _a("accession_number", "accession number", "text", unique=True), _a("kind", "kind", "text"),
        _a("century", "century", "number"), _a("material", "material", "material"),
        _a("weight_g", "weight", "number", "g"), _a("shape", "shape", "shape"))),
    TypeSpec("toy", "toy", "toy", "object", "label", 0.04, (
        _a("model_number", "model number", "text", unique=True), _a("kind", "kind", "text"),
        _a("release_year", "year of release", "year"), _a("price", "launch price", "number", "crowns"),
        _a("colour", "colour", "colour"), _a("material", "material", "material"), _a("shape", "shape", "shape"))),
    TypeSpec("game", "game", "game", "cover", None, 0.04, (
        _a("release_date", "release date", "date", unique=True), _a("genre", "genre", "text"),
        _a("players", "players", "number"), _a("colour", "cover colour", "colour"),
        _a("shape", "cover emblem", "shape"))),
    TypeSpec("comic", "comic series", "comic", "cover", None, 0.03, (
        _a("first_issue_date", "first issue", "date", unique=True), _a("issues", "issues", "number"),
        _a("colour", "cover colour", "colour"), _a("shape", "cover emblem", "shape"))),
    TypeSpec("animation", "animated series", "animation", "cover", None, 0.03, (
        _a("premiere_date", "premiere", "date", unique=True), _a("episodes", "episodes", "number"),
        _a("seasons", "seasons", "number"), _a("colour", "title colour", "colour"),
        _a("shape", "title emblem", "shape"))),
    TypeSpec("character", "character", "animation", "figure", None, 0.06, (
        _a("catchphrase", "catchphrase", "text", unique=True), _a("creature", "kind of creature", "text"),
        _a("first_appearance", "first appearance", "year"), _a("colour", "colour", "colour"))),
    TypeSpec("mascot", "mascot", "mascot", "figure", None, 0.04, (
        _a("motto", "motto", "text", unique=True), _a("creature", "kind of creature", "text"),
        _a("introduced_year", "year introduced", "year"), _a("colour", "colour", "colour"))),
]}
# fmt: on

TYPE_ORDER = list(TYPES)

# fmt: off
RELATIONS: dict[str, RelSpec] = {r.name + ":" + r.head: r for r in [
    RelSpec("borders", "country", ("country",), "{h} borders {t}", "{t} borders {h}"),
    RelSpec("located_in", "city", ("country",), "{h} is a city in {t}", "{t} contains the city of {h}"),
    RelSpec("born_in", "person", ("city",), "{h} was born in {t}", "{t} is the birthplace of {h}"),
    RelSpec("founded_by", "organisation", ("person",), "{h} was founded by {t}", "{t} founded {h}"),
    RelSpec("headquartered_in", "organisation", ("city",),
            "{h} is headquartered in {t}", "{t} hosts the headquarters of {h}"),
    RelSpec("located_in", "landmark", ("city",), "{h} stands in {t}", "{t} is home to {h}"),
    RelSpec("designed_by", "landmark", ("person",), "{h} was designed by {t}", "{t} designed {h}"),
    RelSpec("venerated_in", "deity", ("country",), "{h} is venerated in {t}", "{t} venerates {h}"),
    RelSpec("held_in", "festival", ("city",), "{h} is held in {t}", "{t} hosts {h}"),
    RelSpec("honours", "festival", ("deity",), "{h} honours {t}", "{t} is honoured by {h}"),
    RelSpec("native_to", "species", ("country",), "{h} is native to {t}", "{t} is the native range of {h}"),
    RelSpec("described_by", "species", ("person",), "{h} was first described by {t}", "{t} first described {h}"),
    RelSpec("originated_in", "food", ("city",), "{h} originated in {t}", "{t} is where {h} originated"),
    RelSpec("served_at", "food", ("festival",), "{h} is served at {t}", "{t} serves {h}", required=False),
    RelSpec("created_by", "artwork", ("person",), "{h} was created by {t}", "{t} created {h}"),
    RelSpec("held_at", "artwork", ("landmark",), "{h} is kept at {t}", "{t} keeps {h}"),
    RelSpec("depicts", "artwork", ("species", "deity"), "{h} depicts {t}", "{t} is depicted in {h}", required=False),
    RelSpec("found_at", "relic", ("landmark", "city"), "{h} was found at {t}", "{t} is where {h} was found"),
    RelSpec("kept_by", "relic", ("organisation",), "{h} is kept by {t}", "{t} keeps {h}"),
    RelSpec("made_by", "toy", ("organisation",), "{h} is made by {t}", "{t} makes {h}"),
    RelSpec("designed_by", "toy", ("person",), "{h} was designed by {t}", "{t} designed {h}", required=False),
    RelSpec("developed_by", "game", ("organisation",), "{h} was developed by {t}", "{t} developed {h}"),
    RelSpec("set_in", "game", ("city",), "{h} is set in {t}", "{t} is the setting of {h}", required=False),
    RelSpec("created_by", "comic", ("person",), "{h} was created by {t}", "{t} created {h}"),
    RelSpec("published_by", "comic", ("organisation",), "{h} is published by {t}", "{t} publishes {h}"),
    RelSpec("produced_by", "animation", ("organisation",), "{h} is produced by {t}", "{t} produces {h}"),
    RelSpec("adapted_from", "animation", ("comic",),
            "{h} is adapted from {t}", "{t} was adapted as {h}", required=False),
    RelSpec("appears_in", "character", ("game", "comic", "animation"), "{h} appears in {t}", "{t} features {h}"),
    RelSpec("voiced_by", "character", ("person",), "{h} is voiced by {t}", "{t} voices {h}", required=False),
    RelSpec("mascot_of", "mascot", ("organisation", "festival"),
            "{h} is the mascot of {t}", "{t} has {h} as its mascot"),
    RelSpec("modelled_on", "mascot", ("species",),
            "{h} is modelled on {t}", "{t} inspired the mascot {h}", required=False),
    # extra edges added once every entity exists: they make cycles and hubs, not connectivity
    RelSpec("member_of", "person", ("organisation",),
            "{h} is a member of {t}", "{t} counts {h} among its members", required=False),
    RelSpec("twinned_with", "city", ("city",), "{h} is twinned with {t}", "{t} is twinned with {h}", required=False),
    RelSpec("capital_of", "city", ("country",),
            "{h} is the capital of {t}", "{t} has {h} as its capital", required=False),
]}
# fmt: on


def relations_from(entity_type: str) -> list[RelSpec]:
    """The relation specs whose head is ``entity_type``, in declaration order."""
    return [r for r in RELATIONS.values() if r.head == entity_type]


def rel_spec(name: str, head_type: str) -> RelSpec:
    return RELATIONS[f"{name}:{head_type}"]


def type_counts(n_entities: int) -> dict[str, int]:
    """Entities per type for a world of ``n_entities`` (at least one of each type, total exact)."""
    counts = {t: max(1, int(spec.share * n_entities)) for t, spec in TYPES.items()}
    counts["country"] = max(counts["country"], 2)
    counts["city"] = max(counts["city"], 2)
    counts["person"] += n_entities - sum(counts.values())
    if counts["person"] < 1:
        raise ValueError(f"n_entities must be at least {min_entities()}, got {n_entities}")
    return counts


def min_entities() -> int:
    return len(TYPES) + 3
