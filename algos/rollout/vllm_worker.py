"""Weight sync inside vLLM's worker: a ``worker_extension_cls`` that :class:`~algos.rollout.vllm.VLLMPolicy` installs.

vLLM mixes this class into its worker (in the engine's own process when it spawns one) and
``LLM.collective_rpc("mmsearch_gym_load_weights", args=(blob,))`` runs the method there. The
weights travel as one safetensors blob (bytes go through vLLM's RPC socket unchanged; a
dict of tensors would arrive as lists) with the trainer's parameter names, and are loaded by
vLLM's own in-place reload (``Worker.reload_weights``), which maps checkpoint names
(``q_proj``/``k_proj``/``v_proj`` into ``qkv_proj`` …) and re-runs each layer's
post-load processing.

One thing that reload misses on the CPU: vLLM's CPU linear layers keep a packed copy of
their weight (oneDNN / sgl kernels), made after loading. A tied output head
(``tie_word_embeddings``, as the tiny models and the small Qwen models have) receives no
weights of its own, so its packed copy would keep the old embedding and the engine would go
on sampling from the old head. :func:`refresh_packed_heads` packs such layers again.
"""

from __future__ import annotations

from typing import Any

import torch

METHOD = "mmsearch_gym_load_weights"


class WeightSyncExtension:
    """Methods vLLM adds to its worker (``self`` is the worker)."""

    def mmsearch_gym_load_weights(self, blob: bytes) -> int:
        """Load the safetensors ``blob`` into the running model; returns the number of tensors loaded."""
        from safetensors.torch import load

        weights = load(blob)
        reload = self.reload_weights  # type: ignore[attr-defined]
        reload(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
        refresh_packed_heads(self.model_runner.get_model())  # type: ignore[attr-defined]
        return len(weights)


def refresh_packed_heads(model: Any) -> int:
    """Re-pack every CPU layer that keeps its weight beside a packed copy (embeddings, output
    heads); returns how many. Layers whose weight was packed away (``numel() == 0``) were
    already processed by the reload; on GPUs no layer has ``cpu_linear`` and nothing runs."""
    n = 0
    for module in model.modules():
        method = getattr(module, "quant_method", None)
        weight = getattr(module, "weight", None)
        if hasattr(module, "cpu_linear") and method is not None and isinstance(weight, torch.Tensor) and weight.numel():
            method.process_weights_after_loading(module)
            n += 1
    return n
