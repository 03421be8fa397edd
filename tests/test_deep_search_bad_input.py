"""DeepSearch-v0 under bad input: any tool call with any arguments, and search backends that fail."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.core.failures import StepError
from mmsearch_gym.envs.deep_search import ALL_TOOLS
from mmsearch_gym.search import BackendError, SearchBackend

ENV_ID = "mmsearch_gym/DeepSearch-v0"
KINDS = {e.value for e in StepError}
_ENV = gym.make(ENV_ID, max_turns=6)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(allow_nan=False) | st.text(max_size=40)
    | st.sampled_from(["img_1", "img_2", "img_99", "https://world.invalid/wiki/Nowhere", ""]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
arguments = st.dictionaries(
    st.sampled_from(["image", "query", "url", "top_k", "x", "y", "width", "height", "bbox_2d", "scale", "amount",
                     "goal", "page", "padding", "lang", "extra"]),
    json_values,
    max_size=5,
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tool=st.sampled_from([*ALL_TOOLS, "web_search", "python"]), args=arguments, seed=st.integers(0, 50))
def test_any_tool_call_with_any_arguments_keeps_the_env_alive(tool, args, seed):
    _ENV.reset(seed=seed)
    action = f"<think>try</think><tool_call>{json.dumps({'name': tool, 'arguments': args})}</tool_call>"
    obs, reward, _, _, info = _ENV.step(action)
    assert _ENV.observation_space.contains(obs) and math.isfinite(reward)
    assert info["step_error"] is None or info["step_error"] in KINDS
    if info["step_error"] is not None:
        assert info["error_message"] and info["error_message"] in obs["text"]
    assert len(obs["images"]) <= 4
    json.loads(_ENV.unwrapped.episode_record().to_json())


class _Down(SearchBackend):
    """A backend whose every call fails: unreachable for search, a bug for pages."""

    name = "down"

    def text_search(self, query, top_k):
        raise BackendError(StepError.BACKEND_DOWN, "search.example is unreachable (connection refused)")

    def image_search(self, **kwargs):
        raise BackendError(StepError.TIMEOUT, "reverse image search took longer than 10 s")

    def fetch(self, url):
        raise RuntimeError("a bug inside the backend")


@pytest.fixture()
def dataset(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((32, 48, 3), 90, np.uint8)).save(tmp_path / "images" / "a.png")
    row = {"task_id": "a", "question": "Which tower is this?", "answers": ["Tower A"], "image_paths": ["images/a.png"]}
    (tmp_path / "tasks.jsonl").write_text(json.dumps(row) + "\n")
    return tmp_path


def test_failing_backend_gives_step_errors_then_the_fatal_signal(dataset):
    env = gym.make(ENV_ID, backend=_Down(), dataset=dataset)
    env.reset(seed=0)
    calls = [
        ("text_search", {"query": "tower"}),
        ("image_search", {"image": "img_1"}),
        ("visit", {"url": "https://x.invalid/a"}),
    ]
    kinds = []
    for name, args in calls:
        obs, reward, terminated, _, info = env.step(
            f"<think>x</think><tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>"
        )
        kinds.append(info["step_error"])
        assert info["error_message"] in obs["text"]
    assert kinds == ["backend_down", "timeout", "tool_failed"]
    assert terminated and info["fatal"] and info["fatal_turn"] == 0 and reward == 0.0
    env.close()
