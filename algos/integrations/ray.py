"""Env pools of Ray actors: the rollout engine (and the verl loop) step envs that live in other processes.

    import ray
    from algos.integrations.ray import RayEnvPool
    ray.init(num_cpus=4)
    pool = RayEnvPool("mmsearch_gym/DeepSearch-v0", n=16, num_workers=4)   # 4 actors x 4 envs
    result = RolloutEngine(policy, sampling).rollout(pool, seeds=range(4), group_size=4)
    pool.close()

Each actor (:class:`EnvWorker`) holds several envs and steps them one after the other; the
pool sends every actor its share of a round at once, so actors run in parallel. Envs are
registered in every worker: the actor imports ``mmsearch_gym`` before ``gym.make``, and ids
in gymnasium's ``module:id`` form (``"mmsearch_gym:mmsearch_gym/Maze-v0"``, or your own
``"my_pkg.envs:MyEnv-v0"``) import their module first, as they do anywhere else.

To share one search index between workers instead of loading the world in each, start
``mmsearch-gym serve --world DIR`` once and pass ``env_kwargs={"backend": "http://127.0.0.1:8765",
"world": DIR}``.
"""

from __future__ import annotations

import copy
import importlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

from algos.rollout.pool import EnvPool, StepResult
from mmsearch_gym.core.record import EpisodeRecord


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Any:
    """``gym.make(env_id, **env_kwargs)`` with the package's envs registered first (also in a fresh worker)."""
    import gymnasium as gym

    importlib.import_module("mmsearch_gym")  # registers mmsearch_gym/* in this process
    return gym.make(env_id, **(env_kwargs or {}))


class EnvWorker:
    """Envs keyed by slot in one process (a Ray actor when wrapped by :class:`RayEnvPool`)."""

    def __init__(self) -> None:
        self.envs: dict[Any, Any] = {}
        self.spec: dict[Any, str] = {}
        self.spare: dict[str, list[Any]] = {}  # released envs, reused by the next open of the same spec

    def open(self, keys: Sequence[Any], env_id: str, env_kwargs: dict[str, Any] | None = None) -> int:
        spec = json.dumps([env_id, env_kwargs or {}], sort_keys=True, default=str)
        for key in keys:
            if key in self.envs:
                raise ValueError(f"env slot {key!r} is already open")
            spare = self.spare.get(spec)
            self.envs[key] = spare.pop() if spare else make_env(env_id, env_kwargs)
            self.spec[key] = spec
        return len(self.envs)

    def release(self, keys: Sequence[Any]) -> None:
        """Free ``keys``; their envs wait for the next :meth:`open` of the same id and kwargs."""
        for key in keys:
            env = self.envs.pop(key, None)
            if env is not None:
                self.spare.setdefault(self.spec.pop(key), []).append(env)

    def reset(self, seeds: dict[Any, int], options: dict[str, Any] | None = None) -> dict[Any, tuple]:
        return {key: self.envs[key].reset(seed=int(seed), options=options) for key, seed in seeds.items()}

    def step(self, actions: dict[Any, str]) -> tuple[dict[Any, StepResult], dict[Any, EpisodeRecord]]:
        results = {key: self.envs[key].step(action) for key, action in actions.items()}
        ended = {key: self.record(key) for key, r in results.items() if r[2] or r[3]}
        return results, ended

    def record(self, key: Any) -> EpisodeRecord:
        return copy.deepcopy(self.envs[key].unwrapped.episode_record())

    def call(self, key: Any, name: str, *args: Any) -> Any:
        return getattr(self.envs[key].unwrapped, name)(*args)

    def close(self, keys: Sequence[Any] | None = None) -> None:
        for key in list(self.envs) if keys is None else keys:
            env = self.envs.pop(key, None)
            self.spec.pop(key, None)
            if env is not None:
                env.close()
        if keys is None:
            for env in (e for envs in self.spare.values() for e in envs):
                env.close()
            self.spare.clear()


