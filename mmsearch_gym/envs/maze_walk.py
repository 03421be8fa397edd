"""``mmsearch_gym/MazeWalk-v0``: walk a text maze one ``move`` tool call at a time; walls are step errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.env import Score, Task, ToolEnv, _check_int
from ..core.failures import StepError
from ..core.tool import Tool, ToolContext, ToolError, ToolResult
from ..rewards.deep_search import format_score
from ..tasks.maze import MOVES, Geometry, Maze, generate_maze, render_maze, render_text

SPLITS = ("all", "train", "test")
SIZE_RANGE = (2, 12)
DIRECTIONS = ("U", "D", "L", "R")


def layout_split(maze: Maze, test_fraction: float) -> str:
    """``"test"`` or ``"train"``: which split a maze's wall layout belongs to.

    A stable hash of the passages (start and goal left out) decides, so every task built on
    a layout falls in the same split whatever the seed: a held-out layout is never seen in
    training, with any start or goal.
    """
    walls = maze.open_east.astype(np.uint8).tobytes() + maze.open_south.astype(np.uint8).tobytes()
    key = f"{maze.rows}x{maze.cols}:".encode() + walls
    u = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64
    return "test" if u < test_fraction else "train"


def _where(cell: tuple[int, int]) -> str:
    return f"row {cell[0]}, column {cell[1]}"


class MoveTool(Tool):
    """``move(direction)``: one cell up, down, left or right; the env decides what a move does."""

    name = "move"
    description = "Move one cell: U (up), D (down), L (left) or R (right). A wall blocks the move and you stay."
    parameters = {
        "type": "object",
        "properties": {"direction": {"type": "string", "enum": list(DIRECTIONS)}},
        "required": ["direction"],
    }

    def __init__(self, walk: Callable[[str], str]):
        super().__init__()
        self._walk = walk

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return ToolResult(self._walk(arguments["direction"]))


class MazeWalkEnv(ToolEnv):
    """Walk from S to G through a maze given as text, one ``move`` tool call per turn.

    ## Description
    A seeded perfect maze (tasks of :mod:`mmsearch_gym.tasks.maze`, as in ``Maze-v0``) is
    drawn in ASCII in the prompt (and as an image), with the start ``S`` and the goal ``G``. Each turn the agent
    calls ``move`` with one direction; the env answers with the new position, or with a step
    error when a wall blocks the move (the agent stays). On ``G`` the agent answers
    ``<answer>done</answer>``. A multi-turn tool-use task small enough for tiny models, in
    which errors cost reward and three in a row end the episode (OpenSearch-VL's fatal rule).

    **Held-out split.** ``split="train"`` / ``"test"`` keep only mazes whose wall layout
    hashes into that split (:func:`layout_split`, ``test_fraction`` of layouts are test):
    the two splits share no layout, whatever the seeds. ``"all"`` keeps every maze.

    ## Action Space
    ``FreeText``: ``<think>…</think>`` then one
    ``<tool_call>{"name": "move", "arguments": {"direction": "R"}}</tool_call>`` or
    ``<answer>done</answer>``.

    ## Observation Space
    ``Dict(text=FreeText, images=Sequence(ImageSpace))``: the prompt with the maze at reset,
    then the tool's reply (``Moved R: row 1, column 2.``) or the error. ``images``: the maze
    drawn as a picture at reset (``img_1``, as in ``Maze-v0``; ``image=False`` leaves it out,
    for text-only models), nothing after.

    ## Tools
    - ``move(direction)``: ``U``, ``D``, ``L`` or ``R``. Into a wall or off the grid: a
      ``tool_failed`` step error, position unchanged.

    ## Rewards
    At the end only, OpenSearch-VL's multiplicative format gate without the search term:
    ``overall = format · accuracy``; ``accuracy`` is 1 when the agent answers standing on
    ``G``, else 0; ``format`` (r_fmt) is the share of turns before ``fatal_turn`` that were
    well formed and error free. ``info["reward_components"] = {"accuracy", "format", "overall"}``;
    ``info["evaluation"]`` has the moves made, the shortest route's length and the position.

    ## Starting State
    A new maze (side ``size``, or drawn from ``[min_size, max_size]``), redrawn until its
    layout is in ``split``; start and goal at least half the maze's longest route apart.
    ``reset(options={"size": 4})`` fixes the side.

    ## Episode End
    Terminated on an answer (right or wrong) or after ``fatal_k`` consecutive step errors;
    truncated after ``max_turns`` turns (default ``2·size²``; the last turn may only answer).

    ## Failure signals
    ``info["step_error"]``: ``tool_failed`` (a wall), ``parse``, ``bad_arguments`` (not one of
    U/D/L/R), ``unknown_tool``, ``tool_disabled``; ``info["fatal"]`` and ``info["fatal_turn"]``
    follow OpenSearch-VL's rule (see ``mmsearch_gym.core.failures``).

    ## Arguments
    - ``size``: fixed side (2–12), or None to draw it from ``[min_size, max_size]`` (3 and 4).
    - ``split``: ``all``, ``train`` or ``test``; ``test_fraction``: share of layouts held out (0.2).
    - ``max_turns``: turns per episode (None: ``2·size²``); ``fatal_k`` (3); ``render_mode``: ``ansi``.
    - ``show_exits``: also name the open directions of the agent's cell, in the prompt and after
      each move (no wall need be read off the drawing; the way to G still must).
    - ``image``: also show the maze as an image at reset (True).
    - ``oracle_error_rate``: chance per turn that the scripted oracle first bumps into a wall
      (SFT data with error turns, as real agent data has); 0 (default) is a perfect oracle.

    ## Example
    >>> import gymnasium as gym, mmsearch_gym
    >>> env = gym.make("mmsearch_gym/MazeWalk-v0", size=3, split="train")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
    """

    env_id = "mmsearch_gym/MazeWalk-v0"
    component_names = ("accuracy", "format", "overall")
    intro = "You walk through a maze one move at a time."

    def __init__(
        self,
        size: int | None = None,
        min_size: int = 3,
        max_size: int = 4,
        split: str = "all",
        test_fraction: float = 0.2,
        max_turns: int | None = None,
        fatal_k: int = 3,
        oracle_error_rate: float = 0.0,
        show_exits: bool = False,
        image: bool = True,
        render_mode: str | None = None,
    ):
        lo, hi = SIZE_RANGE
        self.size = _check_int("size", size, lo, hi) if size is not None else None
        self.min_size = _check_int("min_size", min_size, lo, hi)
        self.max_size = _check_int("max_size", max_size, lo, hi)
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({min_size}) must not exceed max_size ({max_size})")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split = split
        for name, value, top in (("test_fraction", test_fraction, 0.9), ("oracle_error_rate", oracle_error_rate, 1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
                raise ValueError(f"{name} must be a number in [0, {top}], got {value!r}")
        if split == "test" and test_fraction == 0:
            raise ValueError("split='test' needs test_fraction > 0")
        self.test_fraction = float(test_fraction)
        if not isinstance(show_exits, bool):
            raise ValueError(f"show_exits must be True or False, got {show_exits!r}")
        self.show_exits = show_exits
        if not isinstance(image, bool):
            raise ValueError(f"image must be True or False, got {image!r}")
        self.image = image
        self.oracle_error_rate = float(oracle_error_rate)
        largest = self.size or self.max_size
        turns = _check_int("max_turns", max_turns, 2, 1000) if max_turns is not None else 2 * largest * largest
        super().__init__(
            [MoveTool(self._walk)], max_turns=turns, fatal_k=fatal_k, max_images=1, render_mode=render_mode
        )
        self.maze: Maze | None = None
        self.position = (0, 0)
        self.moves: list[str] = []

    # ---- task ----------------------------------------------------------------------------
    def _new_task(self, rng: np.random.Generator, options: dict[str, Any]) -> Task:
        unknown = set(options) - {"size"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; valid: size")
        size = options.get("size", self.size)
        if size is None:
            size = int(rng.integers(self.min_size, self.max_size + 1))
        size = _check_int("size", size, *SIZE_RANGE)
        for _ in range(10_000):
            maze = generate_maze(size, size, rng)
            if self.split == "all" or layout_split(maze, self.test_fraction) == self.split:
                break
        else:  # pragma: no cover - a split with no layout of this size
            raise ValueError(f"no {size}x{size} maze found in split {self.split!r}")
        self.maze, self.position, self.moves = maze, maze.start, []
        prompt = (
            f"Walk from S to G through this {size}x{size} maze. Call move with U, D, L or R to go one cell; "
            "a wall blocks the move. When you are on G, answer <answer>done</answer>.\n"
            f"You are on S at {_where(maze.start)}.{self._exits()} G is at {_where(maze.goal)}.\n\n{render_text(maze)}"
        )
        meta = {"size": size, "start": list(maze.start), "goal": list(maze.goal), "shortest_length": len(maze.solution),
                "split": layout_split(maze, self.test_fraction) if self.test_fraction else "train"}
        task_id = f"walk-{size}x{size}-{int(rng.integers(1 << 30)):09d}"
        images = [render_maze(maze, Geometry(cell_px=32, margin=16))] if self.image else []
        return Task(task_id, prompt, images, "done", meta)

    def _walk(self, direction: str) -> str:
        assert self.maze is not None
        if not self.maze.can_move(self.position, direction):
            where = _where(self.position)
            raise ToolError(StepError.TOOL_FAILED, f"A wall blocks {direction} at {where}. You stay there.")
        dr, dc = MOVES[direction]
        self.position = (self.position[0] + dr, self.position[1] + dc)
        self.moves.append(direction)
        on_goal = " You are on G: answer now." if self.position == self.maze.goal else ""
        return f"Moved {direction}: {_where(self.position)}.{self._exits()}{on_goal}"

    def _exits(self) -> str:
        if not self.show_exits:
            return ""
        assert self.maze is not None
        return " Open: " + ", ".join(d for d in DIRECTIONS if self.maze.can_move(self.position, d)) + "."

    # ---- reward --------------------------------------------------------------------------
    def _score(self, answer: str | None) -> Score:
        assert self.maze is not None
        accuracy = float(answer is not None and self.position == self.maze.goal)
        fmt = format_score(self.episode_record().turns, self._fatal_turn)
        details = {"moves": list(self.moves), "shortest_length": len(self.maze.solution), "position": list(self.position)}
        components = {"accuracy": accuracy, "format": fmt, "overall": fmt * accuracy}
        return Score(fmt * accuracy, components, accuracy >= 1.0, details)

    # ---- scripted agents -----------------------------------------------------------------
    def oracle_action(self) -> str:
        """The next move of the shortest route from where the agent stands (so it recovers from
        any detour), or the answer on G; with ``oracle_error_rate``, sometimes a wall bump first.
        Its thought names the open directions of the cell."""
        assert self.maze is not None
        if self.position == self.maze.goal:
            return "<think>on G</think><answer>done</answer>"
        exits = [d for d in DIRECTIONS if self.maze.can_move(self.position, d)]
        walls = [d for d in DIRECTIONS if d not in exits]
        can_err = bool(walls) and self._turn < self.max_turns - 1
        if can_err and self.oracle_error_rate and self.np_random.random() < self.oracle_error_rate:
            move = walls[int(self.np_random.integers(len(walls)))]
        else:
            move = self.maze.route(self.position, self.maze.goal)[0]
        call = {"name": "move", "arguments": {"direction": move}}
        return f"<think>open {' '.join(exits)}</think><tool_call>{json.dumps(call)}</tool_call>"

    def system_prompt(self) -> str:
        tool = self.tools["move"]
        return (
            f"{self.intro}\n\n{self.grammar.describe()}\n\nTools:\n- {tool.signature()}: {tool.description}\n\n"
            f"You have at most {self.max_turns} turns; the last one may only answer."
        )

    def random_answer(self, rng: np.random.Generator) -> str:
        return "done"
