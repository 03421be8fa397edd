"""Scripted agents (the env's oracle, a random agent) as text policies for the rollout engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from algos.rollout.base import PolicyError, SamplingParams, TextRequest
from mmsearch_gym.policies import ENV_AGENTS, POLICY_NAMES, EnvAgentPolicy, ScriptedPolicy, make_policy


class ScriptedTextPolicy:
    """Plays a scripted policy of ``mmsearch_gym.policies`` (``"oracle"``, ``"random"``) or any
    object with ``act(env) -> str``.

    With envs in this process the policy's ``act(env)`` runs; with an async vector env the
    env's own method (``oracle_action`` / ``random_action``) is called in its worker.
    """

    _METHODS: ClassVar[dict[str, str]] = {"oracle": "oracle_action", "random": "random_action"}

    def __init__(self, policy: str | ScriptedPolicy = "oracle", seed: int | None = None):
        if isinstance(policy, str):
            if policy not in POLICY_NAMES:
                raise ValueError(f"unknown scripted policy {policy!r}; choose one of {', '.join(POLICY_NAMES)}")
            self.name = policy
            self.policy: Any = make_policy(policy, seed=seed)
        else:
            if not callable(getattr(policy, "act", None)):
                raise TypeError(f"{type(policy).__name__} has no act(env)")
            self.name, self.policy = getattr(policy, "name", type(policy).__name__), policy

    def act(self, requests: Sequence[TextRequest], params: SamplingParams) -> list[str]:
        out = []
        for req in requests:
            if req.env is not None:
                out.append(self.policy.act(req.env))
            elif req.call is not None and self.name in self._METHODS:
                out.append(req.call(self._METHODS[self.name]))
            elif req.call is not None and (self.name in ENV_AGENTS or isinstance(self.policy, EnvAgentPolicy)):
                out.append(req.call("scripted_action", self.name))  # e.g. DeepSearch's no_vision agent
            else:
                raise PolicyError(
                    f"scripted policy {self.name!r} needs the env in this process (use a list of envs or a sync vector env)"
                )
        return out
