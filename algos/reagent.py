"""Reagent: agentic RL with a reasoning reward model (Agent-RRM, arXiv 2601.22154).

The Agent-RRM reads the question and the agent's final response (as in the release; an
option passes the whole trajectory) and answers ``<think>`` analysis, ``<critique>``
(concise, never leaks the answer) and ``<score>`` in [0, 1] (see ``algos.reward_models``).

- ``reagent_c`` (no training): o1 ~ π(·|q); c = RRM critique of o1; o2 ~ π(·|q, o1, c).
- ``reagent_r``: R = R_rule + λ · score, λ = 0.3. R_rule is the env's reward (or
  ``reward_key``); :func:`rule_reward` is the release's rule reward (see there). ``score``
  is ``batch.rrm_score``.

- ``reagent_u``: two-stage sampling per prompt — initial rollouts, then critique-refined
  rollouts (:func:`two_stage_sample`) — all rewarded R_rule + λ · score. *Unknown* in the
  paper: how refined rollouts enter the group. ``pooling="pool"`` (default) puts them in
  their prompt's group, so initial and refined rollouts share one baseline and refined
  ones that beat their first tries get positive advantages; ``pooling="separate"`` gives
  the refined rollouts of each prompt a group of their own (``batch.refined`` marks them).
Reagent-C and Reagent-U exist in the release (repo kxfan2002/Reagent) only as config flags
whose critique method is never called: they follow the paper's text here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from algos import core
from algos.base import Algorithm, GroupNormConfig
from algos.batch import EpisodeBatch
from algos.registry import register
from algos.reward_models.base import RewardModel, RewardModelOutput, render_trajectory
from mmsearch_gym.rewards.reagent import extract_boxed, normalize_answer, rule_reward, token_f1  # noqa: F401

Messages = list[dict[str, Any]]
Policy = Callable[[Any], str]

DEFAULT_FEEDBACK = (
    "A reviewer read your attempt and left this critique:\n{critique}\n\n"
    "Taking the critique into account, solve the question again from the start."
)


# -- Reagent-R and Reagent-U ----------------------------------------------------------------


@dataclass(kw_only=True)
class ReagentRConfig(GroupNormConfig):
    """``lam``: weight λ of the Agent-RRM score."""

    lam: float = 0.3


@register("reagent_r")
class ReagentR(Algorithm):
    config_cls = ReagentRConfig

    def shape_rewards(self, batch: EpisodeBatch, *, step: int = 0) -> Tensor:
        score = batch.require("rrm_score", self.name)
        return self.base_rewards(batch) + self.config.lam * score


POOLINGS = ("pool", "separate")


@dataclass(kw_only=True)
class ReagentUConfig(ReagentRConfig):
    """``pooling``: "pool" or "separate" (see the module docstring)."""

    pooling: str = "pool"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")


@register("reagent_u")
class ReagentU(ReagentR):
    """Reagent-U as the paper describes it (the release has only a config flag for it)."""

    config_cls = ReagentUConfig

    def _group_ids(self, batch: EpisodeBatch) -> Tensor:
        if self.config.pooling == "separate":
            refined = batch.require("refined", "reagent_u with pooling='separate'")
            # Even ids for initial rollouts, odd for refined ones: distinct groups per prompt.
            return batch.group_ids * 2 + refined.long()
        return batch.group_ids

    def sequence_advantages(self, rewards: Tensor, batch: EpisodeBatch) -> Tensor:
        cfg = self.config
        return core.grpo_advantages(rewards, self._group_ids(batch), cfg.scale_rewards, cfg.eps)

    def kernel_options(self, batch: EpisodeBatch) -> dict[str, Any]:
        cfg = self.config
        return {"group_ids": self._group_ids(batch), "estimator": "grpo", "scale_rewards": cfg.scale_rewards, "eps": cfg.eps}


# -- Reagent-C and the two-stage sampler ----------------------------------------------------


@dataclass(frozen=True)
class Refinement:
    """One critique round: ``second`` is ``first`` when the critique was unusable."""

    first: str
    critique: RewardModelOutput
    second: str
    refined: bool


RRM_INPUTS = ("response", "trajectory")


@dataclass(kw_only=True)
class ReagentCConfig:
    """``feedback_template`` turns the critique into the follow-up user turn ({critique});
    ``policy_input``: "messages" calls the policy with a chat, "prompt" with plain text;
    ``rrm_input``: what the RRM reads besides the question, "response" (the final response,
    as in the release) or "trajectory" (the whole chat)."""

    feedback_template: str = DEFAULT_FEEDBACK
    policy_input: str = "messages"
    rrm_input: str = "response"

    def __post_init__(self) -> None:
        if "{critique}" not in self.feedback_template:
            raise ValueError("feedback_template must contain {critique}")
        if self.policy_input not in ("messages", "prompt"):
            raise ValueError(f"policy_input must be 'messages' or 'prompt', got {self.policy_input!r}")
        if self.rrm_input not in RRM_INPUTS:
            raise ValueError(f"rrm_input must be one of {RRM_INPUTS}, got {self.rrm_input!r}")


@register("reagent_c")
class ReagentC:
    """Inference-time critique refinement with any policy and any reward model, following the
    paper's text (the release has only a config flag; its critique method is never called).

    If the RRM's output is malformed (``valid=False``) or its critique is empty there is
    nothing to act on: no second call is made and ``second = first``.
    """

    config_cls = ReagentCConfig

    def __init__(self, config: ReagentCConfig | None = None):
        self.config = config or ReagentCConfig()

    def ask(self, policy: Policy, messages: Messages) -> str:
        """One policy call on ``messages`` (rendered to text when ``policy_input='prompt'``)."""
        out = policy(messages if self.config.policy_input == "messages" else render_trajectory(messages))
        if not isinstance(out, str):
            raise TypeError(f"the policy must return text, got {type(out).__name__}")
        return out

    def refine(
        self,
        policy: Policy,
        rrm: RewardModel,
        question: str,
        messages: Messages | None = None,
        first: str | None = None,
    ) -> Refinement:
        """o1 (sampled unless given as ``first``) -> critique -> o2."""
        chat = list(messages) if messages is not None else [{"role": "user", "content": question}]
        first = self.ask(policy, chat) if first is None else first
        attempt = [*chat, {"role": "assistant", "content": first}]
        verdict = rrm.score(question, first if self.config.rrm_input == "response" else attempt)
        if not verdict.valid or not verdict.critique.strip():
            return Refinement(first, verdict, first, refined=False)
        feedback = self.config.feedback_template.format(critique=verdict.critique)
        second = self.ask(policy, [*attempt, {"role": "user", "content": feedback}])
        return Refinement(first, verdict, second, refined=True)

    __call__ = refine


def two_stage_sample(
    policy: Policy,
    rrm: RewardModel,
    question: str,
    n_initial: int,
    n_refined: int,
    refiner: ReagentC | None = None,
) -> list[Mapping[str, Any]]:
    """Reagent-U sampling for one prompt: ``n_initial`` rollouts, then one critique-refined
    rollout for each of the first ``n_refined`` of them. Returns dicts with ``text``,
    ``refined`` (bool) and ``critique`` (the RRM output the refinement acted on, or None);
    failed refinements (malformed critique) are left out, so fewer may come back."""
    if not 0 <= n_refined <= n_initial:
        raise ValueError(f"need 0 <= n_refined <= n_initial, got {n_refined}, {n_initial}")
    refiner = refiner or ReagentC()
    chat = [{"role": "user", "content": question}]
    initial = [refiner.ask(policy, chat) for _ in range(n_initial)]
    out: list[Mapping[str, Any]] = [{"text": t, "refined": False, "critique": None} for t in initial]
    for first in initial[:n_refined]:
        r = refiner.refine(policy, rrm, question, first=first)
        if r.refined:
            out.append({"text": r.second, "refined": True, "critique": r.critique})
    return out


def refined_flags(rollouts: Sequence[Mapping[str, Any]]) -> Tensor:
    """The ``EpisodeBatch.refined`` tensor for rollouts from :func:`two_stage_sample`."""
    return torch.tensor([bool(r["refined"]) for r in rollouts])
