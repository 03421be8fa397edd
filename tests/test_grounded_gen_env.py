"""GroundedGen-v0: the agents per category, Gen-Searcher's turn and answer rules, limits, determinism and the env contract."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.envs.grounded_gen import GroundedGenEnv
from mmsearch_gym.world.schema import FACTIP_CATEGORIES

ENV_ID = "mmsearch_gym/GroundedGen-v0"


def _call(name: str, **arguments) -> str:
    return f"<think>go</think><tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def _answer(prompt: str, ids: list[str]) -> str:
    refs = [{"img_id": i, "note": "copy it"} for i in ids]
    return f"<think>done</think><answer>{json.dumps({'gen_prompt': prompt, 'reference_images': refs})}</answer>"


def _play(env, agent: str, seed: int, **options) -> dict:
    env.reset(seed=seed, options=options or None)
    base = env.unwrapped
    while True:
        action = base.random_action() if agent == "random" else base.scripted_action(agent)
        _, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return {**info, "reward": reward, "category": base.gg_task.category, "composition": base.gg_task.composition}


@pytest.fixture(scope="module")
def env():
    e = gym.make(ENV_ID)
    yield e
    e.close()


@pytest.fixture(scope="module")
def ungated():
    e = gym.make(ENV_ID, min_refs=0)  # an answer without references is still drawn and judged
    yield e
    e.close()


@pytest.fixture(scope="module")
def played(env, ungated):
    """Every FactIP category twice (seeds 500…523) for each agent."""
    out = {}
    for agent, e in (("oracle", env), ("wrong_reference", env), ("no_search", env), ("no_search_judged", ungated)):
        name = "no_search" if agent == "no_search_judged" else agent
        out[agent] = [_play(e, name, 500 + 2 * i + k, category=c) for i, c in enumerate(FACTIP_CATEGORIES) for k in range(2)]
    return out


def _by_category(results, key="reward"):
    cats: dict[str, list[float]] = {}
    for r in results:
        value = r["reward"] if key == "reward" else r["reward_components"][key]
        cats.setdefault(r["category"], []).append(value)
    return {c: float(np.mean(v)) for c, v in cats.items()}


def test_the_oracle_scores_at_least_0_8_in_every_category(played):
    oracle = _by_category(played["oracle"])
    assert set(oracle) == set(FACTIP_CATEGORIES)
    assert min(oracle.values()) >= 0.8, oracle
    assert all(r["termination_reason"] == "answered" and not r["fatal"] for r in played["oracle"])
    assert all(r["n_valid_tool_calls"] >= 3 for r in played["oracle"])  # it really searched


def test_wrong_references_lose_the_image_reward_in_every_category(played):
    oracle, wrong = _by_category(played["oracle"], "image"), _by_category(played["wrong_reference"], "image")
    for cat in FACTIP_CATEGORIES:
        assert wrong[cat] <= oracle[cat] - 0.25, (cat, wrong[cat], oracle[cat])
    assert all(r["evaluation"]["image_judge"]["visual_correctness"] < 1 for r in played["wrong_reference"])


def test_no_search_scores_at_most_0_4_in_every_category(played):
    assert max(_by_category(played["no_search"]).values()) == 0.0  # no reference: 0, as in the release
    assert all("gated" in r["evaluation"] for r in played["no_search"])
    judged = _by_category(played["no_search_judged"])
    assert max(judged.values()) <= 0.4, judged
    assert np.mean(list(judged.values())) <= 0.3


def test_compositions_are_all_covered_and_pairs_cite_two_references(played):
    comps = {r["composition"] for r in played["oracle"]}
    assert comps == {"single", "scene", "pair", "text"}
    for r in played["oracle"]:
        assert r["reward_components"]["n_refs"] == (2.0 if r["composition"] == "pair" else 1.0)


def test_check_env_is_clean_and_vector_envs_work():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(ENV_ID).unwrapped, skip_render_check=True)
    vec = gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID) for _ in range(2)])
    obs, info = vec.reset(seed=3)
    assert len(obs["text"]) == 2 and list(info["fatal_turn"]) == [-1, -1]
    vec.close()


def test_same_seed_same_episode_and_same_picture():
    runs = []
    for _ in range(2):
        e = GroundedGenEnv()
        obs, _ = e.reset(seed=11, options={"composition": "text"})
        transcript = [obs["text"]]
        while True:
            obs, reward, terminated, truncated, info = e.step(e.oracle_action())
            transcript.append(obs["text"])
            if terminated or truncated:
                break
        runs.append((transcript, reward, info["evaluation"], e.generated_image.copy()))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1] and runs[0][2] == runs[1][2]
    assert np.array_equal(runs[0][3], runs[1][3])


def test_gen_searcher_tool_names_work(env):
    e = GroundedGenEnv(tools=("search", "image_search", "browse"))
    obs, info = e.reset(seed=5, options={"composition": "pair"})
    assert {t["function"]["name"] for t in info["tools"]} == {"search", "image_search", "browse"}
    assert "text_search" not in e.system_prompt() and "- search(" in e.system_prompt()
    name = e.gg_task.subjects[0]["name"]
    obs, *_ , info = e.step(_call("search", queries=[name, "a second query"]))
    assert info["step_error"] is None and obs["text"].count("--- search result for [") == 2
    obs, *_, info = e.step(_call("browse", url=e.gg_task.subjects[0]["url"], query="colour"))
    assert info["step_error"] is None and name in obs["text"]
    obs, *_, info = e.step(_call("text_search", query=name))  # the offered tool's alias is accepted too
    assert info["step_error"] is None
    reward = _play(e, "oracle", 5, composition="pair")["reward"]
    assert reward >= 0.8


def test_a_turn_with_a_tool_call_and_an_answer_runs_the_tool(env):
    env.reset(seed=2)
    base = env.unwrapped
    name = base.gg_task.subjects[0]["name"]
    action = _call("image_search", query=name) + _answer("anything", ["img_1"])
    obs, reward, terminated, truncated, info = env.step(action)
    assert not terminated and info["step_error"] is None and len(obs["images"]) >= 1
    assert base.episode_record().turns[-1].well_formed is False


def test_answers_read_and_checked_as_the_release(env):
    base = env.unwrapped

    def first_search():
        env.reset(seed=4)
        env.step(_call("image_search", query=base.gg_task.subjects[0]["name"]))

    first_search()
    *_, terminated, _, info = env.step(_answer("the first reference image", ["img_1"]).replace("}</answer>", "} ok</answer>"))
    assert terminated and info["reward_components"]["overall"] == 0.0 and "answer_error" in info["evaluation"]
    first_search()
    *_, terminated, _, info = env.step(_answer("the first reference image", ["img_9"]))
    assert terminated and "unknown img_id" in info["evaluation"]["answer_error"]
    first_search()
    *_, info = env.step(_answer("copy the first reference image", ["IMG_001"]))  # Gen-Searcher's ids are read as ours
    assert info["reward_components"]["n_refs"] == 1.0 and info["reward_components"]["image"] > 0
    first_search()
    *_, info = env.step(_answer("copy the first reference image", ["img_1"] * 5))
    assert info["reward_components"]["overall"] == 0.0 and "gated" in info["evaluation"]
    first_search()
    *_, info = env.step(_answer("   ", ["img_1"]))
    assert info["evaluation"]["answer_error"] == "gen_prompt is empty"


def test_the_forced_last_turn_cuts_tool_calls_and_skips_unknown_references():
    e = GroundedGenEnv(max_turns=3)
    e.reset(seed=6)
    e.step(_call("image_search", query=e.gg_task.subjects[0]["name"]))
    obs, *_ = e.step(_call("text_search", query="x"))
    assert "last turn" in obs["text"]
    answer = _answer("copy the first reference image", ["img_1", "img_77"]) + _call("visit", url="x")
    *_, terminated, truncated, info = e.step(answer)
    assert terminated and info["termination_reason"] == "answered" and "answer_error" not in info["evaluation"]
    assert info["reward_components"]["n_refs"] == 1.0  # img_77 skipped on the last turn, not an error


def test_two_over_long_turns_or_a_repeated_turn_end_the_episode_with_zero():
    e = GroundedGenEnv(max_action_chars=200)
    e.reset(seed=1)
    long_turn = "<think>" + " ".join(f"w{i}" for i in range(100)) + "</think>"
    _, _, terminated, _, info = e.step(long_turn)
    assert not terminated and info["step_error"] == "parse"
    _, reward, terminated, _, info = e.step(long_turn + " again")
    assert terminated and info["fatal"] and info["fatal_turn"] == 0 and reward == 0.0
    e.reset(seed=1)
    call = _call("text_search", query="anything")
    e.step(call)
    _, reward, terminated, _, info = e.step(call)
    assert terminated and info["fatal"] and info["fatal_turn"] == 1 and reward == 0.0
    assert GroundedGenEnv(end_on_repeat=False).reset(seed=1) is not None


def test_failed_or_broken_generation_gives_zero_and_a_reason():
    class Broken:
        name = "broken"

        def __init__(self, result):
            self.result = result

        def __call__(self, prompt, references=(), seed=0):
            if isinstance(self.result, Exception):
                raise self.result
            return self.result

    from mmsearch_gym.tools.generate import GenerationError

    for result, reason in ((GenerationError("timeout", "too slow"), "timeout"), (np.zeros((3, 3, 7)), "unusable"),
                           (np.zeros((5000, 10, 3), np.uint8), "unusable"), (None, "unusable"),
                           (RuntimeError("CUDA out of memory"), "RuntimeError")):  # fmt: skip
        e = GroundedGenEnv(generator=Broken(result))
        info = _play(e, "oracle", 3)
        assert info["reward"] == 0.0 and reason in info["evaluation"]["generation_error"]


def test_random_turns_never_crash(env):
    for seed in range(6):
        info = _play(env, "random", seed)
        assert info["termination_reason"] in ("answered", "fatal_errors", "max_turns")


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="tools"):
        GroundedGenEnv(tools=("text_search", "crop"))
    with pytest.raises(ValueError, match="lam"):
        GroundedGenEnv(text_coef=2.0)
    with pytest.raises(ValueError, match="min_refs"):
        GroundedGenEnv(min_refs=3, max_refs=2)
    with pytest.raises(ValueError, match="judge"):
        GroundedGenEnv(judge="gpt")
    with pytest.raises(ValueError, match="generator kind"):
        GroundedGenEnv(generator={"kind": "dalle"})
    e = GroundedGenEnv()
    with pytest.raises(ValueError, match="reset options"):
        e.reset(options={"level": 3})
    with pytest.raises(ValueError, match="category"):
        e.reset(options={"category": "sports"})
    with pytest.raises(ValueError, match="composition"):
        e.reset(options={"composition": "collage"})
