"""Bad input on Maze-v0 (issue 2, "Bad input"): every bad turn is a step error whose message
tells the agent what was wrong, nothing raises, three in a row are fatal; constructors
reject bad kwargs with a ValueError that names the valid range or choices."""

from __future__ import annotations

import itertools
import json
import math
import re
import time

import gymnasium as gym
import numpy as np
import pytest

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.core.failures import StepError
from mmsearch_gym.envs.maze import MazeEnv
from mmsearch_gym.envs.maze_grid import MazeGridEnv

ENV_ID = "mmsearch_gym/Maze-v0"
SIZE = 5
INFO_KEYS = (
    "turn", "messages", "step_error", "error_message", "consecutive_errors", "fatal", "fatal_turn",
    "termination_reason", "answer", "reward_components", "n_tool_calls", "n_valid_tool_calls",
)  # fmt: skip
KINDS = {e.value for e in StepError}


@pytest.fixture
def maze():
    """A 5×5 moves-question maze, reset; yields (env, reset observation, reset info)."""
    env = gym.make(ENV_ID, size=SIZE, question_types=("moves",))
    obs, info = env.reset(seed=0)
    yield env, obs, info
    env.close()


def call(name: str, arguments, **extra) -> str:
    body = {"name": name, "arguments": arguments, **extra}
    return f"<think>let me try</think><tool_call>{json.dumps(body, ensure_ascii=False)}</tool_call>"


def centre(env, row: int, col: int) -> list[int]:
    return list(env.unwrapped.geometry.center((row, col)))


def segment(env, a=(0, 0), b=(0, 1)) -> dict:
    return {"start_point_2d": centre(env, *a), "end_point_2d": centre(env, *b), "label": "step"}


def step(env, action):
    """One step that must not raise, with the contract's checks on what comes back."""
    obs, reward, terminated, truncated, info = env.step(action)
    assert env.observation_space.contains(obs)
    assert isinstance(reward, float) and math.isfinite(reward)
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    for key in INFO_KEYS:
        assert key in info, key
    err = info["step_error"]
    assert err is None or err in KINDS
    if err is not None:
        msg = info["error_message"]
        assert isinstance(msg, str) and msg.strip()
        assert msg in obs["text"], "the agent must see the error message"
        assert err in obs["text"] or "Error" in obs["text"]
    return obs, reward, terminated, truncated, info


def expect_error(env, action, kind: str) -> str:
    obs, reward, terminated, truncated, info = step(env, action)
    assert info["step_error"] == kind, (info["step_error"], info["error_message"])
    assert not terminated and not truncated and reward == 0.0
    assert info["consecutive_errors"] == 1
    assert obs["images"] == ()
    return info["error_message"]


# ---- the bad turns of the issue, one by one ----------------------------------------------


def test_check_env_style_random_strings(maze):
    """Strings sampled from the action space (tags, JSON bits, unicode) never raise."""
    env, _, _ = maze
    env.action_space.seed(0)
    kinds = []
    for i in range(300):
        action = env.action_space.sample()
        *_, terminated, truncated, info = step(env, action)
        kinds.append(info["step_error"])
        if info["step_error"] is None:  # it really was an action: an answer or a valid tool call
            assert info["answer"] is not None or info["n_valid_tool_calls"] > 0, action
        if terminated or truncated:
            env.reset(seed=i)
    assert kinds.count("parse") > 200, f"random strings should nearly all be parse errors: {set(kinds)}"


@pytest.mark.parametrize("action", ["", " ", "\n\t  \n"])
def test_empty_turn(maze, action):
    env, _, _ = maze
    msg = expect_error(env, action, "parse")
    assert "empty" in msg.lower()
    assert "<answer>" in msg and "<tool_call>" in msg, "the message must show the expected format"


@pytest.mark.parametrize(
    "action",
    [
        "x" * 1_000_000,
        "<think>"
        + "".join(np.random.default_rng(0).choice(list("abcdefghij "), 1_000_000 - 33))
        + "</think><answer>R</answer>",
    ],
    ids=["1MB-x", "1MB-well-formed-answer"],
)
def test_one_megabyte_turn(maze, action):
    env, _, _ = maze
    t0 = time.perf_counter()
    msg = expect_error(env, action, "parse")
    assert time.perf_counter() - t0 < 2.0, "a 1 MB turn must be rejected quickly"
    assert "too long" in msg.lower()
    assert str(len(action)) in msg and re.search(r"limit \d+", msg), msg
    assert env.unwrapped.episode_record().turns[-1].kind is None  # the answer inside was not taken


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "path_tracer", "arguments": {',
        "{'name': 'path_tracer', 'arguments': {}}",
        '{"name": "path_tracer" "arguments": {}}',
        "path_tracer(paths=[])",
    ],
)
def test_invalid_json(maze, body):
    env, _, _ = maze
    msg = expect_error(env, f"<think>t</think><tool_call>{body}</tool_call>", "parse")
    assert "JSON" in msg
    assert re.search(r"line \d+ column \d+", msg), "the message should say where the JSON broke"


