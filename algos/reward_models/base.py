"""Output type, strict parser, prompt building and the generative base class."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Trajectory = str | Sequence[Mapping[str, Any]]

AGENT_RUBRIC = (
    "You are Agent-RRM, a reasoning reward model for tool-using agents. You are given a question "
    "and an agent's whole trajectory (its reasoning, tool calls, tool responses and final answer). "
    "Judge the process: is each step's reasoning sound, are tools chosen and called well, are claims "
    "grounded in the evidence gathered, are errors noticed and recovered from, does the final answer "
    "follow from the evidence?\n"
    "Answer with exactly three blocks and nothing else:\n"
    "<think>your step-by-step analysis</think>"
    "<critique>concise, actionable advice to improve the trajectory; never state or hint at the "
    "correct answer</critique>"
    "<score>one number between 0 and 1</score>"
)

THINKING_RUBRIC = (
    "You are an expert reasoning evaluator. You are given a question and a response. Judge the "
    "thinking process, not whether the final answer is correct, on: logical soundness (each step "
    "follows from the previous one), correct reasoning (valid methods, facts correctly applied), "
    "error identification (fallacies, unsupported assumptions, wrong steps), language consistency "
    "(one language throughout) and redundancy (concise, no needless repetition).\n"
    "Answer with exactly three blocks and nothing else:\n"
    "<think>your analysis</think>"
    "<critique>the main weaknesses, without revealing the answer</critique>"
    "<score>one of 0, 0.1, 0.2, ..., 1.0</score>"
)

RUBRICS = {"agent": AGENT_RUBRIC, "thinking": THINKING_RUBRIC}


class RewardModelError(RuntimeError):
    """The backend could not be reached or refused the request (after any retries)."""


class MalformedResponseError(ValueError):
    """The backend answered, but not with something a completion can be read from."""


@dataclass(frozen=True)
class RewardModelOutput:
    """A reward model's verdict; unpacks as ``score, critique, reasoning``."""

    score: float
    critique: str
    reasoning: str
    valid: bool = True
    error: str | None = None
    raw: str = ""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.score, self.critique, self.reasoning))


_TAGS = ("think", "critique", "score")
_LAYOUT = re.compile(
    r"\A\s*<think>(?P<think>.*?)</think>\s*<critique>(?P<critique>.*?)</critique>"
    r"\s*<score>(?P<score>.*?)</score>\s*\Z",
    re.DOTALL,
)
_NUMBER = re.compile(r"\A[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def parse_rrm_output(text: Any, fallback_score: float = 0.0) -> RewardModelOutput:
    """Parse ``<think>…</think><critique>…</critique><score>x</score>`` strictly.

    Returns a valid output, or a malformed one (see the package docstring); never raises
    for bad model text and never returns NaN.
    """
    if not isinstance(text, str):
        return _malformed(f"expected text, got {type(text).__name__}", repr(text), fallback_score)
    for tag in _TAGS:
        if text.count(f"<{tag}>") != 1 or text.count(f"</{tag}>") != 1:
            return _malformed(f"need exactly one <{tag}>…</{tag}> block", text, fallback_score)
    m = _LAYOUT.match(text)
    if m is None:
        return _malformed(
            "blocks must be <think>, <critique>, <score> in that order with nothing around them",
            text,
            fallback_score,
        )
    raw_score = m["score"].strip()
    if not _NUMBER.match(raw_score):
        return _malformed(f"score {raw_score[:40]!r} is not a plain number", text, fallback_score)
    score = float(raw_score)
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        return _malformed(f"score {score} is outside [0, 1]", text, fallback_score)
    return RewardModelOutput(score, m["critique"].strip(), m["think"].strip(), raw=text)


def _malformed(reason: str, raw: str, fallback_score: float) -> RewardModelOutput:
    return RewardModelOutput(
        float(fallback_score), "", "", valid=False, error=f"malformed reward model output: {reason}", raw=raw
    )


def render_trajectory(trajectory: Trajectory) -> str:
    """A trajectory as plain text: strings pass through, chats become ``[role]`` sections."""
    if isinstance(trajectory, str):
        return trajectory
    messages = getattr(trajectory, "messages", trajectory)  # an EpisodeRecord works too
    parts = []
    for msg in messages:
        content = msg.get("content", "")
        if not isinstance(content, str):  # OpenAI-style content parts
            content = "\n".join(
                p.get("text", "") if p.get("type") == "text" else f"<{p.get('type', 'part')}>"
                for p in content
            )
        parts.append(f"[{msg.get('role', 'unknown')}]\n{content}")
    return "\n\n".join(parts)


def build_messages(question: str, trajectory: Trajectory, rubric: str = AGENT_RUBRIC) -> list[dict[str, str]]:
    """The chat sent to a generative reward model."""
    return [
        {"role": "system", "content": rubric},
        {"role": "user", "content": f"Question:\n{question}\n\nTrajectory:\n{render_trajectory(trajectory)}"},
    ]


class RewardModel(ABC):
    """Anything with ``score(question, trajectory) -> RewardModelOutput``."""

    @abstractmethod
    def score(self, question: str, trajectory: Trajectory) -> RewardModelOutput: ...

    def score_many(self, items: Sequence[tuple[str, Trajectory]]) -> list[RewardModelOutput]:
        return [self.score(q, t) for q, t in items]


class GenerativeRewardModel(RewardModel):
    """A reward model that writes text: prompt with a rubric, generate, parse strictly.

    ``rubric``: "agent" (Agent-RRM), "thinking" (SophiaVL) or any custom system prompt.
    ``on_error``: "raise" re-raises :class:`RewardModelError` when the backend fails;
    "fallback" returns an invalid output with ``fallback_score`` instead.
    """

    def __init__(self, rubric: str = "agent", fallback_score: float = 0.0, on_error: str = "raise"):
        if on_error not in ("raise", "fallback"):
            raise ValueError(f"on_error must be 'raise' or 'fallback', got {on_error!r}")
        if not math.isfinite(fallback_score):
            raise ValueError("fallback_score must be finite")
        self.rubric = RUBRICS.get(rubric, rubric)
        self.fallback_score = float(fallback_score)
        self.on_error = on_error

    @abstractmethod
    def generate(self, messages: list[dict[str, str]]) -> str:
        """The model's reply to ``messages``."""

    def score(self, question: str, trajectory: Trajectory) -> RewardModelOutput:
        try:
            text = self.generate(build_messages(question, trajectory, self.rubric))
        except MalformedResponseError as exc:
            return _malformed(str(exc), "", self.fallback_score)
        except RewardModelError as exc:
            if self.on_error == "raise":
                raise
            return RewardModelOutput(self.fallback_score, "", "", valid=False, error=str(exc))
        return parse_rrm_output(text, self.fallback_score)
