"""``ToolEnv.step`` lets nothing out, each limit holds against the case that broke it: 5000-digit image ids,
nesting past the recursion limit under any stack depth, grammars/tools/scorers that raise, 10 MB turns,
and image memory counted in bytes."""

from __future__ import annotations

import json
import math
import sys

import gymnasium as gym
import numpy as np
import pytest

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.core import ImageLimitError, ImageRefError, ImageStore, ToolContext, ToolError
from mmsearch_gym.core.tool import MAX_ARGUMENT_DEPTH
from mmsearch_gym.envs.maze import MazeEnv
from mmsearch_gym.rewards.judge import RuleJudge
from mmsearch_gym.tools.draw import PathTracerTool

HUGE_ID = "img_" + "".join(np.random.default_rng(0).choice(list("0123456789"), 5000))


def call(name: str, arguments) -> str:
    return f"<think>t</think><tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def answer(text: str) -> str:
    return f"<think>t</think><answer>{text}</answer>"


@pytest.fixture
def maze():
    env = gym.make("mmsearch_gym/Maze-v0", size=5, question_types=("moves",))
    env.reset(seed=0)
    return env


def segment(env) -> dict:
    g = env.unwrapped.geometry
    return {"start_point_2d": list(g.center((0, 0))), "end_point_2d": list(g.center((0, 1))), "label": "step"}


@pytest.mark.parametrize("ref", [HUGE_ID, "image " + HUGE_ID[4:], "img_" + "7" * 12])
def test_an_image_id_of_thousands_of_digits_is_a_bad_image_ref(maze, ref):
    *_, info = maze.step(call("path_tracer", {"image": ref, "paths": [segment(maze)]}))
    assert info["step_error"] == "bad_image_ref" and "valid ids are: img_1" in info["error_message"]


def test_the_image_store_refuses_absurd_references_without_raising_anything_else():
    store = ImageStore()
    store.add(np.zeros((4, 4, 3), np.uint8))
    assert store.resolve(1) == store.resolve("image 1") == store.resolve(np.int64(1)) == "img_1"
    for ref in (HUGE_ID, 10**5000, -1, 0, True, 1.0, None, ["img_1"], "img_" + "1" * 10):
        with pytest.raises(ImageRefError, match="valid ids are: img_1"):
            store.resolve(ref)


def test_a_huge_id_in_a_rejected_call_does_not_break_the_deepsearch_reward():
    env = gym.make("mmsearch_gym/DeepSearch-v0", max_turns=6)
    env.reset(seed=3)
    *_, info = env.step(call("crop", {"image": HUGE_ID, "x": 0, "y": 0, "width": 10, "height": 10}))
    assert info["step_error"] == "bad_image_ref"
    _, reward, terminated, _, info = env.step(answer("Nobody"))
    assert terminated and info["termination_reason"] == "answered" and math.isfinite(reward)
    assert "judge_error" not in info["evaluation"] and set(info["reward_components"]) == {
        "accuracy", "format", "query", "overall"}  # fmt: skip
    json.loads(env.unwrapped.episode_record().to_json())


def _nested(depth: int) -> list:
    value: list | str = "leaf"
    for i in range(depth):
        value = [f"w{i}", value]
    return value  # type: ignore[return-value]


def _at_stack_depth(depth: int, fn):
    return fn() if depth == 0 else _at_stack_depth(depth - 1, fn)


@pytest.mark.parametrize("spare", [None, 120])  # a normal stack, and one ~120 frames short of the limit
def test_argument_nesting_is_refused_by_its_depth_whatever_the_callers_stack(maze, spare):
    deep = {"paths": [{"start_point_2d": _nested(40), "end_point_2d": [96, 48]}]}
    action = call("path_tracer", deep)
    if spare is None:
        *_, info = maze.step(action)
    else:
        *_, info = _at_stack_depth(sys.getrecursionlimit() - spare, lambda: maze.step(action))
    assert info["step_error"] == "bad_arguments" and f"more than {MAX_ARGUMENT_DEPTH} levels" in info["error_message"]


def test_a_tool_given_arguments_nested_past_the_recursion_limit_fails_cleanly():
    tool = PathTracerTool()
    store = ImageStore()
    store.add(np.zeros((64, 64, 3), np.uint8))
    args = {"paths": [{"start_point_2d": _nested(3000), "end_point_2d": [1, 2]}]}  # built in Python, no JSON
    with pytest.raises(ToolError) as err:
        tool(args, ToolContext(store, np.random.default_rng(0)))
    assert err.value.kind == "bad_arguments" and "nested" in str(err.value)


class _Exploding:
    """A grammar whose parse raises an unexpected exception."""

    def parse(self, text):
        raise KeyError("grammar bug")

    def describe(self):
        return "anything"


class _BrokenScore(MazeEnv):
    def _score(self, answer):
        raise RuntimeError("scorer bug")


class _NaNScore(MazeEnv):
    def _score(self, answer):
        score = super()._score(answer)
        score.reward = float("nan")
        return score


def test_a_grammar_exception_is_a_parse_step_error():
    env = MazeEnv(size=4)
    env.reset(seed=0)
    env.grammar = _Exploding()
    obs, reward, *_, info = env.step(answer("R"))
    assert info["step_error"] == "parse" and "KeyError" in info["error_message"] and reward == 0.0
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("cls, words", [(_BrokenScore, "RuntimeError: scorer bug"), (_NaNScore, "non-finite")])
def test_a_scorer_exception_gives_reward_0_and_a_recorded_judge_error(cls, words):
    env = cls(size=4)
    env.reset(seed=0)
    env.step(call("path_tracer", {"paths": [segment(env)]}))
    _, reward, terminated, _, info = env.step(answer("R R"))
    assert terminated and reward == 0.0 and info["success"] is False
    assert info["reward_components"] == {"accuracy": 0.0, "format": 0.0, "overall": 0.0}
    assert words in info["evaluation"]["judge_error"]
    record = env.episode_record()
    assert len(record.turns) == 2 and record.evaluation["judge_error"] and record.termination_reason == "answered"
    json.loads(record.to_json())