def test_two_tool_calls_in_one_turn(maze):
    env, _, _ = maze
    one = call("path_tracer", {"paths": [segment(env)]})
    msg = expect_error(env, one + one.replace("<think>let me try</think>", ""), "parse")
    assert "2 tool calls" in msg and "one" in msg


def test_tool_call_and_answer_together(maze):
    env, _, _ = maze
    for action in (
        call("path_tracer", {"paths": [segment(env)]}) + "<answer>R, D</answer>",
        "<think>t</think><answer>R, D</answer>"
        + call("path_tracer", {"paths": [segment(env)]}).replace("<think>let me try</think>", ""),
    ):
        env.reset(seed=1)
        msg = expect_error(env, action, "parse")
        assert "both" in msg and "answer" in msg.lower() and "tool" in msg.lower()
        assert env.unwrapped.episode_record().answer is None


@pytest.mark.parametrize("name", ["crop", "Path_Tracer", "画笔", "x" * 500])
def test_unknown_tool(maze, name):
    env, _, info = maze
    msg = expect_error(env, call(name, {"paths": [segment(env)]}), "unknown_tool")
    assert name[:40] in msg, "the message should name the unknown tool"
    offered = [t["function"]["name"] for t in info["tools"]]
    assert offered and all(t in msg for t in offered), "the message should list the available tools"
    assert len(msg) < 400


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"paths": "abc"}, ["paths", "array"]),
        ({"paths": [{"start_point_2d": ["a", 1], "end_point_2d": [1, 2]}]}, ["start_point_2d", "number"]),
        ({"paths": [{"start_point_2d": [48, 48, 48], "end_point_2d": [96, 48]}]}, ["start_point_2d"]),
        ({"paths": [{"start_point_2d": [48, 48]}]}, ["end_point_2d", "required"]),
        ({"paths": [[48, 48, 96, 48]]}, ["paths", "object"]),
        ({"paths": []}, ["paths"]),
        ({}, ["paths", "required"]),
        ({"image": 1, "paths": [{"start_point_2d": [48, 48], "end_point_2d": [96, 48]}]}, ["image", "string"]),
        ({"paths": [{"start_point_2d": [48, 48], "end_point_2d": [96, 48]}], "colour": "red"}, ["colour"]),
        ({"paths": [{"start_point_2d": True, "end_point_2d": None}]}, ["start_point_2d"]),
    ],
    ids=[
        "str-for-list",
        "str-coord",
        "3-coords",
        "missing-end",
        "list-item",
        "empty-list",
        "no-args",
        "int-image",
        "extra-arg",
        "bool-null",
    ],
)
def test_wrong_argument_types(maze, arguments, words):
    env, _, _ = maze
    msg = expect_error(env, call("path_tracer", arguments), "bad_arguments")
    for w in words:
        assert w in msg, (w, msg)
    assert "path_tracer(" in msg, "the message should show the expected signature"


@pytest.mark.parametrize("arguments", [[1, 2], "not an object", 7])
def test_arguments_not_an_object(maze, arguments):
    env, _, _ = maze
    msg = expect_error(env, call("path_tracer", arguments), "parse")
    assert '"arguments"' in msg and "object" in msg


@pytest.mark.parametrize("point", [[5000, 48], [48, 5000], [-1, 48], [48, -0.5], [1e308, 48]])
def test_coordinates_outside_the_image(maze, point):
    env, obs, _ = maze
    h, w = obs["images"][0].shape[:2]
    action = call("path_tracer", {"paths": [{"start_point_2d": centre(env, 0, 0), "end_point_2d": point, "label": "p"}]})
    msg = expect_error(env, action, "bad_arguments")
    assert "outside" in msg and "img_1" in msg and "end_point_2d" in msg
    assert f"x ≤ {w}" in msg and f"y ≤ {h}" in msg, "the message should give the image bounds"


