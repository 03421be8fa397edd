"""A reward model run locally with transformers, loaded from a path (never downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algos.reward_models.base import GenerativeRewardModel


class HFRewardModel(GenerativeRewardModel):
    """Greedy generation from a local causal LM at ``path`` (``local_files_only``).

    Pass ``model`` and ``tokenizer`` instead of ``path`` to reuse objects already loaded.
    The chat template formats the prompt when the tokenizer has one; otherwise the
    messages are joined as ``role: content`` lines ending with ``assistant:``.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        rubric: str = "agent",
        device: str = "cpu",
        dtype: Any = None,
        max_new_tokens: int = 1024,
        fallback_score: float = 0.0,
        output_format: str | None = None,
    ):
        super().__init__(rubric=rubric, fallback_score=fallback_score, on_error="raise", output_format=output_format)
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model and tokenizer, or neither (with path)")
        if model is None:
            if path is None:
                raise ValueError("HFRewardModel needs a local path, or model and tokenizer")
            if not Path(path).is_dir():
                raise FileNotFoundError(f"no model directory at {path} (weights load only from a local path)")
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            extra = {} if dtype is None else {"dtype": dtype}  # `dtype` needs transformers >= 4.56
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **extra)
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device
        self.max_new_tokens = max_new_tokens

    def generate(self, messages: list[dict[str, str]]) -> str:
        import torch

        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            enc = tok.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        else:
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
            enc = tok(text, return_tensors="pt")
        input_ids = enc["input_ids"].to(self.device)
        attention_mask = enc.get("attention_mask")
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=None if attention_mask is None else attention_mask.to(self.device),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=pad_id,
            )
        return tok.decode(out[0, input_ids.shape[1] :], skip_special_tokens=True)
