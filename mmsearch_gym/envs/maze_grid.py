"""``mmsearch_gym/MazeGrid-v0``: the Maze-v0 mazes as a classic grid-world for SB3 baselines."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..core.env import _check_int
from ..tasks.maze import MOVES, Geometry, Maze, generate_maze, render_maze, render_text

ACTIONS = ("U", "R", "D", "L")


class MazeGridEnv(gym.Env[np.ndarray, np.int64]):
    """Walk from S to G one cell at a time, seeing the maze as an image.

    ## Description
    The same seeded perfect mazes as ``mmsearch_gym/Maze-v0`` (same generator), without
    tools or text: a baseline for Stable-Baselines3 agents next to the LLM agents.

    ## Action Space
    ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left. A move into a wall leaves the agent in place.

    ## Observation Space
    ``Box(0, 255, (H, W, 3), uint8)``: the maze with the agent as a blue dot;
    ``H = W = size·cell_px + cell_px``.

    ## Rewards
    ``goal_reward`` (1.0) on reaching G, minus ``step_penalty`` (0.01) every step and
    ``bump_penalty`` (0.0) more for walking into a wall.

    ## Starting State
    A new maze per reset; the agent stands on S.

    ## Episode End
    Terminated on reaching G; truncated after ``max_steps`` (default ``4·size²``).

    ## Arguments
    ``size`` (2–25, default 5), ``cell_px`` (4–64, default 12), ``max_steps``,
    ``goal_reward``, ``step_penalty``, ``bump_penalty``, ``render_mode`` (``rgb_array``/``ansi``).

    ## Example
    >>> import gymnasium as gym, mmsearch_gym
    >>> env = gym.make("mmsearch_gym/MazeGrid-v0", size=5)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        size: int = 5,
        cell_px: int = 12,
        max_steps: int | None = None,
        goal_reward: float = 1.0,
        step_penalty: float = 0.01,
        bump_penalty: float = 0.0,
        render_mode: str | None = None,
    ):
        self.size = _check_int("size", size, 2, 25)
        cell_px = _check_int("cell_px", cell_px, 4, 64)
        self.geometry = Geometry(cell_px=cell_px, margin=cell_px // 2)
        self.max_steps = _check_int("max_steps", max_steps if max_steps is not None else 4 * size * size, 1)
        for name, value in (("goal_reward", goal_reward), ("step_penalty", step_penalty), ("bump_penalty", bump_penalty)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        self.goal_reward, self.step_penalty, self.bump_penalty = float(goal_reward), float(step_penalty), float(bump_penalty)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        side = size * cell_px + 2 * self.geometry.margin
        self.observation_space = spaces.Box(0, 255, shape=(side, side, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(4)
        self.maze: Maze | None = None
        self.position = (0, 0)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.maze = generate_maze(self.size, self.size, self.np_random)
        self.position, self.steps = self.maze.start, 0
        self._distance = self.maze.distances(self.maze.goal)
        return self._obs(), self._info()

    def step(self, action: Any):
        if self.maze is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if not self.action_space.contains(action):
            raise gym.error.InvalidAction(f"action must be an integer in [0, 4), got {action!r}")
        move = ACTIONS[int(action)]
        self.steps += 1
        reward = -self.step_penalty
        if self.maze.can_move(self.position, move):
            self.position = (self.position[0] + MOVES[move][0], self.position[1] + MOVES[move][1])
        else:
            reward -= self.bump_penalty
        terminated = self.position == self.maze.goal
        if terminated:
            reward += self.goal_reward
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), float(reward), terminated, truncated, self._info()

    def _obs(self) -> np.ndarray:
        assert self.maze is not None
        return render_maze(self.maze, self.geometry, agent=self.position, labels=False)

    def _info(self) -> dict[str, Any]:
        assert self.maze is not None
        return {
            "position": self.position,
            "distance": int(self._distance[self.position]),
            "is_success": self.position == self.maze.goal,
        }

    def oracle_action(self) -> int:
        """The first move of the shortest route from the agent to the goal."""
        assert self.maze is not None
        route = self.maze.route(self.position, self.maze.goal)
        return ACTIONS.index(route[0]) if route else 0

    def render(self) -> np.ndarray | str | None:
        if self.maze is None:
            return None
        if self.render_mode == "rgb_array":
            return self._obs()
        if self.render_mode == "ansi":
            return render_text(self.maze)
        return None
