"""Spaces for free text and variable-size images.

Gymnasium's ``Text`` rejects characters outside its charset and ``Box`` has one fixed
shape; a model's turn is any string and tools return images of any size, so the envs use
these two instead. Both work with the vector envs (gymnasium batches unknown spaces as
tuples) and with ``check_env``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.spaces import Space

# Sampling mixes ASCII, accents, CJK, emoji and the tags of the default grammar, so that
# check_env and property tests exercise the parser with realistic and hostile strings.
_SAMPLE_CHARS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n\t{}[]\":,.<>/_-") + list(
    "éüßçøπλ中文字日本語한국어😀🚀\u200b"
)
_SAMPLE_PIECES = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<answer>", "</answer>", '{"name": ', '"arguments": {}']


class FreeText(Space[str]):
    """Any Python ``str`` of at most ``max_length`` characters."""

    def __init__(self, max_length: int = 1_000_000, seed: int | np.random.Generator | None = None):
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        self.max_length = max_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        n = int(self.np_random.integers(0, min(self.max_length, 64) + 1))
        parts = []
        for _ in range(n):
            if self.np_random.random() < 0.1:
                parts.append(_SAMPLE_PIECES[int(self.np_random.integers(len(_SAMPLE_PIECES)))])
            else:
                parts.append(_SAMPLE_CHARS[int(self.np_random.integers(len(_SAMPLE_CHARS)))])
        return "".join(parts)[: self.max_length]

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def to_jsonable(self, sample_n: Any) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: list[str]) -> list[str]:
        return list(sample_n)

    def __repr__(self) -> str:
        return f"FreeText(max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FreeText) and other.max_length == self.max_length


class ImageSpace(Space[np.ndarray]):
    """uint8 H×W×3 images with ``min_side ≤ H, W ≤ max_side`` (any size within the bounds)."""

    def __init__(self, max_side: int = 4096, min_side: int = 1, seed: int | np.random.Generator | None = None):
        if not (isinstance(max_side, int) and isinstance(min_side, int) and 1 <= min_side <= max_side):
            raise ValueError(f"need integers 1 <= min_side <= max_side, got {min_side!r}, {max_side!r}")
        self.max_side, self.min_side = max_side, min_side
        super().__init__(shape=None, dtype=np.uint8, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        hi = min(self.max_side, 64)
        h, w = (int(v) for v in self.np_random.integers(self.min_side, max(hi, self.min_side) + 1, size=2))
        return self.np_random.integers(0, 256, size=(h, w, 3), dtype=np.uint8)

    def contains(self, x: Any) -> bool:
        return (
            isinstance(x, np.ndarray)
            and x.dtype == np.uint8
            and x.ndim == 3
            and x.shape[2] == 3
            and self.min_side <= x.shape[0] <= self.max_side
            and self.min_side <= x.shape[1] <= self.max_side
        )

    def to_jsonable(self, sample_n: Any) -> list[list]:
        return [np.asarray(x).tolist() for x in sample_n]

    def from_jsonable(self, sample_n: list) -> list[np.ndarray]:
        return [np.asarray(x, dtype=np.uint8) for x in sample_n]

    def __repr__(self) -> str:
        return f"ImageSpace(min_side={self.min_side}, max_side={self.max_side})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageSpace) and (other.max_side, other.min_side) == (self.max_side, self.min_side)


def observation_space(max_text: int = 1_000_000, max_side: int = 4096) -> spaces.Dict:
    """``Dict(text=FreeText, images=Sequence(ImageSpace))``: the observation of every tool env."""
    return spaces.Dict(
        {"text": FreeText(max_text), "images": spaces.Sequence(ImageSpace(max_side), stack=False)}
    )
