"""Property tests: any text action keeps Maze-v0 alive and its observation inside the space.

Strategies: arbitrary unicode text (surrogates included), and near-valid turns built from
the grammar's pieces with random JSON inside the tags (wrong names, wrong types, NaN,
huge numbers, coordinates in and around the image, VILASR ``Action:`` turns).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import string

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.core.failures import StepError

ENV_ID = "mmsearch_gym/Maze-v0"
MAX_TURNS = 6
INFO_KEYS = (
    "turn", "messages", "step_error", "consecutive_errors", "fatal", "fatal_turn", "termination_reason",
    "answer", "reward_components", "n_tool_calls", "n_valid_tool_calls",
)  # fmt: skip
KINDS = {e.value for e in StepError}

SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

# One env for the whole module (hypothesis runs many examples; a reset per example is enough).
_ENV = gym.make(ENV_ID, max_turns=MAX_TURNS, max_size=5)


def _reset(seed: int):
    return _ENV.reset(seed=seed)


# ---- strategies --------------------------------------------------------------------------

# Maze-v0's cell centres with the default cell_px=48 (as its prompt says); a bias towards valid
# coordinates, so that tool calls often get past the argument checks and really draw.
centres = st.integers(0, 4).map(lambda c: 48 + 48 * c)
numbers = st.one_of(
    centres,
    st.integers(-50, 400),
    st.floats(-50, 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([10**20, -(10**30), 1e308, -1e308]),
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)
points = st.one_of(st.lists(centres, min_size=2, max_size=2), st.lists(numbers, min_size=2, max_size=2), json_values)
path_items = st.fixed_dictionaries(
    {"start_point_2d": points, "end_point_2d": points},
    optional={"label": st.one_of(st.text(max_size=20), json_scalars)},
)
box_items = st.fixed_dictionaries(
    {"bbox_2d": st.one_of(st.lists(numbers, min_size=4, max_size=4), json_values)},
    optional={"label": st.text(max_size=20)},
)
image_refs = st.one_of(
    st.sampled_from(["img_1", "img_2", "image 1", "img_0", "IMG_1", ""]), st.text(max_size=8), json_scalars
)
arguments = st.one_of(
    st.fixed_dictionaries({"paths": st.lists(path_items, max_size=4)}, optional={"image": image_refs}),
    st.fixed_dictionaries({"objects": st.lists(box_items, max_size=4)}, optional={"image": image_refs}),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    json_values,
)
known_names = st.sampled_from(["path_tracer", "object_mapper"])
odd_names = st.one_of(st.sampled_from(["crop", "", "PATH_TRACER", "画笔"]), st.text(max_size=12), json_scalars)


@st.composite
def tool_names(draw):
    """Mostly a real tool name (hypothesis' choice between one_of branches would rarely pick them)."""
    if draw(st.integers(0, 3)) < 3:
        return draw(known_names)
    return draw(odd_names)


@st.composite
def tool_call_bodies(draw) -> str:
    obj = {"name": draw(tool_names()), "arguments": draw(arguments)}
    if draw(st.integers(0, 9)) == 9:
        obj[draw(st.text(max_size=6))] = draw(json_scalars)  # sometimes an unexpected key
    body = json.dumps(obj, ensure_ascii=draw(st.booleans()))  # NaN/Infinity appear as JSON extensions
    mutation = draw(
        st.sampled_from(
            ["none", "none", "none", "none", "none", "truncate", "insert", "fence", "string-args", "deep", "long-int"]
        )
    )
    if mutation == "truncate":
        body = body[: draw(st.integers(0, len(body)))]
    elif mutation == "insert":
        i = draw(st.integers(0, len(body)))
        body = body[:i] + draw(st.sampled_from(["<", ">", "}", "{", '"', "</tool_call>", "<answer>", "\\"])) + body[i:]
    elif mutation == "fence":
        body = f"```json\n{body}\n```"
    elif mutation == "string-args":
        body = json.dumps({"name": obj["name"], "arguments": json.dumps(obj["arguments"])})
    elif mutation in ("deep", "long-int"):
        body = draw(hostile_bodies(st.just(mutation)))
    return body


def hostile_body(kind: str, size: int, seed: int) -> str:
    """Tool-call JSON that is valid but extreme: ``deep`` nests lists ``size`` deep (capped so the
    turn stays under the length limit), ``long-int`` has an integer literal of ``size`` digits.
    Random content, so that the degenerate-repetition guard does not catch it first."""
    rng = random.Random(seed)
    if kind == "deep":
        depth = min(size, 1700)
        nested = (
            "".join(f'["{"".join(rng.choices(string.ascii_lowercase, k=3))}",' for _ in range(depth))
            + "0"
            + "]" * depth
        )
        return f'{{"name": "path_tracer", "arguments": {{"paths": {nested}}}}}'
    digits = "1" + "".join(rng.choices(string.digits, k=size - 1))
    return f'{{"name": "path_tracer", "arguments": {{"paths": [{{"start_point_2d": [{digits}, 48], "end_point_2d": [96, 48]}}]}}}}'


def hostile_bodies(kinds):
    return st.builds(hostile_body, kinds, st.integers(1, 6000), st.integers(0, 2**32))


@st.composite
def near_valid_turns(draw) -> str:
    """Turns assembled from the grammar's blocks: think, tool_call with random JSON, answer."""
    shape = draw(st.sampled_from(["call", "call", "answer", "blocks", "blocks"]))
    sep = draw(st.sampled_from(["", " ", "\n"]))
    if shape == "call":
        return f"<think>{draw(st.text(max_size=30))}</think>{sep}<tool_call>{draw(tool_call_bodies())}</tool_call>"
    if shape == "answer":
        return f"<think>{draw(st.text(max_size=30))}</think>{sep}<answer>{draw(st.text(max_size=30))}</answer>"
    blocks = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["think", "tool_call", "tool_call", "answer", "vilasr", "junk"]))
        if kind == "think":
            blocks.append(f"<think>{draw(st.text(max_size=30))}</think>")
        elif kind == "tool_call":
            blocks.append(f"<tool_call>{draw(tool_call_bodies())}</tool_call>")
        elif kind == "answer":
            blocks.append(
                f"<answer>{draw(st.one_of(st.text(max_size=20), st.sampled_from(['R, D', 'A', 'B', 'down right', ''])))}</answer>"
            )
        elif kind == "vilasr":
            name = draw(st.sampled_from(["Path Tracer", "Object Mapper", "Crop", "path tracer"]))
            items = draw(st.one_of(st.lists(path_items, max_size=3), st.lists(box_items, max_size=3), json_values))
            blocks.append(f"\nAction: {name}\n```json\n{json.dumps(items)}\n```")
        else:
            blocks.append(draw(st.sampled_from(["<think>", "</answer>", "<tool_call>", "garbage", "\n", "  "])))
    return sep.join(blocks)


