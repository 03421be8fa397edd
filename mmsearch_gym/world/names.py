"""Fictional names and unique phrases: syllable words, per-type name patterns, near-duplicate mutations."""

from __future__ import annotations

import random

from . import vocab as V


def word(rng: random.Random, syllables: int | None = None) -> str:
    """A pronounceable made-up word, capitalised (``"Kelmar"``)."""
    n = syllables or rng.choice((2, 2, 2, 3))
    parts = [
        rng.choice(V.ONSETS) + rng.choice(V.VOWELS) + (rng.choice(V.CODAS) if i == n - 1 or rng.random() < 0.15 else "")
        for i in range(n)
    ]
    text = "".join(parts)
    return text[:1].upper() + text[1:]


def place(rng: random.Random) -> str:
    stem = word(rng, rng.choice((1, 1, 2)))
    return stem + rng.choice(V.PLACE_SUFFIXES) if rng.random() < 0.7 else word(rng, rng.choice((2, 3)))


def family(rng: random.Random) -> str:
    stem = word(rng, rng.choice((1, 2)))
    return stem + rng.choice(["", "", "sson", "ova", "ek", "ander", "ini", "berg", "wyn", "escu", "ez"])


def entity_name(rng: random.Random, entity_type: str, attrs: dict) -> str:
    """A name for an entity of ``entity_type`` (may repeat: the caller enforces uniqueness)."""
    t = entity_type
    if t in ("country", "city"):
        return place(rng)
    if t == "person":
        return f"{rng.choice(V.GIVEN_NAMES)} {family(rng)}"
    if t == "organisation":
        return f"{word(rng)} {rng.choice(V.ORG_KINDS)}"
    if t == "landmark":
        return f"{word(rng)} {attrs['kind'].title()}"
    if t == "deity":
        return word(rng, rng.choice((2, 3)))
    if t == "festival":
        return rng.choice(
            [
                f"{word(rng)} Lantern Fair",
                f"{word(rng)} Festival",
                f"Feast of {word(rng)}",
                f"{word(rng)} Carnival",
                f"{word(rng)} Harvest Days",
            ]
        )
    if t == "species":
        return f"{word(rng)} {attrs['creature']}"
    if t == "food":
        return f"{word(rng)} {attrs['dish']}"
    if t == "artwork":
        return f"The {rng.choice(V.ADJECTIVES).title()} {rng.choice(V.NOUNS).title()} of {word(rng)}"
    if t in ("relic", "toy"):
        return f"{word(rng)} {attrs['kind'].title()}"
    if t == "game":
        return f"{word(rng)}: {rng.choice(V.ADJECTIVES).title()} {rng.choice(V.NOUNS).title()}"
    if t == "comic":
        return rng.choice([f"{word(rng)} Chronicles", f"Tales of {word(rng)}", f"{word(rng)} Quarterly"])
    if t == "animation":
        return rng.choice([f"The {word(rng)} Show", f"{word(rng)} and Friends", f"{word(rng)} Adventures"])
    if t == "character":
        return f"{rng.choice(V.TITLES)} {word(rng)}"
    if t == "mascot":
        return f"{word(rng)} the {attrs['creature'].title()}"
    raise ValueError(f"unknown entity type {entity_type!r}")


def mutate(rng: random.Random, name: str, last_word: bool = False) -> str:
    """A near-duplicate of ``name``: one letter of its first (or last) word changed, doubled or dropped."""
    if last_word and " " in name:
        first, _, last = name.rpartition(" ")
        return f"{first} {mutate(rng, last)}"
    head, _, rest = name.partition(" ")
    if len(head) < 4:
        return name
    i = rng.randrange(1, len(head) - 1)
    op = rng.choice(("swap", "double", "vowel", "drop"))
    if op == "swap":
        head = head[:i] + head[i + 1] + head[i] + head[i + 2 :]
    elif op == "double":
        head = head[:i] + head[i] + head[i:]
    elif op == "vowel":
        head = head[:i] + rng.choice("aeiouy") + head[i + 1 :]
    else:
        head = head[:i] + head[i + 1 :]
    head = head[:1].upper() + head[1:]
    return f"{head} {rest}" if rest else head


def aliases(rng: random.Random, entity_type: str, name: str, attrs: dict) -> list[str]:
    """Candidate aliases (the caller drops those already taken)."""
    first = name.split(" ")[0].rstrip(":")
    t = entity_type
    if t == "person":
        given, fam = name.split(" ", 1)
        return [f"{given[0]}. {fam}", f"{fam} the {attrs['occupation'].title()}"]
    if t == "city":
        return [f"Old {name}", f"{name}-{rng.choice(['upon-Vell', 'on-the-Marsh', 'by-the-Sea', 'am-Rhos'])}"]
    if t == "country":
        return [f"Republic of {name}", f"{name} Lands"]
    if t == "organisation":
        return ["".join(w[0] for w in name.split() if w[0].isupper()) + rng.choice(["", " Ltd", " Co."]), first]
    if t == "species":
        return [attrs["binomial"]]
    if t in ("deity", "character", "mascot"):
        return [f"{name} {rng.choice(['the Elder', 'of the Vale', 'Reborn', 'the Younger'])}"]
    return [first + " " + rng.choice(["(classic)", "original", "edition"])] if t in ("toy", "game") else []


def phrase(rng: random.Random) -> str:
    """A short motto-like phrase (its words are used nowhere else in the world's prose)."""
    adj, adj2 = rng.choice(V.PHRASE_ADJ), rng.choice(V.PHRASE_ADJ)
    noun, noun2 = rng.choice(V.PHRASE_NOUNS), rng.choice(V.PHRASE_NOUNS)
    verb = rng.choice(V.PHRASE_VERBS)
    pattern = rng.randrange(5)
    if pattern == 0:
        return f"The {adj} {noun} {verb} the {noun2}"
    if pattern == 1:
        return f"By {noun} and {noun2}, the {adj} endure"
    if pattern == 2:
        return f"Every {noun} {verb} a {adj} {noun2}"
    if pattern == 3:
        return f"{adj.title()} as the {noun}, {adj2} as the {noun2}"
    return f"Where the {adj} {noun} {verb} the {noun2}"


def epithet(rng: random.Random) -> str:
    """A title like ``"the Unbroken Kestrel of Vask"``."""
    return f"the {rng.choice(V.PHRASE_ADJ).title()} {rng.choice(V.PHRASE_NOUNS).title()} of {word(rng)}"


def code(rng: random.Random, letters: int = 2, digits: int = 4) -> str:
    """An identifier token like ``KV4821``."""
    abc = "ABCDEFGHJKLMNPRSTVWXZ"
    return "".join(rng.choice(abc) for _ in range(letters)) + "".join(rng.choice("0123456789") for _ in range(digits))
