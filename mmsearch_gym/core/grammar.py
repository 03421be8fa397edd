"""Action grammars: how one model turn (a string) becomes a tool call or an answer.

The default grammar is the hermes/Qwen style used by OpenSearch-VL (arXiv 2605.05185)::

    <think>…</think>
    <tool_call>{"name": "crop", "arguments": {"image": "img_1", …}}</tool_call>

or ``<think>…</think><answer>…</answer>``. Whitespace around and between blocks is free;
the structure is strict: exactly one tool call or one answer, never both. A missing think
block or stray text outside the blocks still parses but makes the turn *not well formed*
(it costs format reward, not a step error).

Envs can accept more grammars (e.g. :class:`VilasrGrammar`) by passing several to
:class:`ChainGrammar`; every env accepts the default one.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ParsedAction:
    """A turn that parsed: either a tool call or an answer."""

    kind: Literal["tool_call", "answer"]
    think: str | None
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    answer: str | None = None
    well_formed: bool = True
    format_issues: tuple[str, ...] = ()


class ParseError(Exception):
    """The turn did not parse; ``str(err)`` is the message shown to the agent.

    ``matched`` says the grammar recognised its own markers (a tag, an ``Action:`` line), so
    that :class:`ChainGrammar` reports the error of the grammar the agent was trying to use.
    """

    def __init__(self, message: str, matched: bool = True):
        super().__init__(message)
        self.matched = matched


class Grammar(Protocol):
    """Anything that turns a model turn into a :class:`ParsedAction` or raises ParseError."""

    def parse(self, text: str) -> ParsedAction: ...

    def describe(self) -> str:
        """One paragraph telling the model how to write a turn."""
        ...


_TAG = re.compile(r"<(/?)(think|tool_call|answer)>", re.IGNORECASE)


def check_text(text: object, max_chars: int, min_compress_ratio: float) -> str:
    """Common guards: type, length and degenerate repetition (a model stuck in a loop)."""
    if not isinstance(text, str):
        raise ParseError(f"An action must be a string, got {type(text).__name__}.", matched=False)
    if not text.strip():
        raise ParseError(
            "Empty turn. Write <think>…</think> then one <tool_call>{…}</tool_call> or <answer>…</answer>.", matched=False
        )
    if len(text) > max_chars:
        raise ParseError(f"Turn too long ({len(text)} characters, limit {max_chars}). Be concise.", matched=False)
    if len(text) >= 512:
        raw = text.encode("utf-8", "surrogatepass")
        if len(zlib.compress(raw)) / len(raw) < min_compress_ratio:
            raise ParseError("Degenerate repetition detected in the turn. Do not repeat text; act once.", matched=False)
    return text


@dataclass
class DefaultGrammar:
    """``<think>…</think>`` + exactly one ``<tool_call>{json}</tool_call>`` or ``<answer>…</answer>``.

    Args:
        max_chars: longest accepted turn (about 4096 tokens by default, OpenSearch-VL's limit).
        min_compress_ratio: zlib ratio under which a long turn counts as degenerate repetition.
        require_think: make a missing think block a step error instead of a format issue.
    """

    max_chars: int = 16384
    min_compress_ratio: float = 0.05
    require_think: bool = False

    def describe(self) -> str:
        return (
            "Each turn: first reason inside <think>…</think>, then either call exactly one tool as "
            '<tool_call>{"name": TOOL, "arguments": {…}}</tool_call> or give the final answer as '
            "<answer>…</answer>. Never both in one turn."
        )

    def parse(self, text: str) -> ParsedAction:
        text = check_text(text, self.max_chars, self.min_compress_ratio)
        blocks, issues, pos = [], [], 0
        for m in _TAG.finditer(text):
            closing, name = m.group(1) == "/", m.group(2).lower()
            if m.start() < pos:
                continue
            if closing:
                raise ParseError(f"Found </{name}> without a matching <{name}>.")
            end = re.compile(rf"</{name}>", re.IGNORECASE).search(text, m.end())
            if end is None:
                raise ParseError(f"<{name}> is never closed: add </{name}>.")
            inner = text[m.end() : end.start()]
            if _TAG.search(inner) and name != "think":
                raise ParseError(f"<{name}> must not contain other tags.")
            if text[pos : m.start()].strip():
                issues.append("text outside the blocks")
            blocks.append((name, inner))
            pos = end.end()
        if text[pos:].strip():
            issues.append("text after the last block")

        names = [b[0] for b in blocks]
        actions = [b for b in blocks if b[0] != "think"]
        if not actions:
            raise ParseError(
                "No action found. End your turn with one <tool_call>{\"name\": …, \"arguments\": {…}}</tool_call> "
                "or one <answer>…</answer>.",
                matched=False,
            )
        if len(actions) > 1:
            kinds = {a[0] for a in actions}
            if kinds == {"tool_call"}:
                raise ParseError(f"Found {len(actions)} tool calls; call exactly one tool per turn.")
            if kinds == {"answer"}:
                raise ParseError(f"Found {len(actions)} answers; give exactly one <answer>.")
            raise ParseError("A turn may hold a tool call or an answer, not both. Call the tool first; answer later.")
        thinks = [b[1] for b in blocks if b[0] == "think"]
        if not thinks:
            if self.require_think:
                raise ParseError("Start the turn with <think>…</think>.")
            issues.append("missing <think> block")
        elif len(thinks) > 1 or names[0] != "think":
            issues.append("the turn must start with one <think> block")
        think = thinks[0].strip() if thinks else None

        kind, inner = actions[0]
        well_formed = not issues
        if kind == "answer":
            answer = inner.strip()
            if not answer:
                raise ParseError("The <answer> block is empty.")
            return ParsedAction("answer", think, answer=answer, well_formed=well_formed, format_issues=tuple(issues))
        name, arguments = parse_tool_json(inner)
        return ParsedAction(
            "tool_call", think, tool=name, arguments=arguments, well_formed=well_formed, format_issues=tuple(issues)
        )


def _loads(text: str, hint: str, what: str) -> Any:
    """``json.loads`` whose every failure (bad syntax, absurd nesting, 5000-digit numbers) is a ParseError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(f"{what} is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}). {hint}") from None
    except (ValueError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise ParseError(f"{what} could not be read as JSON ({reason}). {hint}") from None


def parse_tool_json(inner: str) -> tuple[str, dict[str, Any]]:
    """Parse the body of a ``<tool_call>``: ``{"name": str, "arguments": {…}}``."""
    body = inner.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fence:
        body = fence.group(1)
    obj = _loads(body, 'Write {"name": TOOL, "arguments": {…}} with double-quoted keys.', "The tool call")
    if not isinstance(obj, dict):
        raise ParseError('The tool call must be a JSON object {"name": TOOL, "arguments": {…}}.')
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise ParseError('The tool call has no "name" string.')
    arguments = obj.get("arguments", {})
    if isinstance(arguments, str):  # some chat templates emit arguments as a JSON string
        arguments = _loads(arguments, '"arguments" must be a JSON object.', '"arguments"')
    if not isinstance(arguments, dict):
        raise ParseError(f'"arguments" must be a JSON object, got {type(arguments).__name__}.')
    unknown = set(obj) - {"name", "arguments"}
    if unknown:
        raise ParseError(f"Unexpected keys in the tool call: {sorted(unknown)}; use only name and arguments.")
    return name, arguments


@dataclass
class VilasrGrammar:
    """VILASR's (arXiv 2506.09965) drawing turns: ``Action: Path Tracer`` followed by JSON.

    Example::

        <think>…</think>
        Action: Path Tracer
        ```json
        [{"start_point_2d": [30, 30], "end_point_2d": [90, 30], "label": "step 1"}]
        ```

    The JSON is the list of drawing items (drawn on the latest image) or an object with
    ``image`` and the item list under ``items``. Answers use ``<answer>…</answer>``.

    Args:
        actions: display name → (tool name, argument holding the item list).
    """

    actions: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {"path tracer": ("path_tracer", "paths"), "object mapper": ("object_mapper", "objects")}
    )
    max_chars: int = 16384
    min_compress_ratio: float = 0.05

    def describe(self) -> str:
        names = ", ".join(a.title() for a in self.actions)
        return f"Alternatively write 'Action: NAME' ({names}) followed by the JSON list of items."

    def parse(self, text: str) -> ParsedAction:
        text = check_text(text, self.max_chars, self.min_compress_ratio)
        hits = list(re.finditer(r"^\s*Action\s*:\s*([A-Za-z _-]+?)\s*$", text, re.MULTILINE))
        if not hits:
            raise ParseError("No 'Action: NAME' line found.", matched=False)
        if len(hits) > 1:
            raise ParseError(f"Found {len(hits)} 'Action:' lines; take exactly one action per turn.")
        if re.search(r"<answer>", text, re.IGNORECASE):
            raise ParseError("A turn may hold an action or an answer, not both.")
        display = hits[0].group(1).strip().lower()
        if display not in self.actions:
            known = ", ".join(a.title() for a in self.actions)
            raise ParseError(f"Unknown action {hits[0].group(1)!r}; known actions: {known}.")
        tool, list_arg = self.actions[display]
        body = text[hits[0].end() :].strip()
        fence = re.match(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
        body = fence.group(1) if fence else body
        obj = _loads(body, "Write the JSON list of items.", "The action's JSON")
        if isinstance(obj, list):
            arguments: dict[str, Any] = {list_arg: obj}
        elif isinstance(obj, dict) and "items" in obj:
            arguments = {k: v for k, v in obj.items() if k != "items"} | {list_arg: obj["items"]}
        else:
            raise ParseError("The action's JSON must be a list of items or an object with 'items'.")
        think_m = re.search(r"<think>(.*?)</think>", text[: hits[0].start()], re.DOTALL | re.IGNORECASE)
        return ParsedAction(
            "tool_call",
            think_m.group(1).strip() if think_m else None,
            tool=tool,
            arguments=arguments,
            well_formed=think_m is not None,
            format_issues=() if think_m else ("missing <think> block",),
        )


@dataclass
class ChainGrammar:
    """Try grammars in order; the first that parses wins, else the error of the first grammar that recognised the turn."""

    grammars: list[Grammar]

    def __post_init__(self) -> None:
        if not self.grammars:
            raise ValueError("ChainGrammar needs at least one grammar")

    def describe(self) -> str:
        return " ".join(g.describe() for g in self.grammars)

    def parse(self, text: str) -> ParsedAction:
        errors: list[ParseError] = []
        for grammar in self.grammars:
            try:
                return grammar.parse(text)
            except ParseError as err:
                errors.append(err)
        raise next((e for e in errors if e.matched), errors[0])
