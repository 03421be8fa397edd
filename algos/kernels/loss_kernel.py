"""Triton: the clipped GRPO/PPO token loss, reduced per row, and its gradient.

Per token (as ``algos.core.clipped_policy_loss``), ρ = exp(clamp(logp - old_logp, ±20)):
    objective = min(ρA, clip(ρ, 1 - clip_low, 1 + clip_high) A), then max(objective, c·min(A, 0))
    with dual clip;  loss = -objective.
The forward kernel (one program per row) sums, over the row's mask, the loss, the tokens,
the clipped and dual-clipped tokens, ρ and log ρ; the aggregation across rows is a few ops
on [B] vectors, which also give each row's weight w_b (∂loss/∂row sum). The backward
kernel recomputes the token derivative, with torch's rules at ties (min/max split the
gradient in half there, clamp passes it at its bounds), and writes g·w_b·∂loss/∂logp.
``old_logp`` and ``advantages`` are constants (no gradient), as in training.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from algos.kernels.dispatch import interpreting

N_STATS = 6  # loss, tokens, clipped, dual-clipped, ratio, log-ratio; per row


@triton.jit
def _token_terms(logp_ptr, old_ptr, adv_ptr, offs, inside, lo, hi, clip_c, DUAL: tl.constexpr):
    lp = tl.load(logp_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    old = tl.load(old_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    a = tl.load(adv_ptr + offs, mask=inside, other=0.0).to(tl.float32)
    raw = lp - old
    log_ratio = tl.minimum(tl.maximum(raw, -20.0), 20.0)
    ratio = tl.exp(log_ratio)
    surrogate = ratio * a
    clipped = tl.minimum(tl.maximum(ratio, lo), hi) * a
    objective = tl.minimum(surrogate, clipped)
    floor = objective
    if DUAL:
        floor = tl.minimum(a, 0.0) * clip_c
    return raw, log_ratio, ratio, a, surrogate, clipped, objective, floor


@triton.jit
def _forward_kernel(
    logp_ptr,
    old_ptr,
    adv_ptr,
    mask_ptr,
    stats_ptr,
    B,
    T,
    lo,
    hi,
    clip_c,
    DUAL: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_T)
    loss_acc = tl.zeros([BLOCK_T], dtype=tl.float32)
    token_acc = tl.zeros([BLOCK_T], dtype=tl.float32)
    clip_acc = tl.zeros([BLOCK_T], dtype=tl.float32)
    dual_acc = tl.zeros([BLOCK_T], dtype=tl.float32)
    ratio_acc = tl.zeros([BLOCK_T], dtype=tl.float32)
    log_ratio_acc = tl.zeros([BLOCK_T], dtype=tl.float32)
    for start in range(0, T, BLOCK_T):
        t = start + cols
        inside = t < T
        offs = row * T + t
        m = inside & (tl.load(mask_ptr + offs, mask=inside, other=0) != 0)
        _, log_ratio, ratio, _a, surrogate, clipped, objective, floor = _token_terms(
            logp_ptr, old_ptr, adv_ptr, offs, m, lo, hi, clip_c, DUAL
        )
        if DUAL:
            dual_acc += (m & (objective < floor)).to(tl.float32)
            objective = tl.maximum(objective, floor)
        # where(), not a multiply: a NaN on a masked-out token must not reach the sums
        loss_acc += tl.where(m, -objective, 0.0)
        token_acc += m.to(tl.float32)
        clip_acc += (m & (clipped < surrogate)).to(tl.float32)
        ratio_acc += tl.where(m, ratio, 0.0)
        log_ratio_acc += tl.where(m, log_ratio, 0.0)
    tl.store(stats_ptr + row, tl.sum(loss_acc, axis=0))
    tl.store(stats_ptr + B + row, tl.sum(token_acc, axis=0))
    tl.store(stats_ptr + 2 * B + row, tl.sum(clip_acc, axis=0))
    tl.store(stats_ptr + 3 * B + row, tl.sum(dual_acc, axis=0))
    tl.store(stats_ptr + 4 * B + row, tl.sum(ratio_acc, axis=0))
    tl.store(stats_ptr + 5 * B + row, tl.sum(log_ratio_acc, axis=0))


@triton.jit
def _backward_kernel(
    logp_ptr,
    old_ptr,
    adv_ptr,
    mask_ptr,
    row_weight_ptr,
    grad_loss_ptr,
    grad_ptr,
    T,
    lo,
    hi,
    clip_c,
    DUAL: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    t = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    inside = t < T
    offs = row * T + t
    m = inside & (tl.load(mask_ptr + offs, mask=inside, other=0) != 0)
    raw, _log_ratio, ratio, a, surrogate, clipped, objective, floor = _token_terms(
        logp_ptr, old_ptr, adv_ptr, offs, m, lo, hi, clip_c, DUAL
    )
    d_clipped = tl.where((ratio >= lo) & (ratio <= hi), a, 0.0)
    d = tl.where(surrogate < clipped, a, tl.where(surrogate > clipped, d_clipped, 0.5 * a + 0.5 * d_clipped))
    if DUAL:
        d = tl.where(objective > floor, d, tl.where(objective < floor, 0.0, 0.5 * d))
    d = tl.where((raw >= -20.0) & (raw <= 20.0), d * ratio, 0.0)
    scale = tl.load(grad_loss_ptr).to(tl.float32) * tl.load(row_weight_ptr + row)
    grad = tl.where(m, -d * scale, 0.0)
    tl.store(grad_ptr + offs, grad.to(grad_ptr.dtype.element_ty), mask=inside)


def _block_t(T: int) -> int:
    return min(triton.next_power_of_2(T), 4096 if interpreting() else 1024)


def _aggregate(stats, mode, loss_scale_factor, T):
    """Scalar loss and per-row weights ∂loss/∂(row loss sum) from the row sums, as ``core.aggregate``."""
    loss_sum, tokens = stats[0], stats[1]
    if mode == "token-mean":
        total = tokens.sum().clamp(min=1)
        return loss_sum.sum() / total, (1.0 / total).expand_as(tokens)
    if mode == "seq-mean-token-sum-norm":  # verl: Σ of every row's sum / scale, no mean over rows
        scale = loss_scale_factor if loss_scale_factor is not None else T
        return loss_sum.sum() / scale, torch.full_like(tokens, 1.0 / scale)
    nonempty = (tokens > 0).to(tokens.dtype)
    n_nonempty = nonempty.sum().clamp(min=1)
    weights = nonempty / n_nonempty
    if mode == "seq-mean-token-mean":
        loss_sum = loss_sum / tokens.clamp(min=1)
        weights = weights / tokens.clamp(min=1)
    return (loss_sum * nonempty).sum() / n_nonempty, weights


class ClippedLoss(torch.autograd.Function):
    """Returns the scalar loss and the [N_STATS, B] row sums (not differentiable)."""

    @staticmethod
    def forward(ctx, logp, old_logp, advantages, mask, clip_low, clip_high, clip_ratio_c, mode, loss_scale_factor):
        B, T = logp.shape
        stats = torch.zeros(N_STATS, B, dtype=torch.float32, device=logp.device)
        dual = clip_ratio_c is not None
        bounds = (1.0 - clip_low, 1.0 + clip_high, float(clip_ratio_c) if dual else 0.0)
        if B * T > 0:
            _forward_kernel[(B,)](
                logp, old_logp, advantages, mask, stats, B, T, *bounds, DUAL=dual, BLOCK_T=_block_t(T), num_warps=4
            )
        loss, weights = _aggregate(stats, mode, loss_scale_factor, T)
        ctx.save_for_backward(logp, old_logp, advantages, mask, weights.contiguous())
        ctx.args = (bounds, dual)
        ctx.mark_non_differentiable(stats)
        return loss.to(logp.dtype), stats

    @staticmethod
    def backward(ctx, grad_loss, _grad_stats):
        logp, old_logp, advantages, mask, weights = ctx.saved_tensors
        bounds, dual = ctx.args
        B, T = logp.shape
        grad = torch.empty_like(logp)
        if B * T > 0:
            block = _block_t(T)
            _backward_kernel[(B, triton.cdiv(T, block))](
                logp,
                old_logp,
                advantages,
                mask,
                weights,
                grad_loss.contiguous(),
                grad,
                T,
                *bounds,
                DUAL=dual,
                BLOCK_T=block,
                num_warps=4,
            )
        return grad, None, None, None, None, None, None, None, None