def test_a_judge_that_raises_is_a_judge_error_in_deepsearch():
    class Broken(RuleJudge):
        def __call__(self, *args, **kwargs):
            raise ZeroDivisionError("judge bug")

    env = gym.make("mmsearch_gym/DeepSearch-v0", judge=Broken(), max_turns=4)
    env.reset(seed=1)
    _, reward, terminated, _, info = env.step(answer("something"))
    assert terminated and reward == 0.0 and "ZeroDivisionError" in info["evaluation"]["judge_error"]
    assert set(info["reward_components"]) == {"accuracy", "format", "query", "overall"}


def test_a_tool_check_that_raises_is_bad_arguments_and_a_tool_that_raises_is_tool_failed(maze, monkeypatch):
    def bad_check(self, arguments, ctx):
        raise TypeError("bad check")

    monkeypatch.setattr(PathTracerTool, "validate", bad_check)
    *_, info = maze.step(call("path_tracer", {"paths": [segment(maze)]}))
    assert info["step_error"] == "bad_arguments" and "TypeError: bad check" in info["error_message"]

    def bad_call(self, arguments, ctx):  # a Tool that replaced __call__ and lets anything out
        raise MemoryError("tool bug")

    monkeypatch.setattr(PathTracerTool, "__call__", bad_call)
    *_, info = maze.step(call("path_tracer", {"paths": [segment(maze)]}))
    assert info["step_error"] == "tool_failed" and "MemoryError: tool bug" in info["error_message"]


class _HostileRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


def test_an_action_whose_repr_raises_is_a_parse_error(maze):
    *_, info = maze.step(_HostileRepr())
    assert info["step_error"] == "parse"
    assert maze.unwrapped.episode_record().turns[-1].action == "<_HostileRepr>"


def test_a_rejected_10_mb_turn_is_kept_once_cut_with_its_length(maze):
    rng = np.random.default_rng(0)
    big = "<think>" + rng.bytes(5_000_000).hex() + "</think><answer>R</answer>"
    *_, info = maze.step(big)
    assert info["step_error"] == "parse" and "too long" in info["error_message"]
    record = maze.unwrapped.episode_record()
    turn, message = record.turns[-1], record.messages[-2]
    assert turn.action_chars == len(big) and len(turn.action) < 4200 and "characters in all" in turn.action
    assert message["role"] == "assistant" and message["content"] == turn.action
    assert len(record.to_json()) < 20_000
    assert info["messages"][-2]["content"] == turn.action
    *_, info = maze.step(answer("R R"))
    assert maze.unwrapped.episode_record().turns[-1].action == answer("R R")  # good turns are kept whole


def test_image_memory_is_bounded_in_bytes():
    probe = MazeEnv(size=5)
    probe.reset(seed=0)
    one = probe.images.nbytes  # the task image; every drawing is as big
    env = MazeEnv(size=5, max_image_bytes=3 * one, max_turns=10)
    env.reset(seed=0)
    errors = []
    for _ in range(3):
        *_, info = env.step(call("path_tracer", {"paths": [segment(env)]}))
        errors.append((info["step_error"], info["error_message"]))
    assert [e for e, _ in errors] == [None, None, "tool_failed"] and "would pass the limit" in errors[2][1]
    assert env.images.nbytes == 3 * one and len(env.images) == 3


def test_the_image_store_counts_bytes_and_forgets_them_on_clear():
    store = ImageStore(max_bytes=1000)
    store.add(np.zeros((10, 10, 3), np.uint8))
    store.add(np.zeros((10, 10, 3), np.uint8))
    assert store.nbytes == 600
    with pytest.raises(ImageLimitError, match="limit of 0.0 MB"):
        store.add(np.zeros((10, 20, 3), np.uint8))
    store.clear()
    assert store.nbytes == 0 and store.add(np.zeros((10, 20, 3), np.uint8)) == "img_1"
    with pytest.raises(ValueError, match="max_bytes"):
        ImageStore(max_bytes=0)


def _tool_env_ids() -> list[str]:
    from envs_registry import ENVS
    from mmsearch_gym.core.env import ToolEnv

    return [i for i in sorted(ENVS) if isinstance(gym.make(i).unwrapped, ToolEnv)]


@pytest.mark.parametrize("env_id", _tool_env_ids())
def test_every_tool_env_names_its_components_and_keeps_them_when_scoring_fails(env_id):
    """``component_names`` are the keys a real score has, and the keys of the zeros a failed scorer gives."""
    env = gym.make(env_id).unwrapped
    assert env.component_names, f"{env_id} declares no component_names"
    _, info = env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(env.oracle_action())
        done = terminated or truncated
    assert set(info["reward_components"]) == set(env.component_names)

    broken = gym.make(env_id).unwrapped

    def explode(answer):
        raise RuntimeError("scorer bug")

    broken._score = explode
    broken.reset(seed=0)
    done = False
    while not done:
        _, reward, terminated, truncated, info = broken.step(broken.oracle_action())
        done = terminated or truncated
    assert reward == 0.0 and "scorer bug" in info["evaluation"]["judge_error"]
    assert info["reward_components"] == dict.fromkeys(env.component_names, 0.0)
