"""Gen-Searcher's turn rules (arXiv 2603.28767; ``gen_image_deepresearch_agent.py`` of its release).

- A turn holding ``<tool_call>`` and ``</tool_call>`` is a tool call, even when it also holds an
  answer: the first tool call runs and the answer is ignored.
- Else a turn holding ``<answer>`` and ``</answer>`` is the answer. Its text is the JSON the
  release's regex ``<answer>\\s*(\\{.*?\\})\\s*</answer>`` finds (the inside of the first answer
  block when it finds none); the env parses and checks it, and a bad one ends the episode with
  reward 0, as in the release.
- Anything else is a format error. Text from ``<tool_response>`` on is dropped first (a model
  writing the tool's reply itself).

The release's prompt asks for ``<think>`` before a tool call but its code never checks;
here a missing think block makes the turn not well formed, and ``require_think=True`` makes it
a parse error. Tags are matched case-sensitively, as the release does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .grammar import ParsedAction, ParseError, check_text, parse_tool_json

_ANSWER_JSON = re.compile(r"<answer>\s*(\{.*?\})\s*</answer>", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass
class GenSearcherGrammar:
    """Args: max_chars: longest accepted turn; require_think: a tool call without ``<think>`` is a parse error."""

    max_chars: int = 16384
    min_compress_ratio: float = 0.05
    require_think: bool = False

    def describe(self) -> str:
        return (
            "Each turn: first reason inside <think>…</think>, then either call exactly one tool as "
            '<tool_call>{"name": TOOL, "arguments": {…}}</tool_call> or give the final answer as '
            '<answer>{"gen_prompt": "…", "reference_images": [{"img_id": "img_3", "note": "…"}]}</answer>. '
            "Never both in one turn: the tool call would run and the answer be ignored."
        )

    def parse(self, text: str) -> ParsedAction:
        text = check_text(text, self.max_chars, self.min_compress_ratio)
        if "<tool_response>" in text:
            text = text[: text.find("<tool_response>")]
        think_m = _THINK.search(text)
        issues = []
        if "<tool_call>" in text and "</tool_call>" in text:
            start = text.find("<tool_call>")
            inner = text.split("<tool_call>")[1].split("</tool_call>")[0]
            if think_m is None or think_m.start() > start:
                if self.require_think:
                    raise ParseError("Write <think>…</think> before the <tool_call>.")
                issues.append("missing <think> block before the tool call")
            if text.count("<tool_call>") > 1:
                issues.append("more than one tool call: only the first runs")
            if "<answer>" in text:
                issues.append("an answer next to a tool call is ignored")
            name, arguments = parse_tool_json(inner)
            return ParsedAction("tool_call", _think(think_m), tool=name, arguments=arguments,
                                well_formed=not issues, format_issues=tuple(issues))  # fmt: skip
        if "<answer>" in text and "</answer>" in text:
            m = _ANSWER_JSON.search(text)
            if m is not None:
                answer = m.group(1)
            else:
                start = text.find("<answer>") + len("<answer>")
                end = text.find("</answer>", start)
                answer = text[start:end] if end != -1 else text[start:]
                issues.append("the answer is not one JSON object")
            return ParsedAction("answer", _think(think_m), answer=answer.strip(), well_formed=not issues,
                                format_issues=tuple(issues))  # fmt: skip
        raise ParseError(
            "Invalid format. You MUST output exactly one of: <tool_call>…</tool_call> OR <answer>…</answer>.",
            matched=False,
        )


def _think(m: re.Match[str] | None) -> str | None:
    return m.group(1).strip() if m else None
