"""lm_head + log-probs without the N x V logits: a chunk of rows at a time, forward and backward.

Forward, per chunk of C rows: logits_c = hidden_c @ weight.T (C x V, one reused buffer),
then the row kernel gives logp, entropy and lse; only lse [N] is kept. Backward, per chunk:
the logits are recomputed into the buffer, the row kernel overwrites them with their
gradient, and grad_hidden_c = G_c @ weight, grad_weight += G_c.T @ hidden_c. The extra
memory is one C x V buffer plus the row kernel's temporaries, against N x V (often in fp32,
several times over) for ``lm_head`` then ``log_softmax``; the price is the recomputed
matmul (4 matmuls instead of 3) and a pass over W per chunk (see ``default_chunk_size``).

The per-token gradients cannot be folded into the forward as in a fused cross-entropy:
g_logp and g_entropy come from a loss computed later, and grad_weight sums over rows
weighted by them. ``grad_weight`` accumulates in the weight's dtype, as in Liger-Kernel.

``ops`` is the row-kernel module: :mod:`algos.kernels.logprob_kernel` (Triton) or
:mod:`algos.kernels.chunked` (torch), both with ``forward_rows`` and ``backward_rows``.
"""

from __future__ import annotations

import math

import torch

MIN_CHUNK_ROWS = 256  # fewer rows make the matmuls inefficient (on the CPU 2x slower at 64)
MAX_CHUNKS = 8  # each chunk re-reads W twice and rewrites grad_W: V x H traffic per chunk
CHUNK_BYTES = 1 << 30  # but a chunk's logits never exceed 1 GiB, whatever N is


def default_chunk_size(n: int, v: int, h: int, element_size: int = 2) -> int:
    """Rows per chunk.

    At least Liger's rule (a chunk's logits about as large as ``hidden``), 256 rows and an
    eighth of N, so that the per-chunk passes over W (forward, recompute, grad_hidden,
    grad_weight: 5 V x H reads and writes) stay small next to the matmuls; at most 1 GiB of
    logits, which bounds the extra memory for any N.
    """
    rows = max(_next_power_of_2(math.ceil(n / math.ceil(v / h))), MIN_CHUNK_ROWS, math.ceil(n / MAX_CHUNKS))
    cap = max(MIN_CHUNK_ROWS, CHUNK_BYTES // (v * element_size))
    return max(1, min(n, rows, cap))


def _next_power_of_2(x: int) -> int:
    return 1 if x <= 1 else 1 << (x - 1).bit_length()


class FusedLinearLogprobs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, temperature, ignore_index, chunk_size, ops):
        n, h = hidden.shape
        v = weight.shape[0]
        chunk = chunk_size or default_chunk_size(n, v, h, hidden.element_size())
        logp = torch.empty(n, dtype=torch.float32, device=hidden.device)
        entropy = torch.empty_like(logp)
        lse = torch.empty_like(logp)
        buffer = hidden.new_empty(min(chunk, n), v)
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            logits = torch.mm(hidden[a:b], weight.t(), out=buffer[: b - a])
            logp[a:b], entropy[a:b], lse[a:b] = ops.forward_rows(logits, targets[a:b], temperature, ignore_index)
        ctx.save_for_backward(hidden, weight, targets, lse, entropy)
        ctx.args = (temperature, ignore_index, chunk, ops)
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        hidden, weight, targets, lse, entropy = ctx.saved_tensors
        temperature, ignore_index, chunk, ops = ctx.args
        need_hidden, need_weight = ctx.needs_input_grad[:2]
        n = hidden.shape[0]
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weight = torch.zeros_like(weight) if need_weight else None
        grad_logp = None if grad_logp is None else grad_logp.contiguous()
        grad_entropy = None if grad_entropy is None else grad_entropy.contiguous()
        buffer = hidden.new_empty(min(chunk, n), weight.shape[0])
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            logits = torch.mm(hidden[a:b], weight.t(), out=buffer[: b - a])
            ops.backward_rows(
                logits,
                targets[a:b],
                lse[a:b],
                entropy[a:b],
                None if grad_logp is None else grad_logp[a:b],
                None if grad_entropy is None else grad_entropy[a:b],
                temperature,
                ignore_index,
                logits,
            )
            if need_hidden:
                torch.mm(logits, weight, out=grad_hidden[a:b])
            if need_weight:
                grad_weight.addmm_(logits.t(), hidden[a:b])
        return grad_hidden, grad_weight, None, None, None, None, None
