"""The policy interface the rollout engine talks to.

Two kinds of policy:

- **token policies** (:class:`HFPolicy`, :class:`VLLMPolicy`) take token ids (plus the
  images of the context) and return the ids they sampled: the engine keeps those ids
  exactly, which is what RL needs;
- **text policies** (:class:`HTTPPolicy`, :class:`ScriptedTextPolicy`) take the chat and
  return the turn as text: for evaluating served models and for scripted teachers (the
  engine can still tokenise their turns for SFT, teacher-forced).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np


class PolicyError(RuntimeError):
    """The policy could not produce a turn (server down, malformed reply, …)."""


@dataclass(frozen=True)
class SamplingParams:
    """How turns are sampled. ``temperature=0`` is greedy decoding.

    max_new_tokens: tokens per turn (the per-turn limit).
    top_k: 0 disables top-k; top_p: 1.0 disables nucleus sampling.
    """

    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class TokenPrompt:
    """A context as the model sees it: ids, per-token extras, and the images' tensors and pixels."""

    ids: list[int]
    columns: dict[str, list[int]] = field(default_factory=dict)
    image_inputs: dict[str, Any] = field(default_factory=dict)
    images: list[np.ndarray] = field(default_factory=list)
    max_new_tokens: int | None = None  # this episode's remaining budget, when below the per-turn limit

    def budget(self, params: SamplingParams) -> int:
        """Tokens this turn may sample: the per-turn limit, or the episode's remaining budget when smaller."""
        return min(params.max_new_tokens, self.max_new_tokens or params.max_new_tokens)


@dataclass
class Generation:
    """One sampled turn: the ids exactly as sampled (the stop token included when one ended it), and,
    from policies that report them (vLLM), each id's log-probability under the sampling distribution."""

    ids: list[int]
    finish_reason: Literal["stop", "length"]
    logprobs: list[float] | None = None


@dataclass
class TextRequest:
    """One turn asked of a text policy.

    messages: the chat so far, env format (``role``, ``content``, ``images``) with the
        images as arrays.
    env: the env behind the episode when it lives in this process (scripted agents read it).
    call: calls a method of that env by name, wherever it lives (e.g. ``"oracle_action"``).
    """

    messages: list[dict[str, Any]]
    env: Any = None
    call: Callable[..., Any] | None = None


@runtime_checkable
class TokenPolicy(Protocol):
    """Samples the next turn of every prompt in one batch."""

    def generate(
        self, prompts: Sequence[TokenPrompt], params: SamplingParams, stop_ids: frozenset[int]
    ) -> list[Generation]: ...


@runtime_checkable
class TextPolicy(Protocol):
    """Writes the next turn of every request as text."""

    def act(self, requests: Sequence[TextRequest], params: SamplingParams) -> list[str]: ...


def is_token_policy(policy: Any) -> bool:
    return callable(getattr(policy, "generate", None))


def is_text_policy(policy: Any) -> bool:
    return callable(getattr(policy, "act", None))
