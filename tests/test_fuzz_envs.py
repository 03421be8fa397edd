"""A hostile agent against every registered env (``envs_registry.ENVS``: envs added later join on their
own): huge image ids, nesting hundreds deep, giant strings and turns, lone surrogates, wrong types,
NaN/inf, negative and huge coordinates, unknown tools, half tags, image bursts, non-string actions and
answer sprays, mixed with plausible calls. No exception may leave ``step``/``reset`` and every answer
keeps the contract. ``python benchmarks/fuzz.py`` is the long run."""

from __future__ import annotations

import zlib
from typing import ClassVar

import gymnasium as gym
import pytest

import mmsearch_gym  # noqa: F401  (registers the ids)
from envs_registry import ENVS
from mmsearch_gym.core.spaces import FreeText
from mmsearch_gym.fuzz import ATTACKS, fuzz_env

N_ACTIONS = 200


@pytest.mark.parametrize("env_id", sorted(ENVS))
def test_no_exception_escapes_a_registered_env(env_id):
    env = gym.make(env_id)
    report = fuzz_env(env, n_actions=N_ACTIONS, seed=zlib.crc32(env_id.encode()))
    shown = "\n".join(f"[{c.attack}/{c.kind}] {c.action[:120]!r}\n{c.error}" for c in report.crashes[:5])
    assert not report.crashes, f"{len(report.crashes)} crashes in {report.actions} actions:\n{shown}"
    assert report.actions == N_ACTIONS and report.episodes > 1
    if isinstance(env.action_space, FreeText):
        assert set(report.attacks) >= set(ATTACKS)  # every attack shape was tried
        assert report.step_errors[None] > 0 and sum(report.step_errors.values()) > report.step_errors[None]
    env.close()


class _Fragile(gym.Env):
    """An env with a bug: any action containing a digit crashes it."""

    action_space = FreeText(max_length=10_000_000)
    observation_space = gym.spaces.Dict({"text": FreeText(max_length=100)})

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"text": "go"}, {}

    def step(self, action):
        if isinstance(action, str) and any(ch.isdigit() for ch in action):
            raise ZeroDivisionError("a digit")
        return {"text": "ok"}, 0.0, False, False, {}

    tools: ClassVar[dict] = {}
    images = None


def test_the_fuzzer_reports_a_crash_it_meets():
    report = fuzz_env(_Fragile(), n_actions=60, seed=1)
    assert report.crashes and all("ZeroDivisionError" in c.error for c in report.crashes)
