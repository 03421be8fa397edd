"""``trust_grpo``: SophiaVL-R1's trust-weighted, annealed thinking reward (arXiv 2505.17018).

Per group (one prompt, n rollouts), with rule reward R_o and thinking reward R_t ∈ [0, 1]:

1. Gate: if every R_o >= 0.9 or every R_o <= 0.1, R_t = 0 for the whole group (nothing
   to tell apart). R_t is queried only where R_o >= 0.2, else R_t = 0.
2. Trust: "correct" means R_o >= 0.5; μ_c, μ_i are the mean (gated) R_t over correct and
   incorrect members (0 for an empty set). γ = 1 if μ_c >= μ_i or no member is correct,
   else γ = exp(μ_c − μ_i) < 1: the reward model prefers wrong answers' thinking, so it
   is trusted less.
3. R = R_o + α · γ · exp(−step / T) · R_t, α=0.3: the thinking reward fades out so the
   accurate rule reward dominates late in training.

Defaults are the released run's (repo kxfan2002/SophiaVL-R1): T = ``anneal_steps`` = 12000
(``scripts/train_scripts/fullsets.yaml`` sets ``worker.reward.alpha: 12000``, which its
trainer passes as T; 500 is only the reward manager's class default), and the release
counts training steps from 1 (its ``global_step`` is incremented before the step's
reward), so the anneal reads ``step + step_offset`` with ``step_offset=1``, ``step`` being
the 0-based step our trainer passes to ``shape_rewards``/``compute_advantages``. Pass
``step_offset=0`` when your ``step`` already counts from 1. As in the release, gated-out
members count with R_t = 0 in μ_c/μ_i. R_t comes from ``batch.thinking_reward`` (e.g.
``algos.reward_models`` with the "thinking" rubric, whose replies
:func:`algos.reward_models.parse_thinking_score` reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from algos.base import Algorithm, GroupNormConfig
from algos.batch import EpisodeBatch
from algos.registry import register


def _group_sum(values: Tensor, inverse: Tensor, n_groups: int) -> Tensor:
    return torch.zeros(n_groups, dtype=values.dtype, device=values.device).index_add_(0, inverse, values)


def trust_weights(
    rule: Tensor,
    thinking: Tensor,
    group_ids: Tensor,
    *,
    gate_high: float = 0.9,
    gate_low: float = 0.1,
    query_threshold: float = 0.2,
    correct_threshold: float = 0.5,
) -> tuple[Tensor, Tensor]:
    """Per-sample trust γ and gated thinking reward R_t, both [B] (steps 1 and 2)."""
    _, inv = torch.unique(group_ids, return_inverse=True)
    n_groups = int(inv.max()) + 1 if inv.numel() else 0
    rule = rule.to(torch.float32)
    lowest = rule.new_full((n_groups,), math.inf).scatter_reduce(0, inv, rule, "amin")
    highest = rule.new_full((n_groups,), -math.inf).scatter_reduce(0, inv, rule, "amax")
    gated = ((lowest >= gate_high) | (highest <= gate_low))[inv]
    live = ~gated & (rule >= query_threshold)
    r_t = torch.where(live, thinking.to(torch.float32), torch.zeros_like(rule))

    correct = (rule >= correct_threshold).to(rule.dtype)
    n_c = _group_sum(correct, inv, n_groups)
    n_i = _group_sum(1 - correct, inv, n_groups)
    mu_c = _group_sum(r_t * correct, inv, n_groups) / n_c.clamp(min=1)
    mu_i = _group_sum(r_t * (1 - correct), inv, n_groups) / n_i.clamp(min=1)
    trusted = (mu_c >= mu_i) | (n_c == 0)
    gamma = torch.where(trusted, torch.ones_like(mu_c), torch.exp(mu_c - mu_i))
    return gamma[inv], r_t


@dataclass(kw_only=True)
class TrustGRPOConfig(GroupNormConfig):
    """``anneal_steps`` is T (released run: 12000); ``step_offset`` is added to ``step``
    (the release's first step is 1, ours 0)."""

    alpha: float = 0.3
    anneal_steps: float = 12000.0
    step_offset: int = 1
    gate_high: float = 0.9
    gate_low: float = 0.1
    query_threshold: float = 0.2
    correct_threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.anneal_steps <= 0:
            raise ValueError(f"anneal_steps (T) must be > 0, got {self.anneal_steps}")
        if self.step_offset < 0:
            raise ValueError(f"step_offset must be >= 0, got {self.step_offset}")


@register("trust_grpo")
class TrustGRPO(Algorithm):
    config_cls = TrustGRPOConfig

    def shape_rewards(self, batch: EpisodeBatch, *, step: int = 0) -> Tensor:
        cfg = self.config
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        rule = self.base_rewards(batch)
        gamma, r_t = trust_weights(
            rule,
            batch.require("thinking_reward", "trust_grpo"),
            batch.group_ids,
            gate_high=cfg.gate_high,
            gate_low=cfg.gate_low,
            query_threshold=cfg.query_threshold,
            correct_threshold=cfg.correct_threshold,
        )
        anneal = math.exp(-(step + cfg.step_offset) / cfg.anneal_steps)
        return rule + (cfg.alpha * anneal * gamma * r_t).to(rule.dtype)
