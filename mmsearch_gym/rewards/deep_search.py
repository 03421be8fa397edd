"""OpenSearch-VL's DeepSearch reward (arXiv 2605.05185): ``r = r_fmt · (0.8·r_acc + 0.2·r_query)``.

- ``r_acc`` (:func:`answer_accuracy`): does the answer contain a correct answer. The paper asks
  an LLM judge; the default here is a rule (a normalised gold answer or accepted variant found
  in the normalised answer on word boundaries), with ``exact`` and token ``f1`` as options and
  an HTTP judge in :mod:`.judge`.
- ``r_fmt`` (:func:`format_score`): the share of turns before the fatal index ``f`` that were
  well formed and had no step error.
- ``r_query`` (:func:`query_score`): search quality in [0, 1] over the five criteria of the
  paper's judge, scored by rules on the turns before ``f``; 0 without a tool call before ``f``.
  A search result is *used* when a later call or the answer opens its page (``visit`` url),
  searches by its image url or its thumbnail id, or names its title (the full title or the
  part before `` - `` / `` | `` / ``: ``) on word boundaries in a query, goal or the answer.

``f = 0`` gives ``r_fmt = 0``, hence ``r = 0``. Tool responses are parsed as
:mod:`mmsearch_gym.tools.search` words them (``URL: …``, ``page: …``, ``image: …``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..core.record import TurnRecord

ARTICLES = frozenset({"a", "an", "the"})
ACCURACY_MODES = ("contains", "exact", "f1")
CRITERIA = ("image_search_utility", "text_search_utility", "query_progression", "complementarity", "evidence_vs_noise")
TEXT_SEARCH_TOOLS = frozenset({"text_search", "web_search"})
IMAGE_SEARCH_TOOLS = frozenset({"image_search"})
PERCEPTION_TOOLS = ("crop", "sharpen", "super_resolution", "perspective_correct", "ocr")  # in the order envs offer them

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL = re.compile(r"(?<!\d)(\d+)\.(\d+)(?!\d)")
_TEXT_HIT = re.compile(r"^\[\d+\] (.*)\nURL: (\S+)[ \t]*$", re.MULTILINE)
_IMAGE_HIT = re.compile(r"^\[\d+\] (.*)\n {4}page: (\S+)\n {4}image: (\S+)(?: \(shown as (\w+)\))?", re.MULTILINE)
_VISIT_URL = re.compile(r"^URL: (\S+) · page \d+ of \d+$", re.MULTILINE)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_TITLE_SEP = re.compile(r"\s[-|–—]\s|:\s")  # "Ada Lovelace - Wikipedia" is used as "Ada Lovelace"


# ---- r_acc -------------------------------------------------------------------------------------
def _drop_trailing_zeros(m: re.Match[str]) -> str:
    fraction = m[2].rstrip("0")
    return f"{m[1]}.{fraction}" if fraction else m[1]


def normalize_answer(text: str) -> str:
    """Answer text made comparable.

    NFKC, casefold, accents stripped (``"Café"`` → ``"cafe"``), thousands separators dropped
    (``"1,204"`` → ``"1204"``), trailing decimal zeros dropped (``"12.0"`` → ``"12"``,
    ``"2.50"`` → ``"2.5"``), apostrophes removed (``"O'Brien"`` → ``"obrien"``), other
    punctuation and symbols turned into spaces (a decimal point between digits is kept), the
    articles a / an / the removed, whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = _THOUSANDS.sub("", text)
    text = _DECIMAL.sub(_drop_trailing_zeros, text)
    out = []
    for i, ch in enumerate(text):
        decimal_point = ch == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        if unicodedata.category(ch)[0] not in "PS" or decimal_point:
            out.append(ch)
        elif ch not in "'’":
            out.append(" ")
    return " ".join(w for w in "".join(out).split() if w not in ARTICLES)


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 over normalised tokens (1.0 when both are empty, 0.0 when only one is)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum(min(pred.count(w), ref.count(w)) for w in set(pred) & set(ref))
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _contains(text: str, needle: str) -> bool:
    """Whether normalised ``needle`` occurs in normalised ``text`` on token boundaries."""
    return bool(needle) and f" {needle} " in f" {text} "


