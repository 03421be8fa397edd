"""Gen-Searcher's dual reward (arXiv 2603.28767), as its release computes it, in pure functions.

``R = (1 − λ)·R_img + λ·R_text`` with λ = 0.5 (``GEN_REWARD_TEXT_COEF`` of the run's
``.env.gen_image``), and ``R = 0`` unless the answer cites 1 to 4 existing reference images
(``GEN_MIN_INPUT_IMAGES`` / ``GEN_MAX_INPUT_IMAGES``).

- ``R_img`` (KnowGen's formula, ``gen_image_deepresearch_reward.py`` / ``gpt_eval_knowgen.py``):
  ``round(0.1·faithfulness + 0.4·visual_correctness + 0.4·text_accuracy + 0.1·aesthetics, 2)``
  clipped to [0, 1]; each criterion is clipped to [0, 1] and rounded to 2 decimals first;
  ``text_accuracy`` counts 0.5 when ``text_accuracy_na`` is true (``True``, ``"true"``,
  ``"True"`` or ``1``) or when it is not a number. Judge output that is not a JSON object, or a
  criterion that is not a number, gives 0.
- ``R_text``: the judge's ``score`` snapped to {0, 0.25, 0.5, 0.75, 1}, ties going down
  (0.125 → 0, 0.375 → 0.25); not a number → 0.
- The answer is read with ``<answer>\\s*(\\{.*?\\})\\s*</answer>`` (so text after the closing
  brace fails) and must be an object with ``gen_prompt`` and a list ``reference_images``.

One deliberate difference: a criterion that is NaN or infinite makes the judge output
malformed (0). The release's ``max(0, min(1, x))`` turns NaN into 1, a full score from a
broken judge.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

IMAGE_WEIGHTS = {"faithfulness": 0.1, "visual_correctness": 0.4, "text_accuracy": 0.4, "aesthetics": 0.1}
TEXT_NA_SCORE = 0.5
TEXT_SCORES = (0.0, 0.25, 0.5, 0.75, 1.0)
TEXT_COEF = 0.5  # λ
MIN_REFS, MAX_REFS = 1, 4
MAX_LISTED_REFS = 5  # the agent keeps the first five items of reference_images
FACTIP_WEIGHTS = {"clarity": 0.05, "content_quality": 0.10, "aesthetics": 0.10, "text_relevance_ip": 0.75}
_ANSWER = re.compile(r"<answer>\s*(\{.*?\})\s*</answer>", re.DOTALL)
_NA_TRUE = (True, "true", "True", 1)


class AnswerError(ValueError):
    """An answer the release would reject (``answer_parse_failed``): the message says why."""


def parse_judge_json(content: Any) -> dict[str, Any] | None:
    """A judge reply as the release reads it: code fences dropped, first ``{`` to last ``}``,
    trailing commas forgiven; None when that is still not a JSON object."""
    if isinstance(content, dict):
        return content
    if not isinstance(content, str) or not content.strip():
        return None
    text = content.strip()
    if text.startswith("```"):
        text = re.sub(r"^```[a-zA-Z0-9]*\s*", "", text)
        text = re.sub(r"\s*```$", "", text).strip()
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        text = text[start : end + 1]
    for attempt in (text, re.sub(r",\s*]", "]", re.sub(r",\s*}", "}", text))):
        try:
            obj = json.loads(attempt)
        except (ValueError, RecursionError):
            continue
        return obj if isinstance(obj, dict) else None
    return None


def _unit(value: Any) -> float:
    """``round(clip01(float(value)), 2)``; raises ValueError/TypeError on what is not a finite number."""
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"not a finite score: {value!r}")
    return round(max(0.0, min(1.0, x)), 2)


def image_scores(judge_json: Any) -> dict[str, float] | None:
    """The four criteria after clipping, rounding and the N/A rule, or None for malformed judge output."""
    obj = parse_judge_json(judge_json)
    if obj is None:
        return None
    try:
        out = {k: _unit(obj.get(k, 0)) for k in ("faithfulness", "visual_correctness", "aesthetics")}
    except (TypeError, ValueError):
        return None
    na = obj.get("text_accuracy_na")
    try:
        na_flag = na in _NA_TRUE
    except TypeError:
        na_flag = False
    if na_flag:
        out["text_accuracy"], out["text_accuracy_na"] = TEXT_NA_SCORE, 1.0
    else:
        try:
            out["text_accuracy"], out["text_accuracy_na"] = _unit(obj.get("text_accuracy", 0)), 0.0
        except (TypeError, ValueError):
            out["text_accuracy"], out["text_accuracy_na"] = TEXT_NA_SCORE, 1.0
    return out


def image_reward(judge_json: Any) -> float:
    """``R_img`` from the image judge's JSON (a dict or the raw reply text); 0 when malformed."""
    scores = image_scores(judge_json)
    if scores is None:
        return 0.0
    overall = round(sum(w * scores[k] for k, w in IMAGE_WEIGHTS.items()), 2)
    return max(0.0, min(1.0, overall))


