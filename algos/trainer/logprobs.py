"""Per-token log-probs of a sequence under a model: ``logp[b, t] = log p(ids[b, t] | ids[b, <t])``.

The projection to the vocabulary goes through ``algos.kernels.fused_linear_logprobs`` (Triton
on CUDA, chunked torch elsewhere) so the [tokens x vocab] logits are never held at once; a
model whose head is not a plain linear layer (bias, logit scaling or soft-capping) goes
through its full logits and ``algos.kernels.logprobs``. Without the kernels package the
same numbers come from ``log_softmax`` (:func:`torch_logprobs`), the seam to swap.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = -100


def _kernels() -> Any:
    try:
        from algos import kernels
    except ImportError:
        return None
    return kernels if hasattr(kernels, "fused_linear_logprobs") and hasattr(kernels, "logprobs") else None


def torch_logprobs(logits: Tensor, targets: Tensor, temperature: float = 1.0) -> Tensor:
    """Plain torch: log-softmax of ``logits / temperature`` at ``targets`` (``IGNORE`` rows give 0)."""
    safe = targets.clamp(min=0)
    lp = torch.log_softmax(logits.float() / temperature, dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return torch.where(targets == IGNORE, torch.zeros_like(lp), lp)


def _plain_head(model: Any) -> Any:
    """The model's lm_head when logits are exactly ``hidden @ weight.T``, else None."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    cfg = getattr(model, "config", None)
    text_cfg = getattr(cfg, "text_config", None) or cfg
    scaled = any(
        getattr(c, a, None) not in (None, 1.0)
        for c in (cfg, text_cfg)
        for a in ("final_logit_softcapping", "logit_scale")
    )
    if not isinstance(head, torch.nn.Linear) or head.bias is not None or scaled:
        return None
    return head


def sequence_logprobs(model: Any, inputs: dict[str, Any], temperature: float = 1.0) -> Tensor:
    """[B, T] fp32 log-probs of ``inputs["input_ids"]`` (0 at t = 0 and on padding).

    ``inputs`` are the model's keyword inputs (ids, attention mask, per-token columns, image
    tensors) as :meth:`algos.rollout.RolloutResult.model_inputs` gives them.
    """
    ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    targets = ids[:, 1:].clone()
    if mask is not None:
        targets[mask[:, 1:] == 0] = IGNORE
    kernels = _kernels()
    head = _plain_head(model)
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if head is not None and base is not None:
        hidden = base(**inputs, use_cache=False).last_hidden_state[:, :-1]
        weight = head.weight.to(hidden.dtype)
        if kernels is not None:
            lp, _ = kernels.fused_linear_logprobs(hidden, weight, targets, temperature, ignore_index=IGNORE)
        else:
            lp = torch_logprobs(hidden @ weight.T, targets, temperature)
    else:
        logits = model(**inputs, use_cache=False).logits[:, :-1]
        if kernels is not None:
            lp, _ = kernels.logprobs(logits, targets, temperature, ignore_index=IGNORE)
        else:
            lp = torch_logprobs(logits, targets, temperature)
    return F.pad(lp.float(), (1, 0))
