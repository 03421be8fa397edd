"""Ray: a pool of 2 env actors plays the same episodes as the local pool; the verl loop's shared slots too."""

from __future__ import annotations

import gymnasium as gym
import pytest

ray = pytest.importorskip("ray", reason="needs the ray extra (make test installs it)")

from algos.integrations.ray import RayEnvPool, SharedEnvSlot  # noqa: E402
from algos.rollout import RolloutEngine, SamplingParams, ScriptedTextPolicy  # noqa: E402

ENV = "mmsearch_gym/Maze-v0"
KW = {"size": 4, "question_types": ("moves", "choice", "count")}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _records(result):
    return [r.to_dict() for r in result.records]


def test_ray_pool_of_two_actors_gives_the_local_pools_records(cluster):
    seeds = [3, 4, 5]
    engine = RolloutEngine(ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=256))
    local = engine.rollout([gym.make(ENV, **KW) for _ in range(6)], seeds, group_size=2)
    # module:id form: the worker imports the module before gym.make, as any fresh process must
    pool = RayEnvPool("mmsearch_gym:" + ENV, n=6, num_workers=2, env_kwargs=KW)
    try:
        assert len(set(pool.owner)) == 2
        remote = engine.rollout(pool, seeds, group_size=2)
    finally:
        pool.close()
    assert _records(remote) == _records(local)
    assert all(r.n_tool_calls >= 1 and r.success for r in local.records)


def test_shared_env_slot_reuses_envs_and_matches_a_local_episode(cluster):
    engine = RolloutEngine(ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=256))
    local = engine.rollout([gym.make(ENV, **KW)], [7])
    slots = []
    for key in ("a", "b"):
        slot = SharedEnvSlot(ENV, KW, key=key, workers=1, num_cpus=0)
        assert _records(engine.rollout(slot, [7])) == _records(local)
        slot.close()
        slots.append(slot)
    assert slots[0].actor._actor_id == slots[1].actor._actor_id  # one named actor, found by name
    assert ray.get(slots[0].actor.open.remote(["c"], ENV, KW)) == 1  # released envs are reused, not leaked
