"""Triton: log-prob of the sampled token and entropy per row, one pass with an online softmax.

Forward, one program per row, ``BLOCK_V`` columns per step, x = logits / T in fp32 (the
loop computes in base 2, y = x log2 e, so that each element costs one ex2):
    m = running max,  s = Σ exp(x - m),  u = Σ exp(x - m)(x - m)   (rescaled when m grows)
    lse = m + log s,  logp = x[target] - lse,  H = log s - u / s
The logits are read once; only ``lse`` [N] is kept for the backward, which reads them once
more and writes the gradient (into the logits' own memory with ``inplace_backward``):
    ∂/∂x_j = g_logp (1[j = target] - p_j) - g_H p_j (log p_j + H),   times 1/T;
the one-hot term is added to the target column after the loop.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from algos.kernels.dispatch import interpreting

# Large vocabularies are autotuned on the GPU (the interpreter takes one config: it cannot
# time anything); below that one block covers most of the row.
_AUTOTUNE_MIN_V = 16384
_CONFIGS = [(2048, 4), (2048, 8), (4096, 8), (4096, 16), (8192, 16)]  # 8 or 16 columns a thread
_INTERPRETER_BLOCK = 32768
_LOG2E = 1.4426950408889634


@triton.jit
def _exp2(x, FAST_EXP2: tl.constexpr):
    # ex2.approx.ftz: one MUFU op; tl.exp2 adds a denormal fix-up around it (the interpreter
    # cannot run PTX, so it takes tl.exp2)
    if FAST_EXP2:
        return tl.inline_asm_elementwise(
            "ex2.approx.ftz.f32 $0, $1;", "=f,f", [x], dtype=tl.float32, is_pure=True, pack=1
        )
    else:
        return tl.exp2(x)


@triton.jit
def _forward_kernel(
    logits_ptr,
    stride_row,
    targets_ptr,
    logp_ptr,
    entropy_ptr,
    lse_ptr,
    V,
    scale,  # log2(e) / temperature: the loop works in base 2
    ignore_index,
    BLOCK_V: tl.constexpr,
    FAST_EXP2: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    base = logits_ptr + row * stride_row
    cols = tl.arange(0, BLOCK_V)
    # Per lane sums s = Σ 2^(y - m), u = Σ 2^(y - m)(y - m), y = x log2(e); m is the running
    # row max, shared by the lanes: one block reduction per step, and the sums are rescaled
    # only in the (rare, uniform) steps where m grows.
    m = -1e30  # finite: the first rescale multiplies s = 0 by (m - m_new), which must not be NaN
    s = tl.zeros([BLOCK_V], dtype=tl.float32)
    u = tl.zeros([BLOCK_V], dtype=tl.float32)
    nxt = tl.load(base + cols, mask=cols < V, other=-float("inf"))
    for start in range(0, V, BLOCK_V):
        x = nxt.to(tl.float32)
        idx = start + BLOCK_V + cols
        nxt = tl.load(base + idx, mask=idx < V, other=-float("inf"))  # in flight during the math below
        m_new = tl.maximum(m, tl.max(x, axis=0) * scale)  # scale > 0: the max commutes with it
        if m_new > m:
            alpha = _exp2(m - m_new, FAST_EXP2)
            u = alpha * (u + s * (m - m_new))
            s = alpha * s
            m = m_new
        d = tl.maximum(x * scale - m, -256.0)  # one FMA; 2^-256 = 0, and 0 · d stays 0 at -inf logits
        e = _exp2(d, FAST_EXP2)
        s += e
        u += e * d
    s_row = tl.sum(s, axis=0)
    log2_s = tl.log2(s_row)
    ln2 = 0.6931471805599453
    lse = (m + log2_s) * ln2
    target = tl.load(targets_ptr + row)
    valid = target != ignore_index
    y_t = tl.load(base + tl.where(valid, target, 0)).to(tl.float32) * scale
    tl.store(logp_ptr + row, tl.where(valid, (y_t - m - log2_s) * ln2, 0.0))
    tl.store(entropy_ptr + row, (log2_s - tl.sum(u, axis=0) / s_row) * ln2)
    tl.store(lse_ptr + row, lse)


@triton.jit
def _backward_kernel(
    logits_ptr,
    stride_row,
    grad_ptr,
    stride_grad,
    targets_ptr,
    lse_ptr,
    entropy_ptr,
    grad_logp_ptr,
    grad_entropy_ptr,
    V,
    scale,  # log2(e) / temperature
    inv_temp,
    ignore_index,
    HAS_GRAD_LOGP: tl.constexpr,
    HAS_GRAD_ENTROPY: tl.constexpr,
    BLOCK_V: tl.constexpr,
    FAST_EXP2: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    base = logits_ptr + row * stride_row
    out = grad_ptr + row * stride_grad
    cols = tl.arange(0, BLOCK_V)
    lse2 = tl.load(lse_ptr + row) * 1.4426950408889634
    h = tl.load(entropy_ptr + row)
    target = tl.load(targets_ptr + row)
    valid = target != ignore_index
    g_logp = 0.0
    if HAS_GRAD_LOGP:
        g_logp = tl.where(valid, tl.load(grad_logp_ptr + row).to(tl.float32), 0.0)
    g_ent = 0.0
    if HAS_GRAD_ENTROPY:
        g_ent = tl.load(grad_entropy_ptr + row).to(tl.float32)
    # -p_j (g_logp + g_H (log p_j + H)) / T with log p_j = d_j ln 2, d_j = log2 p_j: p (c1 d + c0)
    c0 = -(g_logp + g_ent * h) * inv_temp
    c1 = -(g_ent * 0.6931471805599453) * inv_temp
    t_safe = tl.where(valid, target, 0)
    x_t = tl.load(base + t_safe).to(tl.float32)  # read first: in place, the loop overwrites it
    for start in range(0, V, BLOCK_V):
        idx = start + cols
        inside = idx < V
        d = tl.maximum(tl.load(base + idx, mask=inside, other=0.0).to(tl.float32) * scale - lse2, -256.0)
        g = _exp2(d, FAST_EXP2) * (c1 * d + c0)
        tl.store(out + idx, g.to(out.dtype.element_ty), mask=inside)
    if HAS_GRAD_LOGP:
        # the target column's one-hot term g_logp / T, written over the loop's value
        d_t = tl.maximum(x_t * scale - lse2, -256.0)
        g_t = _exp2(d_t, FAST_EXP2) * (c1 * d_t + c0) + g_logp * inv_temp
        tl.debug_barrier()
        tl.store(out + t_safe, g_t.to(out.dtype.element_ty), mask=valid)


@functools.cache
def _tuned_forward():
    # Built on first use: an autotuner asks the GPU driver for its benchmarker.
    configs = [triton.Config({"BLOCK_V": b}, num_warps=w) for b, w in _CONFIGS]
    return triton.autotune(configs=configs, key=["V"])(_forward_kernel)


def _block(V: int) -> tuple[int, int]:
    if interpreting():
        return min(triton.next_power_of_2(V), _INTERPRETER_BLOCK), 4
    block = min(triton.next_power_of_2(V), 8192)
    return block, max(4, min(16, block // 512))


def forward_rows(logits, targets, temperature, ignore_index):
    """(logp, entropy, lse), each [N] fp32; ``logits`` [N, V] with unit column stride."""
    n, v = logits.shape
    logp = torch.empty(n, dtype=torch.float32, device=logits.device)
    entropy = torch.empty_like(logp)
    lse = torch.empty_like(logp)
    if n == 0:
        return logp, entropy, lse
    args = (logits, logits.stride(0), targets, logp, entropy, lse, v, _LOG2E / temperature, ignore_index)
    fast = not interpreting()
    if v >= _AUTOTUNE_MIN_V and fast:
        _tuned_forward()[(n,)](*args, FAST_EXP2=fast)
    else:
        block, warps = _block(v)
        _forward_kernel[(n,)](*args, BLOCK_V=block, FAST_EXP2=fast, num_warps=warps)
    return logp, entropy, lse


def backward_rows(logits, targets, lse, entropy, grad_logp, grad_entropy, temperature, ignore_index, out):
    """Gradient w.r.t. ``logits`` written into ``out`` (which may be ``logits`` itself)."""
    n, v = logits.shape
    if n == 0:
        return out
    block, warps = _block(v)
    if v >= _AUTOTUNE_MIN_V and not interpreting():
        # The backward is not autotuned (it may overwrite its input): it takes the
        # forward's choice for the same rows.
        best = getattr(_tuned_forward(), "best_config", None)
        if best is not None:
            block, warps = best.kwargs["BLOCK_V"], best.num_warps
    _backward_kernel[(n,)](
        logits,
        logits.stride(0),
        out,
        out.stride(0),
        targets,
        lse,
        entropy,
        grad_logp if grad_logp is not None else lse,
        grad_entropy if grad_entropy is not None else lse,
        v,
        _LOG2E / temperature,
        1.0 / temperature,
        ignore_index,
        HAS_GRAD_LOGP=grad_logp is not None,
        HAS_GRAD_ENTROPY=grad_entropy is not None,
        BLOCK_V=block,
        FAST_EXP2=not interpreting(),
        num_warps=warps,
    )
    return out


class TritonLogprobs(torch.autograd.Function):
    """Autograd around the two kernels; ``inplace_backward`` writes the gradient over the logits."""

    @staticmethod
    def forward(ctx, logits, targets, temperature, ignore_index, inplace_backward):
        logp, entropy, lse = forward_rows(logits, targets, temperature, ignore_index)
        ctx.save_for_backward(logits, targets, lse, entropy)
        ctx.args = (temperature, ignore_index, inplace_backward)
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        logits, targets, lse, entropy = ctx.saved_tensors
        temperature, ignore_index, inplace = ctx.args
        out = logits if inplace else torch.empty_like(logits)
        grad_logp = None if grad_logp is None else grad_logp.contiguous()
        grad_entropy = None if grad_entropy is None else grad_entropy.contiguous()
        backward_rows(logits, targets, lse, entropy, grad_logp, grad_entropy, temperature, ignore_index, out)
        return out, None, None, None, None
