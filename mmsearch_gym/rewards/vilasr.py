"""VILASR's reward (arXiv 2506.09965): ``overall = 0.5·acc + 0.5·format if acc > 0 else 0``.

As the released code computes it (``verl/utils/reward_score/gcot.py`` of AntResearchNLP/ViLaSR):

- ``format`` is 1 when every turn was well formed (and, here, error free) and the answer came
  in the last turn only;
- accuracy for multiple choice is an exact string match after ``strip()`` (``(B)`` and ``b``
  score 0 against ``B``); ``lenient=True`` reads the option letter instead;
- accuracy for numbers is the mean relative accuracy (MRA) in float32: the mean over
  θ ∈ {0.50, 0.55, …, 0.95} of ``[|pred − gt| / (|gt| + 1e-8) < 1 − θ]``, so (1.05, 1) → 1.0
  and (1e-10, 0) → 1.0.

Numbers are read with thousands separators and leading dots (``1,000`` → 1000, ``.5`` → 0.5);
the reference's regex stops at the comma (``1,000`` → 1): the issue chose the reading a person
means. Short-text answers (SpaceVista's third metric) score a normalised exact match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..core.record import TurnRecord

# torch.arange(0.5, 0.95 + 0.025, 0.05, dtype=float32): values computed in double, then cast.
MRA_THRESHOLDS = tuple(0.5 + 0.05 * i for i in range(10))
MRA_EPS = 1e-8
_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)")


def format_reward(turns: Sequence[TurnRecord]) -> float:
    """1.0 when all turns parsed cleanly, had no step error, and only the last one answered."""
    if not turns or turns[-1].kind != "answer":
        return 0.0
    clean = all(t.well_formed and t.step_error is None for t in turns)
    answers_only_last = all(t.kind != "answer" for t in turns[:-1])
    return float(clean and answers_only_last)


def mean_relative_accuracy(
    pred: float, truth: float, thresholds: Sequence[float] = MRA_THRESHOLDS, eps: float = MRA_EPS
) -> float:
    """Mean over θ of ``[|pred − truth| / (|truth| + eps) < 1 − θ]``, in float32 as the reference."""
    with np.errstate(over="ignore", invalid="ignore"):
        p, t = np.float32(pred), np.float32(truth)
        rel = np.abs(p - t) / (np.abs(t) + np.float32(eps))
        limits = np.float32(1) - np.asarray(thresholds, dtype=np.float64).astype(np.float32)
        hits = (rel < limits).astype(np.float32)  # NaN or inf compare False: 0
        return float(hits.mean(dtype=np.float32))  # a float32 mean, as ``mra.item()``


def parse_number(text: str) -> float | None:
    """The first number in ``text`` (``"about 12 moves"`` → 12, ``.5`` → 0.5, ``1,000`` → 1000), or None."""
    m = _NUMBER.search(text)
    if not m:
        return None
    try:
        value = float(m.group().replace(",", ""))
    except ValueError:  # a 5000-digit literal
        return None
    return value if np.isfinite(value) else None


def parse_choice(text: str, n_options: int) -> str | None:
    """The option letter in ``text`` (``"B"``, ``"(b)"``, ``"Option B."``), or None when absent or ambiguous."""
    letters = "ABCDEFGHIJ"[:n_options]
    alone = re.fullmatch(r"\(?([a-j])\)?\.?", text.strip(), re.IGNORECASE)
    if alone:
        letter = alone.group(1).upper()
        return letter if letter in letters else None
    found = set(re.findall(rf"(?<![A-Za-z])([{letters}])(?![A-Za-z])", text))
    return found.pop() if len(found) == 1 else None


def choice_accuracy(answer: str, truth: str, lenient: bool = False, n_options: int = 10) -> float:
    """VILASR's multiple choice: ``answer.strip() == truth.strip()``; ``lenient`` reads the letter."""
    if lenient:
        return float(parse_choice(answer, n_options) == truth.strip())
    return float(answer.strip() == truth.strip())


def numeric_accuracy(answer: str, truth: float) -> float:
    """MRA of the first number in ``answer`` against ``truth`` (0 when there is none)."""
    number = parse_number(answer)
    return mean_relative_accuracy(number, truth) if number is not None else 0.0


def normalize_text(text: str) -> str:
    """Lower case, punctuation and articles dropped, spaces collapsed."""
    words = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return " ".join(w for w in words if w not in ("a", "an", "the"))


def text_accuracy(answer: str, truth: str | Sequence[str]) -> float:
    """1.0 when the normalised answer equals the (or one of the) normalised truth(s)."""
    truths = [truth] if isinstance(truth, str) else list(truth)
    return float(normalize_text(answer) in {normalize_text(t) for t in truths})


def overall_reward(accuracy: float, fmt: float, acc_weight: float = 0.5, format_weight: float = 0.5) -> float:
    """``acc_weight·acc + format_weight·format`` when ``acc > 0``, else 0."""
    return acc_weight * accuracy + format_weight * fmt if accuracy > 0 else 0.0
