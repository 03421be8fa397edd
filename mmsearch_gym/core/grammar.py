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

import ast
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


# VILASR's format check (gcot.py): the whole turn must match this (re.fullmatch, DOTALL).
_VILASR_TURN = re.compile(r"<think>(.*?)</think>\s*Action:\s*(.*?)(?=\n|$)", re.DOTALL)
_ACTION_LINE = re.compile(r"^(?P<pre>.*?)Action\s*:[ \t]*(?P<rest>[^\n]*)", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*```(?:json)?[ \t]*$", re.IGNORECASE | re.MULTILINE)


def _literal(text: str, hint: str) -> Any:
    """JSON, else a Python literal (the reference reads the list with ``ast.literal_eval``)."""
    try:
        return _loads(text, hint, "The action's JSON")
    except ParseError as json_error:
        try:
            return ast.literal_eval(text.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise json_error from None


def _json_blocks(body: str) -> list[str]:
    """The drawing JSON of a VILASR turn: every ```json fenced block, else the bare text after the action name."""
    fences = list(_FENCE.finditer(body))
    if not fences:
        return [body] if body.strip() else []
    blocks, i = [], 0
    while i < len(fences):
        start = fences[i].end()
        end = fences[i + 1].start() if i + 1 < len(fences) else len(body)
        blocks.append(body[start:end].split("</think>")[0])
        i += 2
    return blocks


@dataclass
class VilasrGrammar:
    """VILASR's (arXiv 2506.09965) turns, as its released prompt and ``gcot.py`` define them::

        <think>…</think> Action: Path Tracer
        ```json
        [{"index": 1, "start_point_2d": [30, 30], "end_point_2d": [90, 30], "label": "step 1"}]
        ```

        <think>…</think> Action: Answer
        <answer>B</answer>

    The JSON list may also follow the action name on the same line or the next without a
    fence; a Python literal (single quotes) is read as the reference's ``ast.literal_eval``
    does. Items are routed by their keys, as the reference does: ``bbox_2d`` items are boxes,
    ``start_point_2d``/``end_point_2d`` items are paths, whatever the action's name; an item's
    ``index`` is the 1-based image it is drawn on (``img_<index>``).

    A turn is well formed (format reward) exactly when the reference's check passes: the turn
    (surrounding whitespace aside) fullmatches ``<think>(.*?)</think>\\s*Action:\\s*(.*?)(?=\\n|$)``,
    its JSON parses and every item has a ``label``; an answer turn holds ``<answer>…</answer>``.

    Args:
        actions: display name (lower case) → (tool name, argument holding its items).
    """

    actions: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {"path tracer": ("path_tracer", "paths"), "object mapper": ("object_mapper", "objects")}
    )
    max_chars: int = 16384
    min_compress_ratio: float = 0.05

    def describe(self) -> str:
        names = "/".join(a.title() for a in self.actions)
        return (
            f"Alternatively, VILASR's format: <think>…</think> Action: [{names}] then the JSON list of items in a "
            "```json block; to answer, <think>…</think> Action: Answer then <answer>…</answer>."
        )

    def parse(self, text: str) -> ParsedAction:
        text = check_text(text, self.max_chars, self.min_compress_ratio)
        hits = list(_ACTION_LINE.finditer(text))
        if not hits:
            raise ParseError("No 'Action: NAME' line found.", matched=False)
        if len(hits) > 1:
            raise ParseError(f"Found {len(hits)} 'Action:' lines; take exactly one action per turn.")
        hit = hits[0]
        rest = hit.group("rest")
        names = {**{n: None for n in self.actions}, "answer": None}
        display = next((n for n in sorted(names, key=len, reverse=True) if rest.strip().lower().startswith(n)), None)
        if display is None:
            known = ", ".join(a.title() for a in names)
            raise ParseError(f"Unknown action {rest.strip()[:40]!r}; known actions: {known}.")
        before = text[: hit.start()] + hit.group("pre")
        think_m = re.search(r"<think>(.*?)</think>", before, re.DOTALL | re.IGNORECASE)
        think = think_m.group(1).strip() if think_m else None
        name_end = hit.start("rest") + rest.lower().index(display) + len(display)
        body = text[name_end:]
        strict = _VILASR_TURN.fullmatch(text.strip()) is not None
        issues = [] if strict else ["not in VILASR's '<think>…</think> Action: NAME' format"]
        has_answer = re.search(r"<answer>", body, re.IGNORECASE) is not None
        if display == "answer":
            m = re.search(r"<answer>(.*?)</answer>", body, re.DOTALL | re.IGNORECASE)
            if m is None:
                raise ParseError("'Action: Answer' must be followed by <answer>…</answer>.")
            answer = m.group(1).strip()
            if not answer:
                raise ParseError("The <answer> block is empty.")
            fenced = body[: m.start()] + body[m.end() :]
            if _FENCE.search(fenced) and not self._items_ok(fenced):
                issues.append("a JSON block in the answer turn is not a list of labelled items")
            return ParsedAction("answer", think, answer=answer, well_formed=not issues, format_issues=tuple(issues))
        if has_answer:
            raise ParseError("A turn may hold an action or an answer, not both: draw first, answer in a later turn.")
        items, image = self._items(body)
        tool, own = self.actions[display]
        kinds = {"objects": [], "paths": []}
        for item in items:
            if isinstance(item, dict) and "bbox_2d" in item:
                kinds["objects"].append(item)
            elif isinstance(item, dict) and "start_point_2d" in item and "end_point_2d" in item:
                kinds["paths"].append(item)
            else:
                kinds[own].append(item)  # let the tool's schema say what is wrong with it
        other = "paths" if own == "objects" else "objects"
        if not kinds[own] and kinds[other]:  # e.g. "Action: Object Mapper" with only paths: the reference draws them
            tool = next(t for t, a in self.actions.values() if a == other)
            own, other = other, own
        arguments: dict[str, Any] = {own: kinds[own]}
        if kinds[other]:
            arguments[other] = kinds[other]
        if image is not None:
            arguments["image"] = image
        if not all(isinstance(i, dict) and "label" in i for i in items):
            issues.append("every drawing item needs a label")
        return ParsedAction(
            "tool_call", think, tool=tool, arguments=arguments, well_formed=not issues, format_issues=tuple(issues)
        )

    def _items(self, body: str) -> tuple[list[Any], Any]:
        """The items of every JSON block, and the ``image`` of an ``{"image": …, "items": […]}`` object."""
        blocks = _json_blocks(body)
        if not blocks:
            raise ParseError("The action needs its JSON list of items, e.g. ```json\n[{…, \"label\": …}]\n```.")
        items: list[Any] = []
        image = None
        for block in blocks:
            obj = _literal(block, "Write the JSON list of items, each with a label.")
            if isinstance(obj, dict) and isinstance(obj.get("items"), list):
                image, obj = obj.get("image", image), obj["items"]
            if not isinstance(obj, list):
                raise ParseError("The action's JSON must be a list of items (or an object with 'items').")
            items.extend(obj)
        return items, image

    def _items_ok(self, body: str) -> bool:
        try:
            return all(isinstance(i, dict) and "label" in i for i in self._items(body)[0])
        except ParseError:
            return False


@dataclass
class ChainGrammar:
    """Try grammars in order (see :meth:`parse`); errors come from the first grammar that recognised the turn."""

    grammars: list[Grammar]

    def __post_init__(self) -> None:
        if not self.grammars:
            raise ValueError("ChainGrammar needs at least one grammar")

    def describe(self) -> str:
        return " ".join(g.describe() for g in self.grammars)

    def parse(self, text: str) -> ParsedAction:
        """The first well-formed parse, else the first parse, else the most relevant error.

        A VILASR answer turn (``<think>…</think> Action: Answer`` + ``<answer>``) also parses
        under the default grammar, with text outside its blocks; the grammar that reads it as
        well formed wins.
        """
        errors: list[ParseError] = []
        first: ParsedAction | None = None
        for grammar in self.grammars:
            try:
                parsed = grammar.parse(text)
            except ParseError as err:
                errors.append(err)
                continue
            if parsed.well_formed:
                return parsed
            first = first or parsed
        if first is not None:
            return first
        raise next((e for e in errors if e.matched), errors[0])
