import json

import gymnasium as gym
import numpy as np
import pytest

import mmsearch_gym  # noqa: F401
from mmsearch_gym.core import EpisodeRecord, fatal_turn
from mmsearch_gym.tasks.maze import parse_moves

BAD = "this is not an action"


def make(**kw):
    return gym.make("mmsearch_gym/Maze-v0", **kw).unwrapped


def answer(text, think=True):
    return (f"<think>done</think>" if think else "") + f"<answer>{text}</answer>"


def run(env, actions):
    out = []
    for a in actions:
        out.append(env.step(a))
        if out[-1][2] or out[-1][3]:
            break
    return out


def test_oracle_solves_every_question_type_and_size():
    env = make()
    for seed in range(24):
        qtype = ("moves", "choice", "count")[seed % 3]
        obs, info = env.reset(seed=seed, options={"question_type": qtype, "size": 3 + seed % 7})
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(env.oracle_action())
            done = terminated or truncated
        assert info["success"] and reward == 1.0 and info["termination_reason"] == "answered"
        assert info["reward_components"] == {"accuracy": 1.0, "format": 1.0, "overall": 1.0}
        assert info["turn"] == 2 and info["n_valid_tool_calls"] == 1 and not info["fatal"]


def test_reset_gives_prompt_image_tools_and_messages():
    env = make(size=4)
    obs, info = env.reset(seed=1)
    assert "4×4 maze" in obs["text"] and len(obs["images"]) == 1
    assert obs["images"][0].shape == (4 * 48 + 48, 4 * 48 + 48, 3)
    assert {t["function"]["name"] for t in info["tools"]} == {"path_tracer", "object_mapper"}
    assert [m["role"] for m in info["messages"]] == ["system", "user"]
    assert info["messages"][1]["images"] == ["img_1"]
    assert "path_tracer" in info["messages"][0]["content"]
    assert info["turn"] == 0 and info["step_error"] is None and info["fatal_turn"] == -1


def test_draw_step_returns_new_image_and_tool_response():
    env = make(size=5)
    env.reset(seed=2)
    obs, reward, terminated, truncated, info = env.step(env.oracle_action())
    assert obs["text"].startswith("<tool_response>") and "img_2" in obs["text"]
    assert len(obs["images"]) == 1 and not np.array_equal(obs["images"][0], env.images.get("img_1"))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["messages"][-1] == {"role": "user", "content": obs["text"], "images": ["img_2"]}
    assert info["messages"][-2]["role"] == "assistant"


def test_hand_computed_rewards():
    env = make(size=5, question_types=("moves",))
    env.reset(seed=3)
    right = env.task.answer
    *_, info = run(env, [answer(right)])[-1]
    assert info["reward_components"] == {"accuracy": 1.0, "format": 1.0, "overall": 1.0}

    env.reset(seed=3)
    *_, info = run(env, [answer(right, think=False)])[-1]  # not well formed → format 0
    assert info["reward_components"] == {"accuracy": 1.0, "format": 0.0, "overall": 0.5}

    env.reset(seed=3)
    _, reward, *_, info = run(env, [BAD, answer(right)])[-1]  # one step error → format 0
    assert reward == 0.5 and info["consecutive_errors"] == 0

    env.reset(seed=3)
    wrong = "U, U, U, U" if not env.maze.solves(parse_moves("U, U, U, U")) else "L"
    _, reward, *_, info = run(env, [answer(wrong)])[-1]
    assert reward == 0.0 and info["reward_components"]["accuracy"] == 0.0 and not info["success"]


