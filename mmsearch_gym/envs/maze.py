"""``mmsearch_gym/Maze-v0``: VILASR's maze tasks with drawing tools (arXiv 2506.09965)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.env import Score, Task, ToolEnv, _check_int
from ..core.grammar import ChainGrammar, DefaultGrammar, VilasrGrammar
from ..core.images import DEFAULT_MAX_BYTES
from ..core.tool import ToolContext
from ..rewards.vilasr import format_reward, mean_relative_accuracy, overall_reward, parse_choice, parse_number
from ..tasks.maze import MOVE_NAMES, MOVES, Geometry, Maze, format_moves, generate_maze, make_choices, parse_moves, render_maze, render_text
from ..tools.draw import ObjectMapperTool, PathTracerTool, _num

QUESTION_TYPES = ("moves", "choice", "count")
SIZE_RANGE = (2, 25)


class MazeEnv(ToolEnv):
    """Find or check a route through a maze image, drawing on it to think.

    ## Description
    A seeded perfect maze (one simple route between any two cells) is rendered as an image
    with a green start cell ``S`` and an orange goal cell ``G``. The agent may draw on the
    image with VILASR's tools, looks at what it drew, and answers. Question types:
    ``moves`` (give a move sequence from S to G: any wall-respecting sequence that ends on G
    is correct; whether it is the shortest is reported in ``info["evaluation"]``),
    ``choice`` (pick the one valid route among lettered candidates) and ``count`` (the number
    of moves of the shortest route, scored by mean relative accuracy).

    ## Action Space
    ``FreeText``: one model turn, ``<think>…</think>`` then one
    ``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` or ``<answer>…</answer>``.
    VILASR's ``Action: Path Tracer`` + JSON list is accepted too.

    ## Observation Space
    ``Dict(text=FreeText, images=Sequence(ImageSpace))``: the prompt and maze image at reset,
    then the tool's answer (or an error) and the new drawn image.

    ## Tools
    - ``path_tracer(image?, paths=[{start_point_2d, end_point_2d, label?}])``: black lines
      (width 4), red start dot, blue end dot. With ``snap_radius`` set, each endpoint must lie
      within that many cells of a cell centre.
    - ``object_mapper(image?, objects=[{bbox_2d, label?}])``: coloured labelled boxes.

    ## Rewards
    At the end only: ``overall = 0.5·acc + 0.5·format if acc > 0 else 0``; ``format`` is 1 when
    every turn was well formed and error free; ``acc`` is 1/0 for ``moves`` and ``choice`` and
    MRA for ``count``. ``info["reward_components"] = {"accuracy", "format", "overall"}``.

    ## Starting State
    A new maze (size drawn from ``[min_size, max_size]`` unless ``size`` is given), start and
    goal at least half the maze's longest route apart, a question type drawn from
    ``question_types``. ``reset(options={"size": 5, "question_type": "choice"})`` fixes them.

    ## Episode End
    Terminated on an answer or after ``fatal_k`` consecutive step errors; truncated after
    ``max_turns`` model calls (VILASR: 10). The reply before the last turn says that drawing
    is over and asks for the answer.

    ## Failure signals
    ``info["step_error"]`` names the error of this step (``parse``, ``unknown_tool``,
    ``bad_arguments``, ``bad_image_ref``, ``tool_disabled``, …); ``info["fatal"]`` and
    ``info["fatal_turn"]`` follow OpenSearch-VL's rule (see ``mmsearch_gym.core.failures``).

    ## Arguments
    - ``size``: fixed maze side in cells (2–25), or None to draw it from ``[min_size, max_size]``
      (defaults 3 and 9).
    - ``question_types``: subset of ``("moves", "choice", "count")``; ``n_choices``: candidates
      per choice question (2–6).
    - ``cell_px``: pixels per cell (16–128); ``text_maze``: also give an ASCII maze in the prompt.
    - ``snap_radius``: path endpoints must be within this many cells of a cell centre (None: off).
    - ``max_turns`` (10), ``fatal_k`` (3), ``max_images`` (45), ``max_image_bytes`` (256 MiB: the
      episode's images together), ``render_mode``: as in ``ToolEnv``.

    ## Example
    >>> import gymnasium as gym, mmsearch_gym
    >>> env = gym.make("mmsearch_gym/Maze-v0", size=5)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
    """

    env_id = "mmsearch_gym/Maze-v0"
    component_names = ("accuracy", "format", "overall")
    intro = "You solve maze puzzles shown as images. You may draw on an image to check a route."

    def __init__(
        self,
        size: int | None = None,
        min_size: int = 3,
        max_size: int = 9,
        question_types: Sequence[str] = ("moves", "choice"),
        n_choices: int = 4,
        cell_px: int = 48,
        text_maze: bool = False,
        snap_radius: float | None = 0.5,
        max_turns: int = 10,
        fatal_k: int = 3,
        max_images: int = 45,
        render_mode: str | None = None,
        max_image_bytes: int = DEFAULT_MAX_BYTES,
    ):
        lo, hi = SIZE_RANGE
        if size is not None:
            size = _check_int("size", size, lo, hi)
        self.min_size = _check_int("min_size", min_size, lo, hi)
        self.max_size = _check_int("max_size", max_size, lo, hi)
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({min_size}) must not exceed max_size ({max_size})")
        self.size = size
        given = (question_types,) if isinstance(question_types, str) else question_types
        if not isinstance(given, (list, tuple)) or not given or any(q not in QUESTION_TYPES for q in given):
            raise ValueError(f"question_types must be a non-empty subset of {QUESTION_TYPES}, got {question_types!r}")
        self.question_types = tuple(given)
        self.n_choices = _check_int("n_choices", n_choices, 2, 6)
        self.geometry = Geometry(cell_px=_check_int("cell_px", cell_px, 16, 128), margin=cell_px // 2)
        if not isinstance(text_maze, bool):
            raise ValueError(f"text_maze must be True or False, got {text_maze!r}")
        self.text_maze = text_maze
        if snap_radius is not None and (isinstance(snap_radius, bool) or not (isinstance(snap_radius, (int, float)) and 0 < snap_radius <= 1)):
            raise ValueError(f"snap_radius must be a number in (0, 1] (cells) or None, got {snap_radius!r}")
        self.snap_radius = snap_radius
        tools = [PathTracerTool(point_check=self._check_point if snap_radius else None), ObjectMapperTool()]
        grammar = ChainGrammar([DefaultGrammar(), VilasrGrammar()])
        max_side = self.geometry.margin * 2 + hi * self.geometry.cell_px
        super().__init__(
            tools, grammar=grammar, max_turns=max_turns, fatal_k=fatal_k, max_images=max_images,
            max_image_side=max(max_side, 64), render_mode=render_mode, max_image_bytes=max_image_bytes,
        )
        self.maze: Maze | None = None

    # ---- task ----------------------------------------------------------------------------
    def _new_task(self, rng: np.random.Generator, options: dict[str, Any]) -> Task:
        unknown = set(options) - {"size", "question_type"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; valid: size, question_type")
        size = options.get("size", self.size)
        size = _check_int("size", size, *SIZE_RANGE) if size is not None else int(rng.integers(self.min_size, self.max_size + 1))
        self.maze = maze = generate_maze(size, size, rng)  # first, so a seed gives the same maze as MazeGrid-v0
        qtype = options.get("question_type") or self.question_types[int(rng.integers(len(self.question_types)))]
        if qtype not in QUESTION_TYPES:
            raise ValueError(f"question_type must be one of {QUESTION_TYPES}, got {qtype!r}")
        g = self.geometry
        where = (
            f"Each cell is {g.cell_px} px wide; the grid's top-left corner is at ({g.margin}, {g.margin}), so the "
            f"cell in row r, column c (from 0) has its centre at x = {g.margin + g.cell_px // 2} + {g.cell_px}·c, "
            f"y = {g.margin + g.cell_px // 2} + {g.cell_px}·r."
        )
        moves_help = "Moves are U (up), D (down), L (left), R (right); a move may not cross a wall."
        head = f"The image img_1 shows a {size}×{size} maze. The green cell S is the start and the orange cell G the goal. {where} {moves_help}"
        meta: dict[str, Any] = {"size": size, "question_type": qtype, "start": list(maze.start), "goal": list(maze.goal),
                                "shortest_length": len(maze.solution)}
        if qtype == "moves":
            question = "Find a route from S to G. Answer with the list of moves, e.g. <answer>R, R, D, L</answer>."
            answer: Any = format_moves(maze.solution)
        elif qtype == "choice":
            options_, right = make_choices(maze, rng, self.n_choices)
            letters = "ABCDEF"
            listing = "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(options_))
            question = f"Which move sequence leads from S to G without crossing a wall?\n{listing}\nAnswer with the letter."
            answer = letters[right]
            meta["options"] = options_
        else:
            question = "How many moves does the shortest route from S to G take? Answer with a number."
            answer = len(maze.solution)
        prompt = f"{head}\n{question}"
        if self.text_maze:
            prompt += f"\n\nThe same maze as text:\n{render_text(maze)}"
        task_id = f"maze-{size}x{size}-{qtype}-{int(rng.integers(1 << 30)):09d}"
        return Task(task_id, prompt, [render_maze(maze, g)], answer, meta)

    def _check_point(self, x: float, y: float, ctx: ToolContext) -> str | None:
        assert self.maze is not None and self.snap_radius is not None
        (row, col), dist = self.geometry.nearest_cell(x, y)
        inside = 0 <= row < self.maze.rows and 0 <= col < self.maze.cols
        if inside and dist <= self.snap_radius:
            return None
        g = self.geometry
        return (
            f"[{_num(x)}, {_num(y)}] is not within {self.snap_radius:g} cell of a cell centre; centres are at "
            f"x = {g.margin + g.cell_px // 2} + {g.cell_px}·c, y = {g.margin + g.cell_px // 2} + {g.cell_px}·r "
            f"for 0 ≤ r, c < {self.maze.rows}."
        )

    # ---- reward --------------------------------------------------------------------------
    def _score(self, answer: str | None) -> Score:
        assert self.task is not None and self.maze is not None
        qtype = self.task.meta["question_type"]
        details: dict[str, Any] = {"question_type": qtype}
        accuracy = 0.0
        if answer is not None:
            if qtype == "moves":
                moves = parse_moves(answer)
                accuracy = float(moves is not None and self.maze.solves(moves))
                details["readable"] = moves is not None
                details["shortest"] = bool(accuracy and len(moves or []) == len(self.maze.solution))
            elif qtype == "choice":
                accuracy = float(parse_choice(answer, self.n_choices) == self.task.answer)
            else:
                number = parse_number(answer)
                accuracy = mean_relative_accuracy(number, float(self.task.answer)) if number is not None else 0.0
        fmt = format_reward(self.episode_record().turns)
        overall = overall_reward(accuracy, fmt)
        return Score(overall, {"accuracy": accuracy, "format": fmt, "overall": overall}, accuracy >= 1.0, details)

    # ---- scripted agents -----------------------------------------------------------------
    def oracle_action(self) -> str:
        """Draw the shortest route once, then answer."""
        assert self.task is not None and self.maze is not None
        drew = any(t.tool == "path_tracer" and t.step_error is None for t in self.episode_record().turns)
        if not drew and self._turn < self.max_turns - 1:
            paths, cell = [], self.maze.start
            for run in _straight_runs(self.maze.solution):
                nxt = (cell[0] + MOVES[run[0]][0] * len(run), cell[1] + MOVES[run[0]][1] * len(run))
                paths.append({"start_point_2d": list(self.geometry.center(cell)), "end_point_2d": list(self.geometry.center(nxt))})
                cell = nxt
            call = {"name": "path_tracer", "arguments": {"image": "img_1", "paths": paths}}
            return f"<think>I trace the route from S to G cell by cell to check it.</think><tool_call>{json.dumps(call)}</tool_call>"
        route = ", ".join(MOVE_NAMES[m] for m in self.maze.solution)
        return f"<think>The drawn route ({route}) stays between the walls and ends on G.</think><answer>{self.task.answer}</answer>"

    def random_answer(self, rng: np.random.Generator) -> str:
        assert self.task is not None
        qtype = self.task.meta["question_type"]
        if qtype == "choice":
            return "ABCDEF"[int(rng.integers(self.n_choices))]
        if qtype == "count":
            return str(int(rng.integers(1, 2 * self.task.meta["size"] ** 2)))
        length = int(rng.integers(1, 2 * self.task.meta["shortest_length"] + 2))
        return format_moves([str(m) for m in rng.choice(list("URDL"), size=length)])


def _straight_runs(moves: list[str]) -> list[list[str]]:
    """Group consecutive equal moves: ``RRDL`` → ``[RR, D, L]`` (one drawn segment each)."""
    runs: list[list[str]] = []
    for m in moves:
        if runs and runs[-1][0] == m:
            runs[-1].append(m)
        else:
            runs.append([m])
    return runs