def answer_accuracy(
    prediction: str | None, golds: Sequence[str], mode: str = "contains", f1_threshold: float | None = None
) -> float:
    """``r_acc`` by rule: the best score of ``prediction`` over the accepted answers ``golds``.

    Modes: ``contains`` (default, the paper's judge question "does the answer contain the correct
    answer": a normalised gold on token boundaries, so ``"12"`` is not in ``"2012"``), ``exact``
    (normalised equality), ``f1`` (max token F1; 1/0 at ``f1_threshold`` when given). A single
    string for ``golds`` is one answer. None or an empty prediction scores 0.
    """
    if mode not in ACCURACY_MODES:
        raise ValueError(f"unknown accuracy mode {mode!r}; use one of: {', '.join(ACCURACY_MODES)}")
    if f1_threshold is not None and (mode != "f1" or not 0.0 <= f1_threshold <= 1.0):
        raise ValueError(f"f1_threshold must be in [0, 1] and used with mode='f1'; got {f1_threshold!r} with {mode!r}")
    refs = [normalize_answer(g) for g in ([golds] if isinstance(golds, str) else golds)]
    refs = [g for g in refs if g]
    if not refs:
        raise ValueError(f"golds must hold at least one non-empty answer (a list of accepted variants), got {golds!r}")
    pred = normalize_answer(prediction) if prediction else ""
    if not pred:
        return 0.0
    if mode == "exact":
        return float(pred in refs)
    if mode == "contains":
        return float(any(_contains(pred, g) for g in refs))
    best = max(token_f1(pred, g) for g in refs)
    return best if f1_threshold is None else float(best >= f1_threshold)


# ---- r_fmt -------------------------------------------------------------------------------------
def _before_fatal(turns: Sequence[TurnRecord], fatal_turn: int | None) -> Sequence[TurnRecord]:
    if fatal_turn is None:
        return turns
    if isinstance(fatal_turn, bool) or not isinstance(fatal_turn, int) or not 0 <= fatal_turn <= len(turns):
        raise ValueError(f"fatal_turn must be None or an integer in [0, {len(turns)}] (len(turns)), got {fatal_turn!r}")
    return turns[:fatal_turn]


def format_score(turns: Sequence[TurnRecord], fatal_turn: int | None) -> float:
    """``r_fmt``: share of the turns before ``f`` (all when None) well formed and error free; 0 if none."""
    kept = _before_fatal(turns, fatal_turn)
    return sum(t.well_formed and t.step_error is None for t in kept) / len(kept) if kept else 0.0


# ---- r_query -----------------------------------------------------------------------------------
class _Hit(NamedTuple):
    url: str  # the result's page
    titles: set[str]  # normalised title forms
    image_url: str | None = None
    image_id: str | None = None  # the thumbnail's id in the episode


@dataclass
class _Call:
    """One tool call (or the answer) as the criteria see it."""

    tool: str  # tool name, or "answer"
    ok: bool
    hits: list[_Hit] = field(default_factory=list)
    url: str | None = None  # its url argument
    urls: set[str] = field(default_factory=set)  # urls it opened or searched by (argument and landing page)
    image: str | None = None  # its image argument
    texts: list[str] = field(default_factory=list)  # normalised query / goal / answer text
    query: set[str] | None = None  # tokens of its search query


def _norm_url(url: str) -> str:
    """Scheme, ``www.``, fragment and trailing slash dropped; host lower-cased."""
    rest = url.strip().split("#", 1)[0].split("://", 1)[-1]
    host, slash, path = rest.partition("/")
    return (host.lower().removeprefix("www.") + slash + path).rstrip("/")


