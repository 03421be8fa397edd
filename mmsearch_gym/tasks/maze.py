"""Maze tasks (VILASR, arXiv 2506.09965): seeded perfect mazes, rendering, questions, checking.

A maze is a grid of ``rows × cols`` cells whose open passages form a spanning tree (a
*perfect* maze: exactly one simple route between any two cells), carved by a randomised
depth-first search from a seeded generator. Moves are ``U``, ``R``, ``D``, ``L``.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MOVES: dict[str, tuple[int, int]] = {"U": (-1, 0), "R": (0, 1), "D": (1, 0), "L": (0, -1)}
MOVE_NAMES = {"U": "up", "R": "right", "D": "down", "L": "left"}
_ALIASES = {
    "u": "U", "up": "U", "north": "U", "n": "U", "↑": "U",
    "d": "D", "down": "D", "south": "D", "s": "D", "↓": "D",
    "l": "L", "left": "L", "west": "L", "w": "L", "←": "L",
    "r": "R", "right": "R", "east": "R", "e": "R", "→": "R",
}
WALL_COLOR = (70, 70, 70)
START_COLOR = (40, 170, 70)
GOAL_COLOR = (240, 160, 20)

Cell = tuple[int, int]


@dataclass(frozen=True, eq=False)
class Maze:
    """Passages of a grid maze: ``open_east[r, c]`` joins (r, c)–(r, c+1), ``open_south[r, c]`` (r, c)–(r+1, c)."""

    rows: int
    cols: int
    open_east: np.ndarray
    open_south: np.ndarray
    start: Cell
    goal: Cell

    def can_move(self, cell: Cell, move: str) -> bool:
        r, c = cell
        if move == "R":
            return c + 1 < self.cols and bool(self.open_east[r, c])
        if move == "L":
            return c > 0 and bool(self.open_east[r, c - 1])
        if move == "D":
            return r + 1 < self.rows and bool(self.open_south[r, c])
        if move == "U":
            return r > 0 and bool(self.open_south[r - 1, c])
        raise ValueError(f"unknown move {move!r}")

    def walk(self, moves: list[str], start: Cell | None = None) -> tuple[Cell, int | None]:
        """Follow ``moves``; return the last cell reached and the index of the first blocked move."""
        cell = start or self.start
        for i, m in enumerate(moves):
            if not self.can_move(cell, m):
                return cell, i
            cell = (cell[0] + MOVES[m][0], cell[1] + MOVES[m][1])
        return cell, None

    def solves(self, moves: list[str]) -> bool:
        """True when ``moves`` respect every wall and end on the goal."""
        end, blocked = self.walk(moves)
        return blocked is None and end == self.goal

    def distances(self, source: Cell) -> np.ndarray:
        """BFS distance (in moves) from ``source`` to every cell."""
        dist = np.full((self.rows, self.cols), -1, dtype=np.int64)
        dist[source] = 0
        queue = deque([source])
        while queue:
            cell = queue.popleft()
            for m, (dr, dc) in MOVES.items():
                nxt = (cell[0] + dr, cell[1] + dc)
                if self.can_move(cell, m) and dist[nxt] < 0:
                    dist[nxt] = dist[cell] + 1
                    queue.append(nxt)
        return dist

    @cached_property
    def solution(self) -> list[str]:
        """Shortest move sequence from start to goal (BFS)."""
        return self.route(self.start, self.goal)

    def route(self, source: Cell, target: Cell) -> list[str]:
        dist = self.distances(target)
        if dist[source] < 0:
            raise ValueError("target unreachable")
        moves, cell = [], source
        while cell != target:
            for m, (dr, dc) in MOVES.items():
                nxt = (cell[0] + dr, cell[1] + dc)
                if self.can_move(cell, m) and dist[nxt] == dist[cell] - 1:
                    moves.append(m)
                    cell = nxt
                    break
        return moves

    def n_passages(self) -> int:
        return int(self.open_east.sum() + self.open_south.sum())


def generate_maze(rows: int, cols: int, rng: np.random.Generator, min_distance: float = 0.5) -> Maze:
    """Carve a perfect maze by randomised DFS; pick start and goal at least ``min_distance`` × the farthest pair apart."""
    if rows < 2 or cols < 2:
        raise ValueError(f"a maze needs at least 2×2 cells, got {rows}×{cols}")
    east = np.zeros((rows, cols), dtype=bool)
    south = np.zeros((rows, cols), dtype=bool)
    seen = np.zeros((rows, cols), dtype=bool)
    stack = [(int(rng.integers(rows)), int(rng.integers(cols)))]
    seen[stack[0]] = True
    while stack:
        r, c = stack[-1]
        options = [
            (m, (r + dr, c + dc))
            for m, (dr, dc) in MOVES.items()
            if 0 <= r + dr < rows and 0 <= c + dc < cols and not seen[r + dr, c + dc]
        ]
        if not options:
            stack.pop()
            continue
        m, (nr, nc) = options[int(rng.integers(len(options)))]
        if m == "R":
            east[r, c] = True
        elif m == "L":
            east[r, c - 1] = True
        elif m == "D":
            south[r, c] = True
        else:
            south[r - 1, c] = True
        seen[nr, nc] = True
        stack.append((nr, nc))
    probe = Maze(rows, cols, east, south, (0, 0), (0, 0))
    start = (int(rng.integers(rows)), int(rng.integers(cols)))
    dist = probe.distances(start)
    far = np.argwhere(dist >= max(1, int(np.ceil(min_distance * dist.max()))))
    goal = tuple(int(v) for v in far[int(rng.integers(len(far)))])
    return Maze(rows, cols, east, south, start, goal)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Geometry:
    """Pixel layout of a rendered maze."""

    cell_px: int
    margin: int

    def center(self, cell: Cell) -> tuple[int, int]:
        """(x, y) pixel centre of ``cell`` = (row, col)."""
        return (self.margin + cell[1] * self.cell_px + self.cell_px // 2, self.margin + cell[0] * self.cell_px + self.cell_px // 2)

    def nearest_cell(self, x: float, y: float) -> tuple[Cell, float]:
        """The cell whose centre is closest to (x, y), and that distance in cells."""
        col = int(np.floor((x - self.margin) / self.cell_px))
        row = int(np.floor((y - self.margin) / self.cell_px))
        cx, cy = self.center((row, col))
        return (row, col), float(np.hypot(x - cx, y - cy)) / self.cell_px


def render_maze(maze: Maze, geometry: Geometry, agent: Cell | None = None, labels: bool = True) -> np.ndarray:
    """Render the maze: grey walls, green start ``S``, orange goal ``G``, optional blue agent dot."""
    g = geometry
    w = g.margin * 2 + maze.cols * g.cell_px
    h = g.margin * 2 + maze.rows * g.cell_px
    img = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    pad = max(2, g.cell_px // 6)
    font = ImageFont.load_default(size=max(8, g.cell_px // 2))
    for cell, color, text in ((maze.start, START_COLOR, "S"), (maze.goal, GOAL_COLOR, "G")):
        x0, y0 = g.margin + cell[1] * g.cell_px, g.margin + cell[0] * g.cell_px
        draw.rectangle([x0 + pad, y0 + pad, x0 + g.cell_px - pad, y0 + g.cell_px - pad], fill=color)
        if labels:
            draw.text(g.center(cell), text, fill=(255, 255, 255), font=font, anchor="mm")
    if agent is not None:
        cx, cy = g.center(agent)
        rad = max(2, g.cell_px // 4)
        draw.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], fill=(30, 60, 220))
    lw = max(1, g.cell_px // 16 + 1)
    for r in range(maze.rows):
        for c in range(maze.cols):
            x0, y0 = g.margin + c * g.cell_px, g.margin + r * g.cell_px
            x1, y1 = x0 + g.cell_px, y0 + g.cell_px
            if r == 0:
                draw.line([(x0, y0), (x1, y0)], fill=WALL_COLOR, width=lw)
            if c == 0:
                draw.line([(x0, y0), (x0, y1)], fill=WALL_COLOR, width=lw)
            if not (c + 1 < maze.cols and maze.open_east[r, c]):
                draw.line([(x1, y0), (x1, y1)], fill=WALL_COLOR, width=lw)
            if not (r + 1 < maze.rows and maze.open_south[r, c]):
                draw.line([(x0, y1), (x1, y1)], fill=WALL_COLOR, width=lw)
    return np.asarray(img)


def render_text(maze: Maze) -> str:
    """ASCII rendering for text-only models: ``+---+`` walls, ``S`` start, ``G`` goal."""
    lines = ["+" + "---+" * maze.cols]
    for r in range(maze.rows):
        row, below = "|", "+"
        for c in range(maze.cols):
            mark = "S" if (r, c) == maze.start else "G" if (r, c) == maze.goal else " "
            row += f" {mark} " + (" " if c + 1 < maze.cols and maze.open_east[r, c] else "|")
            below += ("   " if r + 1 < maze.rows and maze.open_south[r, c] else "---") + "+"
        lines += [row, below]
    return "\n".join(lines)


def parse_moves(text: str) -> list[str] | None:
    """Read a move sequence: ``R, R, D``, ``right down``, ``RRD``, ``→ ↓``, ``east south`` …; None if unreadable."""
    if not isinstance(text, str):
        return None
    cleaned = re.sub(r"(->|=>|,|;|\.|\[|\]|\"|'|\(|\)|\band\b|\bthen\b)", " ", text.lower())
    cleaned = re.sub(r"([↑↓←→])", r" \1 ", cleaned)
    tokens = cleaned.split()
    if not tokens:
        return None
    moves: list[str] = []
    for tok in tokens:
        if tok in _ALIASES:
            moves.append(_ALIASES[tok])
        elif re.fullmatch(r"[udlr]+", tok):
            moves.extend(ch.upper() for ch in tok)
        else:
            return None
    return moves


def format_moves(moves: list[str]) -> str:
    return ", ".join(moves)


def make_choices(maze: Maze, rng: np.random.Generator, n: int) -> tuple[list[str], int]:
    """``n`` candidate move sequences of which exactly one solves the maze; returns them and the right index."""
    right = maze.solution
    seen = {tuple(right)}
    wrong: list[list[str]] = []
    for attempt in range(500):
        cand = list(right)
        kind = attempt % 4
        if kind == 0 and cand:  # change one move
            i = int(rng.integers(len(cand)))
            cand[i] = str(rng.choice([m for m in MOVES if m != cand[i]]))
        elif kind == 1 and len(cand) > 1:  # stop early
            cand = cand[: int(rng.integers(1, len(cand)))]
        elif kind == 2 and len(cand) > 1:  # swap two neighbouring moves
            i = int(rng.integers(len(cand) - 1))
            cand[i], cand[i + 1] = cand[i + 1], cand[i]
        else:  # a random walk of the same length
            cand = [str(m) for m in rng.choice(list(MOVES), size=max(1, len(right)))]
        if tuple(cand) not in seen and not maze.solves(cand):
            seen.add(tuple(cand))
            wrong.append(cand)
        if len(wrong) == n - 1:
            break
    options = wrong + [right]
    order = rng.permutation(len(options))
    options = [options[i] for i in order]
    return [format_moves(o) for o in options], int(np.argmax(order == len(options) - 1))

