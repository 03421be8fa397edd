"""Plain torch references: the specification every kernel is tested against.

Each function has the signature of the public op of the same name in :mod:`algos.kernels`
and computes the straightforward way, in fp32 for low-precision inputs, with autograd
doing the backward. They materialise whatever they like (the full N x V logits included):
they are for tests and for reading, not for speed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from algos import core


def logprobs(
    logits: Tensor,
    targets: Tensor,
    temperature: float = 1.0,
    *,
    ignore_index: int = -100,
    inplace_backward: bool = False,
) -> tuple[Tensor, Tensor]:
    """log p(target) [N] and entropy [N] of softmax(logits / temperature), in fp32 (fp64 for fp64).

    Rows whose target is ``ignore_index`` get log-prob 0 (their entropy is still computed).
    ``inplace_backward`` only matters to the kernels (it is accepted here for the signature).
    """
    x = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature
    logp_all = torch.log_softmax(x, dim=-1)
    valid = targets != ignore_index
    picked = logp_all.gather(-1, torch.where(valid, targets, 0).unsqueeze(-1)).squeeze(-1)
    logp = torch.where(valid, picked, torch.zeros_like(picked))
    entropy = -(logp_all.exp() * logp_all).sum(dim=-1)
    return logp, entropy


def fused_linear_logprobs(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    temperature: float = 1.0,
    *,
    ignore_index: int = -100,
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`logprobs` of ``hidden @ weight.T`` (the lm_head), materialising the logits."""
    return logprobs(hidden @ weight.t(), targets, temperature, ignore_index=ignore_index)


def advantages_and_mask(
    rewards: Tensor,
    group_ids: Tensor,
    response_mask: Tensor,
    turn_index: Tensor | None = None,
    fatal_turn: Tensor | None = None,
    *,
    estimator: str = "grpo",
    scale_rewards: str = "group",
    eps: float = 1e-6,
    clamp_fatal: bool = True,
    clamp_unanswered: bool = True,
    mask_fatal: bool = True,
) -> tuple[Tensor, Tensor]:
    """Token advantages [B, T] (0 off the mask) and the bool loss mask [B, T].

    The composition of :mod:`algos.core` that ``fatal_grpo`` uses: the estimator registered
    as ``estimator`` (``grpo`` with ``scale_rewards``/``eps``, ``dr_grpo``, ``rloo``, or any
    other in ``core.ADVANTAGE_ESTIMATORS``) on ``rewards`` [B] and ``group_ids`` [B] (a group
    of one gets 0); for flagged samples (``fatal_turn`` >= 0) the one-sided clamp
    ``A = max(A, 0)`` (``clamp_fatal``; ``clamp_unanswered=False`` spares those that ended
    without an answer, :func:`algos.core.unanswered`) and the mask of every token with turn
    index >= the fatal turn (``mask_fatal``; ``turn_index`` None means turn 0 everywhere).
    """
    adv = core.estimate_advantages(estimator, rewards, group_ids, scale_rewards=scale_rewards, eps=eps)
    mask = response_mask.bool()
    if fatal_turn is not None:
        if clamp_fatal:
            adv = core.fatal_clamp(adv, fatal_turn, turn_index, clamp_unanswered)
        if mask_fatal:
            mask = core.fatal_mask(mask, turn_index, fatal_turn)
    return core.token_advantages(adv, mask), mask


def clipped_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    clip_ratio_c: float | None = 3.0,
    loss_agg_mode: str = "token-mean",
    loss_scale_factor: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The clipped GRPO/PPO loss aggregated to a scalar, and its diagnostics.

    ``core.clipped_policy_loss`` then ``core.aggregate``; the metrics are those of
    ``Algorithm.compute_loss``: ``pg_clipfrac``, ``pg_clipfrac_lower`` (with dual clip),
    ``ratio_mean``, ``ppo_kl``, ``n_loss_tokens``, ``n_loss_samples``. Tokens off ``mask``
    take no part, whatever they hold (NaN included).
    """
    m = mask.bool()
    zero = torch.zeros((), dtype=logp.dtype, device=logp.device)
    logp = torch.where(m, logp, zero)
    old_logp = torch.where(m, old_logp.to(logp.dtype), zero)
    pg_mat, info = core.clipped_policy_loss(
        logp,
        old_logp,
        advantages.to(logp.dtype),
        m,
        clip_low=clip_low,
        clip_high=clip_high,
        clip_ratio_c=clip_ratio_c,
    )
    mf = m.to(logp.dtype)
    loss = core.aggregate(pg_mat, mf, loss_agg_mode, loss_scale_factor)
    with torch.no_grad():
        tokens = mf.sum(dim=1)
        denom = tokens.sum().clamp(min=1)
        metrics = {
            "pg_clipfrac": torch.count_nonzero(info["clipped"] & m) / denom,
            "ratio_mean": (info["ratio"] * mf).sum() / denom,
            "ppo_kl": -(info["log_ratio"] * mf).sum() / denom,
            "n_loss_tokens": tokens.sum(),
            "n_loss_samples": (tokens > 0).sum().to(tokens.dtype),
        }
        if "dual_clipped" in info:
            metrics["pg_clipfrac_lower"] = torch.count_nonzero(info["dual_clipped"] & m) / denom
    return loss, metrics
