"""``ToolEnv``: the multi-turn, tool-calling Gymnasium env every mmsearch-gym env builds on.

One ``step`` is one model turn (a string). The env parses it with its grammar, runs the
tool or takes the answer, and replies with the next message to append. Bad turns are step
errors with a message telling the agent what was wrong; ``k`` in a row are fatal
(OpenSearch-VL, arXiv 2605.05185). Subclasses provide the task, the tools, the reward and
an oracle; the base class owns the turn loop, failure signals, info keys and the record.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from .failures import FatalTracker, StepError, Termination
from .grammar import DefaultGrammar, Grammar, ParseError
from .images import DEFAULT_MAX_BYTES, ImageStore
from .record import EpisodeRecord, TurnRecord
from .spaces import FreeText, observation_space
from .tool import Tool, ToolContext, ToolError, _error_text

KEEP_REJECTED_CHARS = 4096  # a rejected turn is kept cut to this many characters (its length is recorded)


@dataclass
class Task:
    """One problem: the prompt and images the agent sees, and what only the env knows."""

    task_id: str
    prompt: str
    images: list[np.ndarray] = field(default_factory=list)
    answer: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Score:
    """The env's verdict on a finished episode."""

    reward: float
    components: dict[str, float]
    success: bool = False
    details: dict[str, Any] = field(default_factory=dict)  # e.g. whether a route was the shortest


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


