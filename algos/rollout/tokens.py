"""``EpisodeTokens``: one episode's growing token sequence, and collating many into tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from algos.batch import NO_TURN
from algos.rollout.base import TokenPrompt
from algos.rollout.chat import Piece


@dataclass
class EpisodeTokens:
    """Ids of one episode with, per token, whether the policy wrote it and in which turn.

    ``spans[k] = (start, end)``: ``ids[start:end]`` are exactly the ids turn ``k`` produced
    (sampled, or teacher-forced for text policies). Everything else (prompt, template glue,
    env replies) has ``response_mask`` False and ``turn_index`` -1. ``logprobs`` holds, per
    token, the log-probability the policy reported for the ids it sampled (NaN where it
    reported none, 0 outside its turns).
    """

    ids: list[int] = field(default_factory=list)
    response_mask: list[bool] = field(default_factory=list)
    turn_index: list[int] = field(default_factory=list)
    columns: dict[str, list[int]] = field(default_factory=dict)
    image_inputs: list[dict[str, Any]] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, piece: Piece) -> None:
        """Append context the policy did not write (prompt, env reply, template glue)."""
        n = len(piece.ids)
        self.ids.extend(piece.ids)
        self.response_mask.extend([False] * n)
        self.turn_index.extend([NO_TURN] * n)
        self.logprobs.extend([0.0] * n)
        for k in set(self.columns) | set(piece.columns):
            col = self.columns.setdefault(k, [0] * (len(self.ids) - n))
            col.extend(piece.columns.get(k, [0] * n))
        if piece.image_inputs:
            self.image_inputs.append(piece.image_inputs)
            self.images.extend(piece.images)

    def append_turn(self, ids: Sequence[int], turn: int, logprobs: Sequence[float] | None = None) -> None:
        """Append the ids the policy produced in ``turn`` (with their log-probs when it reported them)."""
        if logprobs is not None and len(logprobs) != len(ids):
            raise ValueError(f"{len(logprobs)} log-probs for {len(ids)} sampled ids")
        start = len(self.ids)
        self.ids.extend(int(t) for t in ids)
        self.response_mask.extend([True] * len(ids))
        self.turn_index.extend([turn] * len(ids))
        self.logprobs.extend([float("nan")] * len(ids) if logprobs is None else [float(x) for x in logprobs])
        for col in self.columns.values():
            col.extend([0] * len(ids))
        self.spans.append((start, len(self.ids)))

    def merged_image_inputs(self) -> dict[str, Any]:
        keys = sorted({k for d in self.image_inputs for k in d})
        return {k: torch.cat([d[k] for d in self.image_inputs if k in d], dim=0) for k in keys}

    def prompt(self, max_new_tokens: int | None = None) -> TokenPrompt:
        return TokenPrompt(
            list(self.ids),
            {k: list(v) for k, v in self.columns.items()},
            self.merged_image_inputs(),
            list(self.images),
            max_new_tokens,
        )


def collate(episodes: Sequence[EpisodeTokens], pad_id: int, width: int | None = None) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask``, ``response_mask``, ``turn_index`` and columns [B, T]."""
    T = max(len(e) for e in episodes) if width is None else width
    B = len(episodes)
    out = {
        "input_ids": torch.full((B, T), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((B, T), dtype=torch.bool),
        "response_mask": torch.zeros((B, T), dtype=torch.bool),
        "turn_index": torch.full((B, T), NO_TURN, dtype=torch.long),
    }
    keys = sorted({k for e in episodes for k in e.columns})
    for k in keys:
        out[k] = torch.zeros((B, T), dtype=torch.long)
    for row, e in enumerate(episodes):
        n = len(e)
        out["input_ids"][row, :n] = torch.tensor(e.ids, dtype=torch.long)
        out["attention_mask"][row, :n] = True
        out["response_mask"][row, :n] = torch.tensor(e.response_mask, dtype=torch.bool)
        out["turn_index"][row, :n] = torch.tensor(e.turn_index, dtype=torch.long)
        for k in keys:
            if k in e.columns:
                out[k][row, :n] = torch.tensor(e.columns[k], dtype=torch.long)
    return out


def rollout_logprobs(episodes: Sequence[EpisodeTokens], width: int | None = None) -> torch.Tensor | None:
    """[B, T] fp32 log-probs the policy reported for its sampled tokens (0 elsewhere), right-padded
    like :func:`collate`; None unless every sampled token of every episode has one."""
    if any(math.isnan(x) for e in episodes for x in e.logprobs):
        return None
    T = max(len(e) for e in episodes) if width is None else width
    out = torch.zeros((len(episodes), T), dtype=torch.float32)
    for row, e in enumerate(episodes):
        out[row, : len(e)] = torch.tensor(e.logprobs, dtype=torch.float32)
    return out
