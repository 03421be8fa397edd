"""``VLLMPolicy``: token-in/token-out sampling with vLLM's offline ``LLM`` (extra ``vllm``, GPU).

vLLM is imported when a ``VLLMPolicy`` is created, never at import time. Each request is a
``{"prompt_token_ids": …, "multi_modal_data": {"image": [PIL images]}}`` prompt, as in
vLLM's offline multimodal docs; each turn comes back as ``outputs[0].token_ids``, kept
exactly. vLLM expands image placeholders itself, so each run of expanded image tokens in
our ids is collapsed to one placeholder before sending (``collapse_image_tokens``); the ids
we keep for training stay the processor's expanded ones.

Weights are loaded from the model directory; for RL with changing weights, sample with
:class:`~algos.rollout.hf.HFPolicy` (the trainer does) or rebuild the policy from a saved
checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from algos.rollout.base import Generation, PolicyError, SamplingParams, TokenPrompt
from algos.rollout.chat import ChatFormat

INSTALL_HINT = "VLLMPolicy needs vLLM (a CUDA GPU): pip install 'mmsearch-gym[vllm]'; on CPU use HFPolicy"


def import_vllm() -> Any:
    """The ``vllm`` module, or an ImportError saying how to get it."""
    try:
        import vllm
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} ({err})") from None
    return vllm


class VLLMPolicy:
    """vLLM's offline engine as a token policy.

    Args:
        model: local model directory (checked like HFPolicy's; nothing is downloaded).
        collapse_image_tokens: send one image placeholder per image and let vLLM expand it.
        llm_kwargs: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len``,
            ``limit_mm_per_prompt``, ``dtype`` …).
    """

    def __init__(self, model: str | Path, *, seed: int = 0, collapse_image_tokens: bool = True, **llm_kwargs: Any):
        from algos.rollout.loading import check_model_dir, load_processor, load_tokenizer

        self._vllm = import_vllm()
        config = check_model_dir(model)
        self.tokenizer = load_tokenizer(model)
        self.processor = load_processor(model, self.tokenizer) if "vision_config" in config else None
        self.collapse_image_tokens = collapse_image_tokens
        self.image_token_id = self._image_token_id()
        self.llm = self._vllm.LLM(model=str(model), tokenizer=str(model), seed=seed, **llm_kwargs)
        self._chat: ChatFormat | None = None

    def chat_format(self) -> ChatFormat:
        if self._chat is None:
            self._chat = ChatFormat(self.tokenizer, self.processor)
        return self._chat

    def request(self, prompt: TokenPrompt) -> dict[str, Any]:
        """The vLLM prompt dict for one context."""
        ids = list(prompt.ids)
        if not prompt.images:
            return {"prompt_token_ids": ids}
        from PIL import Image

        if self.collapse_image_tokens and self.image_token_id is not None:
            ids = collapse_runs(ids, self.image_token_id)
        images = [Image.fromarray(np.asarray(img, dtype=np.uint8)) for img in prompt.images]
        return {"prompt_token_ids": ids, "multi_modal_data": {"image": images}}

    def sampling_params(self, params: SamplingParams, stop_ids: frozenset[int], max_tokens: int) -> Any:
        return self._vllm.SamplingParams(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k if params.top_k > 0 else -1,
            max_tokens=max_tokens,
            stop_token_ids=sorted(stop_ids),
            skip_special_tokens=False,
        )

    def generate(
        self, prompts: Sequence[TokenPrompt], params: SamplingParams, stop_ids: frozenset[int]
    ) -> list[Generation]:
        if not prompts:
            return []
        budgets = [p.budget(params) for p in prompts]
        outputs = self.llm.generate(
            [self.request(p) for p in prompts],
            sampling_params=[self.sampling_params(params, stop_ids, b) for b in budgets],
            use_tqdm=False,
        )
        if len(outputs) != len(prompts):
            raise PolicyError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        gens = []
        for out, budget in zip(outputs, budgets):
            ids = [int(t) for t in out.outputs[0].token_ids][:budget]
            gens.append(Generation(ids, "stop" if ids and ids[-1] in stop_ids else "length"))
        return gens

    def _image_token_id(self) -> int | None:
        if self.processor is None:
            return None
        tid = getattr(self.processor, "image_token_id", None)
        if tid is None:
            tok = getattr(self.processor, "image_token", "<|image_pad|>")
            tid = self.tokenizer.convert_tokens_to_ids(tok)
        return None if tid is None else int(tid)


def collapse_runs(ids: Sequence[int], token: int) -> list[int]:
    """``ids`` with every run of ``token`` shortened to a single ``token``."""
    out: list[int] = []
    for t in ids:
        if t == token and out and out[-1] == token:
            continue
        out.append(t)
    return out
