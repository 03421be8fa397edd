"""The agent-env contract, checked for every registered env id.

Iterates ``envs_registry.ENVS`` so that every env added later is covered without editing
this file: ``gym.make`` + gymnasium's ``check_env`` with warnings as errors (every render
mode too), ``SyncVectorEnv`` / ``AsyncVectorEnv(shared_memory=False)`` with 4 envs for 50
turns through autoresets, and Stable-Baselines3's ``check_env`` on MazeGrid-v0.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import iterate

import mmsearch_gym  # noqa: F401  (registers the ids)
from envs_registry import ENVS
from mmsearch_gym.core.env import ToolEnv
from mmsearch_gym.core.failures import StepError, Termination

ENV_IDS = list(ENVS)

# The stable info keys of DESIGN.md ("tools" is only at reset and is checked separately).
INFO_KEYS = (
    "turn",
    "messages",
    "step_error",
    "consecutive_errors",
    "fatal",
    "fatal_turn",
    "termination_reason",
    "answer",
    "reward_components",
    "n_tool_calls",
    "n_valid_tool_calls",
)
STEP_ERROR_KINDS = {e.value for e in StepError}
TERMINATION_REASONS = {t.value for t in Termination}

MALFORMED = (
    "",
    "just some words, no tags at all",
    "<think>hmm</think><tool_call>{not json}</tool_call>",
    '<think>x</think><tool_call>{"name": "no_such_tool", "arguments": {}}</tool_call>',
    "<think>x</think><answer>A</answer><answer>B</answer>",
    "<answer>never closed",
    "迷路 😀 <tool_call>",
)
N_ENVS, N_TURNS = 4, 50


def _is_tool_env(env_id: str) -> bool:
    env = gym.make(env_id)
    try:
        return isinstance(env.unwrapped, ToolEnv)
    finally:
        env.close()


def _render_modes(env_id: str) -> list[str]:
    env = gym.make(env_id)
    try:
        return list(env.unwrapped.metadata.get("render_modes", []))
    finally:
        env.close()


def test_registry_ids_are_registered_with_gymnasium():
    assert ENV_IDS, "envs_registry.ENVS is empty"
    for env_id, entry in ENVS.items():
        assert entry.id == env_id
        assert env_id in gym.registry, f"{env_id} is not registered by `import mmsearch_gym`"
        assert gym.spec(env_id).entry_point == entry.entry_point
        assert entry.description.strip(), f"{env_id} has no description"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gym_make_and_check_env_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id)
        try:
            check_env(env.unwrapped)
        finally:
            env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_for_every_render_mode(env_id):
    modes = _render_modes(env_id)
    assert modes, f"{env_id} declares no render modes"
    for mode in modes:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            env = gym.make(env_id, render_mode=mode)
            try:
                assert env.unwrapped.render_mode == mode
                check_env(env.unwrapped)  # includes gymnasium's render checks
                env.reset(seed=3)
                frame = env.render()
                if mode == "ansi":
                    assert isinstance(frame, str) and frame.strip()
                elif mode == "rgb_array":
                    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
                    assert frame.ndim == 3 and frame.shape[2] == 3 and min(frame.shape[:2]) >= 1
            finally:
                env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_env_has_an_oracle_for_the_scripted_policies(env_id):
    env = gym.make(env_id)
    try:
        env.reset(seed=0)
        action = env.unwrapped.oracle_action()
        assert env.action_space.contains(action), f"oracle action {action!r} is not in the action space"
    finally:
        env.close()


# ---- vector envs -------------------------------------------------------------------------


@contextlib.contextmanager
def _vector(kind: str, env_id: str, n: int = N_ENVS):
    """A vector env that is closed even when a step raised: after a failed ``step``,
    ``AsyncVectorEnv.close()`` would wait forever for the pending step, so it terminates."""
    fns = [lambda: gym.make(env_id) for _ in range(n)]
    venv = SyncVectorEnv(fns) if kind == "sync" else AsyncVectorEnv(fns, shared_memory=False)
    ok = False
    try:
        yield venv
        ok = True
    finally:
        venv.close(terminate=not ok)


def _tool_actions(venv, rng: np.random.Generator) -> tuple[str, ...]:
    """A mix of the oracle's turns (valid tool calls, then answers), random tool calls,
    malformed strings and blunt answers, so that every kind of episode end happens."""
    oracle = venv.call("oracle_action")
    randoms = venv.call("random_action")
    actions = []
    for i in range(N_ENVS):
        roll = rng.random()
        if roll < 0.4:
            actions.append(oracle[i])
        elif roll < 0.55:
            actions.append(randoms[i])
        elif roll < 0.85:
            actions.append(MALFORMED[int(rng.integers(len(MALFORMED)))])
        else:
            actions.append("<think>a guess</think><answer>A</answer>")
    return tuple(actions)


def _discrete_actions(venv, rng: np.random.Generator):
    """Sampled actions, mostly replaced by the oracle's so that goals are really reached."""
    sampled = venv.action_space.sample()
    oracle = venv.call("oracle_action")
    return np.array([oracle[i] if rng.random() < 0.8 else sampled[i] for i in range(N_ENVS)], dtype=sampled.dtype)