def _image_id(ref: object) -> str | None:
    """``img_N`` for the references the image store accepts (``"img_2"``, ``"image 2"``, ``2``)."""
    if not isinstance(ref, (str, int)) or isinstance(ref, bool):
        return None
    m = re.search(r"\d+", ref) if isinstance(ref, str) else None
    if isinstance(ref, int):
        return f"img_{ref}" if 0 < ref < 10**9 else None
    return f"img_{int(m[0])}" if m and len(m[0]) <= 9 else None  # ids are small; int() of 4300+ digits raises


def _title_forms(title: str) -> set[str]:
    return {f for f in (normalize_answer(title), normalize_answer(_TITLE_SEP.split(title, 1)[0])) if f}


def _parse(t: TurnRecord) -> _Call:
    if t.kind == "answer":
        found = _ANSWER.findall(t.action)
        return _Call("answer", t.step_error is None, texts=[normalize_answer(found[-1] if found else "")])
    call, args = _Call(str(t.tool), t.step_error is None), t.arguments or {}
    for key, value in args.items():
        if key == "image":
            call.image = _image_id(value)
        elif isinstance(value, str) and key == "url":
            call.url = _norm_url(value)
            call.urls.add(call.url)
        elif isinstance(value, str):
            call.texts.append(normalize_answer(value))
    if call.tool in TEXT_SEARCH_TOOLS | IMAGE_SEARCH_TOOLS and isinstance(args.get("query"), str):
        call.query = set(normalize_answer(args["query"]).split())
    if not call.ok:
        return call
    if call.tool in TEXT_SEARCH_TOOLS:
        call.hits = [_Hit(_norm_url(url), _title_forms(title)) for title, url in _TEXT_HIT.findall(t.response)]
    elif call.tool in IMAGE_SEARCH_TOOLS:
        call.hits = [
            _Hit(_norm_url(page), _title_forms(head.split(" — ", 1)[0]), _norm_url(image), shown or None)
            for head, page, image, shown in _IMAGE_HIT.findall(t.response)
        ]
    elif call.tool == "visit":
        call.urls.update(_norm_url(u) for u in _VISIT_URL.findall(t.response)[:1])  # the url it landed on
    return call


def _used(hit: _Hit, later: Sequence[_Call]) -> bool:
    return any(
        hit.url in c.urls
        or hit.image_url in c.urls
        or (hit.image_id is not None and hit.image_id == c.image)
        or any(_contains(x, f) for x in c.texts for f in hit.titles)
        for c in later
    )


def _utility(calls: list[_Call], tools: frozenset[str]) -> float | None:
    idx = [i for i, c in enumerate(calls) if c.tool in tools]
    if not idx:
        return None
    return sum(any(_used(h, calls[i + 1 :]) for h in calls[i].hits) for i in idx) / len(idx)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _progression(calls: list[_Call], repeat_jaccard: float) -> float | None:
    queries = [(c.query, c.ok) for c in calls if c.query is not None]
    if not queries:
        return None
    fresh = sum(
        not any(ok and _jaccard(q, p) >= repeat_jaccard for p, ok in queries[:i]) for i, (q, _) in enumerate(queries)
    )
    return fresh / len(queries)


def _complementarity(calls: list[_Call], has_image: bool, single_modality_factor: float) -> float | None:
    done = [c for c in calls if c.ok and c.tool in TEXT_SEARCH_TOOLS | IMAGE_SEARCH_TOOLS]
    total = sum(len(c.hits) for c in done)
    if total == 0:
        return None
    score = len({h.url for c in done for h in c.hits}) / total
    both = {c.tool in TEXT_SEARCH_TOOLS for c in done} == {True, False}
    return score if both or not has_image else score * single_modality_factor


def _evidence(calls: list[_Call], evidence_urls: Sequence[str]) -> float | None:
    visits = [c for c in calls if c.tool == "visit"]
    if not evidence_urls:
        return sum(c.ok for c in visits) / len(visits) if visits else None
    gold = {_norm_url(u) for u in evidence_urls}
    consulted: dict[str, bool] = {}  # page -> read and on the gold path
    failed_without_url = 0
    for v in visits:
        if v.url is None:
            failed_without_url += 1
        else:
            consulted[v.url] = consulted.get(v.url, False) or (v.ok and bool(v.urls & gold))
    for i, c in enumerate(calls):
        for hit in c.hits:
            if _used(hit, calls[i + 1 :]):
                consulted[hit.url] = consulted.get(hit.url, False) or hit.url in gold
    n = len(consulted) + failed_without_url
    return sum(consulted.values()) / n if n else None