def test_count_question_uses_mean_relative_accuracy():
    env = make(size=9)
    for seed in range(40):
        env.reset(seed=seed, options={"question_type": "count"})
        if env.task.answer % 5 == 0:
            break
    truth = env.task.answer
    assert truth % 5 == 0
    *_, info = run(env, [answer(str(truth * 4 // 5))])[-1]  # 20% off → MRA 0.6
    assert info["reward_components"]["accuracy"] == pytest.approx(0.6)
    assert info["reward_components"]["overall"] == pytest.approx(0.8)


def test_any_valid_route_counts_and_shortest_is_reported():
    env = make(size=6, question_types=("moves",))
    env.reset(seed=5)
    sol = env.maze.solution
    back = {"U": "D", "D": "U", "L": "R", "R": "L"}[sol[0]]
    detour = [sol[0], back] + sol  # step forward and back, then the route
    *_, info = run(env, [answer(", ".join(detour))])[-1]
    assert info["success"] and info["evaluation"]["shortest"] is False
    env.reset(seed=5)
    *_, info = run(env, [answer(", ".join(sol))])[-1]
    assert info["evaluation"]["shortest"] is True


def test_fatal_turn_pinned_errors_0_1_ok_2_errors_3_4_5():
    env = make(size=5, max_turns=10)
    env.reset(seed=0)
    steps = []
    for t in range(6):
        steps.append(env.step(env.oracle_action() if t == 2 else BAD))
    obs, reward, terminated, truncated, info = steps[-1]
    assert [s[4]["step_error"] for s in steps] == ["parse", "parse", None, "parse", "parse", "parse"]
    assert [s[4]["consecutive_errors"] for s in steps] == [1, 2, 0, 1, 2, 3]
    assert not any(s[2] for s in steps[:-1])
    assert terminated and not truncated and info["fatal"] and info["fatal_turn"] == 3
    assert info["termination_reason"] == "fatal_errors" and reward == 0.0
    assert "3 failed turns in a row" in obs["text"]
    rec = env.episode_record()
    assert fatal_turn(rec.step_errors, answered=False) == 3 == rec.fatal_turn


def test_unanswered_at_max_turns_is_fatal_at_number_of_turns():
    env = make(size=5, max_turns=4)
    env.reset(seed=0)
    draw = env.oracle_action()
    out = run(env, [draw, draw, draw, draw])
    texts = [o[0]["text"] for o in out]
    assert "last turn" in texts[2] and "last turn" not in texts[1]
    obs, reward, terminated, truncated, info = out[-1]
    assert len(out) == 4 and truncated and not terminated
    assert info["step_error"] == "tool_disabled"  # drawing is over on the last turn
    assert info["fatal"] and info["fatal_turn"] == 4 and info["termination_reason"] == "max_turns"
    assert reward == 0.0 and info["answer"] is None


def test_stepping_after_the_end_asks_for_reset():
    env = make(size=3)
    env.reset(seed=0)
    run(env, [answer("A")])
    with pytest.raises(gym.error.ResetNeeded):
        env.step(answer("A"))


def test_snap_radius_rejects_points_off_cell_centres():
    env = make(size=3)
    env.reset(seed=0)
    corner = {"name": "path_tracer", "arguments": {"paths": [{"start_point_2d": [25, 25], "end_point_2d": [48, 48], "label": "a"}]}}
    _, _, _, _, info = env.step(f"<think>t</think><tool_call>{json.dumps(corner)}</tool_call>")
    assert info["step_error"] == "bad_arguments" and "cell centre" in info["error_message"]
    env = make(size=3, snap_radius=None)
    env.reset(seed=0)
    _, _, _, _, info = env.step(f"<think>t</think><tool_call>{json.dumps(corner)}</tool_call>")
    assert info["step_error"] is None


def test_vilasr_action_grammar_draws_too():
    env = make(size=3)
    env.reset(seed=0)
    obs, *_, info = env.step('<think>t</think>\nAction: Object Mapper\n[{"bbox_2d": [24, 24, 72, 72], "label": "S"}]')
    assert info["step_error"] is None and info["n_valid_tool_calls"] == 1 and len(obs["images"]) == 1


def test_a_turn_written_as_vilasrs_released_prompt_scores_format_1():
    """The literal format of VILASR's prompt (dataset_multimodal.py) and gcot.py's check: a
    drawing turn with a fenced JSON list of indexed, labelled items, then Action: Answer."""
    env = make(size=3, question_types=("choice",))
    env.reset(seed=0)
    (x0, y0), (x1, y1) = env.geometry.center(env.maze.start), env.geometry.center(env.maze.goal)
    draw = (
        "<think> I mark the start and the goal, then trace from S towards G. </think> Action: Path Tracer\n"
        "```json\n"
        f'[{{\n    "index": 1,\n    "start_point_2d": [{x0}, {y0}],\n    "end_point_2d": [{x1}, {y1}],\n'
        '    "label": "S to G"\n}]\n'
        "```"
    )
    obs, *_, info = env.step(draw)
    assert info["step_error"] is None and "The index of the given image is 2" in obs["text"]
    *_, terminated, _, info = env.step(f"<think> The route checks out. </think> Action: Answer\n<answer>{env.task.answer}</answer>")
    assert terminated and info["reward_components"] == {"accuracy": 1.0, "format": 1.0, "overall": 1.0}


@pytest.mark.parametrize("answer_text, lenient, accuracy", [("B", False, 1.0), ("(B)", False, 0.0), ("b", False, 0.0),
                                                           ("B. the left route", False, 0.0), ("(b)", True, 1.0)])
def test_choice_is_an_exact_match_after_strip_unless_lenient(answer_text, lenient, accuracy):
    env = make(size=3, question_types=("choice",), lenient_choice=lenient)
    for seed in range(50):
        env.reset(seed=seed)
        if env.task.answer == "B":
            break
    *_, info = env.step(f"<think>t</think><answer> {answer_text} </answer>")
    assert info["reward_components"]["accuracy"] == accuracy


def test_record_round_trips_through_json():
    env = make(size=4)
    env.reset(seed=7)
    for _ in range(2):
        env.step(BAD if env.episode_record().turns == [] else env.oracle_action())
    env.step(env.oracle_action())
    rec = env.episode_record()
    again = EpisodeRecord.from_json(rec.to_json())
    assert again == rec
    data = json.loads(rec.to_json())
    assert data["n_tool_calls"] == 1 and data["n_valid_tool_calls"] == 1 and data["success"]
    assert [t["step_error"] for t in data["turns"]] == ["parse", None, None]
    assert data["reward_components"] == {"accuracy": 1.0, "format": 0.0, "overall": 0.5}
    assert len(data["messages"]) == 2 + 2 * 3


def test_render_modes():
    env = make(size=3, render_mode="ansi")
    env.reset(seed=0)
    env.step(env.oracle_action())
    text = env.render()
    assert "[assistant]" in text and "path_tracer" in text and "img_2" in text
    env = make(size=3, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.oracle_action())
    assert np.array_equal(env.render(), env.images.get("img_2"))


def test_reset_options_and_text_maze():
    env = make(text_maze=True)
    obs, info = env.reset(seed=0, options={"size": 3, "question_type": "choice"})
    assert "3×3" in obs["text"] and "+---+---+---+" in obs["text"] and "\nA. " in obs["text"]
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"colour": 1})
    with pytest.raises(ValueError, match="question_type must be one of"):
        env.reset(options={"question_type": "riddle"})


def test_make_overrides_registered_defaults():
    env = gym.make("mmsearch_gym/Maze-v0", size=7)
    obs, info = env.reset(seed=0)
    assert "7×7 maze" in obs["text"] and env.unwrapped.max_turns == 10
    with pytest.raises(ValueError, match="size must be an integer between 2 and 25"):
        gym.make("mmsearch_gym/Maze-v0", size=1)


def test_same_seed_same_maze_as_maze_grid():
    tool_env = make(size=6)
    grid = gym.make("mmsearch_gym/MazeGrid-v0", size=6).unwrapped
    for seed in range(3):
        tool_env.reset(seed=seed)
        grid.reset(seed=seed)
        assert np.array_equal(tool_env.maze.open_east, grid.maze.open_east)
        assert (tool_env.maze.start, tool_env.maze.goal) == (grid.maze.start, grid.maze.goal)


def test_maze_grid_dynamics_and_oracle():
    env = gym.make("mmsearch_gym/MazeGrid-v0", size=5).unwrapped
    obs, info = env.reset(seed=4)
    assert obs.shape == (5 * 12 + 12, 5 * 12 + 12, 3) and env.observation_space.contains(obs)
    shortest = info["distance"]
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.oracle_action())
        total, steps, done = total + reward, steps + 1, terminated or truncated
    assert terminated and info["is_success"] and steps == shortest
    assert total == pytest.approx(1.0 - 0.01 * shortest)
    env.reset(seed=4)
    blocked = next(a for a in range(4) if not env.maze.can_move(env.position, "URDL"[a]))
    before = env.position
    _, reward, *_ = env.step(blocked)
    assert env.position == before and reward == pytest.approx(-0.01)
    env = gym.make("mmsearch_gym/MazeGrid-v0", size=3, max_steps=2).unwrapped
    env.reset(seed=0)
    blocked = next(a for a in range(4) if not env.maze.can_move(env.position, "URDL"[a]))
    assert env.step(blocked)[3] is False and env.step(blocked)[3] is True
