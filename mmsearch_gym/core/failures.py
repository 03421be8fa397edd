"""Failure taxonomy and the fatal-failure rule of OpenSearch-VL (arXiv 2605.05185).

Every bad action or failed tool is a *step error*: the env answers with an error text and
goes on. A run of ``k`` consecutive step errors is *fatal*: the episode ends and
``fatal_turn`` is the first turn of that run. An episode that ends without an answer
(turn or token limit) is flagged too, with ``fatal_turn = number of turns`` so that all
of its tokens are kept by the algorithms while the trajectory is still marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class StepError(StrEnum):
    """Kinds of step error reported in ``info["step_error"]``."""

    PARSE = "parse"  # no tag, bad JSON, two actions in one turn, degenerate text
    UNKNOWN_TOOL = "unknown_tool"  # the named tool is not offered by this env
    BAD_ARGUMENTS = "bad_arguments"  # schema or semantic check of the arguments failed
    TOOL_FAILED = "tool_failed"  # the tool itself raised
    TIMEOUT = "timeout"  # the tool or its backend took too long
    BACKEND_DOWN = "backend_down"  # a remote backend could not be reached
    BAD_IMAGE_REF = "bad_image_ref"  # an image id that does not exist in this episode
    TOOL_DISABLED = "tool_disabled"  # a tool call on the last turn, where only an answer is allowed


class Termination(StrEnum):
    """Values of ``info["termination_reason"]``."""

    ANSWERED = "answered"
    FATAL_ERRORS = "fatal_errors"
    MAX_TURNS = "max_turns"


def fatal_turn(step_errors: Sequence[bool], answered: bool, k: int = 3) -> int | None:
    """Fatal index ``f`` of a finished trajectory, or ``None`` when it is not fatal.

    ``step_errors[t]`` says whether turn ``t`` was a step error. The first run of ``k``
    consecutive errors gives ``f`` = the first turn of that run; a single good step resets
    the count. Without such a run, an unanswered trajectory gives ``f = len(step_errors)``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    run_start, run_len = 0, 0
    for t, is_error in enumerate(step_errors):
        if is_error:
            if run_len == 0:
                run_start = t
            run_len += 1
            if run_len >= k:
                return run_start
        else:
            run_len = 0
    return None if answered else len(step_errors)


class FatalTracker:
    """Online form of :func:`fatal_turn`, updated once per step by the env."""

    def __init__(self, k: int = 3):
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"fatal_k must be an integer >= 1, got {k!r}")
        self.k = k
        self.consecutive = 0
        self.run_start: int | None = None
        self.fatal_turn: int | None = None

    def update(self, turn: int, is_error: bool) -> bool:
        """Record turn ``turn``; return True when this step makes the episode fatal."""
        if not is_error:
            self.consecutive, self.run_start = 0, None
            return False
        if self.consecutive == 0:
            self.run_start = turn
        self.consecutive += 1
        if self.consecutive >= self.k and self.fatal_turn is None:
            self.fatal_turn = self.run_start
            return True
        return False