def test_object_mapper_box_outside_the_image(maze):
    env, obs, _ = maze
    h, w = obs["images"][0].shape[:2]
    msg = expect_error(env, call("object_mapper", {"objects": [{"bbox_2d": [10, 10, w + 50, 40], "label": "b"}]}), "bad_arguments")
    assert "outside" in msg and f"x ≤ {w}" in msg and f"y ≤ {h}" in msg


def test_endpoint_off_the_cell_centres_is_explained(maze):
    env, _, _ = maze
    x, y = centre(env, 0, 0)
    cell = env.unwrapped.geometry.cell_px
    corner = [x + cell // 2, y + cell // 2]  # a grid corner: 0.71 cell from the four nearest centres
    msg = expect_error(
        env, call("path_tracer", {"paths": [{"start_point_2d": corner, "end_point_2d": [x, y], "label": "p"}]}), "bad_arguments"
    )
    assert "centre" in msg and str(cell) in msg, "the message should say where the cell centres are"


@pytest.mark.parametrize("ref", ["img_9", "img_0", "banana", "image_-1", ""])
def test_unknown_image_id(maze, ref):
    env, _, _ = maze
    msg = expect_error(env, call("path_tracer", {"image": ref, "paths": [segment(env)]}), "bad_image_ref")
    assert "img_1" in msg, "the message should list the valid ids"
    if ref:
        assert ref in msg


def test_unknown_image_id_lists_the_drawn_images_too(maze):
    env, _, _ = maze
    obs, *_, info = step(env, call("path_tracer", {"image": "img_1", "paths": [segment(env)]}))
    assert info["step_error"] is None and len(obs["images"]) == 1
    msg = expect_error(env, call("path_tracer", {"image": "img_3", "paths": [segment(env)]}), "bad_image_ref")
    assert "img_1" in msg and "img_2" in msg and "img_3" in msg


def test_non_ascii_text(maze):
    env, _, _ = maze
    msg = expect_error(env, "迷路を解く 😀 é ñ — no tags", "parse")
    assert "<answer>" in msg and "<tool_call>" in msg
    # unicode inside a well-formed turn is fine: a label drawn, a unicode think block
    obs, *_, info = step(
        env, call("path_tracer", {"paths": [dict(segment(env), label="路径 😀 é")]}).replace("let me try", "思考 🤔")
    )
    assert info["step_error"] is None and len(obs["images"]) == 1
    assert info["consecutive_errors"] == 0


def test_non_ascii_answer_is_an_answer_not_an_error(maze):
    env, _, _ = maze
    _, reward, terminated, _, info = step(env, "<think>迷路</think><answer>右, 下 😀</answer>")
    assert terminated and info["step_error"] is None and info["answer"] == "右, 下 😀"
    assert info["termination_reason"] == "answered" and reward == 0.0


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_nan_and_infinite_numbers(maze, token):
    env, _, _ = maze
    x, y = centre(env, 0, 0)
    raw = f'{{"name": "path_tracer", "arguments": {{"paths": [{{"start_point_2d": [{token}, {y}], "end_point_2d": [{x}, {y}]}}]}}}}'
    msg = expect_error(env, f"<think>t</think><tool_call>{raw}</tool_call>", "bad_arguments")
    assert "finite" in msg and "start_point_2d" in msg


@pytest.mark.parametrize("number", [10**20, 10**400, -(10**400)], ids=["1e20-int", "1e400-int", "-1e400-int"])
def test_huge_integer_coordinates_are_outside_the_image(maze, number):
    """A huge JSON integer is a coordinate outside the image like any other (bad_arguments
    with the bounds), not a crashed tool."""
    env, obs, _ = maze
    h, w = obs["images"][0].shape[:2]
    action = call("path_tracer", {"paths": [{"start_point_2d": centre(env, 0, 0), "end_point_2d": [number, 48], "label": "p"}]})
    msg = expect_error(env, action, "bad_arguments")
    assert "outside" in msg and f"x ≤ {w}" in msg and f"y ≤ {h}" in msg


def test_huge_integer_box_is_outside_the_image(maze):
    env, obs, _ = maze
    w = obs["images"][0].shape[1]
    msg = expect_error(env, call("object_mapper", {"objects": [{"bbox_2d": [10, 10, 10**400, 40], "label": "b"}]}), "bad_arguments")
    assert "outside" in msg and f"x ≤ {w}" in msg


@pytest.mark.parametrize("grammar", ["default", "vilasr"])
def test_integer_literal_with_thousands_of_digits_does_not_raise(maze, grammar):
    """Python refuses to parse int literals over 4300 digits (ValueError, not JSONDecodeError)."""
    env, _, _ = maze
    digits = "1" + "".join(np.random.default_rng(1).choice(list("0123456789"), 4999))
    items = f'[{{"start_point_2d": [{digits}, 48], "end_point_2d": [96, 48]}}]'
    if grammar == "default":
        action = f'<think>t</think><tool_call>{{"name": "path_tracer", "arguments": {{"paths": {items}}}}}</tool_call>'
    else:
        action = f"<think>t</think>\nAction: Path Tracer\n{items}"
    *_, info = step(env, action)
    assert info["step_error"] in ("parse", "bad_arguments")
    assert "digit" in info["error_message"].lower() or "number" in info["error_message"].lower()


@pytest.mark.parametrize("depth", [1100, 1800])
@pytest.mark.parametrize("where", ["tool_call", "arguments"])
def test_deeply_nested_json_does_not_raise(maze, depth, where):
    """Nesting past Python's recursion limit (varied content, so not caught as repetition)."""
    env, _, _ = maze
    rng = np.random.default_rng(depth)
    words = ("".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 3)) for _ in range(depth))
    nested = "".join(f'["{w}",' for w in words) + "0" + "]" * depth
    body = nested if where == "tool_call" else f'{{"name": "path_tracer", "arguments": {{"paths": {nested}}}}}'
    action = f"<think>t</think><tool_call>{body}</tool_call>"
    assert len(action) < 16384
    *_, info = step(env, action)
    assert info["step_error"] in ("parse", "bad_arguments")
    assert "nest" in info["error_message"].lower() or "JSON" in info["error_message"]
    json.loads(env.unwrapped.episode_record().to_json())


