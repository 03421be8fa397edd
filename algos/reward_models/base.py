"""Output type, the two reward models' parsers, prompt building and the generative base class."""

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
    "(one language throughout) and redundancy (concise, no needless repetition). Be strict.\n"
    "Give one score from 0, 0.1, 0.2, ..., 1.0 (0: completely flawed reasoning, 1: perfectly "
    "sound reasoning) and nothing else, in this format: <answer>your_score</answer>"
)

RUBRICS = {"agent": AGENT_RUBRIC, "thinking": THINKING_RUBRIC}
OUTPUT_FORMATS = ("rrm", "thinking")


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


# Agent-RRM (repo kxfan2002/Reagent, rllm/environments/tools/tool_env.py): the first <score>
# block anywhere, any case, holding digits and dots only (so no sign and no exponent).
_RRM_SCORE = re.compile(r"<score>\s*([\d.]+)\s*</score>", re.DOTALL | re.IGNORECASE)
_RRM_BLOCK = {tag: re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL | re.IGNORECASE) for tag in ("think", "critique")}


def parse_rrm_output(text: Any, fallback_score: float = 0.0) -> RewardModelOutput:
    """Read an Agent-RRM reply the way the Reagent release does.

    The score is the first ``<score>x</score>`` block found anywhere in the text, tags in
    any case, text before or around the blocks allowed; ``x`` is digits and dots only (the
    release's pattern), so ``-0.1`` and ``5e-1`` are not scores. No such block, a value that
    is not a number (``1.2.3``) or one outside [0, 1] gives ``valid=False`` and
    ``score = fallback_score`` (0 by default, the release's minimum score). The critique and
    the reasoning are the first ``<critique>`` / ``<think>`` blocks (any case; empty when
    missing). Never raises for bad model text and never returns NaN.
    """
    if not isinstance(text, str):
        return _malformed(f"expected text, got {type(text).__name__}", repr(text), fallback_score)
    blocks = {tag: pattern.search(text) for tag, pattern in _RRM_BLOCK.items()}
    critique = blocks["critique"].group(1).strip() if blocks["critique"] else ""
    reasoning = blocks["think"].group(1).strip() if blocks["think"] else ""
    m = _RRM_SCORE.search(text)
    if m is None:
        reason = "no <score> block holding a plain non-negative number (digits and dots)"
        return _malformed(reason, text, fallback_score, critique, reasoning)
    try:
        score = float(m.group(1))
    except ValueError:
        return _malformed(f"score {m.group(1)[:40]!r} is not a number", text, fallback_score, critique, reasoning)
    if not 0.0 <= score <= 1.0:
        return _malformed(f"score {score} is outside [0, 1]", text, fallback_score, critique, reasoning)
    return RewardModelOutput(score, critique, reasoning, raw=text)


# SophiaVL-R1's thinking reward model (repo kxfan2002/SophiaVL-R1, verl/workers/reward/custom.py,
# ``extract_score``), tried in the release's order: a boxed score, <answer>score</answer>, then
# the first standalone 0 or 1 (optionally with decimals) anywhere in the text.
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_THINKING_PATTERNS = (
    re.compile(rf"\\box(?:ed|es)?\{{\s*({_NUM})\s*\}}"),
    re.compile(rf"<answer>\s*({_NUM})\s*</answer>", re.IGNORECASE),
    re.compile(r"(?<![\w.])([01](?:\.\d+)?)(?!\w|\.\d)"),
)


def parse_thinking_score(text: Any) -> float | None:
    """The score in a SophiaVL thinking reward model's reply, clipped to [0, 1]; None if none.

    Tried in the release's order: ``\boxed{0.6}`` (also ``\box{}``/``\boxes{}``), then
    ``<answer>0.7</answer>``, then a bare score: the first standalone ``0``/``1`` or decimal
    starting with one (``0.8``, ``1.0``) in the text. A value above 1 is 1, below 0 is 0.
    Where the release's one-decimal patterns would misread (``<answer>0.75</answer>`` gives
    0 there, its pattern matching the leading ``0``), the whole number is read (0.75). The
    release's later fallbacks for other reward-model formats (counts of "wrong steps") are
    left out: such replies give None, and callers use their fallback score (the release's 0).
    """
    if not isinstance(text, str):
        return None
    for pattern in _THINKING_PATTERNS:
        m = pattern.search(text)
        if m is not None:
            value = float(m.group(1))
            return min(1.0, max(0.0, value))
    return None


def _malformed(
    reason: str, raw: str, fallback_score: float, critique: str = "", reasoning: str = ""
) -> RewardModelOutput:
    return RewardModelOutput(
        float(fallback_score), critique, reasoning, valid=False, error=f"malformed reward model output: {reason}", raw=raw
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
    ``output_format``: how replies are read: "rrm" (:func:`parse_rrm_output`, the
    ``<think>``/``<critique>``/``<score>`` blocks) or "thinking" (:func:`parse_thinking_score`,
    ``<answer>0.7</answer>``; no critique); default: "thinking" for the thinking rubric, else "rrm".
    ``on_error``: "raise" re-raises :class:`RewardModelError` when the backend fails;
    "fallback" returns an invalid output with ``fallback_score`` instead.
    """

    def __init__(
        self,
        rubric: str = "agent",
        fallback_score: float = 0.0,
        on_error: str = "raise",
        output_format: str | None = None,
    ):
        if on_error not in ("raise", "fallback"):
            raise ValueError(f"on_error must be 'raise' or 'fallback', got {on_error!r}")
        output_format = output_format or ("thinking" if rubric == "thinking" else "rrm")
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
        self.output_format = output_format
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
        if self.output_format == "rrm":
            return parse_rrm_output(text, self.fallback_score)
        score = parse_thinking_score(text)
        if score is None:
            return _malformed("no score (<answer>x</answer>, \\boxed{x} or a bare number)", text, self.fallback_score)
        return RewardModelOutput(score, "", "", raw=text)
