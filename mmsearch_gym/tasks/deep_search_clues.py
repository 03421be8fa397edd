"""Fuzzy entity rewriting for DeepSearch questions (OpenSearch-VL, arXiv 2605.05185).

An entity on a question's path is never named: it is described by its type and a few
*clues*, each a fuzzy view of one attribute ("whose year of founding falls in the
1860s", "whose population is between 8,000,000 and 9,000,000", "whose occupation is
potter"). :func:`disambiguating_clues` picks the fewest clues that single the entity out
among the candidates a hop leaves open.

Attribute metadata (label, kind, unit) comes from the world schema when the entity's
type is known and is inferred from the values otherwise, so any graph of entities with
attributes works. Attributes whose exact value pins an entity down (unique in the graph
or in the schema) never become clues: a clue must not be a lookup key.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..world.articles import format_value
from ..world.model import Entity, World
from ..world.schema import TYPES, AttrSpec

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DATE = re.compile(r"^(\d{1,2}) ([A-Z][a-z]+) (\d{3,4})$")


@dataclass(frozen=True)
class Attribute:
    """One attribute of one entity, with how prose names and writes it."""

    key: str
    label: str
    kind: str  # date, year, number, colour, colours, material, shape, text
    unit: str
    value: Any
    unique: bool  # the exact value singles the entity out

    @property
    def text(self) -> str:
        """The value as the entity's article writes it."""
        return format_value(AttrSpec(self.key, self.label, self.kind, self.unit), self.value)


@dataclass(frozen=True)
class Clue:
    """A fuzzy statement about one attribute: ``phrase`` for the question, ``test`` for other entities."""

    key: str
    phrase: str
    form: str  # exact, member, decade, month_decade, range
    target: tuple[Any, ...]

    def holds(self, value: Any) -> bool:
        """Whether an entity with ``value`` for this attribute satisfies the clue."""
        if value is None:
            return False
        if self.form == "exact":
            return _norm(value) == self.target[0]
        if self.form == "member":
            return isinstance(value, list) and self.target[0] in [_norm(v) for v in value]
        if self.form in ("decade", "month_decade"):
            parsed = _year_month(value)
            if parsed is None:
                return False
            year, month = parsed
            return year // 10 == self.target[0] and (self.form == "decade" or month == self.target[1])
        if self.form == "range":
            return (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and self.target[0] <= value < self.target[1]
            )
        raise ValueError(f"unknown clue form {self.form!r}")


def _norm(value: Any) -> str:
    return " ".join(str(value).casefold().split())


def _year_month(value: Any) -> tuple[int, int | None] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    m = _DATE.match(str(value).strip())
    if m and m.group(2) in MONTHS:
        return int(m.group(3)), MONTHS.index(m.group(2)) + 1
    return None


def _infer_kind(key: str, value: Any) -> str:
    if isinstance(value, list):
        return "colours"
    if isinstance(value, bool):
        return "text"
    if isinstance(value, int) and ("year" in key or key.endswith("_recorded")) and 0 < value < 2200:
        return "year"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str) and _DATE.match(value.strip()):
        return "date"
    return "text"


class GraphView:
    """Attribute metadata and value statistics over a whole graph, computed once."""

    def __init__(self, world: World):
        self.world = world
        counts: dict[str, Counter[str]] = {}
        for e in world.iter_entities():
            for key, value in e.attributes.items():
                if value is not None:
                    counts.setdefault(key, Counter())[_norm(value)] += 1
        self._counts = counts

    def noun(self, entity: Entity) -> str:
        spec = TYPES.get(entity.type)
        return spec.noun if spec else entity.type.replace("_", " ")

    def attributes(self, entity: Entity) -> list[Attribute]:
        """The entity's attributes in schema order (inferred metadata for unknown types)."""
        spec = TYPES.get(entity.type)
        out = []
        if spec is not None:
            for a in spec.attrs:
                value = entity.attributes.get(a.key)
                if value is not None:
                    unique = a.unique or self._counts[a.key][_norm(value)] == 1 and a.kind == "text"
                    out.append(Attribute(a.key, a.label, a.kind, a.unit, value, unique))
            return out
        for key, value in entity.attributes.items():
            if value is None:
                continue
            kind = _infer_kind(key, value)
            unique = self._counts[key][_norm(value)] == 1 and kind in ("text", "date")
            out.append(Attribute(key, key.replace("_", " "), kind, "", value, unique))
        return out

    def clues(self, entity: Entity) -> list[Clue]:
        """Every fuzzy clue the entity's attributes allow (none from unique attributes)."""
        return [c for a in self.attributes(entity) if not a.unique for c in [make_clue(a)] if c is not None]


