"""Across-seed statistics for training runs: mean and a Student-t confidence interval.

    iv = t_interval([0.31, 0.42, 0.38])          # Interval(mean=0.37, low=0.23, high=0.51, n=3)
    f"{iv:pct}"                                   # '37.0 ± 13.9 (95% CI 23.1 to 50.9, n=3)'
    paired = t_interval([b - a for a, b in zip(before, after)])   # a gain, seed by seed

With a handful of seeds the t-interval is the honest choice: ``mean ± t_{(1+level)/2, n-1} · s / √n``
with ``s`` the sample standard deviation (ddof 1). A percentile bootstrap over three seeds
would be far too narrow. One value gives an interval of (-inf, inf) around it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """``mean`` of ``n`` values and its two-sided ``level`` confidence interval ``[low, high]``."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def __format__(self, spec: str) -> str:
        """``pct``: values in [0, 1] shown as percentage points; anything else: a float format."""
        scale, fmt = (100.0, ".1f") if spec == "pct" else (1.0, spec or ".3f")
        m, lo, hi, hw = (v * scale for v in (self.mean, self.low, self.high, self.half_width))
        return f"{m:{fmt}} ± {hw:{fmt}} ({self.level:.0%} CI {lo:{fmt}} to {hi:{fmt}}, n={self.n})"


def t_critical(level: float, df: int) -> float:
    """Two-sided Student-t critical value ``t_{(1+level)/2, df}`` (e.g. 4.303 for 95% and df 2)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    from scipy.stats import t

    return float(t.ppf((1 + level) / 2, df))


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of ``values`` with its Student-t confidence interval (see the module docstring)."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("t_interval needs at least one value")
    if not all(math.isfinite(x) for x in xs):
        raise ValueError(f"t_interval needs finite values, got {xs}")
    n = len(xs)
    mean = sum(xs) / n
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1, level)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_critical(level, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level)
