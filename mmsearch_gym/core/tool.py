"""Tools: a name, a description, JSON-schema arguments checked before the tool runs.

Tool logic lives in pure functions on numpy images and strings (``mmsearch_gym.tools``);
a :class:`Tool` subclass wraps one of them once: it resolves image ids, calls the
function, stores new images and words the answer. Failures are :class:`ToolError` with a
step-error kind; the env turns them into error text and never lets them escape ``step``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jsonschema
import numpy as np

from .failures import StepError
from .images import ImageLimitError, ImageRefError, ImageStore

MAX_ARGUMENT_DEPTH = 32  # lists/objects inside the arguments; real tools need 4 or 5


class ToolError(Exception):
    """A tool call that failed; ``kind`` is a :class:`StepError`, the message is for the agent."""

    def __init__(self, kind: StepError | str, message: str):
        super().__init__(message)
        self.kind = StepError(kind)


@dataclass
class ToolContext:
    """What a tool may touch during one call."""

    images: ImageStore
    rng: np.random.Generator
    env: Any = None  # the env, for env-specific state (e.g. the maze's geometry)
    turn: int = 0


@dataclass
class ToolResult:
    """The tool's answer text and the ids of the images it added to the store."""

    text: str
    images: list[str] = field(default_factory=list)


class Tool:
    """Base class. Subclasses set ``name``, ``description``, ``parameters`` and implement :meth:`run`.

    ``parameters`` is a JSON schema of type object; unless it says otherwise, unknown
    arguments are rejected. Arguments named in ``image_args`` are image ids and are
    checked against the episode's store before :meth:`run` is called.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[dict[str, Any]]
    image_args: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        schema = {"additionalProperties": False, **self.parameters}
        jsonschema.Draft202012Validator.check_schema(schema)
        self._validator = jsonschema.Draft202012Validator(schema)

    def schema(self) -> dict[str, Any]:
        """OpenAI-style function schema, as chat templates and APIs expect."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def validate(self, arguments: Any, ctx: ToolContext) -> dict[str, Any]:
        """Check ``arguments`` against the schema and the image store; raise ToolError.

        Nesting deeper than :data:`MAX_ARGUMENT_DEPTH` is refused first, by a loop rather than
        recursion, so that the checks after it (and the schema validator's messages, which
        ``repr`` the value) never depend on how deep the caller's stack already is.
        """
        if not isinstance(arguments, dict):
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: arguments must be an object.")
        depth = nesting_depth(arguments, MAX_ARGUMENT_DEPTH)
        if depth > MAX_ARGUMENT_DEPTH:
            raise ToolError(
                StepError.BAD_ARGUMENTS,
                f"{self.name}: arguments are nested more than {MAX_ARGUMENT_DEPTH} levels deep. "
                f"Expected arguments: {self.signature()}.",
            )
        bad = _first_non_finite(arguments)
        if bad is not None:
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: argument {bad} is not a finite number.")
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: (len(e.path), e.message))
        if errors:
            messages = "; ".join(_describe(e) for e in errors[:3])
            raise ToolError(StepError.BAD_ARGUMENTS, f"{self.name}: {messages}. Expected arguments: {self.signature()}.")
        resolved = dict(arguments)
        for arg in self.image_args:
            if arg in resolved:
                try:
                    resolved[arg] = ctx.images.resolve(resolved[arg])
                except ImageRefError as err:
                    raise ToolError(StepError.BAD_IMAGE_REF, f"{self.name}: {err}") from None
        return resolved

    def signature(self) -> str:
        props = self.parameters.get("properties", {})
        required = set(self.parameters.get("required", []))
        parts = [f"{k}: {v.get('type', 'any')}{'' if k in required else '?'}" for k, v in props.items()]
        return f"{self.name}({', '.join(parts)})"

    def run(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raise NotImplementedError

    def __call__(self, arguments: Any, ctx: ToolContext) -> ToolResult:
        """Validate then run; an unexpected exception while validating becomes ``bad_arguments``,
        while running ``tool_failed``: a ToolError is all that leaves."""
        try:
            resolved = self.validate(arguments, ctx)
        except ToolError:
            raise
        except Exception as err:  # e.g. a subclass's check tripping over a value it did not expect
            raise ToolError(
                StepError.BAD_ARGUMENTS, f"{self.name}: the arguments could not be checked ({_error_text(err)})."
            ) from None
        try:
            return self.run(resolved, ctx)
        except ToolError:
            raise
        except ImageRefError as err:
            raise ToolError(StepError.BAD_IMAGE_REF, f"{self.name}: {err}") from None
        except ImageLimitError as err:
            raise ToolError(StepError.TOOL_FAILED, f"{self.name}: {err}") from None
        except Exception as err:  # a tool bug must not kill the episode
            raise ToolError(StepError.TOOL_FAILED, f"{self.name} failed: {_error_text(err)}") from None


def _error_text(err: BaseException, limit: int = 300) -> str:
    """``Type: message`` cut to ``limit`` characters; never raises (a message may be hostile)."""
    try:
        text = f"{type(err).__name__}: {err}"
    except Exception:
        text = type(err).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def nesting_depth(value: Any, limit: int) -> int:
    """Depth of lists/dicts in ``value`` (a scalar is 0), counted without recursion; stops at ``limit + 1``."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            depth += 1
            if depth > limit:
                return depth
            deepest = max(deepest, depth)
            stack.extend((v, depth) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _first_non_finite(value: Any) -> str | None:
    """Dotted path of the first NaN/inf number in ``value`` (walked without recursion), or None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path or "value"
        if isinstance(item, dict):
            children = [(str(k), v) for k, v in item.items()]
        elif isinstance(item, list):
            children = [(str(i), v) for i, v in enumerate(item)]
        else:
            continue
        stack.extend((sub, f"{path}.{key}" if path else key) for key, sub in reversed(children))
    return None


def _describe(err: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in err.absolute_path)
    message = err.message if len(err.message) < 200 else err.message[:200] + "…"
    return f"{where}: {message}" if where else message


_REGISTRY: dict[str, type[Tool]] = {}


def register_tool(cls: type[Tool]) -> type[Tool]:
    """Class decorator adding a tool to the global registry under ``cls.name``."""
    if not getattr(cls, "name", None):
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a different tool is already registered as {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def make_tool(name: str, **kwargs: Any) -> Tool:
    """Instantiate a registered tool by name."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown tool {name!r}; registered tools: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)


def available_tools() -> list[str]:
    return sorted(_REGISTRY)