def query_score(
    turns: Sequence[TurnRecord],
    fatal_turn: int | None,
    evidence_urls: Sequence[str] = (),
    has_image: bool = True,
    weights: dict[str, float] | None = None,
    *,
    repeat_jaccard: float = 0.8,
    single_modality_factor: float = 0.5,
) -> tuple[float, dict[str, float]]:
    """``r_query``: weighted mean (equal ``weights`` by default) of five criteria on the turns before ``f``.

    Returns ``(score, per-criterion scores)``. A criterion with nothing to judge is *absent*
    from the dict and left out of the mean (0.0 when none is left). Without a tool call before
    ``f``, the score and all five criteria are 0.0. Failed calls count against every share.

    - ``image_search_utility``: share of ``image_search`` calls that succeeded and had a result
      used later. With ``has_image`` and no image search nor successful perception tool call
      (crop, ocr, …: before any image search every image is the task image or made from it),
      the image was ignored: 0.
    - ``text_search_utility``: the same for ``text_search`` (and ``web_search``) calls.
    - ``query_progression``: share of search queries (text, and image search by query) that do
      not repeat an earlier query whose call succeeded (token Jaccard >= ``repeat_jaccard``);
      retrying a failed query is no repeat.
    - ``complementarity``: distinct result pages over results returned by the successful
      searches; on an image task (``has_image``) that used only one of text and image search,
      times ``single_modality_factor``.
    - ``evidence_vs_noise``: with ``evidence_urls`` (the gold path), the share of consulted pages
      (visited urls and used results' pages) that were read successfully and are on the path;
      a visit without a url counts as one more noise page. Without them, the share of visits
      that succeeded.
    """
    w = dict.fromkeys(CRITERIA, 1.0)
    for name, value in (weights or {}).items():
        if name not in w:
            raise ValueError(f"unknown r_query criterion {name!r} in weights; known: {', '.join(CRITERIA)}")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"weight of {name} must be a finite number >= 0, got {value!r}")
        w[name] = float(value)
    for name, v in (("repeat_jaccard", repeat_jaccard), ("single_modality_factor", single_modality_factor)):
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
    kept = _before_fatal(turns, fatal_turn)
    if not any(t.kind == "tool_call" for t in kept):
        return 0.0, dict.fromkeys(CRITERIA, 0.0)
    calls = [_parse(t) for t in kept if t.kind in ("tool_call", "answer")]
    image_util = _utility(calls, IMAGE_SEARCH_TOOLS)
    if image_util is None and has_image and not any(c.ok and c.tool in PERCEPTION_TOOLS for c in calls):
        image_util = 0.0  # the task image was ignored
    found = {
        "image_search_utility": image_util,
        "text_search_utility": _utility(calls, TEXT_SEARCH_TOOLS),
        "query_progression": _progression(calls, repeat_jaccard),
        "complementarity": _complementarity(calls, has_image, single_modality_factor),
        "evidence_vs_noise": _evidence(calls, evidence_urls),
    }
    scores = {k: v for k, v in found.items() if v is not None}
    total = sum(w[k] for k in scores)
    return (sum(w[k] * v for k, v in scores.items()) / total if total > 0 else 0.0), scores


def deep_search_reward(
    r_acc: float, r_fmt: float, r_query: float, acc_weight: float = 0.8, query_weight: float = 0.2
) -> float:
    """``r_fmt · (acc_weight · r_acc + query_weight · r_query)``; every input in [0, 1]."""
    for name, v in (("r_acc", r_acc), ("r_fmt", r_fmt), ("r_query", r_query)):
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
    for name, v in (("acc_weight", acc_weight), ("query_weight", query_weight)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return r_fmt * (acc_weight * r_acc + query_weight * r_query)
