"""Fused ops for the hot tensors of RL on LLMs: Triton kernels on CUDA, torch elsewhere.

    from algos import kernels
    logp, entropy = kernels.logprobs(logits, targets, temperature=0.7)            # [N, V] -> [N], [N]
    logp, entropy = kernels.fused_linear_logprobs(hidden, lm_head.weight, targets)  # no N x V logits
    advantages, loss_mask = kernels.advantages_and_mask(rewards, group_ids, response_mask,
                                                        turn_index, fatal_turn, estimator="rloo")
    loss, metrics = kernels.clipped_loss(logp, old_logp, advantages, loss_mask,
                                         clip_high=0.28, loss_agg_mode="seq-mean-token-sum")

Each op has a plain torch reference of the same name and signature in
:mod:`algos.kernels.reference` (the specification the tests hold the kernels to). Which
implementation runs is decided per call by :func:`backend`: Triton for CUDA tensors when
triton is installed, torch otherwise; ``MMSEARCH_KERNELS=triton|torch`` overrides. The
torch path of the two log-prob ops is chunked like the kernels (bounded memory); that of
the advantage and loss ops is the reference itself.

Outputs: log-probs, entropies and advantages in fp32 (advantages in the rewards' dtype);
the loss in ``logp``'s dtype; gradients in the inputs' dtypes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from algos import core
from algos.kernels import reference
from algos.kernels.dispatch import ENV_VAR, backend, triton_available

__all__ = [
    "ENV_VAR",
    "advantages_and_mask",
    "backend",
    "clipped_loss",
    "fused_linear_logprobs",
    "logprobs",
    "reference",
    "triton_available",
]


def _check_targets(targets: Tensor, rows_shape: torch.Size, what: str) -> None:
    if targets.shape != rows_shape:
        raise ValueError(f"targets has shape {tuple(targets.shape)}, expected {tuple(rows_shape)} (the {what})")
    if targets.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"targets must be int64 or int32 token ids, got {targets.dtype}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def logprobs(
    logits: Tensor,
    targets: Tensor,
    temperature: float = 1.0,
    *,
    ignore_index: int = -100,
    inplace_backward: bool = False,
) -> tuple[Tensor, Tensor]:
    """log p(target) and entropy of softmax(logits / temperature), in fp32.

    ``logits`` [..., V] (fp32, fp16 or bf16), ``targets`` [...] token ids; both outputs have
    ``targets``' shape. Rows whose target is ``ignore_index`` get log-prob 0 and no gradient
    through it. ``inplace_backward=True`` writes the gradient over ``logits`` (saves N x V
    memory; only when nothing else needs the logits afterwards).
    """
    if logits.ndim < 1:
        raise ValueError("logits must be [..., V]")
    _check_targets(targets, logits.shape[:-1], "leading dims of logits")
    _check_temperature(temperature)
    rows = logits.reshape(-1, logits.shape[-1])
    if rows.stride(-1) != 1:
        rows = rows.contiguous()
    flat_targets = targets.reshape(-1).to(torch.int64).contiguous()
    if backend(logits.device) == "triton":
        from algos.kernels.logprob_kernel import TritonLogprobs as Function
    else:
        from algos.kernels.chunked import ChunkedLogprobs as Function
    logp, entropy = Function.apply(rows, flat_targets, float(temperature), int(ignore_index), inplace_backward)
    return logp.view(targets.shape), entropy.view(targets.shape)


def fused_linear_logprobs(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    temperature: float = 1.0,
    *,
    ignore_index: int = -100,
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`logprobs` of ``hidden @ weight.T`` without ever holding the N x V logits.

    ``hidden`` [..., H], ``weight`` [V, H] (the lm_head's), ``targets`` [...]. Gradients flow
    to ``hidden`` and ``weight``. ``chunk_size`` rows are processed at a time (default: a
    chunk's logits are about the size of ``hidden``).
    """
    if weight.ndim != 2 or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(f"need hidden [..., H] and weight [V, H], got {tuple(hidden.shape)} and {tuple(weight.shape)}")
    _check_targets(targets, hidden.shape[:-1], "leading dims of hidden")
    _check_temperature(temperature)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    rows = hidden.reshape(-1, hidden.shape[-1])
    flat_targets = targets.reshape(-1).to(torch.int64).contiguous()
    if backend(hidden.device) == "triton":
        from algos.kernels import logprob_kernel as ops
    else:
        from algos.kernels import chunked as ops
    from algos.kernels.fused_linear import FusedLinearLogprobs

    logp, entropy = FusedLinearLogprobs.apply(
        rows, weight, flat_targets, float(temperature), int(ignore_index), chunk_size, ops
    )
    return logp.view(targets.shape), entropy.view(targets.shape)


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
    """Token advantages [B, T] (0 off the mask) and the bool loss mask [B, T], in one pass.

    See :func:`algos.kernels.reference.advantages_and_mask` for the formulas. ``estimator``
    is a name in ``algos.core.ADVANTAGE_ESTIMATORS``: the kernel fuses ``grpo``, ``dr_grpo``
    and ``rloo``; an estimator registered by the user runs through the torch reference. The
    kernel takes rewards that are already shaped (e.g. ``fatal_grpo``'s reward 0 for f = 0)
    and does not re-check them for NaN.
    """
    core.lookup(core.ADVANTAGE_ESTIMATORS, estimator, "advantage estimator")
    if scale_rewards not in core.SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {core.SCALE_REWARDS}, got {scale_rewards!r}")
    if response_mask.ndim != 2:
        raise ValueError(f"response_mask must be [B, T], got shape {tuple(response_mask.shape)}")
    B = response_mask.shape[0]
    for name, t, shape in (
        ("rewards", rewards, (B,)),
        ("group_ids", group_ids, (B,)),
        ("fatal_turn", fatal_turn, (B,)),
        ("turn_index", turn_index, tuple(response_mask.shape)),
    ):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {shape}")
    kwargs = {
        "estimator": estimator,
        "scale_rewards": scale_rewards,
        "eps": eps,
        "clamp_fatal": clamp_fatal,
        "clamp_unanswered": clamp_unanswered,
        "mask_fatal": mask_fatal,
    }
    if backend(rewards.device) == "triton":
        from algos.kernels.advantage_kernel import ESTIMATOR_CODES
        from algos.kernels.advantage_kernel import advantages_and_mask as run

        if estimator in ESTIMATOR_CODES:
            return run(rewards, group_ids, response_mask, turn_index, fatal_turn, **kwargs)
    return reference.advantages_and_mask(rewards, group_ids, response_mask, turn_index, fatal_turn, **kwargs)


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
    """Scalar clipped GRPO loss (gradient to ``logp`` only) and its metrics, all [B, T] inputs.

    Same numbers as ``core.clipped_policy_loss`` + ``core.aggregate`` and the metrics of
    ``Algorithm.compute_loss`` (0-d tensors): ``pg_clipfrac``, ``pg_clipfrac_lower`` (with
    dual clip), ``ratio_mean``, ``ppo_kl``, ``n_loss_tokens``, ``n_loss_samples``.
    """
    if loss_agg_mode not in core.LOSS_AGG_MODES:
        raise ValueError(f"unknown loss_agg_mode {loss_agg_mode!r}; known: {', '.join(core.LOSS_AGG_MODES)}")
    if logp.ndim != 2:
        raise ValueError(f"logp must be [B, T], got shape {tuple(logp.shape)}")
    for name, t in (("old_logp", old_logp), ("advantages", advantages), ("mask", mask)):
        if t.shape != logp.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {tuple(logp.shape)}")
    kwargs = {
        "clip_low": clip_low,
        "clip_high": clip_high,
        "clip_ratio_c": clip_ratio_c,
        "loss_agg_mode": loss_agg_mode,
        "loss_scale_factor": loss_scale_factor,
    }
    if backend(logp.device) != "triton":
        return reference.clipped_loss(logp, old_logp, advantages, mask, **kwargs)
    from algos.kernels.loss_kernel import ClippedLoss

    mask_bytes = mask.contiguous()
    mask_bytes = mask_bytes.view(torch.uint8) if mask_bytes.dtype == torch.bool else mask_bytes
    loss, stats = ClippedLoss.apply(
        logp.contiguous(),
        old_logp.contiguous(),
        advantages.contiguous(),
        mask_bytes,
        clip_low,
        clip_high,
        clip_ratio_c,
        loss_agg_mode,
        loss_scale_factor,
    )
    tokens = stats[1].sum()
    denom = tokens.clamp(min=1)
    metrics = {
        "pg_clipfrac": stats[2].sum() / denom,
        "ratio_mean": stats[4].sum() / denom,
        "ppo_kl": -stats[5].sum() / denom,
        "n_loss_tokens": tokens,
        "n_loss_samples": (stats[1] > 0).sum().to(stats.dtype),
    }
    if clip_ratio_c is not None:
        metrics["pg_clipfrac_lower"] = stats[3].sum() / denom
    return loss, metrics