def test_episode_record_serialises_after_deeply_nested_arguments(maze):
    """Arguments nested 600 deep parse (under Python's recursion limit) and are kept in the
    record; the record must still serialise to JSON."""
    env, _, _ = maze
    rng = np.random.default_rng(600)
    nested = (
        "".join(f'["{"".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 3))}",' for _ in range(600))
        + "0"
        + "]" * 600
    )
    action = f'<think>t</think><tool_call>{{"name": "path_tracer", "arguments": {{"paths": {nested}}}}}</tool_call>'
    *_, info = step(env, action)
    assert info["step_error"] == "bad_arguments"
    data = json.loads(env.unwrapped.episode_record().to_json())
    assert data["turns"][0]["step_error"] == "bad_arguments"


@pytest.mark.parametrize(
    "action",
    [
        None,
        b"<think>t</think><answer>R</answer>",
        5,
        3.5,
        ["<answer>R</answer>"],
        {"name": "path_tracer"},
        np.array(["<answer>R</answer>"]),
    ],
    ids=["None", "bytes", "int", "float", "list", "dict", "ndarray"],
)
def test_non_string_actions(maze, action):
    env, _, _ = maze
    msg = expect_error(env, action, "parse")
    assert "string" in msg and type(action).__name__ in msg
    rec = env.unwrapped.episode_record()
    assert isinstance(rec.turns[-1].action, str)
    json.loads(rec.to_json())  # the record still serialises


def test_tool_call_on_the_last_turn_is_refused():
    env = gym.make(ENV_ID, size=SIZE, question_types=("moves",), max_turns=2)
    obs, info = env.reset(seed=0)
    obs, *_, info = step(env, call("path_tracer", {"paths": [segment(env)]}))
    assert info["step_error"] is None
    assert "last turn" in obs["text"] and "answer" in obs["text"]
    *_, truncated, info = step(env, call("path_tracer", {"paths": [segment(env)]}))
    assert info["step_error"] == "tool_disabled" and "answer" in info["error_message"]
    assert truncated and info["termination_reason"] == "max_turns"
    env.close()


@pytest.mark.parametrize(
    "action, words",
    [
        ("<think>t</think>\nAction: Crop Tool\n[]", ["Crop Tool", "Path Tracer"]),
        ("<think>t</think>\nAction: Path Tracer\n[{bad json", ["JSON"]),
        ("<think>t</think>\nAction: Path Tracer\n[]\nAction: Object Mapper\n[]", ["2", "Action"]),
    ],
    ids=["unknown-action", "bad-json", "two-actions"],
)
def test_vilasr_grammar_errors_tell_what_was_wrong(maze, action, words):
    """Maze-v0 accepts VILASR's ``Action: NAME`` turns; their mistakes must be explained
    as such, not answered with the default grammar's generic 'No action found'."""
    env, _, _ = maze
    *_, info = step(env, action)
    assert info["step_error"] in ("parse", "unknown_tool")
    for w in words:
        assert w in info["error_message"], (w, info["error_message"])


