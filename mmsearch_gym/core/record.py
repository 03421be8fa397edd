"""The episode record: everything an algorithm or an analyst needs from one episode.

It holds no images, only their ids (``img_1`` …) so that it stays small and serialises to
JSON; the images live in the env's :class:`~mmsearch_gym.core.images.ImageStore`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class TurnRecord:
    """One model call and the env's answer to it."""

    turn: int
    action: str
    kind: str | None  # "tool_call", "answer" or None when the action did not parse
    well_formed: bool  # matched the turn format exactly (think block included)
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    step_error: str | None = None
    error_message: str | None = None
    response: str = ""
    new_images: list[str] = field(default_factory=list)
    action_chars: int | None = None  # length of the turn as sent (``action`` may be cut when it was rejected)


@dataclass
class EpisodeRecord:
    """A whole episode: chat, per-turn actions and errors, failure signals and reward."""

    env_id: str
    task_id: str
    seed: int | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    fatal: bool = False
    fatal_turn: int | None = None
    termination_reason: str | None = None
    answer: str | None = None
    reward: float = 0.0
    reward_components: dict[str, float] = field(default_factory=dict)
    success: bool = False
    evaluation: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tool_calls(self) -> int:
        return sum(t.kind == "tool_call" for t in self.turns)

    @property
    def n_valid_tool_calls(self) -> int:
        return sum(t.kind == "tool_call" and t.step_error is None for t in self.turns)

    @property
    def step_errors(self) -> list[bool]:
        return [t.step_error is not None for t in self.turns]

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["turns"] = [{f.name: getattr(t, f.name) for f in fields(t)} for t in self.turns]
        out["n_tool_calls"] = self.n_tool_calls
        out["n_valid_tool_calls"] = self.n_valid_tool_calls
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeRecord:
        data = {k: v for k, v in data.items() if k not in ("n_tool_calls", "n_valid_tool_calls")}
        turns = [TurnRecord(**t) for t in data.pop("turns", [])]
        return cls(turns=turns, **data)

    @classmethod
    def from_json(cls, text: str) -> EpisodeRecord:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        """Append this record as one JSON line to ``path``.

        A lone surrogate (not encodable as UTF-8) is written as its JSON escape ``\\udXXX``,
        so the line stays valid JSON and reads back to the same string.
        """
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(self.to_json() + "\n")
