"""Reagent's rule reward (Agent-RRM paper, arXiv 2601.22154), as its release computes it.

``rule_reward(prediction, answers)``: \\boxed{} extraction, yes/no and true/false answers,
math equivalence for numbers, then exact match -> 1 or token F1 >= 0.3 -> F1 (see
:func:`rule_reward`). ``algos.reagent`` uses it as R_rule; an env can use it as its judge.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from .math_equiv import is_math, math_equal


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


_NO_F1 = ("yes", "no", "noanswer")


def token_f1(prediction: str, answer: str) -> float:
    """Token F1 after :func:`normalize_answer`; 0 when either side is yes/no/noanswer and
    they differ (the release's ``f1_score``, from HotpotQA)."""
    pred_n, gold_n = normalize_answer(prediction), normalize_answer(answer)
    if pred_n != gold_n and (pred_n in _NO_F1 or gold_n in _NO_F1):
        return 0.0
    pred, gold = pred_n.split(), gold_n.split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def extract_boxed(text: str) -> str | None:
    """The content of the first ``\boxed{…}`` (nested braces kept), stripped; None without one."""
    start = text.find("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += (text[j] == "{") - (text[j] == "}")
        if depth == 0:
            return text[i:j].strip() or None
    return None


_POLARITY = {"yes": ("yes", "no"), "no": ("yes", "no"), "true": ("true", "false"), "false": ("true", "false")}
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


def rule_reward(prediction: str | None, answers: str | Sequence[str], f1_threshold: float = 0.3) -> float:
    """Reagent's rule reward (release: ``rllm/rewards/{mix,search,math}_reward.py``), best over ``answers``:

    1. The answer is the first ``\boxed{}`` content if any, else the prediction (``<think>``
       blocks removed).
    2. A gold yes/no (true/false) answer: 1 if the answer says it, e.g. ``Yes, definitely``
       for ``yes``; the release matches it as a substring, here the first yes/no word decides,
       so a hedge (``yes no``) or a word that merely contains it (``know``, ``untrue``) does not.
    3. Numbers and math (plain numbers, ``a/b``, LaTeX) on either side: 1 if equal as math
       (``42.0`` = ``42``), else 0.
    4. Text: normalised exact match -> 1, else token F1 if >= ``f1_threshold`` (0.3), else 0;
       F1 is 0 when one side is yes/no/noanswer (and the other differs).

    ``None`` (no answer) scores 0. The release's free-text heuristics for finding an answer in
    prose (bold text, dates, names) are left out: the env's ``<answer>`` block is the answer.
    """
    if prediction is None:
        return 0.0
    text = _THINK.sub(" ", prediction)
    answer = extract_boxed(text) or text.strip()
    answers = [answers] if isinstance(answers, str) else list(answers)
    return max((_rule_one(answer, str(gold), f1_threshold) for gold in answers), default=0.0)


def _rule_one(answer: str, gold: str, f1_threshold: float) -> float:
    polar = gold.strip().lower()
    if polar in _POLARITY:
        words = [w for w in re.findall(r"[a-z]+", answer.lower()) if w in _POLARITY[polar]]
        return 1.0 if words and words[0] == polar else 0.0
    if is_math(answer) or is_math(gold):
        if math_equal(answer, gold):
            return 1.0
        if is_math(gold):
            return 0.0
    if normalize_answer(answer) == normalize_answer(gold):
        return 1.0
    f1 = token_f1(answer, gold)
    return f1 if f1 >= f1_threshold else 0.0
