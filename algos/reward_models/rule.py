"""The offline default reward model: five checks on the trajectory text, no model at all.

Each check gives a value in [0, 1]; the score is their mean rounded to the nearest 0.1 (the
thinking reward model's grid). "Reasoning" is the text inside ``<think>`` blocks of the
assistant turns (the whole assistant text when there are none). Checks:

- ``format``: fraction of assistant turns with a non-empty ``<think>`` block and exactly
  one ``<tool_call>`` or ``<answer>`` block.
- ``answered``: 1 if the last assistant turn has a non-empty ``<answer>`` block, else 0.
- ``non_redundancy``: distinct word 3-grams / all word 3-grams of the reasoning (1 when
  it has fewer than three words).
- ``language``: share of letters in the reasoning's dominant script (Latin, CJK,
  Cyrillic, other); 1 without letters.
- ``relevance``: share of the question's content words (3+ letters, not stop words) that
  the reasoning mentions; 1 when the question has none.

The critique names every check below ``critique_below`` (default 1.0) with a fixed piece
of advice; it quotes only the question's own words, so it cannot leak the answer.
"""

from __future__ import annotations

import math
import re

from algos.reward_models.base import RewardModel, RewardModelOutput, Trajectory

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    "the and for are was were what which who whom whose when where why how that this these those "
    "with from into onto about over under than then there their them they you your its his her "
    "has have had not but can could would should will shall does did doing done been being is "
    "of in on at to by as or an be it a".split()
)
_ADVICE = {
    "format": "Some turns lack a non-empty <think> block followed by exactly one <tool_call> or <answer>.",
    "answered": "The trajectory ends without a final <answer>.",
    "non_redundancy": "The reasoning repeats itself; drop repeated phrases and steps.",
    "language": "The reasoning mixes languages or scripts; keep to one.",
    "relevance": "The reasoning leaves out key terms of the question: {missing}.",
}


def _script(ch: str) -> str:
    code = ord(ch)
    if code < 0x250:
        return "latin"
    if 0x400 <= code < 0x530:
        return "cyrillic"
    if 0x3040 <= code < 0x30FF or 0x4E00 <= code < 0xA000 or 0xAC00 <= code < 0xD7B0:
        return "cjk"
    return "other"


def _assistant_turns(trajectory: Trajectory) -> list[str]:
    if isinstance(trajectory, str):
        return [trajectory]
    messages = getattr(trajectory, "messages", trajectory)
    turns = []
    for m in messages:
        if m.get("role") == "assistant":
            c = m.get("content", "")
            turns.append(c if isinstance(c, str) else " ".join(p.get("text", "") for p in c))
    return turns


def rule_checks(question: str, trajectory: Trajectory) -> dict[str, float | list[str]]:
    """The five check values (and the question words the reasoning misses)."""
    turns = _assistant_turns(trajectory)
    well_formed = 0
    for t in turns:
        think = _THINK.findall(t)
        actions = t.count("<tool_call>") + t.count("<answer>")
        well_formed += len(think) == 1 and bool(think[0].strip()) and actions == 1
    last_answer = _ANSWER.findall(turns[-1]) if turns else []
    thoughts = [x for t in turns for x in _THINK.findall(t)] or turns
    reasoning = " ".join(thoughts).lower()
    words = _WORD.findall(reasoning)

    grams = list(zip(words, words[1:], words[2:], strict=False))
    non_redundancy = len(set(grams)) / len(grams) if grams else 1.0

    counts: dict[str, int] = {}
    for ch in reasoning:
        if ch.isalpha():
            counts[_script(ch)] = counts.get(_script(ch), 0) + 1
    language = max(counts.values()) / sum(counts.values()) if counts else 1.0

    content = list(
        dict.fromkeys(w for w in _WORD.findall(question.lower()) if len(w) >= 3 and w not in _STOP)
    )
    present = set(words)
    missing = [w for w in content if w not in present]
    relevance = 1 - len(missing) / len(content) if content else 1.0
    return {
        "format": well_formed / len(turns) if turns else 0.0,
        "answered": float(bool(last_answer) and bool(last_answer[-1].strip())),
        "non_redundancy": non_redundancy,
        "language": language,
        "relevance": relevance,
        "missing": missing,
    }


class RuleRewardModel(RewardModel):
    """Deterministic offline reward model; see the module docstring for the checks."""

    def __init__(self, critique_below: float = 1.0):
        self.critique_below = critique_below

    def score(self, question: str, trajectory: Trajectory) -> RewardModelOutput:
        checks = rule_checks(question, trajectory)
        missing = checks.pop("missing")
        mean = sum(checks.values()) / len(checks)
        score = math.floor(mean * 10 + 0.5 + 1e-9) / 10  # nearest 0.1, halves up
        advice = [
            _ADVICE[k].format(missing=", ".join(missing[:5]))
            for k, v in checks.items()
            if v < self.critique_below
        ]
        critique = " ".join(advice) or "No issues found by the rule-based checks."
        reasoning = " ".join(f"{k}={v:.2f}" for k, v in checks.items()) + f" mean={mean:.3f}"
        return RewardModelOutput(score, critique, reasoning)
