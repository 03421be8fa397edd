"""MazeWalk-v0: moves as tool calls, walls as step errors, the fatal rule, the reward, the layout split."""

import json

import gymnasium as gym
import pytest

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.envs.maze_walk import MazeWalkEnv, layout_split
from mmsearch_gym.tasks.maze import MOVES

ENV_ID = "mmsearch_gym/MazeWalk-v0"


def move(direction: str) -> str:
    call = json.dumps({"name": "move", "arguments": {"direction": direction}})
    return f"<think>{direction}</think><tool_call>{call}</tool_call>"


def blocked(env: MazeWalkEnv) -> list[str]:
    return [d for d in "UDLR" if not env.maze.can_move(env.position, d)]


def test_oracle_walks_the_shortest_route_and_scores_one():
    env = gym.make(ENV_ID, size=4)
    obs, info = env.reset(seed=3)
    base = env.unwrapped
    assert "Walk from S to G" in obs["text"] and info["tools"][0]["function"]["name"] == "move"
    assert len(obs["images"]) == 1 and obs["images"][0].shape == (160, 160, 3) and "Images: img_1." in obs["text"]
    text_only, _ = gym.make(ENV_ID, size=4, image=False).reset(seed=3)
    assert text_only["images"] == () and text_only["text"] == obs["text"].replace("\n\nImages: img_1.", "")
    start, shortest = tuple(base.task.meta["start"]), base.task.meta["shortest_length"]
    done, turns = False, 0
    while not done:
        obs, reward, terminated, truncated, info = env.step(base.oracle_action())
        turns += 1
        done = terminated or truncated
    assert base.position == base.maze.goal != start
    assert (reward, info["success"], info["termination_reason"], info["fatal"]) == (1.0, True, "answered", False)
    assert turns == shortest + 1 and len(info["evaluation"]["moves"]) == shortest
    assert info["reward_components"] == {"accuracy": 1.0, "format": 1.0, "overall": 1.0}


def test_a_wall_is_a_step_error_and_three_in_a_row_are_fatal():
    env = gym.make(ENV_ID, size=3)
    env.reset(seed=0)
    base = env.unwrapped
    wall = blocked(base)[0]
    at = base.position
    obs, reward, terminated, _, info = env.step(move(wall))
    assert info["step_error"] == "tool_failed" and "A wall blocks" in obs["text"] and base.position == at
    assert not terminated and info["consecutive_errors"] == 1
    open_dir = next(d for d in "UDLR" if base.maze.can_move(at, d))
    env.step(move(open_dir))  # a good move resets the count
    here = blocked(base)[0]
    env.step(move(here))
    env.step(move(here))
    _, reward, terminated, _, info = env.step(move(here))
    assert terminated and info["fatal"] and info["fatal_turn"] == 2 and info["termination_reason"] == "fatal_errors"
    # r_fmt counts the turns before f = 2: one of two was an error; no answer -> accuracy 0
    assert reward == 0.0 and info["reward_components"] == {"accuracy": 0.0, "format": 0.5, "overall": 0.0}


def test_format_gates_the_reward_and_a_wrong_answer_scores_zero():
    env = gym.make(ENV_ID, size=3)
    env.reset(seed=1)
    base = env.unwrapped
    env.step(move(blocked(base)[0]))  # one error, then the route
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(base.oracle_action())
        done = terminated or truncated
    n = len(base.episode_record().turns)
    assert info["success"] and reward == pytest.approx((n - 1) / n)

    env.reset(seed=1)
    _, reward, terminated, _, info = env.step("<think>here?</think><answer>done</answer>")  # still on S
    assert terminated and reward == 0.0 and not info["success"]
    assert info["evaluation"]["position"] == list(base.maze.start)


def test_bad_arguments_and_constructor_checks():
    env = gym.make(ENV_ID, size=3)
    env.reset(seed=2)
    base = env.unwrapped
    obs, _, _, _, info = env.step(move("north"))
    assert info["step_error"] == "bad_arguments" and "direction" in obs["text"]
    open_dir = next(d for d in "UDLR" if base.maze.can_move(base.position, d))
    obs, _, _, _, info = env.step(move(open_dir))
    r, c = base.position
    assert info["step_error"] is None
    assert obs["text"] == f"<tool_response>Moved {open_dir}: row {r}, column {c}.</tool_response>"
    for kwargs, message in (
        ({"split": "eval"}, "split must be one of"),
        ({"oracle_error_rate": 1.5}, "oracle_error_rate"),
        ({"size": 1}, "size must be"),
        ({"min_size": 5, "max_size": 4}, "must not exceed"),
        ({"split": "test", "test_fraction": 0}, "test_fraction > 0"),
        ({"image": "yes"}, "image must be"),
    ):
        with pytest.raises(ValueError, match=message):
            MazeWalkEnv(**kwargs)


def test_oracle_error_rate_injects_wall_bumps_and_recovers():
    env = gym.make(ENV_ID, size=4, oracle_error_rate=0.2)
    errors, ends = 0, []
    for seed in range(20):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
            errors += info["step_error"] == "tool_failed"
            done = terminated or truncated
        ends.append("success" if info["success"] else info["termination_reason"])
    # bumps happen; after a bump the oracle walks on; it fails only by a cascade of three bumps
    assert errors > 10 and ends.count("success") >= 15 and set(ends) <= {"success", "fatal_errors"}


def test_train_and_test_splits_share_no_layout():
    def layouts(split, seeds):
        env = gym.make(ENV_ID, split=split)
        out = set()
        for s in seeds:
            env.reset(seed=s)
            m = env.unwrapped.maze
            assert layout_split(m, 0.2) == split and env.unwrapped.task.meta["split"] == split
            out.add((m.rows, m.open_east.tobytes(), m.open_south.tobytes()))
        return out

    train, test = layouts("train", range(400)), layouts("test", range(10**9, 10**9 + 200))
    assert len(train) > 150 and len(test) > 60 and not train & test
    # about test_fraction of all layouts are test layouts
    env = gym.make(ENV_ID)
    shares = []
    for s in range(500):
        env.reset(seed=s)
        shares.append(layout_split(env.unwrapped.maze, 0.2) == "test")
    assert 0.12 < sum(shares) / len(shares) < 0.28


def test_same_seed_same_task_and_moves_are_grid_moves():
    a, b = gym.make(ENV_ID), gym.make(ENV_ID)
    oa, _ = a.reset(seed=42)
    ob, _ = b.reset(seed=42)
    assert oa["text"] == ob["text"]
    assert set(MOVES) == set("UDLR")