class ToolEnv(gym.Env[dict[str, Any], str]):
    """Base class of the tool-calling envs.

    Args:
        tools: the tools offered to the agent.
        grammar: how a turn is parsed (default: ``<think>`` + ``<tool_call>``/``<answer>``).
        max_turns: model calls per episode; the last one may only answer.
        fatal_k: consecutive step errors that end the episode as fatal.
        max_images: images one episode may hold.
        max_image_side: longest side of any image, in pixels.
        max_new_images: images attached to one observation (more are stored but not sent).
        max_action_chars: longest accepted turn.
        max_image_bytes: most bytes the episode's images may hold together; a tool whose new
            image would go over fails (``tool_failed``) and says so.
        render_mode: ``"ansi"`` (transcript) or ``"rgb_array"`` (latest image).

    ``step`` never raises on agent input, whatever the grammar, a tool or the scorer does:
    a grammar exception is a ``parse`` step error, a tool's (validation included) is the
    tool's kind or ``tool_failed``, and a scorer exception ends the episode with reward 0,
    every reward component 0, ``success=False`` and the error in
    ``info["evaluation"]["judge_error"]``; the episode record is kept either way. A rejected
    turn longer than :data:`KEEP_REJECTED_CHARS` is kept once, cut, in the record and the chat,
    with its length in ``TurnRecord.action_chars``.
    """

    #: names of the env's reward components, given (at 0) when the scorer fails
    component_names: ClassVar[tuple[str, ...]] = ()

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 1}
    env_id: ClassVar[str] = "mmsearch_gym/ToolEnv"
    intro: ClassVar[str] = "You are an agent that solves the task step by step using tools."

    def __init__(
        self,
        tools: Sequence[Tool],
        grammar: Grammar | None = None,
        max_turns: int = 10,
        fatal_k: int = 3,
        max_images: int = 45,
        max_image_side: int = 4096,
        max_new_images: int = 4,
        max_action_chars: int = 16384,
        render_mode: str | None = None,
        max_image_bytes: int = DEFAULT_MAX_BYTES,
    ):
        self.max_turns = _check_int("max_turns", max_turns, 1, 1000)
        self.fatal_k = _check_int("fatal_k", fatal_k, 1, 1000)
        self.max_new_images = _check_int("max_new_images", max_new_images, 1, 1000)
        _check_int("max_action_chars", max_action_chars, 1)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.tools = {t.name: t for t in tools}
        self.grammar = grammar if grammar is not None else DefaultGrammar(max_chars=max_action_chars)
        self.images = ImageStore(
            max_images=_check_int("max_images", max_images, 1),
            max_side=_check_int("max_image_side", max_image_side, 8),
            max_bytes=_check_int("max_image_bytes", max_image_bytes, 1),
        )
        self._component_keys = tuple(self.component_names)
        self.observation_space = observation_space(max_text=1_000_000, max_side=max_image_side)
        self.action_space = FreeText(max_length=1_000_000)
        self.task: Task | None = None
        self._record: EpisodeRecord | None = None

    # ---- what subclasses provide ---------------------------------------------------------
    def _new_task(self, rng: np.random.Generator, options: dict[str, Any]) -> Task:
        raise NotImplementedError

    def _score(self, answer: str | None) -> Score:
        """Terminal reward and its components; ``answer`` is None when the episode ended unanswered."""
        raise NotImplementedError

    def oracle_action(self) -> str:
        """The next turn of an agent that knows the solution."""
        raise NotImplementedError

    def random_answer(self, rng: np.random.Generator) -> str:
        """A guess drawn from the task's answer format (used by the random policy)."""
        return "I do not know"

    # ---- the turn loop -----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.images.clear()
        self.task = self._new_task(self.np_random, dict(options or {}))
        self._turn, self._answer, self._done = 0, None, False
        self._fatal = FatalTracker(self.fatal_k)
        self._termination: str | None = None
        self._is_fatal, self._fatal_turn = False, None
        self._score_result: Score | None = None
        ids = [self.images.add(img, source="task") for img in self.task.images]
        prompt = self.task.prompt
        if ids:
            prompt = f"{prompt}\n\nImages: {', '.join(ids)}."
        messages = [
            {"role": "system", "content": self.system_prompt(), "images": []},
            {"role": "user", "content": prompt, "images": ids},
        ]
        self._record = EpisodeRecord(
            env_id=self.env_id, task_id=self.task.task_id, seed=seed, messages=messages, task=self._public_task()
        )
        self._last_step_error: str | None = None
        self._last_error_message: str | None = None
        info = self._info()
        info["tools"] = [t.schema() for t in self.tools.values()]
        info["task_id"] = self.task.task_id
        return self._obs(prompt, ids), info

    def step(self, action: str):
        if self.task is None or self._record is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._done:
            raise gym.error.ResetNeeded("the episode is over; call reset() before step()")
        turn = self._turn
        action_text = _action_text(action)
        rec = TurnRecord(turn=turn, action=action_text, kind=None, well_formed=False, action_chars=len(action_text))
        new_ids: list[str] = []
        try:
            text = self._run_turn(action, rec, new_ids)
        except Exception as err:  # the last guard: nothing a turn does may leave step()
            kind = StepError.TOOL_FAILED if rec.kind == "tool_call" else StepError.PARSE
            message = f"The turn could not be handled ({_error_text(err)})."
            text = self._fail(rec, kind, message, wrap=kind != StepError.PARSE)

        error = rec.step_error is not None
        if error and len(action_text) > KEEP_REJECTED_CHARS:
            rec.action = action_text = (
                f"{action_text[:KEEP_REJECTED_CHARS]}… [cut: {len(action_text)} characters in all]"
            )
        self._record.turns.append(rec)
        self._record.messages.append({"role": "assistant", "content": action_text, "images": []})
        self._last_step_error, self._last_error_message = rec.step_error, rec.error_message
        became_fatal = self._fatal.update(turn, error)
        self._turn = turn + 1

        terminated = truncated = False
        if rec.kind == "answer" and not error:
            terminated, self._termination = True, Termination.ANSWERED.value
        elif became_fatal:
            terminated, self._termination = True, Termination.FATAL_ERRORS.value
            self._is_fatal, self._fatal_turn = True, self._fatal.fatal_turn
            text += f"\n\n{self.fatal_k} failed turns in a row: the episode is over."
        elif self._turn >= self.max_turns:
            truncated, self._termination = True, Termination.MAX_TURNS.value
            self._is_fatal, self._fatal_turn = True, self._turn
            text += "\n\nNo turns left: the episode is over without an answer."
        elif self._turn == self.max_turns - 1:
            text += "\n\nThis is your last turn: tools are no longer allowed. Give your final answer in <answer>…</answer>."

        reward = 0.0
        if terminated or truncated:
            self._done = True
            self._score_result = score = self._safe_score()
            reward = float(score.reward)
            self._record.reward, self._record.reward_components = reward, dict(score.components)
            self._record.success, self._record.evaluation = bool(score.success), dict(score.details)
            self._record.fatal, self._record.fatal_turn = self._is_fatal, self._fatal_turn
            self._record.termination_reason, self._record.answer = self._termination, self._answer
        shown = new_ids[: self.max_new_images]
        self._record.messages.append({"role": "user", "content": text, "images": shown})
        return self._obs(text, shown), reward, terminated, truncated, self._info()

    def _safe_score(self) -> Score:
        """``_score`` of the finished episode; a scorer that raises or returns a non-finite reward
        gives reward 0, every component 0 and the error in ``evaluation["judge_error"]``."""
        try:
            score = self._score(self._answer)
            reward = float(score.reward)
            components = {str(k): float(v) for k, v in dict(score.components).items()}
            if not math.isfinite(reward) or not all(math.isfinite(v) for v in components.values()):
                raise ValueError(f"non-finite reward {reward!r} or components {components!r}")
            self._component_keys = tuple(components)
            return Score(reward, components, bool(score.success), dict(score.details))
        except Exception as err:  # a scorer bug must not lose the episode
            components = dict.fromkeys(self._component_keys, 0.0)
            return Score(0.0, components, False, {"judge_error": f"the scorer failed: {_error_text(err)}"})

    def _run_turn(self, action: Any, rec: TurnRecord, new_ids: list[str]) -> str:
        """Parse and execute one turn; fill ``rec`` and return the env's reply text."""
        try:
            parsed = self.grammar.parse(action)
        except ParseError as err:
            return self._fail(rec, StepError.PARSE, f"{err} Try again.", wrap=False)
        except Exception as err:  # a grammar tripping over an input it did not foresee
            message = f"The turn could not be parsed ({_error_text(err)}). Try again."
            return self._fail(rec, StepError.PARSE, message, wrap=False)
        rec.kind, rec.well_formed = parsed.kind, parsed.well_formed
        if parsed.kind == "answer":
            self._answer = parsed.answer
            return "Answer received."
        rec.tool, rec.arguments = parsed.tool, _recordable(parsed.arguments)
        if self._turn == self.max_turns - 1:
            return self._fail(rec, StepError.TOOL_DISABLED, "Tools are not allowed on the last turn; give your answer.")
        tool = self.tools.get(parsed.tool or "")
        if tool is None:
            names = ", ".join(self.tools) or "none"
            return self._fail(rec, StepError.UNKNOWN_TOOL, f"Unknown tool {str(parsed.tool)[:60]!r}. Available tools: {names}.")
        ctx = ToolContext(images=self.images, rng=self.np_random, env=self, turn=self._turn)
        before = len(self.images)
        try:
            result = tool(parsed.arguments, ctx)
        except ToolError as err:
            return self._fail(rec, err.kind, str(err))
        except Exception as err:  # a Tool that does not route its errors through Tool.__call__
            return self._fail(rec, StepError.TOOL_FAILED, f"{tool.name} failed: {_error_text(err)}")
        new_ids.extend(self.images.ids[before:])
        rec.new_images = list(new_ids)
        text = result.text
        if len(new_ids) > self.max_new_images:
            text += f" (only the first {self.max_new_images} new images are attached)"
        rec.response = f"<tool_response>{text}</tool_response>"
        return rec.response

    def _fail(self, rec: TurnRecord, kind: StepError, message: str, wrap: bool = True) -> str:
        rec.step_error, rec.error_message = kind.value, message
        rec.response = f"<tool_response>Error ({kind.value}): {message}</tool_response>" if wrap else f"Error: {message}"
        return rec.response

    # ---- observation, info, record, render -------------------------------------------------
    def _obs(self, text: str, ids: Sequence[str]) -> dict[str, Any]:
        return {"text": text, "images": tuple(self.images.get(i) for i in ids)}

    def _info(self) -> dict[str, Any]:
        rec = self._record
        assert rec is not None
        return {
            "turn": self._turn,
            "messages": [dict(m, images=list(m["images"])) for m in rec.messages],
            "step_error": self._last_step_error,
            "error_message": self._last_error_message,
            "consecutive_errors": self._fatal.consecutive,
            "fatal": self._is_fatal,
            "fatal_turn": -1 if self._fatal_turn is None else self._fatal_turn,  # an int always: vector envs batch it
            "termination_reason": self._termination,
            "answer": self._answer,
            "reward_components": dict(self._score_result.components) if self._score_result else {},
            "success": bool(self._score_result.success) if self._score_result else False,
            "evaluation": dict(self._score_result.details) if self._score_result else {},
            "n_tool_calls": rec.n_tool_calls,
            "n_valid_tool_calls": rec.n_valid_tool_calls,
        }

    def _public_task(self) -> dict[str, Any]:
        """Task fields kept in the record (the answer included: the record is for analysis)."""
        assert self.task is not None
        return {"task_id": self.task.task_id, "prompt": self.task.prompt, "answer": self.task.answer, **self.task.meta}

    def system_prompt(self) -> str:
        tools = "\n".join(f"- {t.signature()}: {t.description}" for t in self.tools.values())
        return (
            f"{self.intro}\n\n{self.grammar.describe()}\n\nTools:\n{tools}\n\n"
            f"Images are referred to by id (img_1, img_2, …). You have at most {self.max_turns} turns; "
            f"the last one may only answer."
        )

    def episode_record(self) -> EpisodeRecord:
        """The record of the current (or just finished) episode."""
        if self._record is None:
            raise gym.error.ResetNeeded("call reset() first")
        return self._record

    def random_action(self, rng: np.random.Generator | None = None) -> str:
        """A random turn: malformed text, a tool call with random arguments, or a random answer."""
        rng = rng if rng is not None else self.np_random
        roll = rng.random()
        if roll < 0.2:
            return "".join(rng.choice(list("abc <>{}\"x"), size=int(rng.integers(0, 40))))
        if roll < 0.7 and self.tools:
            tool = list(self.tools.values())[int(rng.integers(len(self.tools)))]
            args = _random_arguments(tool.parameters, rng, self.images.ids)
            return f'<think>try {tool.name}</think><tool_call>{{"name": "{tool.name}", "arguments": {_json(args)}}}</tool_call>'
        return f"<think>guess</think><answer>{self.random_answer(rng)}</answer>"

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return self.transcript()
        if self.render_mode == "rgb_array":
            latest = self.images.latest
            return np.array(self.images.get(latest)) if latest else np.zeros((64, 64, 3), np.uint8)
        return None

    def transcript(self, width: int = 100) -> str:
        """The chat so far as readable text."""
        if self._record is None:
            return ""
        lines = []
        for m in self._record.messages:
            head = f"[{m['role']}]" + (f" images: {', '.join(m['images'])}" if m["images"] else "")
            body = m["content"] if len(m["content"]) < 4000 else m["content"][:4000] + " …"
            lines.append(head)
            lines.extend(textwrap.indent(textwrap.fill(p, width) if p else "", "  ") for p in body.split("\n"))
        if self._done:
            lines.append(
                f"== {self._termination}; reward {self._record.reward:.3f} "
                f"{self._record.reward_components}; fatal={self._is_fatal} fatal_turn={self._fatal_turn}"
            )
        return "\n".join(lines)


