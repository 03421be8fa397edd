"""What the engine adapters share: turns from a response mask, episode fields, episode metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from algos.batch import NO_TURN, NOT_FATAL
from mmsearch_gym.core.record import EpisodeRecord

# Optional per-episode fields an algorithm may read (see algos.batch), beyond reward and fatal turn.
OPTIONAL_FIELDS = ("tool_benefit", "thinking_reward", "rrm_score")


def turn_index_from_mask(response_mask: Tensor) -> Tensor:
    """[B, T] turn of each policy token: the k-th run of 1s in a row is turn k; ``NO_TURN`` elsewhere.

    Multi-turn engines (verl's agent loops, TRL's tool loop) lay an episode out as policy turns
    separated by env replies that the mask leaves out, and no turn is empty (a turn holds at
    least the token that ended it), so the runs of the mask are the turns.
    """
    mask = response_mask.bool()
    starts = mask.clone()
    starts[:, 1:] &= ~mask[:, :-1]
    turn = starts.long().cumsum(dim=1) - 1
    return torch.where(mask, turn, torch.full_like(turn, NO_TURN))


def episode_fields(record: EpisodeRecord) -> dict[str, Any]:
    """The fields of one finished episode that algorithms and metrics read (JSON-friendly)."""
    fields: dict[str, Any] = {
        "fatal_turn": NOT_FATAL if record.fatal_turn is None else int(record.fatal_turn),
        "fatal": bool(record.fatal),
        "n_turns": len(record.turns),
        "n_step_errors": sum(record.step_errors),
        "n_tool_calls": record.n_tool_calls,
        "n_valid_tool_calls": record.n_valid_tool_calls,
        "success": bool(record.success),
        "termination_reason": record.termination_reason or "",
        "task_id": record.task_id,
        "reward": float(record.reward),
        "reward_components": {k: float(v) for k, v in record.reward_components.items()},
    }
    if "tool_benefit" in record.task:
        fields["tool_benefit"] = float(record.task["tool_benefit"])
    return fields


def batch_fields(rows: Sequence[Mapping[str, Any]], device: torch.device | str = "cpu") -> dict[str, Any]:
    """Per-episode field dicts -> the :class:`~algos.EpisodeBatch` keyword arguments they carry.

    ``fatal_turn`` and ``n_valid_tool_calls`` become [B] tensors; reward components present in
    every row become ``reward_components``; optional fields present in every row are passed on.
    """
    out: dict[str, Any] = {}
    if all("fatal_turn" in r for r in rows):
        out["fatal_turn"] = torch.tensor([int(r["fatal_turn"]) for r in rows], device=device)
    if all("n_valid_tool_calls" in r for r in rows):
        out["n_valid_tool_calls"] = torch.tensor([int(r["n_valid_tool_calls"]) for r in rows], device=device)
    comps = [r.get("reward_components") or {} for r in rows]
    keys = set.intersection(*(set(c) for c in comps)) if comps else set()
    out["reward_components"] = {k: torch.tensor([float(c[k]) for c in comps], device=device) for k in sorted(keys)}
    for name in OPTIONAL_FIELDS:
        if rows and all(r.get(name) is not None for r in rows):
            out[name] = torch.tensor([float(r[name]) for r in rows], device=device)
    if rows and all(r.get("refined") is not None for r in rows):
        out["refined"] = torch.tensor([bool(r["refined"]) for r in rows], device=device)
    return out


def episode_metrics(rows: Sequence[Mapping[str, Any]], prefix: str = "env/") -> dict[str, float]:
    """Means over episodes: reward, success, fatal rate, turns, step errors, tool calls."""
    if not rows:
        return {}
    n = len(rows)

    def mean(key: str) -> float:
        return sum(float(r.get(key, 0)) for r in rows) / n

    return {
        f"{prefix}reward": mean("reward"),
        f"{prefix}success": mean("success"),
        f"{prefix}fatal_rate": mean("fatal"),
        f"{prefix}turns": mean("n_turns"),
        f"{prefix}step_errors": mean("n_step_errors"),
        f"{prefix}tool_calls": mean("n_tool_calls"),
        f"{prefix}valid_tool_calls": mean("n_valid_tool_calls"),
    }
