"""Intervals and paired comparisons that tell a real difference from noise.

The unit is the task: with ``--samples k`` an episode's k samples are averaged first, and
the bootstrap resamples tasks (episodes of one task are not independent). Intervals are
percentile bootstrap 95% intervals; a comparison of two runs pairs them on the tasks both
played and reports the mean difference, its bootstrap interval and a two-sided sign-flip
permutation p-value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

N_BOOT = 2000
ALPHA = 0.05


@dataclass
class Estimate:
    """A mean with its bootstrap interval over ``n`` tasks (``lo``/``hi`` None for one task)."""

    mean: float | None
    lo: float | None
    hi: float | None
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass
class Paired:
    """``b - a`` on the ``n`` tasks both runs played."""

    n: int
    mean_a: float
    mean_b: float
    delta: float
    lo: float
    hi: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA and not self.lo <= 0.0 <= self.hi

    def to_dict(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "significant": self.significant}


def task_means(pairs: Iterable[tuple[Hashable, float | None]]) -> dict[Hashable, float]:
    """Mean value per task from ``(task, value)`` pairs; None values are skipped."""
    acc: dict[Hashable, list[float]] = defaultdict(list)
    for task, value in pairs:
        if value is not None:
            acc[task].append(float(value))
    return {t: float(np.mean(v)) for t, v in acc.items()}


def bootstrap_ci(values: Sequence[float], n_boot: int = N_BOOT, alpha: float = ALPHA, seed: int = 0) -> Estimate:
    """Mean of ``values`` (one per task) and its percentile bootstrap interval."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return Estimate(None, None, None, 0)
    if x.size == 1:
        return Estimate(float(x[0]), None, None, 1)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Estimate(float(x.mean()), float(lo), float(hi), int(x.size))


def stratified_ci(
    groups: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    n_boot: int = N_BOOT,
    alpha: float = ALPHA,
    seed: int = 0,
) -> Estimate:
    """Weighted mean of the groups' means (a suite's overall score), resampling within each group."""
    present = {g: np.asarray(v, dtype=np.float64) for g, v in groups.items() if len(v)}
    if not present:
        return Estimate(None, None, None, 0)
    w = np.array([weights.get(g, 1.0) for g in present], dtype=np.float64)
    w = w / w.sum()
    point = float(sum(wi * x.mean() for wi, x in zip(w, present.values())))
    n = int(sum(x.size for x in present.values()))
    if n < 2:
        return Estimate(point, None, None, n)
    rng = np.random.default_rng(seed)
    boot = np.zeros(n_boot)
    for wi, x in zip(w, present.values()):
        boot += wi * x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return Estimate(point, float(lo), float(hi), n)


def paired_comparison(
    a: Mapping[Hashable, float],
    b: Mapping[Hashable, float],
    n_boot: int = N_BOOT,
    n_perm: int = 10_000,
    alpha: float = ALPHA,
    seed: int = 0,
) -> Paired | None:
    """``b - a`` over the tasks in both (None when fewer than two): bootstrap interval and a
    sign-flip permutation p-value (under the null the sign of each task's difference is a coin)."""
    common = sorted(set(a) & set(b), key=repr)
    if len(common) < 2:
        return None
    xa = np.array([a[t] for t in common], dtype=np.float64)
    xb = np.array([b[t] for t in common], dtype=np.float64)
    d = xb - xa
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    observed = abs(d.mean())
    if observed == 0.0:
        p = 1.0
    else:
        signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, d.size))
        null = np.abs((signs * d).mean(axis=1))
        p = float((1 + np.sum(null >= observed - 1e-12)) / (n_perm + 1))
    return Paired(len(common), float(xa.mean()), float(xb.mean()), float(d.mean()), float(lo), float(hi), p)
