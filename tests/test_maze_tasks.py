import numpy as np
import pytest

from mmsearch_gym.rewards.vilasr import (
    choice_accuracy, format_reward, mean_relative_accuracy, overall_reward, parse_choice, parse_number, text_accuracy,
)
from mmsearch_gym.core.record import TurnRecord
from mmsearch_gym.tasks.maze import Geometry, Maze, generate_maze, make_choices, parse_moves, render_maze, render_text

# A hand-built 2×2 maze: (0,0)–(0,1) open, (0,1)–(1,1) open, (1,0)–(1,1) open.
HAND = Maze(
    2, 2,
    open_east=np.array([[True, False], [True, False]]),
    open_south=np.array([[False, True], [False, False]]),
    start=(0, 0), goal=(1, 0),
)


@pytest.mark.parametrize("size", [2, 3, 5, 9, 15])
def test_generated_mazes_are_perfect(size):
    for seed in range(5):
        maze = generate_maze(size, size, np.random.default_rng(seed))
        assert maze.n_passages() == size * size - 1  # a spanning tree has cells − 1 edges …
        assert (maze.distances((0, 0)) >= 0).all()  # … and reaches every cell
        assert maze.start != maze.goal
        assert maze.solves(maze.solution) and len(maze.solution) == maze.distances(maze.start)[maze.goal]


def test_same_seed_same_maze_and_image():
    g = Geometry(32, 16)
    a, b = (generate_maze(7, 7, np.random.default_rng(11)) for _ in range(2))
    c = generate_maze(7, 7, np.random.default_rng(12))
    assert np.array_equal(render_maze(a, g), render_maze(b, g))
    assert not np.array_equal(render_maze(a, g), render_maze(c, g))


def test_hand_built_maze_walls_and_solution():
    assert HAND.solution == ["R", "D", "L"]
    assert HAND.solves(["R", "D", "L"]) and HAND.solves(["R", "L", "R", "D", "L"])  # detours are fine
    assert not HAND.solves(["D"])  # wall between (0,0) and (1,0)
    assert HAND.walk(["R", "R"]) == ((0, 1), 1)  # outer wall blocks the second move
    assert not HAND.solves(["R", "D"])  # ends off the goal


def test_text_rendering_of_hand_built_maze():
    assert render_text(HAND) == "\n".join([
        "+---+---+",
        "| S     |",
        "+---+   +",
        "| G     |",
        "+---+---+",
    ])


def test_geometry_centres_and_nearest_cell():
    g = Geometry(cell_px=48, margin=24)
    assert g.center((1, 2)) == (144, 96)
    cell, dist = g.nearest_cell(144 + 12, 96)
    assert cell == (1, 2) and dist == pytest.approx(0.25)


def test_rendered_image_shows_start_goal_and_walls():
    g = Geometry(cell_px=40, margin=20)
    img = render_maze(HAND, g)
    assert img.shape == (120, 120, 3)
    x, y = g.center((0, 0))
    assert tuple(img[y - 12, x - 12]) == (40, 170, 70)  # green start square (off the letter)
    x, y = g.center((1, 0))
    assert tuple(img[y - 12, x - 12]) == (240, 160, 20)  # orange goal square
    assert tuple(img[60, 40]) == (70, 70, 70)  # wall between (0,0) and (1,0) at y = 20 + 40
    assert tuple(img[60, 80]) == (255, 255, 255)  # open passage between (0,1) and (1,1)


@pytest.mark.parametrize(
    "text, moves",
    [
        ("R, D, L", ["R", "D", "L"]),
        ("right down left", ["R", "D", "L"]),
        ("RDL", ["R", "D", "L"]),
        ("east -> south -> west", ["R", "D", "L"]),
        ("→ ↓ ←", ["R", "D", "L"]),
        ('["U", "u"]', ["U", "U"]),
        ("Up, then Left.", ["U", "L"]),
        ("go diagonally", None),
        ("", None),
    ],
)
def test_parse_moves(text, moves):
    assert parse_moves(text) == moves


def test_choices_have_exactly_one_valid_route():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        maze = generate_maze(5, 5, rng)
        options, right = make_choices(maze, rng, 4)
        assert len(options) == len(set(options)) == 4
        valid = [i for i, o in enumerate(options) if maze.solves(parse_moves(o))]
        assert valid == [right]


def test_mean_relative_accuracy_hand_computed():
    assert mean_relative_accuracy(10, 10) == 1.0
    assert mean_relative_accuracy(8, 10) == pytest.approx(0.6)  # rel 0.2 < 1−θ for θ = .50 … .75
    assert mean_relative_accuracy(9.4, 10) == pytest.approx(0.9)  # rel 0.06 fails only θ = .95
    assert mean_relative_accuracy(9.6, 10) == 1.0
    assert mean_relative_accuracy(15, 10) == 0.0
    assert mean_relative_accuracy(0, 0) == 1.0 and mean_relative_accuracy(1, 0) == 0.0
    assert mean_relative_accuracy(float("nan"), 3) == 0.0


def test_mean_relative_accuracy_is_computed_as_vilasrs_code_does():
    """gcot.py: float32, |pred − gt| / (|gt| + 1e-8) < 1 − θ, θ = arange(0.5, 0.975, 0.05) in float32."""
    assert mean_relative_accuracy(1.05, 1) == 1.0  # 0.04999995 < 1 − 0.95f = 0.05000001
    assert mean_relative_accuracy(1e-10, 0) == 1.0  # 1e-10 / 1e-8 = 0.01
    assert mean_relative_accuracy(0.95, 1) == pytest.approx(0.9, abs=1e-6)
    assert mean_relative_accuracy(8, 10) == 0.6000000238418579  # the float32 mean, as mra.item()
    assert mean_relative_accuracy(1e300, 1) == 0.0 and mean_relative_accuracy(-1, 1) == 0.0


def test_overall_reward_and_parsers():
    assert overall_reward(1.0, 1.0) == 1.0
    assert overall_reward(1.0, 0.0) == 0.5
    assert overall_reward(0.6, 1.0) == pytest.approx(0.8)
    assert overall_reward(0.0, 1.0) == 0.0
    assert parse_choice("B", 4) == "B" and parse_choice("(c)", 4) == "C" and parse_choice("Option D.", 4) == "D"
    assert parse_choice("A or B", 4) is None and parse_choice("E", 4) is None and parse_choice("a route B", 4) == "B"
    assert parse_number("about 12 moves") == 12.0 and parse_number("1,024") == 1024.0 and parse_number("none") is None
    assert parse_number(".5") == 0.5 and parse_number("1,000") == 1000.0 and parse_number("-2.5 m") == -2.5
    assert parse_number("3,4") == 3.0 and parse_number("12.") == 12.0 and parse_number("1" * 5000) is None
    assert choice_accuracy(" B ", "B") == 1.0 and choice_accuracy("(B)", "B") == 0.0 and choice_accuracy("b", "B") == 0.0
    assert choice_accuracy("(b)", "B", lenient=True) == 1.0
    assert text_accuracy("The Red.", "red") == 1.0 and text_accuracy("dark red", "red") == 0.0


def test_format_reward_needs_clean_turns_and_a_final_answer():
    ok = TurnRecord(0, "", "tool_call", True)
    ans = TurnRecord(1, "", "answer", True)
    assert format_reward([ok, ans]) == 1.0
    assert format_reward([TurnRecord(0, "", "tool_call", False), ans]) == 0.0  # missing think
    assert format_reward([TurnRecord(0, "", None, False, step_error="parse"), ans]) == 0.0
    assert format_reward([ok]) == 0.0  # never answered