def snap_text_score(score: float, levels: tuple[float, ...] = TEXT_SCORES) -> float:
    """The nearest level, ties going to the lower one (the release scans upwards with a strict ``<``)."""
    best = 0.0
    for level in levels:
        if abs(score - level) < abs(score - best):
            best = level
    return max(0.0, min(1.0, best))


def text_reward(judge_json: Any) -> float:
    """``R_text`` from the text judge's JSON ``{"rationale", "score"}``; 0 when malformed."""
    obj = parse_judge_json(judge_json)
    if obj is None:
        return 0.0
    try:
        score = float(obj.get("score", 0))
    except (TypeError, ValueError):
        return 0.0
    return snap_text_score(score)


def dual_reward(
    r_img: float, r_text: float, n_refs: int, lam: float = TEXT_COEF, min_refs: int = MIN_REFS, max_refs: int = MAX_REFS
) -> float:
    """``(1 − λ)·R_img + λ·R_text`` when ``min_refs ≤ n_refs ≤ max_refs``, else 0."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be a number in [0, 1], got {lam!r}")
    if not min_refs <= n_refs <= max_refs:
        return 0.0
    return (1.0 - lam) * float(r_img) + lam * float(r_text)


def parse_answer(text: str) -> dict[str, Any] | None:
    """The answer object of a turn (``gen_prompt`` and the list ``reference_images``), or None."""
    if not isinstance(text, str):
        return None
    m = _ANSWER.search(text)
    if m is None:
        return None
    try:
        obj = json.loads(m.group(1).strip())
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or "gen_prompt" not in obj or "reference_images" not in obj:
        return None
    return obj if isinstance(obj["reference_images"], list) else None


def resolve_references(answer: dict[str, Any], known: Collection[str], strict: bool = True) -> list[dict[str, Any]]:
    """The answer's references (first five items; items that are not objects skipped) as ``{"img_id", "note"}``.

    ``known`` is the set of citable ids (after normalisation by the caller). ``strict`` (any
    turn but the forced last one) raises :class:`AnswerError` on a missing or unknown id; the
    last turn skips them, as the release does.
    """
    refs = []
    for item in answer.get("reference_images", [])[:MAX_LISTED_REFS]:
        if not isinstance(item, dict):
            continue
        raw = item.get("img_id") or ""
        if not isinstance(raw, str):
            raise AnswerError(f"img_id must be a string such as 'img_3', got {raw!r}")
        img_id = raw.strip()
        if not img_id or img_id not in known:
            if strict:
                raise AnswerError(f"unknown img_id {img_id[:40]!r}" if img_id else "a reference has no img_id")
            continue
        refs.append({"img_id": img_id, "note": item.get("note", "")})
    return refs


def factip_overall(scores: dict[str, Any]) -> float:
    """FactIP's per-image score (Unify-Agent, arXiv 2603.29620; ``eval/calculate.py``) on the judge's 0–10 scale."""
    return sum(w * float(scores[k]) for k, w in FACTIP_WEIGHTS.items())