def _round_range(value: float) -> tuple[float, float]:
    """``[lo, hi)`` at one significant digit: 8,494,166 → [8,000,000, 9,000,000); 73 → [70, 80)."""
    v = abs(value)
    if v < 10:
        lo = float(int(v))
        return lo, lo + 1
    step = 10 ** (len(str(int(v))) - 1)
    lo = (int(v) // step) * step
    return float(lo), float(lo + step)


def _fmt_number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.1f}"


def make_clue(attr: Attribute) -> Clue | None:
    """The fuzzy clue of one attribute, or None when its kind gives none."""
    label, value = attr.label, attr.value
    if attr.kind == "year" and isinstance(value, int):
        return Clue(attr.key, f"whose {label} falls in the {value // 10 * 10}s", "decade", (value // 10,))
    if attr.kind == "date":
        parsed = _year_month(value)
        if parsed is None or parsed[1] is None:
            return None
        year, month = parsed
        return Clue(
            attr.key, f"whose {label} falls in {MONTHS[month - 1]} of the {year // 10 * 10}s", "month_decade",
            (year // 10, month),
        )  # fmt: skip
    if attr.kind == "number" and isinstance(value, (int, float)) and value >= 0:
        lo, hi = _round_range(float(value))
        unit = f" {attr.unit}" if attr.unit else ""
        if hi - lo == 1 and float(value).is_integer():
            return Clue(attr.key, f"whose {label} is {int(value)}{unit}", "range", (lo, hi))
        return Clue(
            attr.key, f"whose {label} is between {_fmt_number(lo)} and {_fmt_number(hi)}{unit}", "range", (lo, hi)
        )
    if attr.kind == "colours" and isinstance(value, list) and value:
        return Clue(attr.key, f"whose {label} include {value[0]}", "member", (_norm(value[0]),))
    if attr.kind in ("colour", "material", "shape", "text") and isinstance(value, (str, int)):
        return Clue(attr.key, f"whose {label} is {value}", "exact", (_norm(value),))
    return None


def disambiguating_clues(
    view: GraphView,
    entity: Entity,
    candidates: list[Entity],
    rng: np.random.Generator,
    max_clues: int = 3,
    min_clues: int = 1,
    exclude: tuple[str, ...] = (),
) -> list[Clue] | None:
    """Clues, tried in random order, that leave only ``entity`` among ``candidates``.

    Greedy: a clue is taken when it rules out at least one remaining rival (or while fewer
    than ``min_clues`` are taken); clues on ``exclude`` keys (e.g. the asked attribute) are
    never used. Returns None when ``max_clues`` do not suffice.
    """
    pool = [c for c in view.clues(entity) if c.key not in exclude]
    if not pool:
        return None
    rivals = [c for c in candidates if c.id != entity.id]
    chosen: list[Clue] = []
    for i in rng.permutation(len(pool)):
        clue = pool[int(i)]
        left = [r for r in rivals if clue.holds(r.attributes.get(clue.key))]
        if len(left) < len(rivals) or len(chosen) < min_clues:
            chosen.append(clue)
            rivals = left
        if not rivals and len(chosen) >= min_clues:
            return chosen
        if len(chosen) >= max_clues:
            break
    return chosen if not rivals and len(chosen) >= min_clues else None


def describe(noun: str, clues: list[Clue], article: str = "a") -> str:
    """``"a person whose occupation is potter and whose colour is teal"`` ("an" before a vowel)."""
    if article == "a" and noun[:1].lower() in "aeiou":
        article = "an"
    head = f"{article} {noun}"
    return f"{head} " + " and ".join(c.phrase for c in clues) if clues else head