def _action_text(action: Any) -> str:
    """The turn as text for the record: the string itself, else a short repr that cannot raise."""
    if isinstance(action, str):
        return action
    try:
        return repr(action)[:1000]
    except Exception:
        return f"<{type(action).__name__}>"


def _recordable(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the record keeps them: a JSON-safe copy, or a note when they cannot be kept."""
    try:
        return json.loads(json.dumps(arguments))
    except (ValueError, RecursionError):
        return {"_unrecorded": "arguments too deeply nested or too large to record"}


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _random_arguments(schema: dict[str, Any], rng: np.random.Generator, image_ids: list[str]) -> Any:
    """A random value roughly following ``schema`` (often invalid on purpose: random agents err)."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][int(rng.integers(len(schema["enum"])))]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _random_arguments(v, rng, image_ids) for k, v in props.items() if rng.random() < 0.9}
    if kind == "array":
        n = int(rng.integers(schema.get("minItems", 0), min(schema.get("maxItems", 4), 4) + 1))
        return [_random_arguments(schema.get("items", {}), rng, image_ids) for _ in range(n)]
    if kind == "integer":
        return int(rng.integers(-20, 600))
    if kind == "number":
        return round(float(rng.uniform(-20, 600)), 1)
    if kind == "string":
        if image_ids and rng.random() < 0.8:
            return image_ids[int(rng.integers(len(image_ids)))]
        return "".join(rng.choice(list("abcxyz _"), size=int(rng.integers(1, 8))))
    if kind == "boolean":
        return bool(rng.random() < 0.5)
    return None
