"""The zoo in verl's registries: ``algorithm.adv_estimator=fatal_grpo`` and ``policy_loss.loss_mode=clipped``.

Every algorithm of ``algos.available()`` whose name verl does not already use (verl has its
own ``grpo`` and ``rloo``) is registered with ``register_adv_est``; the zoo's per-token
policy losses (``algos.core.POLICY_LOSSES``: ``clipped``) with ``register_policy_loss``.
They translate verl's tensors into an :class:`~algos.EpisodeBatch` and call the zoo:

- rewards: ``token_level_rewards.sum(-1)`` (verl puts the episode reward on its last token);
- groups: verl's ``uid`` index (the ``rollout.n`` samples of one prompt);
- turns: the agent loop's ``turn_index`` field, or the runs of ``response_mask`` (each policy
  turn is one run, env replies are masked out);
- ``fatal_turn``, reward components, valid tool calls and the optional per-episode fields:
  from the fields the :mod:`~algos.integrations.verl.agent_loop` writes per episode.

verl calls estimators with ``token_level_rewards, response_mask, index, config`` only, so the
episode fields reach them through the ``mmsearch_gym`` v1 trainer mode
(:mod:`~algos.integrations.verl.trainer`), or as ``non_tensor_batch`` when called directly. An
algorithm that needs a field it does not get (``fatal_grpo`` without ``fatal_turn``) raises
and says so. The estimator's loss mask (``fatal_grpo`` drops turns >= f) is kept for the trainer
mode, which hands it to the actor as ``response_mask``.

Options: ``algos.make(name, **algorithm.algos)`` — add e.g. ``+algorithm.algos.clamp_unanswered=false``.
The loss reads verl's own names (``clip_ratio_low/high``, ``clip_ratio_c``, ``loss_agg_mode``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

import algos
from algos import core
from algos.batch import NO_TURN, EpisodeBatch
from algos.integrations.common import batch_fields, turn_index_from_mask

# Episode fields the trainer mode lends to the estimator for one call, and the loss mask it gets back.
_FIELDS: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar("mmsearch_fields", default=None)
_LOSS_MASK: contextvars.ContextVar[Tensor | None] = contextvars.ContextVar("mmsearch_loss_mask", default=None)

# Fields without which an algorithm silently becomes another one.
REQUIRED_FIELDS = {"fatal_grpo": ("fatal_turn",)}

REGISTERED_ESTIMATORS: list[str] = []
REGISTERED_LOSSES: list[str] = []


@contextlib.contextmanager
def lend_episode_fields(rows: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, Tensor | None]]:
    """Within the block, zoo estimators read ``rows`` (one dict per batch row); yields ``{"loss_mask": …}``."""
    out: dict[str, Tensor | None] = {"loss_mask": None}
    token_f = _FIELDS.set([dict(r) for r in rows])
    token_m = _LOSS_MASK.set(None)
    try:
        yield out
        out["loss_mask"] = _LOSS_MASK.get()
    finally:
        _FIELDS.reset(token_f)
        _LOSS_MASK.reset(token_m)


def rows_from_non_tensor(non_tensor_batch: Mapping[str, Any] | None, n: int) -> list[dict[str, Any]] | None:
    """Episode fields per row from a verl ``non_tensor_batch``: an ``extra_fields`` column of dicts
    (v1 trainer) or one column per field (legacy trainer); None when there are none."""
    if not non_tensor_batch:
        return None
    if "extra_fields" in non_tensor_batch:
        return [dict(x or {}) for x in non_tensor_batch["extra_fields"]]
    if "fatal_turn" in non_tensor_batch:
        keys = [k for k, v in non_tensor_batch.items() if len(v) == n]
        return [{k: _plain(non_tensor_batch[k][i]) for k in keys} for i in range(n)]
    return None


def verl_episode_batch(
    token_level_rewards: Tensor,
    response_mask: Tensor,
    index: Sequence[Any] | np.ndarray | None,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> EpisodeBatch:
    """An :class:`~algos.EpisodeBatch` over verl's response tensors [B, T] (see the module docstring)."""
    B, T = response_mask.shape
    device = response_mask.device
    mask = response_mask.bool()
    turns = turn_index_from_mask(mask)
    if rows is not None and all(r.get("turn_index") is not None for r in rows):
        turns = torch.full((B, T), NO_TURN, dtype=torch.long, device=device)
        for b, r in enumerate(rows):
            t = torch.as_tensor(list(r["turn_index"])[:T], dtype=torch.long, device=device)
            turns[b, : t.numel()] = t
        turns = torch.where(mask, turns, NO_TURN)
    if index is None:
        index = np.arange(B)
    codes: dict[Any, int] = {}
    group_ids = torch.tensor([codes.setdefault(_plain(u), len(codes)) for u in index], device=device)
    return EpisodeBatch(
        input_ids=torch.zeros((B, T), dtype=torch.long, device=device),
        response_mask=mask,
        group_ids=group_ids,
        rewards=token_level_rewards.float().sum(dim=-1),
        turn_index=turns,
        **(batch_fields(rows, device) if rows is not None else {}),
    )


