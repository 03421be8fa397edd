"""Env ids → entry points and default kwargs; registered with gymnasium by ``import mmsearch_gym``.

Entry points are strings so that importing this module imports nothing from
``mmsearch_gym``; gymnasium imports the env module on ``gym.make``. Gymnasium 1.x has no
plugin entry points, so ``mmsearch_gym/__init__.py`` calls :func:`register_all`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment."""

    id: str
    entry_point: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)


ENVS: dict[str, EnvEntry] = {
    e.id: e
    for e in [
        EnvEntry(
            "mmsearch_gym/DeepSearch-v0",
            "mmsearch_gym.envs.deep_search:DeepSearchEnv",
            "OpenSearch-VL multi-hop visual questions over the offline world: perceive the image, search, answer.",
            {"max_turns": 50, "min_hops": 2, "max_hops": 4},
        ),
        EnvEntry(
            "mmsearch_gym/Maze-v0",
            "mmsearch_gym.envs.maze:MazeEnv",
            "VILASR mazes as images: trace routes with path_tracer/object_mapper, then answer (moves or multiple choice).",
            {"min_size": 3, "max_size": 9, "question_types": ("moves", "choice"), "max_turns": 10},
        ),
        EnvEntry(
            "mmsearch_gym/SpatialDraw-v0",
            "mmsearch_gym.envs.spatial_draw:SpatialDrawEnv",
            "VILASR + SpaceVista spatial questions over rendered 3D scenes at five scales: draw boxes/paths, then answer.",
            {"max_turns": 10},
        ),
        EnvEntry(
            "mmsearch_gym/GroundedGen-v0",
            "mmsearch_gym.envs.grounded_gen:GroundedGenEnv",
            "Gen-Searcher image requests over the offline world: search, pick references, write the prompt; dual reward.",
            {"max_turns": 10, "text_coef": 0.5, "min_refs": 1, "max_refs": 4},
        ),
        EnvEntry(
            "mmsearch_gym/MazeGrid-v0",
            "mmsearch_gym.envs.maze_grid:MazeGridEnv",
            "The same mazes with Discrete(4) moves and image observations, for Stable-Baselines3 baselines.",
            {"size": 5},
        ),
        EnvEntry(
            "mmsearch_gym/MazeWalk-v0",
            "mmsearch_gym.envs.maze_walk:MazeWalkEnv",
            "A text maze walked one move tool call at a time; walls are step errors; train/test layout split.",
            {"min_size": 3, "max_size": 4},
        ),
    ]
}


def register_all() -> list[str]:
    """Register every env with gymnasium (idempotent); return the ids."""
    import gymnasium as gym

    for entry in ENVS.values():
        if entry.id not in gym.registry:
            gym.register(id=entry.id, entry_point=entry.entry_point, kwargs=dict(entry.kwargs))
    return list(ENVS)
