"""Scripted policies: the env's oracle and a random agent, behind one small interface."""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np


class ScriptedPolicy(Protocol):
    """Chooses the next action from the env itself (scripted agents may read the hidden task)."""

    def act(self, env: gym.Env) -> Any: ...


class OraclePolicy:
    """Plays the env's ``oracle_action()``: the reference solution, step by step."""

    def __init__(self, seed: int | None = None):
        del seed  # deterministic

    def act(self, env: gym.Env) -> Any:
        return env.unwrapped.oracle_action()  # type: ignore[attr-defined]


class RandomPolicy:
    """Random turns for tool envs (``random_action``), random moves for discrete envs."""

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def act(self, env: gym.Env) -> Any:
        base = env.unwrapped
        if hasattr(base, "random_action"):
            return base.random_action(self.rng)
        return env.action_space.sample()


class EnvAgentPolicy:
    """An env's own scripted baseline, e.g. DeepSearch's ``single_search`` and ``no_vision`` agents, GroundedGen's
    ``no_search`` and ``wrong_reference``."""

    def __init__(self, name: str, seed: int | None = None):
        del seed  # deterministic
        self.name = name

    def act(self, env: gym.Env) -> Any:
        base = env.unwrapped
        if not hasattr(base, "scripted_action"):
            raise ValueError(f"{base.spec.id if base.spec else type(base).__name__} has no scripted {self.name!r} agent")
        return base.scripted_action(self.name)


ENV_AGENTS = ("single_search", "no_vision", "no_search", "wrong_reference")
POLICIES: dict[str, type] = {"oracle": OraclePolicy, "random": RandomPolicy}
POLICY_NAMES = (*POLICIES, *ENV_AGENTS)


def make_policy(name: str, seed: int | None = None) -> ScriptedPolicy:
    """A scripted policy by name: ``oracle``, ``random``, or an env's own agent (``single_search``, ``no_vision``,
    ``no_search``, ``wrong_reference``)."""
    if name in ENV_AGENTS:
        return EnvAgentPolicy(name, seed=seed)
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
    return POLICIES[name](seed=seed)
