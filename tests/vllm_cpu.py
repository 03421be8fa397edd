"""What the vLLM tests share (``make test-vllm``): a tiny model vLLM's CPU backend runs, and the engine's settings.

vLLM starts its engine in a spawned process (its CPU platform forces ``spawn``): engines are
module-scoped fixtures, created once per test module, and nothing runs at import time that a
spawned child must not repeat.
"""

from __future__ import annotations

import socket
from pathlib import Path

from algos import tiny

# fp32 so that the engine's numbers can be held to the HF model's; a small KV cache (the default
# is sized from the machine's free memory); eager (torch.compile of the model takes minutes on 2 cores)
ENGINE = {"dtype": "float32", "kv_cache_memory_bytes": 128 << 20, "max_model_len": 2048, "enforce_eager": True}
ENV = "mmsearch_gym/Maze-v0"
KW = {"size": 2, "text_maze": True, "question_types": ("moves",), "max_turns": 3}
LOGP_TOL = 1e-4  # fp32, same weights, different kernels


def tiny_vllm_model(path: Path, seed: int = 0) -> Path:
    """A tiny Qwen2 text model of head_dim 64 (``tiny.VLLM_SIZES``) with the Maze tokenizer."""
    return tiny.save_tiny_model(path, "text", tokenizer=tiny.default_tokenizer(episodes=40), layers=2, seed=seed,
                                **tiny.VLLM_SIZES)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