_C = _ENV.unwrapped.geometry.center
VALID_DRAW = (  # valid in every maze (all are at least 3×3): centre of (0, 0) to centre of (0, 1)
    '<think>trace</think><tool_call>{"name": "path_tracer", "arguments": {"paths": '
    f'[{{"start_point_2d": {list(_C((0, 0)))}, "end_point_2d": {list(_C((0, 1)))}}}]}}}}</tool_call>'
)
cell_walks = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=2, max_size=5)  # mazes are ≥ 3×3

any_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(exclude_categories=())),  # lone surrogates too
    st.text(alphabet='<>/{}[]":, thinkoolcalanswer_', max_size=80),
    near_valid_turns(),
)


# ---- checks ------------------------------------------------------------------------------


def _check_step(result, seen_turns: int) -> None:
    obs, reward, terminated, truncated, info = result
    assert _ENV.observation_space.contains(obs), obs
    assert isinstance(reward, float) and math.isfinite(reward)
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    for key in INFO_KEYS:
        assert key in info, key
    assert info["turn"] == seen_turns
    err = info["step_error"]
    assert err is None or err in KINDS
    if err is not None:
        assert isinstance(info["error_message"], str) and info["error_message"].strip()
        assert info["error_message"] in obs["text"]
    if terminated or truncated:
        assert info["termination_reason"] in ("answered", "fatal_errors", "max_turns")
        assert all(math.isfinite(v) for v in info["reward_components"].values())


