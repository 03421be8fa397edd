"""The shape every algorithm shares: shape rewards -> advantages and loss mask -> loss.

Each step works on an :class:`~algos.batch.EpisodeBatch` and plain tensors, so it can be
called from any trainer::

    algo = algos.make("fatal_grpo")
    advantages, loss_mask = algo.compute_advantages(batch, step=global_step)
    loss, metrics = algo.compute_loss(logp, batch, advantages, loss_mask)
    loss.backward()

A variant overrides only what its paper changes: ``shape_rewards`` (reward terms),
``sequence_advantages`` (estimator and clamps) or ``loss_mask`` (which tokens learn).

On CUDA (``algos.kernels.backend`` is "triton") the two hot steps run fused: advantages and
mask in one kernel when the variant says how (:meth:`Algorithm.kernel_options`), and the
clipped loss with its backward in another. This is the one place the trainer meets the
kernels; on the CPU the torch code below runs (the kernels' tests hold both to the same
numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from algos import core, kernels
from algos.batch import EpisodeBatch


@dataclass(kw_only=True)
class AlgoConfig:
    """Options shared by every policy-gradient variant (names follow verl/TRL).

    clip_low, clip_high: ratio clip range ``[1 - clip_low, 1 + clip_high]``.
    clip_ratio_c: dual-clip cap for negative advantages (verl default 3.0); None disables.
    loss_agg_mode: one of ``algos.core.LOSS_AGG_MODES``.
    loss_scale_factor: divisor of ``seq-mean-token-sum-norm`` (None: the batch's T; set it
        to the max response length to keep it constant across batches, as Dr. GRPO does).
    kl_coef: weight of the KL-to-reference term (needs ``batch.ref_logp`` when > 0).
    kl_estimator: ``k1`` or ``k3``.
    reward_key: reward component used as the base reward; None uses ``batch.rewards``.
    policy_loss: name in ``algos.core.POLICY_LOSSES``.
    """

    clip_low: float = 0.2
    clip_high: float = 0.2
    clip_ratio_c: float | None = 3.0
    loss_agg_mode: str = "token-mean"
    loss_scale_factor: float | None = None
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    reward_key: str | None = None
    policy_loss: str = "clipped"

    def __post_init__(self) -> None:
        if not 0 <= self.clip_low < 1 or self.clip_high < 0:
            raise ValueError(
                f"need 0 <= clip_low < 1 and clip_high >= 0, got {self.clip_low}, {self.clip_high}"
            )
        if self.clip_ratio_c is not None and self.clip_ratio_c <= 1:
            raise ValueError(f"clip_ratio_c must be > 1 (or None to disable), got {self.clip_ratio_c}")
        if self.loss_agg_mode not in core.LOSS_AGG_MODES:
            raise ValueError(
                f"unknown loss_agg_mode {self.loss_agg_mode!r}; known: {', '.join(core.LOSS_AGG_MODES)}"
            )
        if self.loss_scale_factor is not None and self.loss_scale_factor <= 0:
            raise ValueError(f"loss_scale_factor must be > 0, got {self.loss_scale_factor}")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {self.kl_coef}")
        core.lookup(core.KL_ESTIMATORS, self.kl_estimator, "kl_estimator")
        core.lookup(core.POLICY_LOSSES, self.policy_loss, "policy_loss")


@dataclass(kw_only=True)
class GroupNormConfig(AlgoConfig):
    """GRPO's estimator options: ``scale_rewards`` (group | batch | none) and ``eps``."""

    scale_rewards: str = "group"
    eps: float = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scale_rewards not in core.SCALE_REWARDS:
            raise ValueError(f"scale_rewards must be one of {core.SCALE_REWARDS}, got {self.scale_rewards!r}")
        if self.eps < 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")


