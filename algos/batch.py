"""The batch contract: a group of episodes as plain tensors, checked on construction.

Shapes: ``B`` episodes, ``T`` tokens each (prompt + every turn, right-padded).

- ``input_ids`` [B, T] token ids.
- ``attention_mask`` [B, T] 1 on real tokens (default: all ones).
- ``response_mask`` [B, T] 1 on tokens the policy wrote (assistant turns); tool responses,
  prompts and padding are 0. Losses only ever touch these tokens.
- ``turn_index`` [B, T] index of the assistant turn a token belongs to, counted from 0 in
  the order of ``EpisodeRecord.turns`` (the indexing of ``fatal_turn``); ``NO_TURN`` (-1)
  outside assistant turns. Default: 0 on response tokens (one-turn episodes).
- ``group_ids`` [B] episodes sharing an id were sampled for the same prompt.
- ``fatal_turn`` [B] the OpenSearch-VL fatal index ``f``, ``NOT_FATAL`` (-1) when the
  episode is not flagged (default: none flagged).
- ``rewards`` [B] the env's scalar reward; ``reward_components`` name -> [B].
- ``n_valid_tool_calls`` [B] tool calls that ran without a step error (default 0).
- optional [B]: ``tool_benefit`` (AdaTooler ΔS), ``thinking_reward`` (SophiaVL R_t),
  ``rrm_score`` (Agent-RRM score), ``refined`` (Reagent-U: rollout made after a critique).
- optional [B, T]: ``old_logp`` (behaviour policy), ``ref_logp`` (reference policy).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from algos.validation import as_mask, check_finite, check_shape, sample_list

if TYPE_CHECKING:
    from mmsearch_gym.core.record import EpisodeRecord

NOT_FATAL = -1
NO_TURN = -1

_PER_SAMPLE_FLOATS = ("tool_benefit", "thinking_reward", "rrm_score")
_PER_TOKEN_FLOATS = ("old_logp", "ref_logp")


@dataclass
class EpisodeBatch:
    """Grouped episodes as tensors; see the module docstring for every field."""

    input_ids: Tensor
    response_mask: Tensor
    group_ids: Tensor
    rewards: Tensor
    attention_mask: Tensor | None = None
    turn_index: Tensor | None = None
    fatal_turn: Tensor | None = None
    reward_components: dict[str, Tensor] = field(default_factory=dict)
    n_valid_tool_calls: Tensor | None = None
    tool_benefit: Tensor | None = None
    thinking_reward: Tensor | None = None
    rrm_score: Tensor | None = None
    refined: Tensor | None = None
    old_logp: Tensor | None = None
    ref_logp: Tensor | None = None

    def __post_init__(self) -> None:
        ids = torch.as_tensor(self.input_ids)
        if ids.ndim != 2:
            raise ValueError(f"input_ids must be [B, T], got shape {tuple(ids.shape)}")
        self.input_ids = ids
        B, T = ids.shape
        dev = ids.device

        self.response_mask = self._mask("response_mask", self.response_mask, (B, T))
        if self.attention_mask is None:
            self.attention_mask = torch.ones(B, T, dtype=torch.bool, device=dev)
        self.attention_mask = self._mask("attention_mask", self.attention_mask, (B, T))
        stray = (self.response_mask & ~self.attention_mask).any(dim=1)
        if bool(stray.any()):
            raise ValueError(
                f"response_mask is 1 on padding (attention_mask 0) in samples {sample_list(stray)}"
            )

        if self.turn_index is None:
            self.turn_index = torch.where(self.response_mask, 0, NO_TURN).to(dev)
        self.turn_index = self._ints("turn_index", self.turn_index, (B, T), low=NO_TURN)
        orphan = (self.response_mask & (self.turn_index < 0)).any(dim=1)
        if bool(orphan.any()):
            raise ValueError(
                f"response tokens without a turn (turn_index -1 where response_mask is 1) in samples "
                f"{sample_list(orphan)}"
            )

        self.group_ids = self._ints("group_ids", self.group_ids, (B,), low=None)
        if self.fatal_turn is None:
            self.fatal_turn = torch.full((B,), NOT_FATAL, dtype=torch.long, device=dev)
        self.fatal_turn = self._ints("fatal_turn", self.fatal_turn, (B,), low=NOT_FATAL)
        if self.n_valid_tool_calls is None:
            self.n_valid_tool_calls = torch.zeros(B, dtype=torch.long, device=dev)
        self.n_valid_tool_calls = self._ints("n_valid_tool_calls", self.n_valid_tool_calls, (B,), low=0)

        self.rewards = self._floats("rewards", self.rewards, (B,))
        self.reward_components = {
            k: self._floats(f"reward_components[{k!r}]", v, (B,)) for k, v in self.reward_components.items()
        }
        for name in _PER_SAMPLE_FLOATS:
            if getattr(self, name) is not None:
                setattr(self, name, self._floats(name, getattr(self, name), (B,)))
        if self.refined is not None:
            self.refined = self._mask("refined", self.refined, (B,))
        for name in _PER_TOKEN_FLOATS:
            value = getattr(self, name)
            if value is not None:
                value = torch.as_tensor(value, dtype=torch.float32 if not torch.is_tensor(value) else None)
                check_shape(value, (B, T), name)
                # Only policy tokens must be finite: padding may hold anything.
                if not bool(torch.isfinite(value.sum())):
                    check_finite(torch.where(self.response_mask, value, 0.0), f"{name} on response tokens")
                setattr(self, name, value)

    @property
    def batch_size(self) -> int:
        return self.input_ids.shape[0]

    @property
    def seq_len(self) -> int:
        return self.input_ids.shape[1]

    def require(self, name: str, algorithm: str) -> Tensor:
        """The optional field ``name``, or an error saying which algorithm needs it."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{algorithm} needs batch.{name}; build the EpisodeBatch with {name}=...")
        return value

    def component(self, key: str) -> Tensor:
        """Reward component ``key``, or an error listing the ones present."""
        try:
            return self.reward_components[key]
        except KeyError:
            have = ", ".join(sorted(self.reward_components)) or "none"
            raise ValueError(f"reward component {key!r} not in batch (have: {have})") from None

    def to(self, device: torch.device | str) -> EpisodeBatch:
        """A copy with every tensor on ``device``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if torch.is_tensor(v):
                v = v.to(device)
            elif isinstance(v, dict):
                v = {k: t.to(device) for k, t in v.items()}
            out[f.name] = v
        return EpisodeBatch(**out)

    @classmethod
    def from_records(
        cls,
        records: Sequence[EpisodeRecord],
        input_ids: Tensor,
        response_mask: Tensor,
        turn_index: Tensor,
        group_ids: Tensor | Sequence[Hashable] | None = None,
        **optional: Any,
    ) -> EpisodeBatch:
        """Build a batch from the env's episode records and their tokenisation.

        Rewards, reward components, ``fatal_turn`` and valid tool-call counts come from the
        records; token tensors from the caller's tokeniser. ``group_ids`` may be any
        hashables (e.g. prompt uids); by default episodes group by ``record.task_id``.
        ``tool_benefit`` defaults to ``record.task["tool_benefit"]`` when every record has
        it; a batch where only some records have it is an error (a task left unscored would
        otherwise pass silently as ΔS = 0). Other keyword arguments are passed to the constructor (``attention_mask``,
        ``old_logp``, ``ref_logp``, ``thinking_reward``, ``rrm_score``, ``refined``).
        """
        records = list(records)
        if len(records) == 0:
            raise ValueError("from_records needs at least one record")
        B = len(records)
        turn_index = torch.as_tensor(turn_index)
        if turn_index.ndim != 2 or turn_index.shape[0] != B:
            raise ValueError(f"turn_index has shape {tuple(turn_index.shape)}, expected [{B}, T]")
        n_turns = torch.tensor([len(r.turns) for r in records], device=turn_index.device)
        beyond = (turn_index.max(dim=1).values >= n_turns) & (turn_index.max(dim=1).values >= 0)
        if bool(beyond.any()):
            raise ValueError(
                f"turn_index goes past the record's number of turns in samples {sample_list(beyond)}"
            )

        if group_ids is None:
            group_ids = [r.task_id for r in records]
        if not torch.is_tensor(group_ids):
            group_ids = list(group_ids)
            if len(group_ids) != B:
                raise ValueError(f"group_ids has {len(group_ids)} entries for {B} records")
            codes: dict[Hashable, int] = {}
            group_ids = torch.tensor([codes.setdefault(g, len(codes)) for g in group_ids], dtype=torch.long)

        keys = sorted({k for r in records for k in r.reward_components})
        components = {}
        for k in keys:
            missing = torch.tensor([k not in r.reward_components for r in records])
            if bool(missing.any()):
                raise ValueError(f"reward component {k!r} missing from records {sample_list(missing)}")
            components[k] = torch.tensor([float(r.reward_components[k]) for r in records])

        if "tool_benefit" not in optional:
            scored = torch.tensor([r.task.get("tool_benefit") is not None for r in records])
            if bool(scored.all()):
                optional["tool_benefit"] = torch.tensor([float(r.task["tool_benefit"]) for r in records])
            elif bool(scored.any()):
                missing = sorted({records[i].task_id for i in range(B) if not scored[i]})
                raise ValueError(
                    f"tool_benefit (AdaTooler's ΔS) is missing for samples {sample_list(~scored)} "
                    f"(tasks {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}) but set for others; "
                    "score every task with `mmsearch-gym data tool-benefit`"
                )

        return cls(
            input_ids=input_ids,
            response_mask=response_mask,
            turn_index=turn_index,
            group_ids=group_ids,
            rewards=torch.tensor([float(r.reward) for r in records]),
            fatal_turn=torch.tensor([NOT_FATAL if r.fatal_turn is None else r.fatal_turn for r in records]),
            reward_components=components,
            n_valid_tool_calls=torch.tensor([r.n_valid_tool_calls for r in records]),
            **optional,
        )

    # -- conversions -------------------------------------------------------------------

    def _mask(self, name: str, value: Any, shape: tuple[int, ...]) -> Tensor:
        t = torch.as_tensor(value, device=self.input_ids.device)
        check_shape(t, shape, name)
        return as_mask(t, name)

    def _ints(self, name: str, value: Any, shape: tuple[int, ...], low: int | None) -> Tensor:
        t = torch.as_tensor(value, device=self.input_ids.device)
        check_shape(t, shape, name)
        if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
            raise ValueError(f"{name} must be an integer tensor, got {t.dtype}")
        t = t.long()
        if low is not None and t.numel() and int(t.min()) < low:
            raise ValueError(f"{name} must be >= {low}, found {int(t.min())}")
        return t

    def _floats(self, name: str, value: Any, shape: tuple[int, ...]) -> Tensor:
        t = torch.as_tensor(value, device=self.input_ids.device)
        check_shape(t, shape, name)
        if not t.is_floating_point():
            t = t.float()
        check_finite(t, name)
        return t