def algo_options(config: Any, name: str) -> dict[str, Any]:
    """``algorithm.algos`` (a mapping of zoo options) from verl's algorithm config, or {}."""
    if config is None:
        return {}
    opts = config.get("algos", None) if hasattr(config, "get") else getattr(config, "algos", None)
    if not opts:
        return {}
    opts = dict(opts.items())
    valid = algos.options(name)
    return {k: v for k, v in opts.items() if k in valid}


def zoo_estimator(name: str):
    """verl advantage-estimator function for zoo algorithm ``name``."""

    def estimator(
        token_level_rewards: Tensor,
        response_mask: Tensor,
        index: Sequence[Any] | np.ndarray | None = None,
        config: Any = None,
        non_tensor_batch: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> tuple[Tensor, Tensor]:
        rows = _FIELDS.get()
        if rows is None:
            rows = rows_from_non_tensor(non_tensor_batch, response_mask.shape[0])
        if rows is not None and len(rows) != response_mask.shape[0]:
            raise ValueError(f"{len(rows)} episode field rows for a batch of {response_mask.shape[0]}")
        missing = [f for f in REQUIRED_FIELDS.get(name, ()) if rows is None or any(f not in r for r in rows)]
        if missing:
            raise ValueError(
                f"adv_estimator={name} needs the episodes' {', '.join(missing)}: use the mmsearch_gym agent loop "
                "(actor_rollout_ref.rollout.agent.default_agent_loop=mmsearch_gym) with "
                "trainer.v1.trainer_mode=mmsearch_gym, or pass non_tensor_batch with those fields"
            )
        batch = verl_episode_batch(token_level_rewards, response_mask, index, rows)
        step = max((int(r.get("global_step") or 0) for r in rows), default=0) if rows else 0
        algo = algos.make(name, **algo_options(config, name))
        with torch.no_grad():
            advantages, loss_mask = algo.compute_advantages(batch, step=step)
        _LOSS_MASK.set(loss_mask)
        advantages = advantages.to(token_level_rewards.dtype if token_level_rewards.is_floating_point() else torch.float32)
        return advantages, advantages

    estimator.__name__ = f"{name}_advantage"
    estimator.__doc__ = f"``algos.make({name!r})`` advantages over a verl batch (see algos.integrations.verl)."
    return estimator


def zoo_policy_loss(name: str):
    """verl policy-loss function for ``algos.core.POLICY_LOSSES[name]`` (verl's clip options and aggregation)."""
    loss_fn = core.POLICY_LOSSES[name]

    def policy_loss(
        old_log_prob: Tensor,
        log_prob: Tensor,
        advantages: Tensor,
        response_mask: Tensor,
        loss_agg_mode: str = "token-mean",
        config: Any = None,
        rollout_is_weights: Tensor | None = None,
        **_: Any,
    ) -> tuple[Tensor, dict[str, Any]]:
        from verl.trainer.ppo.core_algos import agg_loss

        clip = config.clip_ratio
        low = config.clip_ratio_low if config.clip_ratio_low is not None else clip
        high = config.clip_ratio_high if config.clip_ratio_high is not None else clip
        mask = response_mask.bool()
        mat, info = loss_fn(log_prob, old_log_prob, advantages, mask, clip_low=low, clip_high=high,
                            clip_ratio_c=config.get("clip_ratio_c", 3.0))
        if rollout_is_weights is not None:
            mat = mat * rollout_is_weights
        loss = agg_loss(loss_mat=mat, loss_mask=mask.to(mat.dtype), loss_agg_mode=loss_agg_mode,
                        **(getattr(config, "global_batch_info", None) or {}))
        m = mask.to(mat.dtype)
        denom = m.sum().clamp(min=1)
        metrics = {
            "actor/pg_clipfrac": float((info["clipped"] & mask).sum() / denom),
            "actor/ppo_kl": float(-(info["log_ratio"] * m).sum() / denom),
        }
        if "dual_clipped" in info:
            metrics["actor/pg_clipfrac_lower"] = float((info["dual_clipped"] & mask).sum() / denom)
        return loss, metrics

    policy_loss.__name__ = f"{name}_policy_loss"
    return policy_loss


def register() -> tuple[list[str], list[str]]:
    """Register the zoo's estimators and losses with verl (idempotent); return the names added."""
    from verl.trainer.ppo import core_algos

    for name in algos.available():
        if name in core_algos.ADV_ESTIMATOR_REGISTRY and name not in REGISTERED_ESTIMATORS:
            continue  # verl's own grpo / rloo keep their name
        if name not in REGISTERED_ESTIMATORS:
            core_algos.register_adv_est(name)(zoo_estimator(name))
            REGISTERED_ESTIMATORS.append(name)
    for name in core.POLICY_LOSSES:
        if name in core_algos.POLICY_LOSS_REGISTRY and name not in REGISTERED_LOSSES:
            continue
        if name not in REGISTERED_LOSSES:
            core_algos.register_policy_loss(name)(zoo_policy_loss(name))
            REGISTERED_LOSSES.append(name)
    return list(REGISTERED_ESTIMATORS), list(REGISTERED_LOSSES)


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x