class RayEnvPool(EnvPool):
    """``n`` env slots spread over ``num_workers`` Ray actors; a drop-in :class:`~algos.rollout.EnvPool`.

    Args:
        env_id: a registered id (``mmsearch_gym/Maze-v0``) or ``module:id``.
        n: number of slots (episodes run at once).
        num_workers: actors; slot ``i`` lives on actor ``i * num_workers // n`` (contiguous blocks).
        env_kwargs: keyword arguments of every env.
        num_cpus: CPUs Ray reserves per actor.

    Ray must be reachable: ``ray.init()`` first (or Ray starts a local cluster on first use).
    """

    def __init__(
        self,
        env_id: str,
        n: int,
        num_workers: int = 2,
        env_kwargs: dict[str, Any] | None = None,
        num_cpus: float = 1.0,
    ):
        try:
            import ray
        except ImportError as err:  # pragma: no cover - exercised only without the extra
            raise ImportError("RayEnvPool needs Ray: pip install 'mmsearch-gym[ray]'") from err
        if n < 1 or num_workers < 1:
            raise ValueError(f"need n >= 1 and num_workers >= 1, got n={n}, num_workers={num_workers}")
        num_workers = min(num_workers, n)
        self._ray = ray
        self.vector = None
        self.envs = []  # no env lives in this process: scripted agents go through call()
        self.n = n
        self.env_id = env_id
        self.owner = [i * num_workers // n for i in range(n)]
        remote = ray.remote(num_cpus=num_cpus)(EnvWorker)
        self.workers = [remote.remote() for _ in range(num_workers)]
        self._get([w.open.remote([i for i in range(n) if self.owner[i] == k], env_id, env_kwargs)
                   for k, w in enumerate(self.workers)])

    def _get(self, refs: list[Any]) -> list[Any]:
        return self._ray.get(refs)

    def _split(self, items: dict[int, Any]) -> dict[int, dict[int, Any]]:
        out: dict[int, dict[int, Any]] = {}
        for i, value in items.items():
            if not 0 <= i < self.n:
                raise IndexError(f"slot {i} out of range for a pool of {self.n}")
            out.setdefault(self.owner[i], {})[i] = value
        return out

    def reset(self, seeds: Sequence[int], options: dict[str, Any] | None = None) -> list[tuple[dict, dict]]:
        if len(seeds) != self.n:
            raise ValueError(f"{len(seeds)} seeds for {self.n} envs")
        parts = self._split(dict(enumerate(int(s) for s in seeds)))
        merged: dict[int, tuple] = {}
        for part in self._get([self.workers[k].reset.remote(p, options) for k, p in parts.items()]):
            merged.update(part)
        return [merged[i] for i in range(self.n)]

    def step(self, actions: dict[int, str]) -> tuple[dict[int, StepResult], dict[int, EpisodeRecord]]:
        parts = self._split(actions)
        results: dict[int, StepResult] = {}
        ended: dict[int, EpisodeRecord] = {}
        for res, done in self._get([self.workers[k].step.remote(p) for k, p in parts.items()]):
            results.update(res)
            ended.update(done)
        return results, ended

    def record(self, i: int) -> EpisodeRecord:
        return self._get([self.workers[self.owner[i]].record.remote(i)])[0]

    def local_env(self, i: int) -> None:
        return None

    def call(self, i: int, name: str, *args: Any) -> Any:
        return self._get([self.workers[self.owner[i]].call.remote(i, name, *args)])[0]

    def close(self) -> None:
        if not self.workers:
            return
        self._get([w.close.remote() for w in self.workers])
        for w in self.workers:
            self._ray.kill(w)
        self.workers = []


class SharedEnvSlot(EnvPool):
    """One env slot on a named :class:`EnvWorker` actor that every process of the Ray cluster shares.

    The verl loop's ``env_backend: ray``: each trajectory opens slot ``key`` on actor
    ``{name}_{crc32(key) % workers}`` (created by the first caller), plays its episode there
    and releases it; released envs are reused.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None,
        key: str,
        workers: int = 1,
        name: str = "mmsearch_gym_envs",
        num_cpus: float = 1.0,
    ):
        import ray

        self._ray = ray
        self.vector, self.envs, self.n = None, [], 1
        self.key = key
        index = zlib.crc32(key.encode()) % max(1, workers)
        self.actor = ray.remote(num_cpus=num_cpus)(EnvWorker).options(name=f"{name}_{index}", get_if_exists=True).remote()
        ray.get(self.actor.open.remote([key], env_id, env_kwargs))

    def reset(self, seeds: Sequence[int], options: dict[str, Any] | None = None) -> list[tuple[dict, dict]]:
        if len(seeds) != 1:
            raise ValueError(f"{len(seeds)} seeds for a one-env slot")
        return [self._ray.get(self.actor.reset.remote({self.key: int(seeds[0])}, options))[self.key]]

    def step(self, actions: dict[int, str]) -> tuple[dict[int, StepResult], dict[int, EpisodeRecord]]:
        results, ended = self._ray.get(self.actor.step.remote({self.key: actions[0]}))
        return {0: results[self.key]}, ({0: ended[self.key]} if self.key in ended else {})

    def record(self, i: int) -> EpisodeRecord:
        return self._ray.get(self.actor.record.remote(self.key))

    def local_env(self, i: int) -> None:
        return None

    def call(self, i: int, name: str, *args: Any) -> Any:
        return self._ray.get(self.actor.call.remote(self.key, name, *args))

    def close(self) -> None:
        self._ray.get(self.actor.release.remote([self.key]))
