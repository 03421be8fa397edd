"""Math equivalence of two answers: ``42.0`` = ``42``, ``\\frac{1}{2}`` = ``0.5`` = ``1/2``, ``5e-1`` = ``0.5``.

Plain number literals (signs, decimals, exponents) are compared exactly as decimals; anything
else goes to math-verify (LaTeX and expressions through sympy), imported on first use so
that ``import mmsearch_gym`` stays light. Hostile input is bounded before the work: a text
longer than ``MAX_CHARS`` is never equal to anything, and math-verify's own timeouts run
wherever signals work (the main thread); elsewhere the length bound is the guard.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal, InvalidOperation

MAX_CHARS = 1000
TIMEOUT_S = 5
_PLAIN = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*")
_FRACTION = re.compile(r"\s*[+-]?\d+\s*/\s*\d+\s*")
_LATEX = re.compile(r"\\(?:d|t)?frac|\\sqrt|\\boxed|\\pi|\^|\$")


def plain_number(text: str) -> Decimal | None:
    """The value of a plain number literal (``-3``, ``.5``, ``1e-3``), else None."""
    m = _PLAIN.fullmatch(text)
    if m is None:
        return None
    try:
        value = Decimal(m.group(1))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def is_math(text: str) -> bool:
    """Whether ``text`` reads as a number or a math expression: a plain number, a fraction
    ``a/b``, or LaTeX math (``\\frac``, ``\\sqrt``, ``$…$``, powers)."""
    return plain_number(text) is not None or bool(_FRACTION.fullmatch(text)) or bool(_LATEX.search(text))


def math_equal(prediction: str, gold: str) -> bool:
    """Whether ``prediction`` equals ``gold`` as math (math-verify for all but plain numbers)."""
    if not isinstance(prediction, str) or not isinstance(gold, str):
        return False
    if len(prediction) > MAX_CHARS or len(gold) > MAX_CHARS or not prediction.strip() or not gold.strip():
        return False
    a, b = plain_number(prediction), plain_number(gold)
    if a is not None and b is not None:
        return a == b
    from math_verify import parse, verify

    timeout = TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    try:
        target = parse(_as_decimal(prediction), parsing_timeout=timeout)
        expected = parse(_as_decimal(gold), parsing_timeout=timeout)
        return bool(target) and bool(expected) and bool(verify(expected, target, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001  (math-verify or sympy giving up on odd input: "not shown equal")
        return False


def _as_decimal(text: str) -> str:
    """A plain literal in exponent notation rewritten as a decimal (math-verify reads ``5e-1`` as 5)."""
    value = plain_number(text)
    return text if value is None else format(value, "f")
