"""The torch path of :func:`algos.kernels.logprobs`: a block of rows at a time.

The Triton kernel's forward/backward split (``forward_rows`` keeps the log-partition ``lse``
per row, ``backward_rows`` recomputes the softmax from it) on torch's fused log_softmax, so
the fp32 temporaries never exceed ``CHUNK_ELEMENTS`` per tensor whatever N is. ``fused_linear`` uses these two
functions on the CPU the way it uses the kernel's on CUDA.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK_ELEMENTS = 1 << 22  # 16 MiB of fp32 per temporary


def _row_blocks(n_rows: int, n_cols: int):
    step = max(1, CHUNK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


def _scaled(logits: Tensor, inv_temp: float) -> Tensor:
    x = logits.float()
    return x if inv_temp == 1.0 else x * inv_temp


def forward_rows(
    logits: Tensor, targets: Tensor, temperature: float, ignore_index: int
) -> tuple[Tensor, Tensor, Tensor]:
    """(logp, entropy, lse), each [N] fp32, of softmax(logits / temperature).

    torch's fused fp32 log_softmax sums in fp32: over ~10^5 columns it can be off by a few
    1e-5 (the Triton kernel's blocked sums stay within 1e-5); the speed is worth it here.
    """
    n, v = logits.shape
    logp = torch.empty(n, dtype=torch.float32, device=logits.device)
    entropy = torch.empty_like(logp)
    lse = torch.empty_like(logp)
    inv_temp = 1.0 / temperature
    for a, b in _row_blocks(n, v):
        x = _scaled(logits[a:b], inv_temp)
        log_p = torch.log_softmax(x, dim=-1)
        top, where_top = x.max(dim=-1)  # lse = x - log p at any finite column: the largest is one
        lse[a:b] = top - log_p.gather(-1, where_top[:, None]).squeeze(-1)
        t = targets[a:b]
        valid = t != ignore_index
        picked = log_p.gather(-1, torch.where(valid, t, 0)[:, None]).squeeze(-1)
        logp[a:b] = torch.where(valid, picked, 0.0)
        # nansum: p log p is 0 · -inf = NaN where a logit is -inf, and 0 is its limit
        entropy[a:b] = -torch.nansum(log_p.exp().mul_(log_p), dim=-1)
    return logp, entropy, lse


def backward_rows(
    logits: Tensor,
    targets: Tensor,
    lse: Tensor,
    entropy: Tensor,
    grad_logp: Tensor | None,
    grad_entropy: Tensor | None,
    temperature: float,
    ignore_index: int,
    out: Tensor,
) -> Tensor:
    """d/d logits of Σ grad_logp·logp + grad_entropy·entropy, written into ``out`` (may be ``logits``).

    ∂logp/∂x_j = 1[j = target] - p_j;  ∂H/∂x_j = -p_j (log p_j + H);  x = logits / T.
    """
    n, v = logits.shape
    inv_temp = 1.0 / temperature
    for a, b in _row_blocks(n, v):
        log_p = _scaled(logits[a:b], inv_temp) - lse[a:b, None]
        p = log_p.exp()
        g = None
        if grad_logp is not None:
            t = targets[a:b]
            valid = t != ignore_index
            g = torch.where(valid, grad_logp[a:b].float(), 0.0)
        if grad_entropy is not None:
            coef = log_p.add_(entropy[a:b, None]).mul_(-grad_entropy[a:b, None].float())
            if g is not None:
                coef.sub_(g[:, None])
            grad = p.mul_(coef).nan_to_num_(nan=0.0)  # p = 0 where log p = -inf
        else:
            grad = p.mul_(-g[:, None]) if g is not None else p.zero_()
        if g is not None:
            grad.scatter_add_(-1, torch.where(valid, t, 0)[:, None], g[:, None])
        if inv_temp != 1.0:
            grad.mul_(inv_temp)
        out[a:b] = grad
    return out


class ChunkedLogprobs(torch.autograd.Function):
    """Autograd around ``forward_rows``/``backward_rows`` (the torch path of ``logprobs``)."""

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
        backward_rows(logits, targets, lse, entropy, grad_logp, grad_entropy, temperature, ignore_index, out)
        return out, None, None, None, None
