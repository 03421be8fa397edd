"""The agent–env contract: grammar, tools, images, spaces, failures, record and ``ToolEnv``."""

from .env import Score, Task, ToolEnv
from .failures import FatalTracker, StepError, Termination, fatal_turn
from .grammar import ChainGrammar, DefaultGrammar, Grammar, ParseError, ParsedAction, VilasrGrammar
from .images import ImageLimitError, ImageRefError, ImageStore
from .record import EpisodeRecord, TurnRecord
from .spaces import FreeText, ImageSpace, observation_space
from .tool import Tool, ToolContext, ToolError, ToolResult, available_tools, make_tool, register_tool

__all__ = [
    "ChainGrammar", "DefaultGrammar", "EpisodeRecord", "FatalTracker", "FreeText", "Grammar", "ImageLimitError",
    "ImageRefError", "ImageSpace", "ImageStore", "ParseError", "ParsedAction", "Score", "StepError", "Task", "Termination",
    "Tool", "ToolContext", "ToolEnv", "ToolError", "ToolResult", "TurnRecord", "VilasrGrammar", "available_tools",
    "fatal_turn", "make_tool", "observation_space", "register_tool",
]
