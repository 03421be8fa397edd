"""Articles in varied prose, image captions and the printed text of documents.

An article states every attribute of its entity (infobox and prose), its relations, and
distractors: a near-duplicate name to not confuse it with, a wrong value that "older
sources" give for a non-unique attribute, and a fact about a neighbour. Unique attribute
values are never used as distractors, so a query for one finds its own entity.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from . import vocab as V
from .model import Article, Entity
from .schema import TYPES, AttrSpec, rel_spec

if TYPE_CHECKING:
    from .model import World

MAX_INBOUND_SENTENCES = 6  # hubs would otherwise get thousands of "X was born here" lines


def format_value(spec: AttrSpec, value: Any) -> str:
    """An attribute value as prose writes it (``"crimson and gold"``, ``"1,204 m"``)."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else ", ".join(value[:-1]) + " and " + value[-1]
    if spec.kind == "number" and isinstance(value, (int, float)):
        text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
        return f"{text} {spec.unit}".strip()
    return str(value)


_LEADS = [
    "{name} is a {noun}{where}.",
    "{name} is a {noun}{where}, best known for {its} {label} of {value}.",
    "Known for {its} {label} of {value}, {name} is a {noun}{where}.",
    "{name}{aka} is a {noun}{where}.",
]
_ATTR = [
    "{Its} {label} is {value}.",
    "The {label} of {name} is {value}.",
    "{name}'s {label}: {value}.",
    "Records give {its} {label} as {value}.",
    "According to the registry, the {label} is {value}.",
]
_FILLER = [
    "Local accounts describe it in connection with the {adj} {noun}.",
    "Travellers often mention the {adj} {noun} when writing about it.",
    "A {adj} {noun} features in several stories told about it.",
    "Its history is closely tied to the {noun} trade of the region.",
    "Scholars have debated its links to the {adj} {noun} for decades.",
]


def _where(world: World, e: Entity) -> str:
    for rel, other in world.neighbours(e.id, direction="out"):
        if rel.relation in ("located_in", "held_in", "originated_in", "native_to", "born_in", "headquartered_in"):
            return f" in {other.name}" if rel.relation != "born_in" else f" from {other.name}"
    return ""