# ---- properties --------------------------------------------------------------------------


@settings(max_examples=500, **SETTINGS)
@given(action=any_text, seed=st.integers(0, 2**16))
def test_any_text_action_keeps_the_env_alive(action, seed):
    _reset(seed)
    result = _ENV.step(action)
    _check_step(result, seen_turns=1)
    event(f"step_error={result[4]['step_error']}")
    # the episode record still serialises to JSON (whatever the turn held)
    json.loads(_ENV.unwrapped.episode_record().to_json())


@settings(max_examples=60, **SETTINGS)
@given(
    kind=st.sampled_from(["deep", "long-int"]),
    size=st.integers(1, 6000),
    vilasr=st.booleans(),
    seed=st.integers(0, 2**16),
)
@example(kind="deep", size=1500, vilasr=False, seed=0)  # past the recursion limit
@example(kind="long-int", size=5000, vilasr=False, seed=0)  # past Python's 4300-digit limit
@example(kind="long-int", size=5000, vilasr=True, seed=0)
def test_extreme_but_valid_json_keeps_the_env_alive(kind, size, vilasr, seed):
    _reset(seed)
    body = hostile_body(kind, size, seed)
    if vilasr:  # the same item list as a VILASR turn
        action = "<think>t</think>\nAction: Path Tracer\n" + body.split('"paths": ', 1)[1][: -len("}}")]
    else:
        action = f"<think>t</think><tool_call>{body}</tool_call>"
    _check_step(_ENV.step(action), seen_turns=1)


@settings(max_examples=100, **SETTINGS)
@given(cells=cell_walks, label=st.text(max_size=10), seed=st.integers(0, 2**16))
def test_draws_through_cell_centres_are_valid_tool_calls(cells, label, seed):
    """Any path through in-grid cell centres is a valid path_tracer call with a new image."""
    obs, _ = _reset(seed)
    g = _ENV.unwrapped.geometry
    pts = [list(g.center(c)) for c in cells]
    paths = [{"start_point_2d": a, "end_point_2d": b, "label": label} for a, b in itertools.pairwise(pts)]
    action = f"<think>draw</think><tool_call>{json.dumps({'name': 'path_tracer', 'arguments': {'paths': paths}})}</tool_call>"
    result = _ENV.step(action)
    _check_step(result, seen_turns=1)
    new_obs, _, _, _, info = result
    assert info["step_error"] is None, info["error_message"]
    assert len(new_obs["images"]) == 1 and new_obs["images"][0].shape == obs["images"][0].shape
    assert not (new_obs["images"][0] == obs["images"][0]).all(), "the drawing changed nothing"


@settings(max_examples=80, **SETTINGS)
@given(
    actions=st.lists(st.one_of(any_text, *[st.just(VALID_DRAW)] * 4), min_size=MAX_TURNS // 2, max_size=2 * MAX_TURNS),
    seed=st.integers(0, 2**16),
)
def test_random_action_sequences_never_exceed_max_turns(actions, seed):
    _reset(seed)
    done, turns = False, 0
    for action in actions:
        if done:
            with pytest.raises(gym.error.ResetNeeded):
                _ENV.step(action)
            break
        result = _ENV.step(action)
        turns += 1
        _check_step(result, seen_turns=turns)
        _, _, terminated, truncated, info = result
        assert turns <= MAX_TURNS
        assert info["consecutive_errors"] <= _ENV.unwrapped.fatal_k
        done = terminated or truncated
        if turns == MAX_TURNS:
            assert done, "the episode must end at max_turns"
        if truncated:
            assert turns == MAX_TURNS and info["fatal"] and info["fatal_turn"] == MAX_TURNS
            event("reached max_turns")
    rec = _ENV.unwrapped.episode_record()
    assert len(rec.turns) == turns <= MAX_TURNS
