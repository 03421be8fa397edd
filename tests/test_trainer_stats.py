"""Across-seed intervals (algos.trainer.stats), pinned with hand-computed numbers."""

import math

import pytest

from algos.trainer.stats import Interval, t_critical, t_interval


def test_t_critical_table_values():
    # two-sided 95%: t_{.975, df} from any t table
    assert t_critical(0.95, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_critical(0.95, 2) == pytest.approx(4.3027, abs=1e-4)
    assert t_critical(0.95, 4) == pytest.approx(2.7764, abs=1e-4)
    assert t_critical(0.90, 2) == pytest.approx(2.9200, abs=1e-4)
    with pytest.raises(ValueError, match="df must be >= 1"):
        t_critical(0.95, 0)
    with pytest.raises(ValueError, match="level"):
        t_critical(1.5, 3)


def test_t_interval_three_seeds():
    # mean .2, s = .1, s/√3 = .0577350, half = 4.302653 · .0577350 = .248414
    iv = t_interval([0.1, 0.2, 0.3])
    assert (iv.mean, iv.n) == (pytest.approx(0.2), 3)
    assert iv.half_width == pytest.approx(0.248414, abs=1e-6)
    assert (iv.low, iv.high) == (pytest.approx(0.2 - 0.248414, abs=1e-6), pytest.approx(0.448414, abs=1e-6))
    assert not iv.excludes_zero()
    assert t_interval([0.12, 0.15, 0.18]).excludes_zero()  # mean .15, half .0745 -> [.0755, .2245]
    assert f"{iv:pct}" == "20.0 ± 24.8 (95% CI -4.8 to 44.8, n=3)"


def test_t_interval_edges():
    one = t_interval([0.4])
    assert one.mean == 0.4 and one.low == -math.inf and one.high == math.inf and not one.excludes_zero()
    same = t_interval([0.5, 0.5, 0.5])
    assert (same.low, same.high) == (0.5, 0.5) and same.excludes_zero()
    assert isinstance(same, Interval)
    with pytest.raises(ValueError, match="at least one"):
        t_interval([])
    with pytest.raises(ValueError, match="finite"):
        t_interval([0.1, float("nan")])