# ---- the fatal rule ----------------------------------------------------------------------


def _bad_turns(env):
    return itertools.cycle(
        [
            "no tags at all",
            call("crop", {}),
            call("path_tracer", {"image": "img_7", "paths": [segment(env)]}),
            call("path_tracer", {"paths": "abc"}),
            None,
        ]
    )


def test_three_bad_turns_in_a_row_are_fatal(maze):
    env, _, _ = maze
    bad = _bad_turns(env)
    for t in range(2):
        obs, reward, terminated, truncated, info = step(env, next(bad))
        assert not terminated and not info["fatal"] and info["consecutive_errors"] == t + 1
    obs, reward, terminated, truncated, info = step(env, next(bad))
    assert terminated and not truncated and reward == 0.0
    assert info["fatal"] is True and info["fatal_turn"] == 0
    assert info["termination_reason"] == "fatal_errors" and info["consecutive_errors"] == 3
    assert "over" in obs["text"], "the agent should be told the episode ended"
    rec = env.unwrapped.episode_record()
    assert rec.fatal and rec.fatal_turn == 0 and rec.termination_reason == "fatal_errors"
    with pytest.raises(gym.error.ResetNeeded):
        env.step("<think>t</think><answer>R</answer>")


def test_a_good_turn_resets_the_count_and_fatal_turn_is_the_run_start(maze):
    """Errors at turns 0, 1, a good turn 2, errors at 3, 4, 5 → fatal_turn 3."""
    env, _, _ = maze
    bad = _bad_turns(env)
    good = env.unwrapped.oracle_action()  # the oracle's first turn: a valid path_tracer call
    assert "<tool_call>" in good
    plan = [bad, bad, good, bad, bad, bad]
    counts = []
    for t, a in enumerate(plan):
        _, _, terminated, _, info = step(env, next(a) if a is bad else a)
        counts.append(info["consecutive_errors"])
        assert (info["step_error"] is None) == (a is good)
        assert terminated == (t == 5)
    assert counts == [1, 2, 0, 1, 2, 3]
    assert info["fatal"] and info["fatal_turn"] == 3 and info["termination_reason"] == "fatal_errors"
    assert info["n_tool_calls"] >= 1 and info["n_valid_tool_calls"] == 1


def test_alternating_bad_and_good_turns_never_go_fatal(maze):
    env, _, _ = maze
    bad = _bad_turns(env)
    good = call("path_tracer", {"image": "img_1", "paths": [segment(env)]})
    max_turns = env.unwrapped.max_turns
    for t in range(max_turns):
        _, _, terminated, truncated, info = step(env, good if t % 2 == 0 else next(bad))
        assert not terminated and info["consecutive_errors"] <= 1
    assert truncated and info["termination_reason"] == "max_turns"
    assert info["fatal"] and info["fatal_turn"] == max_turns  # unanswered: flagged, all turns kept


def test_bad_turns_of_every_kind_count_towards_fatal(maze):
    """A parse error, an unknown tool and a bad image ref make a fatal run together."""
    env, _, _ = maze
    seq = [b"bytes", call("no_tool", {}), call("path_tracer", {"image": "img_5", "paths": [segment(env)]})]
    kinds = []
    for a in seq:
        _, _, terminated, _, info = step(env, a)
        kinds.append(info["step_error"])
    assert kinds == ["parse", "unknown_tool", "bad_image_ref"]
    assert terminated and info["fatal_turn"] == 0


# ---- constructors ------------------------------------------------------------------------


def _range_in_message(msg: str, accepts) -> tuple[int, int]:
    """The (lo, hi) pair of integers named in ``msg`` that really bounds what ``accepts`` takes."""
    numbers = sorted({int(n) for n in re.findall(r"-?\d+", msg)})
    for lo, hi in itertools.combinations(numbers, 2):
        if accepts(lo) and accepts(hi) and not accepts(lo - 1) and not accepts(hi + 1):
            return lo, hi
    raise AssertionError(f"no valid range named in {msg!r}")


def _accepts(cls, name, **fixed):
    def accepts(value) -> bool:
        try:
            cls(**{name: value, **fixed})
        except ValueError:
            return False
        return True

    return accepts


