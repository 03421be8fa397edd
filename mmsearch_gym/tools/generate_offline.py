"""The offline image generator: a deterministic function of the prompt and the reference images.

It reads a prompt the way an editing model uses one, and draws with the world's renderer:

- **Subjects.** One, or two when the prompt puts them ``side by side`` / ``next to`` /
  ``beside`` / ``together with`` each other (three at most, the editor's limit).
- **References.** A subject tied to a reference by ordinal (``"the first reference image"``,
  ``"the only reference image"``, Gen-Searcher's rule) is copied from it. Gen-Searcher's
  editor takes the first three references; so does this one.
- **Imagined subjects.** A subject with no tied reference is drawn from what the prompt
  states about it (colours, shape, material, creature, kind of building, and the kind of
  picture: "the mascot", "the toy" …, else logo, flag, cover, figure …) through :func:`~mmsearch_gym.world.render.render_entity`;
  what the prompt leaves open is guessed from a hash of the prompt. A reference that is
  attached but never mentioned lends only its dominant colour.
- **Setting and text.** A setting of :data:`~mmsearch_gym.world.compose.SETTINGS` named by
  its words becomes the background; quoted text with a cue word (banner, text, reads,
  written, inscription, letters, caption) is printed on a banner.

So a prompt that names the setting and the text and ties each subject to the right
reference gives a picture close to the ground truth; a bare prompt gives a guess.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..world import vocab as V
from ..world.compose import Canvas, compose
from ..world.model import Entity
from ..world.render import render_entity
from ..world.schema import TYPES

ORDINALS = {"first": 1, "only": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_ORDINAL_REF = re.compile(r"\b(first|only|second|third|fourth|fifth)\s+reference\s+image", re.IGNORECASE)
_PAIR = re.compile(r"\b(side by side|next to|beside|together with|alongside)\b", re.IGNORECASE)
_TEXT_CUE = re.compile(r"\b(banner|text|reads|reading|written|inscription|letters|caption|lettering)\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“]([^\"“”]{2,120})[\"”]")
KIND_WORDS = {
    "coat of arms": "coat_of_arms", "flag": "flag", "logo": "logo", "poster": "poster", "portrait": "portrait",
    "cover": "cover", "painting": "painting", "illustration": "figure", "figure": "figure", "statue": "figure",
    "building": "landmark", "landmark": "landmark", "photograph of the object": "object",
}  # fmt: skip
SETTING_WORDS = {
    "a harbour at dusk": ("harbour", "harbor", "dusk", "port"),
    "a snowy mountain pass": ("snowy", "snow", "mountain pass", "mountain"),
    "a desert at noon": ("desert", "dunes", "noon"),
    "a forest clearing": ("forest", "clearing", "woods"),
    "a city square at night": ("city square", "night", "square at night"),
    "a flower meadow in spring": ("meadow", "flower", "spring"),
    "a museum gallery": ("museum", "gallery"),
    "a beach at sunrise": ("beach", "sunrise", "shore"),
}
_LANDMARK_KINDS = set(V.LANDMARK_KINDS)


@dataclass
class PromptPlan:
    """What the generator read from a prompt (exposed for tests and for looking into a generation)."""

    n_subjects: int
    tied: dict[int, int] = field(default_factory=dict)  # subject slot -> reference index
    attributes: list[dict[str, object]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    setting: str | None = None
    banner: str | None = None


def _words(text: str, vocabulary: Sequence[str]) -> list[str]:
    found = [(m.start(), w) for w in vocabulary for m in re.finditer(rf"\b{re.escape(w)}\b", text)]
    return [w for _, w in sorted(found)]


def _attributes(text: str) -> tuple[dict[str, object], str | None]:
    low = text.casefold()
    attrs: dict[str, object] = {}
    colours = [c for c in dict.fromkeys(_words(low, list(V.COLOURS))) if c in V.COLOURS][:3]
    if colours:
        attrs["colours"], attrs["colour"] = colours, colours[0]
    for key, pool in (("shape", V.SHAPES), ("material", [m for m in V.MATERIALS if m not in V.COLOURS]),
                      ("creature", V.CREATURES), ("kind", V.LANDMARK_KINDS)):  # fmt: skip
        hits = _words(low, pool)
        if hits:
            attrs[key] = hits[0]
    nouns = sorted(TYPES.values(), key=lambda t: -len(t.noun))
    kind = next((t.image_kind for t in nouns if re.search(rf"\bthe {re.escape(t.noun)}\b", low)), None)  # "X, the toy"
    if kind is None:
        kind = next((KIND_WORDS[w] for w in _words(low, list(KIND_WORDS))), None)
    if kind is None:
        kind = next((t.image_kind for t in nouns if re.search(rf"\b{re.escape(t.noun)}\b", low)), None)
    return attrs, kind


def read_prompt(prompt: str, n_refs: int, max_subjects: int = 3) -> PromptPlan:
    """Subjects, their ties to references, attributes and kinds, setting and banner text of ``prompt``."""
    mentioned = [ORDINALS[m.group(1).casefold()] for m in _ORDINAL_REF.finditer(prompt)]
    mentioned = [k for k in dict.fromkeys(mentioned) if k <= n_refs]
    n = max(len(mentioned), 2 if _PAIR.search(prompt) else 1)
    n = min(max(n, 1), max_subjects)
    sentences = [s for s in re.split(r"(?<=[.;!?])\s+", prompt) if s.strip()]
    per_slot: list[list[str]] = [[] for _ in range(n)]
    for s in sentences:
        ords = [ORDINALS[m.group(1).casefold()] for m in _ORDINAL_REF.finditer(s)]
        pair = _PAIR.search(s)
        if not ords and pair and n > 1:  # "A … side by side with B …": A before the cue, B after it
            per_slot[0].append(s[: pair.start()])
            per_slot[1].append(s[pair.end() :])
            continue
        per_slot[min((min(ords) - 1) if ords else 0, n - 1)].append(s)
    plan = PromptPlan(n_subjects=n)
    for slot in range(n):
        text = " ".join(per_slot[slot]) or prompt
        attrs, kind = _attributes(text)
        plan.attributes.append(attrs)
        plan.kinds.append(kind or "figure")
    plan.tied = {k - 1: k - 1 for k in mentioned if k - 1 < n}
    low = prompt.casefold()
    scores = {name: sum(w in low for w in words) for name, words in SETTING_WORDS.items()}
    best = max(scores, key=lambda k: (scores[k], k))
    plan.setting = best if scores[best] > 0 else None
    if _TEXT_CUE.search(prompt):
        quoted = _QUOTED.search(prompt)
        plan.banner = " ".join(quoted.group(1).split()) if quoted else None
    return plan


def _dominant_colour(image: np.ndarray) -> str:
    """The vocabulary colour nearest to the image's most saturated region's mean."""
    arr = np.asarray(image, dtype=np.float32)[::4, ::4, :3].reshape(-1, 3)
    sat = arr.max(axis=1) - arr.min(axis=1)
    mean = arr[sat >= np.quantile(sat, 0.75)].mean(axis=0)
    return min(V.COLOURS, key=lambda c: float(((np.array(V.COLOURS[c]) - mean) ** 2).sum()))


class OfflineGenerator:
    """The default backend. Args: max_refs: references the editor takes (Gen-Searcher's editor: 3)."""

    name = "offline"

    def __init__(self, max_refs: int = 3):
        if isinstance(max_refs, bool) or not isinstance(max_refs, int) or not 1 <= max_refs <= 5:
            raise ValueError(f"max_refs must be an integer in 1..5, got {max_refs!r}")
        self.max_refs = max_refs

    def __call__(self, prompt: str, references: Sequence[np.ndarray] = (), seed: int = 0) -> np.ndarray:
        refs = list(references)[: self.max_refs]
        plan = read_prompt(prompt, len(refs))
        digest = hashlib.sha256(f"{seed}:{prompt}".encode()).hexdigest()
        rng = random.Random(digest)
        panels = []
        for slot in range(plan.n_subjects):
            if slot in plan.tied:
                panels.append(refs[plan.tied[slot]])
                continue
            attrs = dict(plan.attributes[slot])
            if "colour" not in attrs:
                guess = _dominant_colour(refs[slot]) if slot < len(refs) else rng.choice(sorted(V.COLOURS))
                attrs["colours"], attrs["colour"] = [guess], guess
            kind = plan.kinds[slot]
            if kind == "landmark" and attrs.get("kind") not in _LANDMARK_KINDS:
                attrs["kind"] = rng.choice(V.LANDMARK_KINDS)
            imagined = Entity("imagined", "imagined", _title(prompt), (), attrs)
            panels.append(render_entity(imagined, kind, random.Random(f"{digest}:{slot}")))
        jitter = [(rng.uniform(-6, 6), rng.uniform(-6, 6), rng.uniform(0.92, 1.0)) for _ in panels]
        return compose(Canvas(panels=panels, setting=plan.setting, banner=plan.banner, jitter=jitter))


def _title(prompt: str) -> str:
    """Capitalised words near the start of the prompt: the name a cover or logo prints."""
    words = re.findall(r"\b[A-Z][\w'-]*(?::)?", prompt[:200])
    skip = {"Generate", "An", "A", "The", "Draw", "Copy", "Show", "Create", "Make", "Image", "Picture"}
    name = " ".join(w for w in words if w not in skip)[:40]
    return name or "Untitled"
