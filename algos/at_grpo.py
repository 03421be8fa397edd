"""``at_grpo``: AdaTooler-V's tool-benefit reward (arXiv 2512.16918).

    R = R_acc + α · ΔS · exp(−γ · ((n_tool − n_max) / n_max)²)

ΔS = S+ − S− is the sample's Tool Benefit Score: the mean accuracy of a reference model
over 8 runs with tools minus without tools, precomputed and stored per sample
(``mmsearch-gym data tool-benefit DIR --env ID --policy SPEC`` writes it into the dataset's
``tasks.jsonl``, see :mod:`algos.tool_benefit`; the env copies it into the episode record's
task and ``EpisodeBatch.from_records`` into ``batch.tool_benefit``). A batch without it is
an error, never a silent ΔS = 0.
n_tool is the number of *valid* tool calls (``batch.n_valid_tool_calls``). The term is
added to every rollout: with a positive ΔS it rewards using tools about n_max times, with
a negative ΔS it penalises tool use where tools hurt.

R_acc is the base reward (``batch.rewards`` or ``reward_key``); in the paper it is 0 unless
the whole reply matches the think/answer format, which the env's reward already encodes.
Defaults: α=0.6, γ=2, n_max=6, KL 0, GRPO advantages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from algos.base import Algorithm, GroupNormConfig
from algos.batch import EpisodeBatch
from algos.registry import register


def tool_benefit_term(
    tool_benefit: Tensor, n_tool: Tensor, alpha: float = 0.6, gamma: float = 2.0, n_max: float = 6.0
) -> Tensor:
    """α · ΔS · exp(−γ · ((n_tool − n_max) / n_max)²), elementwise."""
    x = (n_tool.to(tool_benefit.dtype) - n_max) / n_max
    return alpha * tool_benefit * torch.exp(-gamma * x * x)


@dataclass(kw_only=True)
class ATGRPOConfig(GroupNormConfig):
    alpha: float = 0.6
    gamma: float = 2.0
    n_max: float = 6.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_max <= 0:
            raise ValueError(f"n_max must be > 0, got {self.n_max}")


@register("at_grpo")
class ATGRPO(Algorithm):
    config_cls = ATGRPOConfig

    def shape_rewards(self, batch: EpisodeBatch, *, step: int = 0) -> Tensor:
        cfg = self.config
        if batch.tool_benefit is None:
            raise ValueError(
                "at_grpo needs each sample's Tool Benefit Score ΔS (batch.tool_benefit): compute it with "
                "`mmsearch-gym data tool-benefit DATASET --env ENV_ID --policy SPEC` and train on that dataset, "
                "or build the EpisodeBatch with tool_benefit=..."
            )
        delta = batch.tool_benefit
        bonus = tool_benefit_term(delta, batch.n_valid_tool_calls, cfg.alpha, cfg.gamma, cfg.n_max)
        return self.base_rewards(batch) + bonus
