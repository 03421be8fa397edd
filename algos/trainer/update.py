"""One optimizer step, SFT or RL, over micro-batches whose gradients add up to the full batch's.

Each micro-batch loss is weighted by its share of what the full-batch loss averages over
(tokens for ``token-mean`` and SFT, non-empty sequences for ``seq-mean-token-sum`` and
``seq-mean-token-mean``; ``seq-mean-token-sum-norm`` divides by a constant, so its
micro-batch losses simply add up), so ``micro_batch_size`` changes memory, not the gradient.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from algos.batch import EpisodeBatch
from algos.trainer.logprobs import sequence_logprobs

InputsFn = Callable[[list[int]], dict[str, Any]]


def select_rows(batch: EpisodeBatch, rows: list[int]) -> EpisodeBatch:
    """The episodes ``rows`` of ``batch`` (same T)."""
    idx = torch.tensor(rows, dtype=torch.long, device=batch.input_ids.device)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(batch):
        v = getattr(batch, f.name)
        if torch.is_tensor(v):
            v = v.index_select(0, idx)
        elif isinstance(v, dict):
            v = {k: t.index_select(0, idx) for k, t in v.items()}
        out[f.name] = v
    return EpisodeBatch(**out)


def micro_batches(n: int, size: int) -> Iterator[list[int]]:
    for start in range(0, n, size):
        yield list(range(start, min(n, start + size)))


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> Any:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _logprobs(model: Any, inputs: dict[str, Any], temperature: float, amp: torch.dtype | None, width: int) -> Tensor:
    """Log-probs of possibly trimmed ``inputs``, right-padded with 0 to ``width`` tokens."""
    with autocast_context(inputs["input_ids"].device, amp):
        logp = sequence_logprobs(model, inputs, temperature)
    return F.pad(logp, (0, width - logp.shape[1]))


@torch.no_grad()
def batch_logprobs(
    model: Any, inputs_fn: InputsFn, n: int, size: int, temperature: float, amp: torch.dtype | None, width: int
) -> Tensor:
    """[n, width] log-probs of all rows, computed ``size`` rows at a time without gradients."""
    was = model.training
    model.eval()
    try:
        parts = []
        for rows in micro_batches(n, size):
            parts.append(_logprobs(model, inputs_fn(rows), temperature, amp, width))
        return torch.cat(parts, dim=0)
    finally:
        model.train(was)


def _weight(mask: Tensor, rows: list[int], mode: str) -> float:
    """Share of the full-batch loss denominator held by ``rows``."""
    if mode == "seq-mean-token-sum-norm":  # Σ over rows / a constant: the parts add up
        return 1.0
    if mode == "token-mean":
        total = mask.sum()
        part = mask[rows].sum()
    else:  # seq-mean-*: sequences with at least one loss token
        nonempty = mask.any(dim=1)
        total, part = nonempty.sum(), nonempty[rows].sum()
    return float(part) / float(total) if float(total) > 0 else 0.0


def rl_step(
    model: Any,
    algo: Any,
    batch: EpisodeBatch,
    inputs_fn: InputsFn,
    advantages: Tensor,
    loss_mask: Tensor,
    micro_batch_size: int,
    temperature: float,
    amp: torch.dtype | None,
) -> dict[str, float]:
    """Accumulate the algorithm's loss gradient over micro-batches (no optimizer step); return metrics."""
    mode = algo.config.loss_agg_mode
    totals: dict[str, float] = {}
    for rows in micro_batches(batch.batch_size, micro_batch_size):
        w = _weight(loss_mask, rows, mode)
        w_tokens = _weight(loss_mask, rows, "token-mean")  # the diagnostics are token means
        logp = _logprobs(model, inputs_fn(rows), temperature, amp, batch.seq_len)
        loss, metrics = algo.compute_loss(logp, select_rows(batch, rows), advantages[rows], loss_mask[rows])
        (loss * w).backward()
        for k, v in metrics.items():
            if k in ("n_loss_tokens", "n_loss_samples"):
                totals[k] = totals.get(k, 0.0) + v
            elif k in ("loss", "pg_loss", "kl"):
                totals[k] = totals.get(k, 0.0) + w * v
            else:
                totals[k] = totals.get(k, 0.0) + w_tokens * v
    return totals


def sft_step(
    model: Any, inputs_fn: InputsFn, response_mask: Tensor, micro_batch_size: int, amp: torch.dtype | None
) -> dict[str, float]:
    """Accumulate the token-mean NLL gradient of the response tokens over micro-batches."""
    total_tokens = float(response_mask.sum())
    loss_sum = 0.0
    for rows in micro_batches(response_mask.shape[0], micro_batch_size):
        logp = _logprobs(model, inputs_fn(rows), 1.0, amp, response_mask.shape[1])
        m = response_mask[rows].to(logp.device, logp.dtype)
        nll = -(logp * m).sum() / max(total_tokens, 1.0)
        nll.backward()
        loss_sum += float(nll.detach())
    return {"loss": loss_sum, "n_tokens": total_tokens}
