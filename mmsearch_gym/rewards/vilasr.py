"""VILASR's reward (arXiv 2506.09965): ``overall = 0.5·acc + 0.5·format if acc > 0 else 0``.

``format`` is 1 when every turn was well formed (and error free) and the answer came in the
last turn; accuracy is exact for multiple choice and the mean relative accuracy (MRA) over
thresholds 0.50 … 0.95 for numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..core.record import TurnRecord

MRA_THRESHOLDS = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))


def format_reward(turns: Sequence[TurnRecord]) -> float:
    """1.0 when all turns parsed cleanly, had no step error, and only the last one answered."""
    if not turns or turns[-1].kind != "answer":
        return 0.0
    clean = all(t.well_formed and t.step_error is None for t in turns)
    answers_only_last = all(t.kind != "answer" for t in turns[:-1])
    return float(clean and answers_only_last)


def mean_relative_accuracy(pred: float, truth: float, thresholds: Sequence[float] = MRA_THRESHOLDS) -> float:
    """Mean over θ of ``[|pred − truth| / |truth| < 1 − θ]``; exact match when ``truth == 0``."""
    if not np.isfinite(pred):
        return 0.0
    if truth == 0:
        return float(pred == 0)
    rel = abs(pred - truth) / abs(truth)
    return float(np.mean([rel < 1 - t for t in thresholds]))


def parse_number(text: str) -> float | None:
    """The first number in ``text`` (``"about 12 moves"`` → 12.0), or None."""
    m = re.search(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    return float(m.group()) if m else None


def parse_choice(text: str, n_options: int) -> str | None:
    """The option letter in ``text`` (``"B"``, ``"(b)"``, ``"Option B."``), or None when absent or ambiguous."""
    letters = "ABCDEFGHIJ"[:n_options]
    alone = re.fullmatch(r"\(?([a-j])\)?\.?", text.strip(), re.IGNORECASE)
    if alone:
        letter = alone.group(1).upper()
        return letter if letter in letters else None
    found = set(re.findall(rf"(?<![A-Za-z])([{letters}])(?![A-Za-z])", text))
    return found.pop() if len(found) == 1 else None


def overall_reward(accuracy: float, fmt: float, acc_weight: float = 0.5, format_weight: float = 0.5) -> float:
    """``acc_weight·acc + format_weight·format`` when ``acc > 0``, else 0."""
    return acc_weight * accuracy + format_weight * fmt if accuracy > 0 else 0.0
