"""Statistics of the eval harness: pass@k, bootstrap intervals, paired comparisons, and ``report A B``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from algos.eval import EvalConfig, bootstrap_ci, paired_comparison, pass_at_k, run_eval
from algos.eval.stats import stratified_ci, task_means
from mmsearch_gym.cli import main

MAZE = "mmsearch_gym/Maze-v0"


def test_pass_at_k_hand_computed():
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert pass_at_k(4, 0, 3) == 0.0 and pass_at_k(4, 3, 2) == 1.0 and pass_at_k(4, 4, 4) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_bootstrap_interval_of_a_proportion_matches_the_normal_approximation():
    est = bootstrap_ci([0.0, 1.0] * 100, seed=0)
    half = 1.96 * 0.5 / np.sqrt(200)
    assert est.mean == 0.5 and est.n == 200
    assert est.lo == pytest.approx(0.5 - half, abs=0.015) and est.hi == pytest.approx(0.5 + half, abs=0.015)
    assert bootstrap_ci([0.7]).to_dict() == {"mean": 0.7, "lo": None, "hi": None, "n": 1}
    assert bootstrap_ci([]).mean is None


def test_samples_of_a_task_are_averaged_before_the_bootstrap():
    means = task_means([("t1", 1.0), ("t1", 0.0), ("t2", 1.0), ("t2", None), ("t3", 0.0)])
    assert means == {"t1": 0.5, "t2": 1.0, "t3": 0.0}


def test_suite_overall_is_the_weighted_mean_of_env_means():
    est = stratified_ci({"a": [1.0, 1.0, 1.0], "b": [0.0, 0.0]}, {"a": 3.0, "b": 1.0})
    assert (est.mean, est.lo, est.hi, est.n) == (0.75, 0.75, 0.75, 5)


def _runs(rng: np.random.Generator, n: int, lift: float) -> tuple[dict[int, float], dict[int, float]]:
    """Two runs on ``n`` tasks of varied difficulty; the second succeeds ``lift`` more often."""
    p = rng.uniform(0, 1, n)
    a = (rng.random(n) < p).astype(float)
    b = (rng.random(n) < np.clip(p + lift, 0, 1)).astype(float)
    return dict(enumerate(a)), dict(enumerate(b))


def test_paired_comparison_finds_a_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    planted = [paired_comparison(*_runs(rng, 300, 0.15), n_perm=2000, seed=s) for s in range(40)]
    null = [paired_comparison(*_runs(rng, 300, 0.0), n_perm=2000, seed=s) for s in range(100)]
    assert sum(p.significant and p.delta > 0 for p in planted) >= 38
    assert all(0.05 < p.delta < 0.25 and p.lo > 0 for p in planted if p.significant)
    assert sum(p.significant for p in null) <= 8  # the test's level is 5%
    assert sum(p.lo <= 0 <= p.hi for p in null) >= 90  # the 95% interval covers the true difference
    assert np.mean([p.p_value for p in null]) == pytest.approx(0.5, abs=0.1)  # p-values uniform under the null


def test_paired_comparison_uses_common_tasks_only():
    p = paired_comparison({1: 0.0, 2: 0.0, 3: 1.0}, {2: 1.0, 3: 1.0, 4: 0.0})
    assert (p.n, p.mean_a, p.mean_b, p.delta) == (2, 0.5, 1.0, 0.5)
    assert paired_comparison({1: 1.0}, {1: 0.0}) is None
    same = paired_comparison({i: float(i % 2) for i in range(10)}, {i: float(i % 2) for i in range(10)})
    assert same.delta == 0.0 and same.p_value == 1.0 and not same.significant


def test_report_command_compares_runs_paired_on_tasks(tmp_path, capsys):
    kw = {"size": 4}
    for name, policy in (("random", "random"), ("oracle", "oracle"), ("oracle2", "oracle")):
        run_eval(EvalConfig(MAZE, policy, tmp_path / name, episodes=40, seed=7, env_kwargs=kw), progress=False)
    out = tmp_path / "cmp.html"
    assert (
        main(
            ["report", str(tmp_path / "random"), str(tmp_path / "oracle"), str(tmp_path / "oracle2"), "--out", str(out)]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "against random" in text and "*" in text
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["baseline"].startswith("random")
    oracle = data["paired"][next(k for k in data["paired"] if k.startswith("oracle "))]
    d = oracle["envs"]["Maze-v0"]["metrics"]["success"]
    assert d["n"] == 40 and d["significant"] and d["delta"] > 0.5 and d["mean_b"] == 1.0
    assert oracle["common_tasks"] == 40 and "question_type" in oracle["envs"]["Maze-v0"]["tags"]
    html = out.read_text()
    assert "Leaderboard" in html and 'src="http' not in html
    # a run against a copy of itself: no difference
    assert (
        main(["report", str(tmp_path / "oracle"), str(tmp_path / "oracle2"), "--out", str(tmp_path / "same.html")]) == 0
    )
    same = json.loads((tmp_path / "same.json").read_text())
    s = next(iter(same["paired"].values()))["envs"]["Maze-v0"]["metrics"]["success"]
    assert s["delta"] == 0.0 and not s["significant"]


def test_report_rerenders_one_run_and_rejects_a_folder_without_episodes(tmp_path, capsys):
    run_eval(
        EvalConfig(MAZE, "oracle", tmp_path / "r", episodes=2, env_kwargs={"size": 3}, report=False), progress=False
    )
    assert not (tmp_path / "r" / "report.html").exists()
    assert main(["report", str(tmp_path / "r")]) == 0 and (tmp_path / "r" / "report.html").exists()
    assert main(["report", str(tmp_path / "nothing"), str(tmp_path / "r")]) == 2
    assert "holds no episodes.jsonl" in capsys.readouterr().out


def test_viewer_holds_a_spread_of_episodes_when_there_are_many(tmp_path):
    from algos.eval import RunStore, write_report

    result = run_eval(EvalConfig(MAZE, "oracle", tmp_path, episodes=6, env_kwargs={"size": 3}), progress=False)
    write_report(RunStore(tmp_path), result.summary, max_episodes=3)
    html = (tmp_path / "report.html").read_text()
    data = json.loads(html.split('id="episodes-data">')[1].split("</script>")[0])
    assert [e["seed"] for e in data] == [0, 2, 4] and "holds 3 of the 6 episodes" in html
    assert html.count("data:image/png;base64,") == 3 * 2  # only the shown episodes' images are embedded