def _check_tool_infos(infos: dict, at_reset: np.ndarray) -> None:
    for key in INFO_KEYS:
        assert key in infos, f"info key {key!r} missing"
        assert np.all(infos[f"_{key}"]), f"info key {key!r} missing for some sub-env"
    if at_reset.any():
        assert "tools" in infos
        assert np.array_equal(infos["_tools"][at_reset], np.ones(at_reset.sum(), bool))
        for i in np.flatnonzero(at_reset):
            names = [t["function"]["name"] for t in infos["tools"][i]]
            assert names, "a tool env offers no tools"
    for i in range(N_ENVS):
        err = infos["step_error"][i]
        assert err is None or err in STEP_ERROR_KINDS, err
        if err is not None:
            assert isinstance(infos["error_message"][i], str) and infos["error_message"][i].strip()
        assert infos["n_valid_tool_calls"][i] <= infos["n_tool_calls"][i]
        assert 0 <= infos["consecutive_errors"][i]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_envs_step_through_autoresets(env_id, kind):
    tool_env = _is_tool_env(env_id)
    rng = np.random.default_rng(1234)
    with _vector(kind, env_id) as venv:
        assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
        single = venv.single_observation_space
        venv.action_space.seed(7)
        obs, infos = venv.reset(seed=list(range(N_ENVS)))
        assert venv.observation_space.contains(obs)
        per_env = list(iterate(venv.observation_space, obs))
        assert len(per_env) == N_ENVS and all(single.contains(o) for o in per_env)
        if tool_env:
            _check_tool_infos(infos, np.ones(N_ENVS, bool))
            assert np.all(infos["turn"] == 0)
            prev_turn = np.array(infos["turn"])

        ended = np.zeros(N_ENVS, bool)  # the previous step ended that sub-env's episode
        n_terminated = n_truncated = n_restarts = 0
        for _ in range(N_TURNS):
            actions = _tool_actions(venv, rng) if tool_env else _discrete_actions(venv, rng)
            obs, rewards, terminated, truncated, infos = venv.step(actions)

            assert venv.observation_space.contains(obs)
            per_env = list(iterate(venv.observation_space, obs))
            for i, o in enumerate(per_env):
                assert single.contains(o), f"sub-env {i}: observation outside the single-env space"
            assert rewards.shape == (N_ENVS,) and np.all(np.isfinite(rewards))
            assert terminated.dtype == bool and truncated.dtype == bool
            assert not np.any(terminated & truncated)

            # Sub-envs whose episode ended at the previous step were reset by this step.
            n_restarts += int(ended.sum())
            assert np.all(rewards[ended] == 0) and not np.any(terminated[ended] | truncated[ended])
            if tool_env:
                _check_tool_infos(infos, ended)
                for i in range(N_ENVS):
                    if ended[i]:
                        # A fresh episode: turn 0, the system prompt and the task prompt, the task images.
                        assert infos["turn"][i] == 0
                        assert [m["role"] for m in infos["messages"][i]] == ["system", "user"]
                        assert per_env[i]["text"] == infos["messages"][i][1]["content"]
                        assert len(per_env[i]["images"]) == len(infos["messages"][i][1]["images"])
                        assert not infos["fatal"][i]
                        assert infos["termination_reason"][i] is None
                    else:
                        assert infos["turn"][i] == prev_turn[i] + 1
                        assert per_env[i]["text"] == infos["messages"][i][-1]["content"]
                    if terminated[i] or truncated[i]:
                        reason = infos["termination_reason"][i]
                        assert reason in TERMINATION_REASONS, reason
                        assert (reason == "max_turns") == bool(truncated[i])
                        if reason in ("fatal_errors", "max_turns"):
                            assert (
                                infos["fatal"][i] and infos["fatal_turn"][i] is not None and infos["fatal_turn"][i] >= 0
                            )
                        if reason == "answered":
                            assert infos["answer"][i] is not None and not infos["fatal"][i]
                        comps = infos["reward_components"]
                        mine = {k: v[i] for k, v in comps.items() if not k.startswith("_") and comps[f"_{k}"][i]}
                        assert mine, "a finished episode reports no reward components"
                        assert all(math.isfinite(v) for v in mine.values())
                        if "overall" in mine:
                            assert math.isclose(rewards[i], mine["overall"])
                prev_turn = np.array(infos["turn"])

            n_terminated += int(terminated.sum())
            n_truncated += int(truncated.sum())
            ended = terminated | truncated

        assert n_terminated > 0, "no episode terminated in 50 turns of 4 envs"
        assert n_restarts > 0 and n_restarts == n_terminated + n_truncated - int(ended.sum())


TOOL_ENV_IDS = [i for i in ENV_IDS if _is_tool_env(i)]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("env_id", TOOL_ENV_IDS)
def test_vector_infos_when_one_episode_is_fatal_and_another_is_not(env_id, kind):
    """Sub-env 0 errs three times (fatal, fatal_turn 0) while sub-env 1 plays the oracle.

    gymnasium batches each info key into an array typed after the first sub-env that sets
    it, so ``fatal_turn`` being an ``int`` in one sub-env and ``None`` in the next must not
    break ``venv.step``.
    """
    with _vector(kind, env_id, n=2) as venv:
        venv.reset(seed=[0, 1])
        for t in range(3):
            _, _, terminated, _, infos = venv.step(("", venv.call("oracle_action")[1]))
        assert terminated[0] and infos["fatal"][0] and infos["fatal_turn"][0] == 0
        assert infos["termination_reason"][0] == "fatal_errors"
        assert not infos["fatal"][1]


# ---- Stable-Baselines3 -------------------------------------------------------------------


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_stable_baselines3_check_env_on_maze_grid(render_mode):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("mmsearch_gym/MazeGrid-v0", render_mode=render_mode)
        try:
            sb3_check_env(env.unwrapped, warn=True, skip_render_check=render_mode is None)
        finally:
            env.close()
