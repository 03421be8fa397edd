"""Triton: group-relative advantages, fatal clamp and fatal mask, broadcast to tokens, in one kernel.

One program per sample i. It scans the batch for its group (ids need not be contiguous or
sorted: no unique/sort on the host), two passes as in ``algos.core.group_stats``:
    n, mean, min, max over {j : g_j = g_i};  var = Σ (r_j - mean)² / max(n - 1, 1)
    grpo: (r - mean) / (std + eps) (std of the group, of the batch, or 1);  dr_grpo: r - mean;
    rloo: (r - mean) n / (n - 1);  0 for a group of one or of equal rewards.
Flagged samples (f = fatal_turn >= 0): A = max(A, 0) (with CLAMP_UNANSWERED off, not for a
sample with f >= 1 whose row has no turn >= f: it ended unanswered; one more pass over the
row finds its last turn), and tokens with turn >= f leave the mask.
Then it writes its row: A on the loss mask, 0 elsewhere, and the mask. The B x B scan is
cheap next to the B x T write (B is a batch of episodes, T their tokens).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from algos.kernels.dispatch import interpreting

ESTIMATOR_CODES = {"grpo": 0, "dr_grpo": 1, "rloo": 2}
SCALE_CODES = {"group": 0, "batch": 1, "none": 2}


@triton.jit
def _advantages_kernel(
    rewards_ptr,
    groups_ptr,
    fatal_ptr,
    mask_ptr,
    turn_ptr,
    adv_out_ptr,
    mask_out_ptr,
    B,
    n_batch,
    T,
    eps,
    ESTIMATOR: tl.constexpr,
    SCALE: tl.constexpr,
    HAS_FATAL: tl.constexpr,
    HAS_TURN: tl.constexpr,
    CLAMP_FATAL: tl.constexpr,
    CLAMP_UNANSWERED: tl.constexpr,
    MASK_FATAL: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    i = tl.program_id(0).to(tl.int64)
    r_i = tl.load(rewards_ptr + i).to(tl.float32)
    g_i = tl.load(groups_ptr + i)
    lanes = tl.arange(0, BLOCK_B)

    count = 0.0
    total = 0.0
    batch_total = 0.0
    lowest = float("inf")
    highest = -float("inf")
    for start in range(0, B, BLOCK_B):
        j = start + lanes
        inside = j < B
        r = tl.load(rewards_ptr + j, mask=inside, other=0.0).to(tl.float32)
        same = inside & (tl.load(groups_ptr + j, mask=inside, other=0) == g_i)
        count += tl.sum(same.to(tl.float32), axis=0)
        total += tl.sum(tl.where(same, r, 0.0), axis=0)
        batch_total += tl.sum(r, axis=0)
        lowest = tl.minimum(lowest, tl.min(tl.where(same, r, float("inf")), axis=0))
        highest = tl.maximum(highest, tl.max(tl.where(same, r, -float("inf")), axis=0))
    mean = tl.div_rn(total, count)
    centred = r_i - mean

    if ESTIMATOR == 0:
        if SCALE == 2:
            adv = centred
        else:
            batch_mean = tl.div_rn(batch_total, n_batch)
            squares = 0.0
            for start in range(0, B, BLOCK_B):
                j = start + lanes
                inside = j < B
                r = tl.load(rewards_ptr + j, mask=inside, other=0.0).to(tl.float32)
                if SCALE == 0:
                    same = inside & (tl.load(groups_ptr + j, mask=inside, other=0) == g_i)
                    squares += tl.sum(tl.where(same, (r - mean) * (r - mean), 0.0), axis=0)
                else:
                    squares += tl.sum(tl.where(inside, (r - batch_mean) * (r - batch_mean), 0.0), axis=0)
            if SCALE == 0:
                std = tl.sqrt_rn(tl.div_rn(squares, tl.maximum(count - 1.0, 1.0)))
            else:
                std = tl.where(n_batch > 1.0, tl.sqrt_rn(tl.div_rn(squares, tl.maximum(n_batch - 1.0, 1.0))), 0.0)
            adv = tl.div_rn(centred, std + eps)
    elif ESTIMATOR == 1:
        adv = centred
    else:
        adv = tl.div_rn(centred * count, tl.maximum(count - 1.0, 1.0))
    adv = tl.where((count == 1.0) | (lowest == highest), 0.0, adv)

    cols = tl.arange(0, BLOCK_T)
    row = i * T
    fatal = -1
    if HAS_FATAL:
        fatal = tl.load(fatal_ptr + i)
        if CLAMP_FATAL:
            clamp = fatal >= 0
            if not CLAMP_UNANSWERED:
                last_turn = 0
                if HAS_TURN:
                    last_turn = -1
                    for start in range(0, T, BLOCK_T):
                        t = start + cols
                        turns = tl.load(turn_ptr + row + t, mask=t < T, other=-1).to(tl.int32)
                        last_turn = tl.maximum(last_turn, tl.max(turns, axis=0))
                clamp = clamp & ~((fatal > 0) & (last_turn < fatal))
            adv = tl.where(clamp, tl.maximum(adv, 0.0), adv)

    for start in range(0, T, BLOCK_T):
        t = start + cols
        inside = t < T
        keep = tl.load(mask_ptr + row + t, mask=inside, other=0) != 0
        if HAS_FATAL and MASK_FATAL:
            turn = 0
            if HAS_TURN:
                turn = tl.load(turn_ptr + row + t, mask=inside, other=0)
            keep = keep & ~((fatal >= 0) & (turn >= fatal))
        tl.store(adv_out_ptr + row + t, tl.where(keep, adv, 0.0), mask=inside)
        tl.store(mask_out_ptr + row + t, keep.to(tl.uint8), mask=inside)


def advantages_and_mask(
    rewards,
    group_ids,
    response_mask,
    turn_index,
    fatal_turn,
    estimator,
    scale_rewards,
    eps,
    clamp_fatal,
    clamp_unanswered,
    mask_fatal,
):
    """The kernel's launcher; arguments as :func:`algos.kernels.reference.advantages_and_mask`."""
    B, T = response_mask.shape
    adv = torch.empty(B, T, dtype=torch.float32, device=response_mask.device)
    mask = torch.empty(B, T, dtype=torch.uint8, device=response_mask.device)
    if B == 0 or T == 0:
        return adv.to(rewards.dtype), mask.bool()
    as_bytes = response_mask.contiguous()
    if as_bytes.dtype == torch.bool:
        as_bytes = as_bytes.view(torch.uint8)
    has_fatal = fatal_turn is not None
    has_turn = turn_index is not None
    # small scan blocks under the interpreter, so that tests of a few dozen samples cover the loop
    block_b = min(triton.next_power_of_2(B), 16 if interpreting() else 1024)
    block_t = min(triton.next_power_of_2(T), 4096 if interpreting() else 1024)
    _advantages_kernel[(B,)](
        rewards.contiguous(),
        group_ids.contiguous(),
        fatal_turn.contiguous() if has_fatal else group_ids,
        as_bytes,
        turn_index.contiguous() if has_turn else group_ids,
        adv,
        mask,
        B,
        float(B),
        T,
        eps,
        ESTIMATOR=ESTIMATOR_CODES[estimator],
        SCALE=SCALE_CODES[scale_rewards],
        HAS_FATAL=has_fatal,
        HAS_TURN=has_turn,
        CLAMP_FATAL=clamp_fatal,
        CLAMP_UNANSWERED=clamp_unanswered,
        MASK_FATAL=mask_fatal,
        BLOCK_B=block_b,
        BLOCK_T=block_t,
        num_warps=4,
    )
    return adv.to(rewards.dtype), mask.view(torch.bool)