def make_article(world: World, entity_id: str) -> Article:
    """The encyclopedia article of ``entity_id`` (deterministic given the world's seed)."""
    e = world.entity(entity_id)
    spec = TYPES[e.type]
    rng = random.Random(f"mmsearch-world:{world.seed}:article:{e.id}")
    shown = [(a, format_value(a, e.attributes[a.key])) for a in spec.attrs if a.key in e.attributes]
    infobox = [("Type", spec.noun)]
    if spec.category:
        infobox.append(("Category", spec.category))
    infobox += [(a.label[:1].upper() + a.label[1:], v) for a, v in shown]
    for rel, other in world.neighbours(e.id, direction="out"):
        infobox.append((rel.relation.replace("_", " ").capitalize(), other.name))

    first_attr, first_value = shown[0]
    aka = f" (also {e.aliases[0]})" if e.aliases else ""
    its = "their" if e.type == "person" else "its"
    template = rng.choice(_LEADS)
    lead = template.format(
        name=e.name, noun=spec.noun, where=_where(world, e), label=first_attr.label, value=first_value, aka=aka, its=its
    )
    stated = shown[1:] if "{value}" in template else shown  # every attribute is said once in prose
    facts = [rng.choice(_ATTR).format(label=a.label, name=e.name, value=v, its=its, Its=its.title()) for a, v in stated]
    facts += [world.describe_relation(rel) + "." for rel in world.relations_of(e.id, "out")]
    rng.shuffle(facts)
    inbound = [rel for rel in world.relations_of(e.id, "in")][:MAX_INBOUND_SENTENCES]
    links = [
        rel_spec(rel.relation, world.entity(rel.head).type).inverse.format(h=world.entity(rel.head).name, t=e.name)
        + "."
        for rel in inbound
    ]
    paragraphs = [" ".join([lead, *facts[: len(facts) // 2 + 1]]), " ".join(facts[len(facts) // 2 + 1 :] + links)]
    paragraphs.append(" ".join(_distractors(world, e, rng) + [_filler(rng) for _ in range(rng.randint(1, 3))]))
    body = "\n\n".join(p for p in paragraphs if p.strip())
    return Article(doc_id=e.id, title=e.name, url=e.url, aliases=e.aliases, infobox=tuple(infobox), body=body)


def _filler(rng: random.Random) -> str:
    return rng.choice(_FILLER).format(adj=rng.choice(V.ADJECTIVES), noun=rng.choice(V.NOUNS))


def _distractors(world: World, e: Entity, rng: random.Random) -> list[str]:
    out = []
    for twin in world.near_duplicates(e.id)[:2]:
        out.append(f"It is not to be confused with {twin.name}, a different {TYPES[twin.type].noun}.")
    plain = [
        a
        for a in TYPES[e.type].attrs
        if not a.unique
        and a.key in e.attributes
        and isinstance(e.attributes[a.key], int)
        and a.kind in ("year", "number")
    ]
    if plain and rng.random() < 0.6:
        a = rng.choice(plain)
        wrong = int(e.attributes[a.key]) + rng.choice([-1, 1]) * rng.randint(1, 40)
        its = "their" if e.type == "person" else "its"
        out.append(f"Some older sources wrongly give {its} {a.label} as {format_value(a, wrong)}.")
    neighbours = world.neighbours(e.id)
    if neighbours:
        _, other = neighbours[rng.randrange(len(neighbours))]
        plain_other = [a for a in TYPES[other.type].attrs if not a.unique and a.key in other.attributes]
        if plain_other:
            a = rng.choice(plain_other)
            out.append(f"By comparison, the {a.label} of {other.name} is {format_value(a, other.attributes[a.key])}.")
    return out


_KIND_WORDS = {
    "flag": "Flag",
    "coat_of_arms": "Coat of arms",
    "logo": "Logo",
    "poster": "Poster",
    "portrait": "Portrait",
    "landmark": "View",
    "figure": "Illustration",
    "object": "Photograph",
    "painting": "Reproduction",
    "cover": "Cover",
    "sign": "Town sign",
    "plaque": "Plaque",
    "label": "Museum label",
    "ticket": "Ticket",
    "menu": "Menu card",
    "letterhead": "Letterhead",
}


def caption(e: Entity, kind: str) -> str:
    """A caption that names the entity and says what the image shows (colours, shape, material)."""
    a = e.attributes
    colours = a.get("flag_colours") or a.get("colours") or ([a["colour"]] if "colour" in a else [])
    bits = []
    if colours:
        bits.append(format_value(AttrSpec("colours", "colours", "colours"), list(colours)))
    if "material" in a:
        bits.append(a["material"])
    if "shape" in a:
        bits.append(f"{a['shape']} motif")
    if "creature" in a:
        bits.append(a["creature"])
    detail = f" ({', '.join(bits)})" if bits else ""
    return f"{_KIND_WORDS.get(kind, kind.title())} of {e.name}, {TYPES[e.type].noun}{detail}"


def document_text(e: Entity, kind: str) -> str:
    """The printed lines of a document image (sign, plaque, label, ticket, menu, letterhead)."""
    a = e.attributes
    name = e.name.upper()
    if kind == "sign":
        return f"WELCOME TO\n{name}\nPOSTCODE {a['postal_code']}\nFOUNDED {a['founded_year']}"
    if kind == "plaque":
        return f"{name}\nCOMPLETED {a['completed_year']}\n{a['inscription'].upper()}"
    if kind == "label":
        number = a.get("catalogue_number") or a.get("accession_number") or a.get("model_number")
        when = a.get("year") or a.get("release_year") or f"{a.get('century')}th century"
        return f"{e.name}\n{a.get('medium') or a.get('material', '')}, {when}\nNo. {number}"
    if kind == "ticket":
        return f"{name}\nADMIT ONE\nSINCE {a['first_held_date'].upper()}\n{a['duration_days']} DAYS IN {a['month'].upper()}"
    if kind == "menu":
        return f"{e.name}\n{a['ingredient']} {a['dish']}\n“{a['house_name']}”"
    if kind == "letterhead":
        return f"{name}\nEST. {a['founded_year']}  REG. {a['registry_code']}\n{a['slogan']}"
    raise ValueError(f"unknown document kind {kind!r}")
