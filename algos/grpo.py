"""The plain group-relative baselines: ``grpo``, ``dr_grpo``, ``rloo`` and ``dapo``.

- ``grpo`` (DeepSeekMath, arXiv 2402.03300): A_i = (r_i - mean_g) / (std_g + eps), unbiased
  std; ``scale_rewards`` group | batch | none. Loss: clipped surrogate, ``token-mean``.
- ``dr_grpo`` (Dr. GRPO, arXiv 2503.20783): A_i = r_i - mean_g, loss
  ``seq-mean-token-sum-norm`` (set ``loss_scale_factor`` to the max response length), no KL.
- ``rloo`` (arXiv 2402.14740): A_i = r_i - (1/(n-1)) Σ_{j≠i} r_j.
- ``dapo`` (arXiv 2503.14476): clip-higher (0.2 / 0.28), ``token-mean``, no KL, soft
  overlong punishment added to the reward, and dynamic sampling: groups whose members all
  scored the same are taken out of the loss (see :meth:`DAPO.keep_mask` for trainers that
  over-sample and refill the batch instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from algos import core
from algos.base import AlgoConfig, Algorithm, GroupNormConfig
from algos.batch import EpisodeBatch
from algos.registry import register


@register("grpo")
class GRPO(Algorithm):
    """GRPO with the clipped surrogate; every option in :class:`GroupNormConfig`."""

    config_cls = GroupNormConfig


@dataclass(kw_only=True)
class DrGRPOConfig(AlgoConfig):
    loss_agg_mode: str = "seq-mean-token-sum-norm"


@register("dr_grpo")
class DrGRPO(Algorithm):
    config_cls = DrGRPOConfig

    def sequence_advantages(self, rewards: Tensor, batch: EpisodeBatch) -> Tensor:
        return core.dr_grpo_advantages(rewards, batch.group_ids)

    def kernel_options(self, batch: EpisodeBatch) -> dict[str, Any]:
        return {"group_ids": batch.group_ids, "estimator": "dr_grpo"}


@register("rloo")
class RLOO(Algorithm):
    config_cls = AlgoConfig

    def sequence_advantages(self, rewards: Tensor, batch: EpisodeBatch) -> Tensor:
        return core.rloo_advantages(rewards, batch.group_ids)

    def kernel_options(self, batch: EpisodeBatch) -> dict[str, Any]:
        return {"group_ids": batch.group_ids, "estimator": "rloo"}


@dataclass(kw_only=True)
class DAPOConfig(GroupNormConfig):
    """DAPO defaults. ``max_response_length`` L_max and ``overlong_buffer_len`` L_cache of
    the overlong punishment (paper: 20480 and 4096; ``overlong_penalty_factor`` scales it,
    0 disables); ``filter_groups`` turns dynamic sampling on; ``filter_key`` is the reward
    component whose variance decides (None: the shaped reward; verl's recipe uses "acc").
    Response length is the number of response tokens."""

    clip_high: float = 0.28
    max_response_length: int = 20480
    overlong_buffer_len: int = 4096
    overlong_penalty_factor: float = 1.0
    filter_groups: bool = True
    filter_key: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.overlong_buffer_len <= self.max_response_length:
            raise ValueError(
                f"need 0 < overlong_buffer_len ({self.overlong_buffer_len}) <= "
                f"max_response_length ({self.max_response_length})"
            )


@register("dapo")
class DAPO(Algorithm):
    config_cls = DAPOConfig

    def shape_rewards(self, batch: EpisodeBatch, *, step: int = 0) -> Tensor:
        cfg = self.config
        lengths = batch.response_mask.sum(dim=1)
        penalty = core.overlong_penalty(
            lengths, cfg.max_response_length, cfg.overlong_buffer_len, cfg.overlong_penalty_factor
        )
        return self.base_rewards(batch) + penalty.to(batch.rewards)

    def keep_mask(self, batch: EpisodeBatch, rewards: Tensor) -> Tensor:
        """[B] bool: samples of groups with non-zero reward variance (all True if unfiltered)."""
        if not self.config.filter_groups:
            return torch.ones(batch.batch_size, dtype=torch.bool, device=batch.group_ids.device)
        values = rewards if self.config.filter_key is None else batch.component(self.config.filter_key)
        return core.nonzero_variance_groups(values, batch.group_ids)

    def loss_mask(self, batch: EpisodeBatch, rewards: Tensor) -> Tensor:
        return batch.response_mask & self.keep_mask(batch, rewards)[:, None]
