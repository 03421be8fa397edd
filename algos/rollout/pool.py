"""``EnvPool``: one episode per slot over a list of envs or a gymnasium vector env.

A vector env steps every sub-env at once, so slots whose episode is over get a dummy
action and their results are ignored; a finished episode's record is fetched right after
its last step, before the vector env auto-resets it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from mmsearch_gym.core.record import EpisodeRecord

StepResult = tuple[dict[str, Any], float, bool, bool, dict[str, Any]]


class EnvPool:
    """Slots ``0 … n-1`` of envs, each running one episode.

    Args:
        envs: a sequence of envs (each with ``episode_record()``, e.g. any ``ToolEnv``), or a
            ``gymnasium.vector.VectorEnv`` of them (sync or async, ``shared_memory=False``).
    """

    def __init__(self, envs: Sequence[gym.Env] | gym.vector.VectorEnv):
        if isinstance(envs, gym.vector.VectorEnv):
            self.vector: gym.vector.VectorEnv | None = envs
            self.envs: list[gym.Env] = list(getattr(envs, "envs", []))  # empty for async envs
            self.n = int(envs.num_envs)
        else:
            self.vector = None
            self.envs = list(envs)
            self.n = len(self.envs)
            if not self.envs:
                raise ValueError("EnvPool needs at least one env")
            for env in self.envs:
                if not hasattr(env.unwrapped, "episode_record"):
                    raise TypeError(
                        f"{type(env.unwrapped).__name__} has no episode_record(); the rollout engine needs a ToolEnv"
                    )

    def reset(
        self, seeds: Sequence[int], options: dict[str, Any] | None = None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Reset every slot, slot ``i`` with ``seeds[i]``."""
        if len(seeds) != self.n:
            raise ValueError(f"{len(seeds)} seeds for {self.n} envs")
        if self.vector is None:
            return [env.reset(seed=int(s), options=options) for env, s in zip(self.envs, seeds)]
        obs, infos = self.vector.reset(seed=[int(s) for s in seeds], options=options)
        return [(_obs_at(obs, i), _info_at(infos, i)) for i in range(self.n)]

    def step(self, actions: dict[int, str]) -> tuple[dict[int, StepResult], dict[int, EpisodeRecord]]:
        """Step the slots in ``actions``; return their results and the records of those that ended."""
        results: dict[int, StepResult] = {}
        if self.vector is None:
            for i, action in actions.items():
                results[i] = self.envs[i].step(action)
        else:
            batch = [actions.get(i, "") for i in range(self.n)]
            obs, rewards, terms, truncs, infos = self.vector.step(batch)
            for i in actions:
                results[i] = (_obs_at(obs, i), float(rewards[i]), bool(terms[i]), bool(truncs[i]), _info_at(infos, i))
        ended = [i for i, r in results.items() if r[2] or r[3]]
        if self.vector is None or not ended:
            return results, {i: self.record(i) for i in ended}
        records = self.vector.call("episode_record")  # one round trip for all sub-envs
        return results, {i: copy.deepcopy(records[i]) for i in ended}

    def record(self, i: int) -> EpisodeRecord:
        """A copy of slot ``i``'s current episode record."""
        if self.vector is None:
            return copy.deepcopy(self.envs[i].unwrapped.episode_record())
        return copy.deepcopy(self.vector.call("episode_record")[i])

    def local_env(self, i: int) -> gym.Env | None:
        """The env object of slot ``i`` when it lives in this process."""
        return self.envs[i] if i < len(self.envs) else None

    def call(self, i: int, name: str, *args: Any) -> Any:
        """Call method ``name`` of slot ``i``'s (unwrapped) env."""
        env = self.local_env(i)
        if env is not None:
            return getattr(env.unwrapped, name)(*args)
        assert self.vector is not None
        return self.vector.call(name, *args)[i]

    def close(self) -> None:
        if self.vector is not None:
            self.vector.close()
        else:
            for env in self.envs:
                env.close()


def _obs_at(obs: dict[str, Any], i: int) -> dict[str, Any]:
    return {k: v[i] for k, v in obs.items()}


def _info_at(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s info from a vector env's batched info (nested dicts are batched key by key)."""
    out = {}
    for k, v in infos.items():
        if k.startswith("_"):
            continue
        if isinstance(v, dict):
            out[k] = _info_at(v, i)
        elif f"_{k}" not in infos or bool(infos[f"_{k}"][i]):
            out[k] = v[i]
    return out
