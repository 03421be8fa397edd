"""Where training tasks come from: env checks and construction, task seeds, SFT teacher data."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch

from algos.rollout import ChatFormat, EpisodeTokens, RolloutEngine, SamplingParams, ScriptedTextPolicy
from algos.trainer.config import ConfigError

# Task seeds: RL task k is reset with ``seed * 10**7 + RL_SEEDS + k``, SFT episode i with
# ``seed * 10**7 + SFT_SEEDS + i``; evaluation uses ``eval.seed + i`` (default 10**9 + i).
RL_SEEDS, SFT_SEEDS = 0, 5_000_000


def rl_seeds(seed: int, start: int, n: int) -> list[int]:
    return [seed * 10**7 + RL_SEEDS + start + i for i in range(n)]


def sft_seeds(seed: int, n: int) -> list[int]:
    return [seed * 10**7 + SFT_SEEDS + i for i in range(n)]


def check_env_id(env_id: str) -> None:
    """Raise :class:`ConfigError` unless ``env_id`` is registered with gymnasium."""
    import mmsearch_gym  # noqa: F401  (registers the envs)

    if env_id not in gym.registry:
        ours = sorted(k for k in gym.registry if k.startswith("mmsearch_gym/"))
        raise ConfigError(f"unknown env {env_id!r}; registered mmsearch-gym envs: {', '.join(ours)}")


def make_envs(env_id: str, env_kwargs: dict[str, Any], n: int, vector: str = "none") -> Any:
    """``n`` envs: a list (``none``) or a gymnasium ``sync`` / ``async`` vector env."""
    fns = [functools.partial(gym.make, env_id, **env_kwargs) for _ in range(n)]
    if vector == "sync":
        return gym.vector.SyncVectorEnv(fns)
    if vector == "async":
        return gym.vector.AsyncVectorEnv(fns, shared_memory=False)
    return [f() for f in fns]


def teacher_data(
    env_id: str,
    env_kwargs: dict[str, Any],
    teacher: str,
    chat: ChatFormat,
    sampling: SamplingParams,
    max_episode_tokens: int,
    seeds: Sequence[int],
    successful_only: bool = True,
    chunk: int = 64,
) -> list[EpisodeTokens]:
    """Episodes of a scripted ``teacher`` (e.g. the env's oracle), tokenised teacher-forced."""
    engine = RolloutEngine(ScriptedTextPolicy(teacher), sampling, chat=chat, max_episode_tokens=max_episode_tokens)
    envs = make_envs(env_id, env_kwargs, min(chunk, len(seeds)))
    data: list[EpisodeTokens] = []
    try:
        for start in range(0, len(seeds), chunk):
            part = list(seeds[start : start + chunk])
            result = engine.rollout(envs[: len(part)], part)
            data += [t for t, r in zip(result.tokens or [], result.records) if r.success or not successful_only]
    finally:
        for env in envs:
            env.close()
    if not data:
        raise RuntimeError(f"no usable {teacher} trajectories for SFT (all failed; raise rollout.max_new_tokens?)")
    return data


def next_rows(cursor: int, n: int, batch_size: int, seed: int) -> tuple[list[int], int]:
    """The next ``batch_size`` sample indices of a seeded reshuffle per epoch, and the new cursor."""
    rows = []
    for c in range(cursor, cursor + batch_size):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + c // n))
        rows.append(int(perm[c % n]))
    return rows, cursor + batch_size
