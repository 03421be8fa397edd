"""DeepSearch-v0: oracle and baselines, the reward and its fatal rule, limits, judges, datasets and bad input."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from chat_server import ChatServer, completion

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.envs.deep_search import DeepSearchEnv
from mmsearch_gym.tasks.deep_search import DeepSearchTask
from mmsearch_gym.tasks.deep_search_agents import DeepSearchAgent
from mmsearch_gym.tasks.deep_search_data import build_dataset, iter_sft, load_tasks

ENV_ID = "mmsearch_gym/DeepSearch-v0"


def _call(name: str, **arguments) -> str:
    return f"<think>go</think><tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def _play(env, agent: str, seed: int) -> dict:
    env.reset(seed=seed)
    base = env.unwrapped
    while True:
        action = base.random_action() if agent == "random" else base.scripted_action(agent)
        _, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return {**info, "reward": reward, "anchor": base.ds_task.anchor["kind"]}


@pytest.fixture(scope="module")
def env():
    e = gym.make(ENV_ID)
    yield e
    e.close()


@pytest.fixture(scope="module")
def played(env):
    """40 generated tasks played by every scripted agent (seeds 1000…1039)."""
    return {
        agent: [_play(env, agent, 1000 + i) for i in range(40)]
        for agent in ("oracle", "no_vision", "single_search", "random")
    }


def _rate(results, anchors=None) -> float:
    chosen = [r for r in results if anchors is None or r["anchor"] in anchors]
    return sum(r["success"] for r in chosen) / max(len(chosen), 1)


def test_the_oracle_solves_generated_tasks_by_really_using_the_tools(played):
    oracle = played["oracle"]
    assert _rate(oracle) >= 0.95
    for r in oracle:
        if r["success"]:
            assert r["reward_components"]["format"] == 1.0 and r["reward_components"]["query"] > 0.5
            assert r["n_valid_tool_calls"] >= 4  # identify the image, then search and visit per hop
    tools_used = {
        m["content"].split('"name": "')[1].split('"')[0]
        for r in oracle
        for m in r["messages"]
        if m["role"] == "assistant" and "<tool_call>" in m["content"]
    }
    assert {"image_search", "text_search", "visit", "crop", "perspective_correct", "ocr"} <= tools_used


def test_baselines_stay_far_below_the_oracle(played):
    assert _rate(played["random"]) <= 0.05
    assert _rate(played["single_search"]) <= 0.10  # the one-search shortcut filter works
    hard = ("scene", "document")  # image-anchored tasks that need perception
    assert _rate(played["oracle"], hard) - _rate(played["no_vision"], hard) >= 0.5
    assert _rate(played["no_vision"]) < _rate(played["oracle"]) - 0.2


def test_at_most_four_new_images_reach_the_agent_per_turn(env):
    env.reset(seed=5)
    obs, _, _, _, info = env.step(_call("image_search", query="coat of arms", top_k=10))
    assert info["step_error"] is None and obs["text"].count("\n[") >= 6  # more results than thumbnails
    assert len(obs["images"]) == 4 and info["messages"][-1]["images"] == ["img_2", "img_3", "img_4", "img_5"]


def test_reward_is_format_times_weighted_accuracy_and_query(env):
    base = env.unwrapped
    env.reset(seed=7)
    env.step("no tags at all")  # a step error: r_fmt loses one turn of three
    env.step(_call("image_search", image="img_1"))
    _, reward, terminated, _, info = env.step(f"<think>I know it.</think><answer>{base.ds_task.answers[0]}</answer>")
    c = info["reward_components"]
    assert terminated and c["accuracy"] == 1.0 and c["format"] == pytest.approx(2 / 3)
    assert reward == pytest.approx(c["format"] * (0.8 * c["accuracy"] + 0.2 * c["query"]))
    assert 0 < c["query"] <= 1 and set(info["evaluation"]["query_criteria"]) <= {
        "image_search_utility",
        "text_search_utility",
        "query_progression",
        "complementarity",
        "evidence_vs_noise",
    }


def test_fatal_run_counts_only_turns_before_it_and_fatal_at_zero_gives_zero(env):
    env.reset(seed=8)
    for _ in range(3):
        _, reward, terminated, _, info = env.step("garbage")
    assert terminated and info["fatal"] and info["fatal_turn"] == 0 and reward == 0.0
    env.reset(seed=8)
    env.step(_call("image_search", image="img_1"))
    for _ in range(3):
        _, reward, terminated, _, info = env.step(_call("visit", url="https://nowhere.invalid/x"))
    c = info["reward_components"]
    assert info["fatal_turn"] == 1 and c["format"] == 1.0 and c["accuracy"] == 0.0
    assert reward == pytest.approx(0.2 * c["query"]) and c["query"] > 0


def test_max_model_calls_truncate_and_flag_unanswered(env):
    small = gym.make(ENV_ID, max_turns=3)
    small.reset(seed=2)
    small.step(_call("image_search", image="img_1"))
    small.step(_call("image_search", image="img_1"))
    _, _, terminated, truncated, info = small.step(_call("image_search", image="img_1"))
    assert info["step_error"] == "tool_disabled" and (terminated or truncated)
    assert info["fatal"] and info["fatal_turn"] == 3 and info["termination_reason"] == "max_turns"
    small.close()
    assert gym.make(ENV_ID).unwrapped.max_turns == 50


@pytest.fixture()
def judge():
    """A judge on 127.0.0.1 answering ``judge.verdicts`` in turn; "500" (and an empty queue) is a server error."""
    verdicts: list[str] = []

    def script(i: int) -> tuple[int, object]:
        verdict = verdicts.pop(0) if verdicts else "500"
        return (500, "") if verdict == "500" else (200, completion(verdict))

    with ChatServer(script) as srv:
        srv.verdicts = verdicts
        yield srv


def test_http_judge_decides_accuracy_and_falls_back_to_rules_when_down(judge):
    spec = {"kind": "http", "base_url": judge.url, "model": "judge", "retries": 0, "timeout_s": 5}
    env = gym.make(ENV_ID, judge=spec)
    judge.verdicts[:] = ["no"]
    env.reset(seed=3)
    gold = env.unwrapped.ds_task.answers[0]
    _, _, _, _, info = env.step(f"<think>x</think><answer>{gold}</answer>")
    assert info["reward_components"]["accuracy"] == 0.0  # the HTTP judge said no
    judge.verdicts[:] = ["500"]
    env.reset(seed=3)
    _, _, _, _, info = env.step(f"<think>x</think><answer>{gold}</answer>")
    assert info["reward_components"]["accuracy"] == 1.0 and "judge_error" in info["evaluation"]
    env.close()


def test_datasets_build_load_and_play(tmp_path):
    rl = build_dataset(tmp_path / "rl", "rl", n=3, seed=1, progress=False)
    assert rl["n"] == 3 and (tmp_path / "rl" / "manifest.json").is_file()
    env = gym.make(ENV_ID, dataset=tmp_path / "rl")
    _, info = env.reset(seed=0, options={"index": 2})
    assert info["task_id"] == load_tasks(tmp_path / "rl")[2].task_id
    while True:
        _, _, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        if terminated or truncated:
            break
    assert info["success"]
    env.close()
    sft = build_dataset(tmp_path / "sft", "sft", n=2, seed=1, progress=False)
    chats = list(iter_sft(tmp_path / "sft"))
    assert sft["n"] == len(chats) == 2
    for chat in chats:
        roles = [m["role"] for m in chat["messages"]]
        assert roles[:2] == ["system", "user"] and roles[-1] == "user" and "assistant" in roles
        assert chat["reward_components"]["accuracy"] == 1.0
        images = [p["image"] for m in chat["messages"] for p in m["content"] if p["type"] == "image"]
        assert images and all(__import__("pathlib").Path(p).is_file() for p in images)


def test_a_real_dataset_with_only_question_answers_and_image_plays(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(tmp_path / "images" / "q1.png")
    row = {
        "task_id": "q1",
        "question": "Who painted this?",
        "answers": ["Ada Lovelace", "Ada"],
        "image_paths": ["images/q1.png"],
    }
    (tmp_path / "tasks.jsonl").write_text(json.dumps(row) + "\n")
    env = gym.make(ENV_ID, dataset=tmp_path)
    obs, info = env.reset(seed=0)
    assert obs["images"][0].shape == (40, 60, 3) and "Who painted this?" in obs["text"]
    _, reward, _, _, info = env.step("<think>x</think><answer>It was Ada Lovelace.</answer>")
    assert info["reward_components"]["accuracy"] == 1.0 and reward > 0
    with pytest.raises(ValueError, match="no gold path"):
        DeepSearchAgent("oracle").act(env.unwrapped)
    env.close()


def test_bad_arguments_and_options_fail_clearly(env, tmp_path):
    with pytest.raises(ValueError, match="tools must be"):
        DeepSearchEnv(tools=("text_search", "teleport"))
    with pytest.raises(ValueError, match="acc_weight"):
        DeepSearchEnv(acc_weight=1.5)
    with pytest.raises(ValueError, match="unknown judge|kind"):
        DeepSearchEnv(judge={"kind": "oracle"})
    with pytest.raises(FileNotFoundError, match="tasks.jsonl"):
        DeepSearchEnv(dataset=tmp_path)
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"hops": 3})
    with pytest.raises(ValueError, match="needs a dataset"):
        env.reset(options={"index": 0})
    with pytest.raises(ValueError, match="DeepSearchAgent|choose one of"):
        DeepSearchAgent("genius")


def test_search_only_ablation_offers_only_the_search_tools():
    env = gym.make(ENV_ID, tools=("text_search", "image_search", "visit"))
    _, info = env.reset(seed=0)
    assert [t["function"]["name"] for t in info["tools"]] == ["text_search", "image_search", "visit"]
    _, _, _, _, info = env.step(_call("ocr", image="img_1"))
    assert info["step_error"] == "unknown_tool"
    env.close()


def test_given_task_is_played_as_is(env):
    task = DeepSearchTask("t-given", "What colour is the sky?", ["blue"], image=np.zeros((8, 8, 3), np.uint8))
    obs, info = env.reset(options={"task": task})
    assert info["task_id"] == "t-given" and obs["text"].startswith("What colour is the sky?")


def test_generated_tasks_over_a_served_world(tmp_path):
    """Rollout workers share one ``mmsearch-gym serve``; each generates tasks from the same world folder."""
    from mmsearch_gym.world import build_world
    from mmsearch_gym.world.backend import LocalWorldBackend
    from mmsearch_gym.world.server import WorldServer

    path = build_world(tmp_path / "w", 300, 7)
    server = WorldServer(LocalWorldBackend(path), "127.0.0.1", 0)
    server.start()
    try:
        with pytest.raises(ValueError, match="world=DIR"):
            DeepSearchEnv(backend=server.url)
        env = gym.make(ENV_ID, backend=server.url, world=path)
        local = gym.make(ENV_ID, backend=f"world:{path}")
        for seed in (0, 1, 2):
            result = _play(env, "oracle", seed)
            assert result["success"]
            local.reset(seed=seed)  # the same seed gives the same task whichever way the world is reached
            assert local.unwrapped.ds_task.question == env.unwrapped.ds_task.question
        env.close()
        local.close()
    finally:
        server.shutdown()
        server.server_close()
