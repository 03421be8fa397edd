"""Token-in/token-out chat formatting: the conversation grows by appending tokens, never re-tokenising.

A multi-turn episode is one token sequence. The prompt is tokenised once; after that the
policy's sampled ids are kept exactly as sampled, and each env reply is appended as the
tokens of *only that message* rendered by the chat template (the *delta*: the template
rendered with the new message minus the template rendered without it, on a fixed dummy
context). Re-tokenising the decoded history instead would silently change the ids the
policy produced (BPE merges differently across turn boundaries) and the log-probs computed
for training would no longer be those of the sampled tokens.

Images: with a processor (e.g. Qwen2-VL's), a message with images is rendered with one
image placeholder per image and the processor expands each placeholder into as many tokens
as that image has features, returning the pixel tensors of the same images in the same
order. Per-token model inputs the processor returns besides the ids (``mm_token_type_ids``)
travel with the ids; per-image tensors (``pixel_values``, ``image_grid_thw``) are kept per
piece and concatenated in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_CTX = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
_PLACEHOLDER = "\u2063PLACEHOLDER\u2063"


class ChatTemplateError(ValueError):
    """The chat template cannot be used token-in/token-out (it is not append-only)."""


@dataclass
class Piece:
    """Tokens of one stretch of the conversation, with the image inputs they hold."""

    ids: list[int]
    columns: dict[str, list[int]] = field(default_factory=dict)  # per-token model inputs
    image_inputs: dict[str, Any] = field(default_factory=dict)  # per-image tensors (pixel_values, …)
    images: list[np.ndarray] = field(default_factory=list)  # the raw images, in placeholder order


class ChatFormat:
    """Renders and tokenises a conversation piece by piece through a chat template.

    Args:
        tokenizer: a transformers tokenizer with a chat template.
        processor: the model's processor (image-text-to-text models); None for text models,
            which then see image ids in the text but no pixels.
    """

    def __init__(self, tokenizer: Any, processor: Any = None):
        self.tokenizer = tokenizer
        self.processor = processor
        self._specials = sorted((t for t in tokenizer.all_special_tokens if len(t) > 1), key=len, reverse=True)
        self._renderer = processor if getattr(processor, "chat_template", None) else tokenizer
        if not getattr(self._renderer, "chat_template", None):
            raise ChatTemplateError("the tokenizer has no chat template; token-in/token-out rollouts need one")
        base = self.render(_CTX)
        with_prompt = self.render(_CTX, add_generation_prompt=True)
        if not with_prompt.startswith(base):
            raise ChatTemplateError("the chat template changes earlier text when a generation prompt is added")
        self.generation_prompt = with_prompt[len(base) :]
        self._ctx_turn = self.render(_CTX + [{"role": "assistant", "content": _PLACEHOLDER}])
        head = base + self.generation_prompt
        if not self._ctx_turn.startswith(head + _PLACEHOLDER):
            raise ChatTemplateError(
                "the chat template rewrites assistant turns (text between the generation prompt and the content); "
                "token-in/token-out needs a template that renders an assistant turn as generation prompt + content"
            )
        self.turn_suffix = self._ctx_turn[len(head) + len(_PLACEHOLDER) :]
        self.stop_ids = self._stop_ids()
        self.column_keys = self._probe_columns() if self.multimodal else ()

    # ---- rendering ----------------------------------------------------------------------
    @property
    def multimodal(self) -> bool:
        return self.processor is not None and getattr(self.processor, "image_processor", None) is not None

    def render(self, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = False) -> str:
        """The chat template's text for ``messages`` (HF format)."""
        return self._renderer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def hf_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """An env message (``role``, ``content``, ``images``: ids or arrays) in the template's format.

        Special-token strings in env text (an env echoing a model's ``<|image_pad|>`` or
        ``<|im_end|>``) are defanged with a zero-width space: tokenised as special tokens they
        would add image placeholders without images or forge turn boundaries.
        """
        content = message["content"] if message["role"] == "assistant" else self.defang(message["content"])
        n_images = len(message.get("images") or ())
        if not self.multimodal or n_images == 0:
            return {"role": message["role"], "content": content}
        parts: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
        return {"role": message["role"], "content": parts + [{"type": "text", "text": content}]}

    def defang(self, text: str) -> str:
        """``text`` with every special-token string broken by a zero-width space after its first character."""
        for tok in self._specials:
            if tok in text:
                text = text.replace(tok, tok[0] + "\u200b" + tok[1:])
        return text

    @property
    def suppressed_ids(self) -> list[int]:
        """Ids a multimodal policy must never sample: image/video placeholders and vision markers."""
        if not self.multimodal:
            return []
        ids = set()
        for attr in ("image_token", "video_token"):
            tok = getattr(self.processor, attr, None)
            if tok:
                ids.add(self.tokenizer.convert_tokens_to_ids(tok))
        for tok in self._specials:
            if "vision" in tok or "image" in tok or "video" in tok:
                ids.add(self.tokenizer.convert_tokens_to_ids(tok))
        unk = self.tokenizer.unk_token_id
        return sorted(int(i) for i in ids if i is not None and i != unk)

    # ---- pieces -------------------------------------------------------------------------
    def prompt(self, messages: Sequence[dict[str, Any]], images: Sequence[Sequence[np.ndarray]]) -> Piece:
        """The opening messages (``images[k]`` are message k's arrays) up to the first generation prompt."""
        text = self.render([self.hf_message(m) for m in messages], add_generation_prompt=True)
        return self.encode(text, [img for imgs in images for img in imgs])

    def message(self, message: dict[str, Any], images: Sequence[np.ndarray]) -> Piece:
        """One new env message and the next generation prompt: the template's delta only."""
        turn = [{"role": "assistant", "content": _PLACEHOLDER}]
        full = self.render(_CTX + turn + [self.hf_message(message)], add_generation_prompt=True)
        if not full.startswith(self._ctx_turn):
            raise ChatTemplateError(
                f"the chat template rewrites earlier turns when a {message['role']!r} message follows"
            )
        return self.encode(full[len(self._ctx_turn) :], images if self.multimodal else ())

    def close_turn(self, sampled: Sequence[int], stopped: bool) -> Piece:
        """What the template puts after an assistant turn, minus the stop token the policy already sampled."""
        rest = self.turn_suffix
        if stopped and sampled:
            stop_text = self.decode([sampled[-1]])
            rest = rest.removeprefix(stop_text)
        return self.encode(rest, ())

    def assistant(self, text: str) -> list[int]:
        """Teacher-forced ids of an assistant turn written as text (SFT data): content then a stop token."""
        return self._tokenize(text) + [self.turn_stop_id]

    def action_text(self, sampled: Sequence[int], stopped: bool) -> str:
        """The env action: the sampled ids decoded, without the stop token that ended them."""
        ids = list(sampled[:-1]) if stopped and sampled else list(sampled)
        return self.decode(ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def encode(self, text: str, images: Sequence[np.ndarray]) -> Piece:
        """Tokenise ``text`` (placeholders expanded for ``images`` when multimodal; text models ignore images)."""
        if not text:
            return Piece([], {k: [] for k in self.column_keys})
        if not images or not self.multimodal:
            ids = self._tokenize(text)
            return Piece(ids, {k: [0] * len(ids) for k in self.column_keys})
        enc = self.processor(text=[text], images=list(images), return_tensors="pt", add_special_tokens=False)
        ids = enc["input_ids"][0].tolist()
        columns = {k: enc[k][0].tolist() if k in enc else [0] * len(ids) for k in self.column_keys}
        features = {
            k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask") and k not in self.column_keys
        }
        return Piece(ids, columns, features, [np.asarray(img) for img in images])

    # ---- internals ----------------------------------------------------------------------
    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def turn_stop_id(self) -> int:
        """The token that ends an assistant turn (the suffix's first token when it is special, else EOS)."""
        first = self._leading_special(self.turn_suffix)
        if first is not None:
            return first
        if self.tokenizer.eos_token_id is None:
            raise ChatTemplateError("the tokenizer has no EOS token and the template no special turn-end token")
        return int(self.tokenizer.eos_token_id)

    def _leading_special(self, text: str) -> int | None:
        for tok in sorted(self.tokenizer.all_special_tokens, key=len, reverse=True):
            if tok and text.startswith(tok):
                return int(self.tokenizer.convert_tokens_to_ids(tok))
        return None

    def _stop_ids(self) -> frozenset[int]:
        ids = {self.turn_stop_id}
        eos = self.tokenizer.eos_token_id
        if eos is not None:
            ids.add(int(eos))
        return frozenset(ids)

    def _probe_columns(self) -> tuple[str, ...]:
        """Per-token inputs the processor returns besides ids and attention mask (e.g. ``mm_token_type_ids``)."""
        text = self.render([self.hf_message({"role": "user", "content": "x", "images": ["img"]})])
        enc = self.processor(
            text=[text], images=[np.zeros((32, 32, 3), np.uint8)], return_tensors="pt", add_special_tokens=False
        )
        n = enc["input_ids"].shape[-1]
        return tuple(
            k
            for k, v in enc.items()
            if k not in ("input_ids", "attention_mask") and getattr(v, "ndim", 0) == 2 and tuple(v.shape) == (1, n)
        )
