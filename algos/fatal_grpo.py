"""``fatal_grpo``: fatal-failure masking and one-sided clamping (OpenSearch-VL, arXiv 2605.05185).

A trajectory is *flagged* when ``fatal_turn`` f >= 0: either its first run of K=3
consecutive step errors starts at turn f, or it ended without an answer (f = number of
turns, so all of its tokens stay). Then:

1. f = 0: the reward is set to 0 and the sample is dropped (every turn >= 0 is masked).
2. Advantages are computed over the whole group, flagged members included
   (RLOO by default, as in the released script; ``estimator="grpo"`` for GRPO). A group of
   one gets advantage 0 (see ``algos.core``).
3. One-sided clamp for flagged members: ``A = max(A, 0)``, so a broken trajectory can be
   pulled up by its good prefix but never pushes the policy away from it; at worst its
   gradient is zero. (``clamp_unanswered=False`` exempts the unanswered ones, see below.)
4. Mask: every assistant token of a flagged trajectory with turn index >= f is out of the
   loss (its tool errors are the env's fault as much as the policy's, and the tokens after
   the cascade are noise).

r_fmt and r_query of a flagged trajectory are computed on turns < f by the env; this file
takes the env's reward (or ``reward_key``) as given.

Defaults of the release: clip_high 0.28, ``seq-mean-token-sum``, RLOO, and **no KL**
(``kl_coef=0``): its scripts set ``use_kl_loss=False``, so the ``kl_loss_coef=0.001`` they
also set is never used, and no reference model is needed. Pass ``kl_coef`` > 0 to add one.
``estimator`` is any name in ``algos.core.ADVANTAGE_ESTIMATORS`` (rloo, grpo, dr_grpo, or
one you register).
*Unknown* in the release: whether a dropped f = 0 sample still counts in its group's
baseline. Default (``drop_from_group=False``): it stays in with reward 0, as "reward 0 and
dropped" reads; ``drop_from_group=True`` takes it out of the group statistics too.
``clamp_fatal`` and ``mask_fatal`` switch the two mechanisms off for the paper's ablations
(with ``mask_fatal=False`` every response token stays, f = 0 samples included).

``clamp_unanswered`` (ours, not in the paper). The paper clamps every flagged trajectory,
and "no cascade but no answer (turn or token limit) -> f = len(steps), all tokens kept,
trajectory still flagged" puts unanswered ones among them. Default ``True`` is that
behaviour. With ``False`` the clamp applies to cascade-fatal trajectories only; a trajectory
flagged only for ending without an answer keeps its raw advantage, negative included.
Reason: with one turn (or few), a reply that does not parse ends the episode unanswered;
clamped, such a reply can never get a negative advantage while a wrong answer can, so
not answering becomes the safe choice (on single-turn Maze the fatal rate went from 0.34 to
1.0 in 20 RL steps, ``examples/train_tiny_maze.py``). The two kinds are told apart from the
batch alone: an unanswered trajectory has f = number of turns, so none of its response
tokens has turn index >= f (``turn_index.max(dim=1).values < fatal_turn``), while a cascade
trajectory has tokens at the cascade's turns f, f+1, ... . f = 0 samples always count as
cascade-fatal (dropped, and clamped). Caveat: a cascade trajectory whose tokens from turn f
on were cut from the batch (truncated to a fixed width) has no token at turn >= f and is read
as unanswered. The mask is the same either way: an unanswered trajectory has no token at
turn >= f, so it keeps all of them.

``hard_mask`` (the baseline of the paper's ablation, "the hard-masking baseline of
Vision-DeepResearch"; the release keeps it as ``_should_mask_episode`` in
``deepresearch_workflow.py``, replaced there by the fatal index): every token of a flagged
trajectory leaves the loss, and so does every token of an answered one with more than half
of its turns in error. Such trajectories still count in their group's baseline with their
reward (the release filters them out after computing advantages). Error turns are read from
the batch: an answered trajectory's turns are its valid tool calls, its answer and its
errors, so errors = turns - ``n_valid_tool_calls`` - 1. It overrides ``mask_fatal``.
The ablation's four arms are then: vanilla GRPO (``clamp_fatal=False, mask_fatal=False``),
hard mask (``hard_mask=True, clamp_fatal=False``), fatal mask (``clamp_fatal=False``) and
full (the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from algos import core
from algos.base import Algorithm, GroupNormConfig
from algos.batch import EpisodeBatch
from algos.registry import register


@dataclass(kw_only=True)
class FatalGRPOConfig(GroupNormConfig):
    """``estimator``: a registered advantage estimator, rloo (default) | grpo | dr_grpo | …
    (``scale_rewards``/``eps`` apply to grpo only). ``kl_coef`` 0: the release trains without KL.

    ``clamp_fatal``: one-sided clamp of flagged trajectories; ``clamp_unanswered=False``
    exempts those flagged only for ending without an answer (see the module docstring).
    """

    estimator: str = "rloo"
    clip_high: float = 0.28
    kl_coef: float = 0.0
    loss_agg_mode: str = "seq-mean-token-sum"
    clamp_fatal: bool = True
    clamp_unanswered: bool = True
    mask_fatal: bool = True
    drop_from_group: bool = False
    hard_mask: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        core.lookup(core.ADVANTAGE_ESTIMATORS, self.estimator, "advantage estimator")


@register("fatal_grpo")
class FatalGRPO(Algorithm):
    config_cls = FatalGRPOConfig

    def shape_rewards(self, batch: EpisodeBatch, *, step: int = 0) -> Tensor:
        rewards = self.base_rewards(batch)
        return torch.where(batch.fatal_turn == 0, torch.zeros_like(rewards), rewards)

    def _group_ids(self, batch: EpisodeBatch) -> Tensor:
        group_ids = batch.group_ids
        dropped = batch.fatal_turn == 0
        if self.config.drop_from_group and bool(dropped.any()):
            # A fresh id per dropped sample makes it a group of one: no part in any
            # baseline, advantage 0.
            fresh = group_ids.max() + 1 + torch.arange(batch.batch_size, device=group_ids.device)
            group_ids = torch.where(dropped, fresh, group_ids)
        return group_ids

    def sequence_advantages(self, rewards: Tensor, batch: EpisodeBatch) -> Tensor:
        cfg = self.config
        adv = core.estimate_advantages(
            cfg.estimator, rewards, self._group_ids(batch), scale_rewards=cfg.scale_rewards, eps=cfg.eps
        )
        if cfg.clamp_fatal:
            adv = core.fatal_clamp(adv, batch.fatal_turn, batch.turn_index, cfg.clamp_unanswered)
        return adv

    def loss_mask(self, batch: EpisodeBatch, rewards: Tensor) -> Tensor:
        mask = batch.response_mask
        if self.config.mask_fatal:
            mask = core.fatal_mask(mask, batch.turn_index, batch.fatal_turn)
        if self.config.hard_mask:
            mask = mask & ~hard_masked(batch)[:, None]
        return mask

    def kernel_options(self, batch: EpisodeBatch) -> dict[str, Any] | None:
        cfg = self.config
        if cfg.hard_mask:  # the fused kernel knows no hard mask: the torch path computes it
            return None
        return {
            "group_ids": self._group_ids(batch),
            "fatal_turn": batch.fatal_turn,
            "estimator": cfg.estimator,
            "scale_rewards": cfg.scale_rewards,
            "eps": cfg.eps,
            "clamp_fatal": cfg.clamp_fatal,
            "clamp_unanswered": cfg.clamp_unanswered,
            "mask_fatal": cfg.mask_fatal,
        }


def unanswered(batch: EpisodeBatch) -> Tensor:
    """[B] bool: flagged (f >= 1) with no response token at turn >= f, i.e. ended without an
    answer rather than by an error cascade (f = number of turns). f = 0 samples are False."""
    return core.unanswered(batch.turn_index, batch.fatal_turn)


def hard_masked(batch: EpisodeBatch) -> Tensor:
    """[B] bool: trajectories the hard mask drops whole: flagged ones (f >= 0), and answered ones
    with more than half of their turns in error (turns - valid tool calls - the answer)."""
    turns = (batch.turn_index.max(dim=1).values + 1).clamp(min=0)
    errors = (turns - batch.n_valid_tool_calls - 1).clamp(min=0)
    return (batch.fatal_turn >= 0) | (2 * errors > turns)