@pytest.mark.parametrize(
    "cls, name, bad, fixed",
    [
        (MazeEnv, "size", 1, {}),
        (MazeEnv, "size", 100, {}),
        (MazeEnv, "size", 0, {}),
        (MazeEnv, "min_size", 1, {"max_size": 25}),
        (MazeEnv, "max_size", 99, {"min_size": 2}),
        (MazeEnv, "n_choices", 1, {}),
        (MazeEnv, "n_choices", 27, {}),
        (MazeEnv, "max_turns", 0, {}),
        (MazeEnv, "cell_px", 3, {}),
        (MazeEnv, "fatal_k", 0, {}),
        (MazeGridEnv, "size", 1, {}),
        (MazeGridEnv, "size", 100, {}),
        (MazeGridEnv, "cell_px", 3, {}),
        (MazeGridEnv, "cell_px", 1000, {}),
    ],
)
def test_constructor_rejects_out_of_range_ints_and_names_the_range(cls, name, bad, fixed):
    with pytest.raises(ValueError) as err:
        cls(**{name: bad, **fixed})
    msg = str(err.value)
    assert name in msg and str(bad) in msg
    lo, hi = _range_in_message(msg, _accepts(cls, name, **fixed))
    assert not lo <= bad <= hi


@pytest.mark.parametrize("cls", [MazeEnv, MazeGridEnv])
@pytest.mark.parametrize("value", [5.0, "5", True, 2.5])
def test_constructor_rejects_non_integer_sizes(cls, value):
    with pytest.raises(ValueError, match="size"):
        cls(size=value)


@pytest.mark.parametrize("bad", [("bogus",), ("moves", "bogus"), (), "bogus", ["MOVES"]])
def test_constructor_rejects_unknown_question_types_and_names_the_choices(bad):
    with pytest.raises(ValueError) as err:
        MazeEnv(question_types=bad)
    msg = str(err.value)
    assert "question_types" in msg
    for q in ("moves", "choice"):
        assert q in msg
        MazeEnv(question_types=(q,))  # the named choices are really accepted


@pytest.mark.parametrize("bad", [None, 5])
def test_constructor_rejects_non_iterable_question_types_with_value_error(bad):
    with pytest.raises(ValueError, match="question_types"):
        MazeEnv(question_types=bad)


@pytest.mark.parametrize("cls", [MazeEnv, MazeGridEnv])
@pytest.mark.parametrize("mode", ["human", "rgb", "", "ANSI"])
def test_constructor_rejects_unknown_render_modes_and_names_the_valid_ones(cls, mode):
    with pytest.raises(ValueError) as err:
        cls(render_mode=mode)
    msg = str(err.value)
    assert "render_mode" in msg
    for valid in cls.metadata["render_modes"]:
        assert valid in msg
        cls(render_mode=valid)


@pytest.mark.parametrize("bad", [2, 1.5, 0, -0.5, float("nan"), float("inf"), "0.5"])
def test_constructor_rejects_bad_snap_radius(bad):
    with pytest.raises(ValueError) as err:
        MazeEnv(snap_radius=bad)
    msg = str(err.value)
    assert "snap_radius" in msg and "1" in msg and "None" in msg
    for good in (1, 0.5, 0.01, None):
        MazeEnv(snap_radius=good)


def test_constructor_rejects_min_size_above_max_size():
    with pytest.raises(ValueError) as err:
        MazeEnv(min_size=8, max_size=4)
    assert "min_size" in str(err.value) and "max_size" in str(err.value)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"max_steps": 0}, "max_steps"),
        ({"goal_reward": float("nan")}, "goal_reward"),
        ({"step_penalty": "x"}, "step_penalty"),
        ({"bump_penalty": float("inf")}, "bump_penalty"),
    ],
)
def test_maze_grid_rejects_bad_kwargs(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MazeGridEnv(**kwargs)


@pytest.mark.parametrize(
    "env_id, kwargs", [(ENV_ID, {"size": 1}), ("mmsearch_gym/MazeGrid-v0", {"size": 100}), (ENV_ID, {"cell_px": 3})]
)
def test_gym_make_passes_the_value_error_through(env_id, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize(
    "options, words",
    [({"size": 1}, ["size"]), ({"question_type": "bogus"}, ["moves", "choice"]), ({"colour": 1}, ["colour", "size"])],
)
def test_reset_rejects_bad_options(options, words):
    env = MazeEnv()
    with pytest.raises(ValueError) as err:
        env.reset(seed=0, options=options)
    for w in words:
        assert w in str(err.value)
