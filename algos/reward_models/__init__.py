"""Reward models that read a trajectory and answer with a critique and a score.

One interface for SophiaVL's thinking reward model and Reagent's Agent-RRM::

    out = rm.score(question, trajectory)     # RewardModelOutput
    score, critique, reasoning = out         # unpacks to the three parts

``trajectory`` is a string or a chat (a list of ``{"role", "content"}`` messages, images
referred to by id). Each model's replies are read as its release reads them:

- Agent-RRM (``rubric="agent"``), :func:`parse_rrm_output`: ``<think>analysis</think>
  <critique>advice</critique><score>0.7</score>``; the first ``<score>`` block anywhere, any
  case, text before it allowed. No score, or one outside [0, 1], is *malformed*.
- SophiaVL thinking reward (``rubric="thinking"``), :func:`parse_thinking_score`:
  ``<answer>0.7</answer>``, ``\boxed{0.6}`` or a bare number, clipped to [0, 1]; no critique.

A malformed reply gives ``valid=False``, ``score = fallback_score`` (0.0 by default),
``error`` saying why, ``raw`` keeping the text. Never NaN.

Backends (imported lazily, so ``algos`` needs neither httpx nor transformers to import):

- :class:`RuleRewardModel` (default, offline, deterministic): documented heuristics.
- :class:`OpenAIRewardModel`: an OpenAI-compatible ``/chat/completions`` endpoint (httpx).
- :class:`HFRewardModel`: a local transformers causal LM loaded from a path.
"""

from __future__ import annotations

from typing import Any

from algos.reward_models.base import (
    AGENT_RUBRIC,
    THINKING_RUBRIC,
    GenerativeRewardModel,
    RewardModel,
    RewardModelError,
    RewardModelOutput,
    build_messages,
    parse_rrm_output,
    parse_thinking_score,
    render_trajectory,
)
from algos.reward_models.rule import RuleRewardModel

__all__ = [
    "AGENT_RUBRIC",
    "THINKING_RUBRIC",
    "GenerativeRewardModel",
    "HFRewardModel",
    "OpenAIRewardModel",
    "RewardModel",
    "RewardModelError",
    "RewardModelOutput",
    "RuleRewardModel",
    "build_messages",
    "parse_rrm_output",
    "parse_thinking_score",
    "render_trajectory",
]


def __getattr__(name: str) -> Any:
    # Heavy optional dependencies load only when their backend is asked for.
    if name == "OpenAIRewardModel":
        from algos.reward_models.openai_http import OpenAIRewardModel

        return OpenAIRewardModel
    if name == "HFRewardModel":
        from algos.reward_models.hf import HFRewardModel

        return HFRewardModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
