"""``HFPolicy``: batched token-in/token-out sampling from a local transformers model.

Every active episode's context goes into one left-padded ``generate`` call (images of all
contexts concatenated in row order, as Qwen2-VL expects). The ids each row sampled are
returned as sampled, cut after the first stop token or at the row's token budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from algos.rollout.base import Generation, SamplingParams, TokenPrompt
from algos.rollout.chat import ChatFormat


class HFPolicy:
    """A transformers causal LM or image-text-to-text model as a token policy.

    Args:
        model: the model (its ``training`` flag is restored after each call).
        tokenizer: its tokenizer (with a chat template).
        processor: its processor for image-text-to-text models, else None.
        autocast_dtype: e.g. ``torch.bfloat16`` to sample under autocast on GPU.
        generate_kwargs: passed to every ``model.generate`` call (e.g. ``logits_processor``,
            ``prefix_allowed_tokens_fn`` for constrained decoding).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        processor: Any = None,
        *,
        autocast_dtype: torch.dtype | None = None,
        generate_kwargs: dict[str, Any] | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        self.autocast_dtype = autocast_dtype
        self.generate_kwargs = dict(generate_kwargs or {})
        self._chat: ChatFormat | None = None
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("the tokenizer has neither a pad nor an EOS token")
        self.pad_id = int(pad)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", dtype: Any = None, **kwargs: Any) -> HFPolicy:
        """Load from a local directory (see :func:`algos.rollout.loading.load_pretrained`)."""
        from algos.rollout.loading import load_pretrained

        loaded = load_pretrained(path, device=device, dtype=dtype)
        return cls(loaded.model, loaded.tokenizer, loaded.processor, **kwargs)

    def chat_format(self) -> ChatFormat:
        if self._chat is None:
            self._chat = ChatFormat(self.tokenizer, self.processor)
        return self._chat

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def generate(
        self, prompts: Sequence[TokenPrompt], params: SamplingParams, stop_ids: frozenset[int]
    ) -> list[Generation]:
        if not prompts:
            return []
        budgets = [p.budget(params) for p in prompts]
        inputs = self.batch_inputs(prompts)
        sampling: dict[str, Any] = (
            {"do_sample": False}
            if params.greedy
            else {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k}
        )
        from transformers import GenerationConfig

        suppress = self.chat_format().suppressed_ids
        if suppress:
            sampling["suppress_tokens"] = suppress
        config = GenerationConfig(
            max_new_tokens=max(budgets), eos_token_id=sorted(stop_ids), pad_token_id=self.pad_id, **sampling
        )
        was_training = self.model.training
        self.model.eval()
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        try:
            with torch.no_grad(), autocast:
                out = self.model.generate(**inputs, generation_config=config, **self.generate_kwargs)
        finally:
            self.model.train(was_training)
        new = out[:, inputs["input_ids"].shape[1] :].tolist()
        return [_cut(row, stop_ids, budget) for row, budget in zip(new, budgets)]

    def batch_inputs(self, prompts: Sequence[TokenPrompt]) -> dict[str, Any]:
        """Left-padded ids, attention mask, per-token columns and concatenated image tensors."""
        width = max(len(p.ids) for p in prompts)
        dev = self.device
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        keys = sorted({k for p in prompts for k in p.columns})
        columns = {k: torch.zeros((len(prompts), width), dtype=torch.long) for k in keys}
        for row, p in enumerate(prompts):
            n = len(p.ids)
            ids[row, width - n :] = torch.tensor(p.ids, dtype=torch.long)
            mask[row, width - n :] = 1
            for k in keys:
                if k in p.columns:
                    columns[k][row, width - n :] = torch.tensor(p.columns[k], dtype=torch.long)
        out: dict[str, Any] = {"input_ids": ids.to(dev), "attention_mask": mask.to(dev)}
        out.update({k: v.to(dev) for k, v in columns.items()})
        out.update(concat_image_inputs([p.image_inputs for p in prompts], dev))
        return out


def concat_image_inputs(per_row: Sequence[dict[str, Any]], device: torch.device | str) -> dict[str, Any]:
    """Concatenate per-image tensors (``pixel_values``, ``image_grid_thw``, …) along dim 0, in row order."""
    keys = sorted({k for d in per_row for k in d})
    return {k: torch.cat([d[k] for d in per_row if k in d], dim=0).to(device) for k in keys}


def _cut(row: list[int], stop_ids: frozenset[int], budget: int) -> Generation:
    """The sampled ids up to and including the first stop token, or the first ``budget`` ids."""
    for i, tok in enumerate(row[:budget]):
        if tok in stop_ids:
            return Generation(row[: i + 1], "stop")
    return Generation(row[:budget], "length")