class Algorithm:
    """Base of every registered policy-gradient variant."""

    name: ClassVar[str] = "base"
    config_cls: ClassVar[type[AlgoConfig]] = GroupNormConfig

    def __init__(self, config: AlgoConfig | None = None):
        self.config = config if config is not None else self.config_cls()
        if not isinstance(self.config, self.config_cls):
            raise TypeError(
                f"{type(self).__name__} takes a {self.config_cls.__name__}, got {type(self.config).__name__}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    # -- step 1: rewards ------------------------------------------------------------------

    def base_rewards(self, batch: EpisodeBatch) -> Tensor:
        """``batch.rewards``, or the component named by ``reward_key``."""
        key = self.config.reward_key
        return batch.rewards if key is None else batch.component(key)

    def shape_rewards(self, batch: EpisodeBatch, *, step: int = 0) -> Tensor:
        """Final scalar reward per sample [B]; ``step`` is the training step (for annealing)."""
        return self.base_rewards(batch)

    # -- step 2: advantages and mask ------------------------------------------------------

    def sequence_advantages(self, rewards: Tensor, batch: EpisodeBatch) -> Tensor:
        """Per-sample advantage [B] from shaped rewards; default: GRPO per group."""
        return core.grpo_advantages(rewards, batch.group_ids, self.config.scale_rewards, self.config.eps)

    def loss_mask(self, batch: EpisodeBatch, rewards: Tensor) -> Tensor:
        """Tokens [B, T] that take part in the loss; default: every response token."""
        return batch.response_mask

    def kernel_options(self, batch: EpisodeBatch) -> dict[str, Any] | None:
        """Arguments of :func:`algos.kernels.advantages_and_mask` (besides ``rewards``,
        ``response_mask`` and ``turn_index``) that compute this variant's
        :meth:`sequence_advantages` and :meth:`loss_mask` in one kernel; None if it cannot.

        Used only when it is defined at least as deep in the class tree as both methods, so
        a subclass that overrides one of them without this falls back to its own code.
        """
        cfg = self.config
        return {
            "group_ids": batch.group_ids,
            "estimator": "grpo",
            "scale_rewards": getattr(cfg, "scale_rewards", "group"),
            "eps": getattr(cfg, "eps", 1e-6),
        }

    def _fused_options(self, batch: EpisodeBatch) -> dict[str, Any] | None:
        mro = type(self).__mro__

        def owner(name: str) -> type:
            return next(c for c in mro if name in vars(c))

        provider = owner("kernel_options")
        if all(issubclass(provider, owner(m)) for m in ("sequence_advantages", "loss_mask")):
            return self.kernel_options(batch)
        return None

    def compute_advantages(
        self, batch: EpisodeBatch, *, step: int = 0, rewards: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Token advantages [B, T] (0 off the mask) and the bool loss mask [B, T].

        ``rewards`` skips :meth:`shape_rewards` when the caller already shaped them. On
        CUDA the fused kernel computes both when :meth:`kernel_options` allows.
        """
        if rewards is None:
            rewards = self.shape_rewards(batch, step=step)
        rewards = torch.as_tensor(rewards, device=batch.rewards.device)
        if rewards.shape != (batch.batch_size,):
            raise ValueError(f"rewards has shape {tuple(rewards.shape)}, expected ({batch.batch_size},)")
        if not rewards.is_floating_point():
            rewards = rewards.float()
        if kernels.backend(rewards.device) == "triton":
            options = self._fused_options(batch)
            if options is not None:
                return kernels.advantages_and_mask(
                    rewards, response_mask=batch.response_mask, turn_index=batch.turn_index, **options
                )
        seq_adv = self.sequence_advantages(rewards, batch)
        mask = self.loss_mask(batch, rewards)
        return core.token_advantages(seq_adv, mask), mask

    # -- step 3: loss ---------------------------------------------------------------------

    def compute_loss(
        self, logp: Tensor, batch: EpisodeBatch, advantages: Tensor, loss_mask: Tensor
    ) -> tuple[Tensor, dict[str, float]]:
        """Scalar loss and float metrics from the policy's per-token log-probs ``logp`` [B, T].

        Without ``batch.old_logp`` the update is on-policy (ratio 1, old = logp.detach()).
        A loss mask of all zeros gives a loss of exactly 0 that still backpropagates (zero
        gradients). A non-finite loss raises ValueError naming the samples.
        """
        cfg = self.config
        shape = (batch.batch_size, batch.seq_len)
        for name, t in (("logp", logp), ("advantages", advantages), ("loss_mask", loss_mask)):
            if tuple(t.shape) != shape:
                raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {shape}")
        mask = loss_mask.bool()
        m = mask.to(logp.dtype)  # float copy once: multiplies are far cheaper than where()
        logp = _finite_off_mask(logp, mask)
        old = logp.detach() if batch.old_logp is None else _finite_off_mask(batch.old_logp.to(logp), mask)

        agg = {"loss_agg_mode": cfg.loss_agg_mode, "loss_scale_factor": cfg.loss_scale_factor}
        clip = {"clip_low": cfg.clip_low, "clip_high": cfg.clip_high, "clip_ratio_c": cfg.clip_ratio_c}
        pg_mat: Tensor | None = None
        if cfg.policy_loss == "clipped" and kernels.backend(logp.device) == "triton":
            pg_loss, stats = kernels.clipped_loss(logp, old, advantages.to(logp.dtype), mask, **clip, **agg)
        else:
            loss_fn = core.lookup(core.POLICY_LOSSES, cfg.policy_loss, "policy_loss")
            pg_mat, info = loss_fn(logp, old, advantages.to(logp.dtype), mask, **clip)
            pg_loss = core.aggregate(pg_mat, m, cfg.loss_agg_mode, cfg.loss_scale_factor)
            stats = _loss_stats(info, mask, m)
        loss, kl, kl_mat = pg_loss, None, None
        if cfg.kl_coef > 0:
            ref = batch.require("ref_logp", f"{self.name} with kl_coef > 0").to(logp)
            kl_mat = core.lookup(core.KL_ESTIMATORS, cfg.kl_estimator, "kl_estimator")(
                logp, _finite_off_mask(ref, mask)
            )
            kl = core.aggregate(kl_mat, m, cfg.loss_agg_mode, cfg.loss_scale_factor)
            loss = loss + cfg.kl_coef * kl
        if not bool(torch.isfinite(loss)):
            per_token = logp.detach() if pg_mat is None else pg_mat
            if kl_mat is not None:
                per_token = per_token + cfg.kl_coef * kl_mat
            core.check_loss_finite(loss, torch.where(mask, per_token, 0.0).sum(dim=1).detach())

        metrics = {"loss": loss.detach(), "pg_loss": pg_loss.detach(), **stats}
        if kl is not None:
            metrics["kl"] = kl.detach()
        return loss, {k: float(v) for k, v in metrics.items()}


@torch.no_grad()
def _loss_stats(info: dict[str, Tensor], mask: Tensor, m: Tensor) -> dict[str, Tensor]:
    """The clipped loss's diagnostics over the loss tokens (the fused kernel returns the same)."""
    tokens = m.sum(dim=1)
    n_tokens = tokens.sum()
    denom = n_tokens.clamp(min=1)
    stats = {
        "pg_clipfrac": torch.count_nonzero(info["clipped"] & mask) / denom,
        "ppo_kl": -(info["log_ratio"] * m).sum() / denom,
        "ratio_mean": (info["ratio"] * m).sum() / denom,
        "n_loss_tokens": n_tokens,
        "n_loss_samples": (tokens > 0).sum(),
    }
    if "dual_clipped" in info:
        stats["pg_clipfrac_lower"] = torch.count_nonzero(info["dual_clipped"] & mask) / denom
    return stats


def _finite_off_mask(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` with non-finite values off the mask replaced by 0.

    Padding may hold NaN/inf log-probs; even masked out of the loss they would turn the
    gradient into NaN (0 · NaN). The check is one sum (non-finite iff some entry is, as
    log-probs are far too small to overflow); the where() only runs when needed.
    """
    if bool(torch.isfinite(x.sum())):
        return x
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))
