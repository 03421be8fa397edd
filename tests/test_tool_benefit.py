"""AdaTooler's Tool Benefit Score: `mmsearch-gym data tool-benefit` on a small generated DeepSearch
dataset with the oracle and a weaker agent, then at_grpo training from its output."""

from __future__ import annotations

import json
import math
import shutil

import gymnasium as gym
import pytest
import torch

import algos
import mmsearch_gym.cli
from algos import tiny
from algos.tool_benefit import WITHOUT_TOOLS, make_policy, read_tasks, score_tasks
from mmsearch_gym.core.record import EpisodeRecord
from mmsearch_gym.tasks.deep_search_data import build_dataset

ENV_ID = "mmsearch_gym/DeepSearch-v0"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tb") / "ds"
    build_dataset(root, "rl", 3, seed=0, progress=False)
    return root


@pytest.fixture(scope="module")
def scored(dataset, tmp_path_factory):
    """A copy of the dataset scored by the oracle through the command (2 runs each way)."""
    root = tmp_path_factory.mktemp("tb") / "scored"
    shutil.copytree(dataset, root)
    rc = mmsearch_gym.cli.main(["data", "tool-benefit", str(root), "--policy", "oracle", "--runs", "2"])
    assert rc == 0
    return root


def _solved(dataset, agent: str, index: int, **kw) -> bool:
    """Play task ``index`` with a scripted agent, step by step, outside the rollout engine."""
    env = gym.make(ENV_ID, dataset=str(dataset), **kw)
    env.reset(seed=0, options={"index": index})
    policy = mmsearch_gym.policies.make_policy(agent)
    done, info = False, {}
    while not done:
        _, _, terminated, truncated, info = env.step(policy.act(env))
        done = terminated or truncated
    env.close()
    return bool(info["success"])


def test_oracle_scores_are_stored_in_the_tasks_file(scored):
    rows = read_tasks(scored)
    assert len(rows) == 3
    for row in rows:
        # the oracle finds every answer with its tools and cannot know it without them
        assert row["tool_benefit"] == 1.0
        detail = row["tool_benefit_detail"]
        assert (detail["with_tools"], detail["without_tools"], detail["runs"]) == (1.0, 0.0, 2)
        assert detail["policy"] == "oracle" and detail["metric"] == "success"
        assert row["question"] and row["answers"]  # the other fields are kept
    env = gym.make(ENV_ID, dataset=str(scored))
    env.reset(options={"index": 1})
    assert env.unwrapped.episode_record().task["tool_benefit"] == 1.0  # the env carries ΔS to the record
    env.close()


def test_a_weaker_agent_scores_what_it_solves(dataset):
    scores = score_tasks(ENV_ID, dataset, make_policy("no_vision"), runs=2)
    solved = [_solved(dataset, "no_vision", i) for i in range(3)]
    assert [s.with_tools for s in scores] == [float(x) for x in solved]
    assert [s.without_tools for s in scores] == [0.0, 0.0, 0.0]
    assert [s.delta for s in scores] == [float(x) for x in solved]
    assert not all(solved)  # weaker than the oracle on this dataset
    # "without tools" is the env's one-turn, answer-only mode: a tool call there is refused
    env = gym.make(ENV_ID, dataset=str(dataset), **WITHOUT_TOOLS)
    env.reset(options={"index": 0})
    *_, info = env.step(env.unwrapped.oracle_action())
    assert info["termination_reason"] == "answered" and not info["success"]  # "unknown": no evidence
    env.reset(options={"index": 0})
    call = '<think>search</think><tool_call>{"name": "text_search", "arguments": {"query": "x"}}</tool_call>'
    _, _, _, truncated, info = env.step(call)
    assert info["step_error"] == "tool_disabled" and truncated and info["fatal"]
    env.close()


def test_bad_requests_fail_clearly(dataset, tmp_path):
    with pytest.raises(ValueError, match="runs must be an integer >= 1"):
        score_tasks(ENV_ID, dataset, make_policy("oracle"), runs=0)
    with pytest.raises(ValueError, match=r"task indices \[7\] are outside"):
        score_tasks(ENV_ID, dataset, make_policy("oracle"), indices=[7])
    with pytest.raises(ValueError, match="metric 'speed' is not a reward component"):
        score_tasks(ENV_ID, dataset, make_policy("oracle"), runs=1, metric="speed", indices=[0])
    with pytest.raises(ValueError, match="unknown policy .genius."):
        make_policy("genius")
    assert mmsearch_gym.cli.main(["data", "tool-benefit", str(tmp_path), "--policy", "oracle"]) == 1


def test_a_batch_with_some_tasks_unscored_is_an_error():
    records = [EpisodeRecord("e", f"t{i}", 0, task={"tool_benefit": 0.5} if i else {}) for i in range(2)]
    with pytest.raises(ValueError, match=r"tool_benefit .* missing for samples \[0\] \(tasks t0\)"):
        algos.EpisodeBatch.from_records(records, torch.zeros(2, 1, dtype=torch.long),
                                        torch.zeros(2, 1, dtype=torch.bool), torch.full((2, 1), -1))  # fmt: skip


def _train(model, dataset, out):
    before = torch.get_num_threads()
    try:
        return mmsearch_gym.cli.main([
            "train", "--env", ENV_ID, "--algo", "at_grpo", "--model", str(model), "--out", str(out), "--threads", "1",
            "--set", f"env_kwargs={{dataset: {dataset}, max_turns: 2}}",
            "--set", "rollout={tasks_per_step: 1, group_size: 2, max_new_tokens: 24, max_episode_tokens: 20000}",
            "--set", "rl.steps=2", "--set", "eval.episodes=0", "--set", "logging={progress: false, plot: false, tensorboard: false}",
        ])  # fmt: skip
    finally:
        torch.set_num_threads(before)


def test_at_grpo_trains_from_the_scores(scored, dataset, tmp_path, monkeypatch, capsys):
    tok = tiny.default_tokenizer(episodes=10)
    model = tiny.save_tiny_model(tmp_path / "vlm", "vlm", tokenizer=tok, hidden=32, layers=1, heads=2)
    monkeypatch.setattr(mmsearch_gym.cli, "COMMAND_MODULES", ["algos.cli"])
    assert _train(model, scored, tmp_path / "run") == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    rl = [r for r in rows if r["phase"] == "rl"]
    assert len(rl) == 2
    for r in rl:
        # the tiny random model never writes a valid turn: R_acc 0, n_tool 0, and every task has ΔS 1,
        # so R = 0 + .6 · 1 · exp(-2 · ((0 - 6) / 6)²) = .6 e^-2
        assert r["reward_mean"] == 0.0
        assert r["shaped_reward_mean"] == pytest.approx(0.6 * math.exp(-2), abs=1e-6)
    # the same dataset before scoring: a clear error, not a silent ΔS = 0
    capsys.readouterr()
    assert _train(model, dataset, tmp_path / "run2") == 1
    assert "at_grpo needs each sample's Tool Benefit Score" in capsys.readouterr().out
