"""mmsearch-gym: Gymnasium multi-turn environments for multimodal tool-using LLM agents.

``import mmsearch_gym`` registers every env id (``mmsearch_gym/Maze-v0`` …) with gymnasium.
"""

from envs_registry import ENVS, register_all

from .core import EpisodeRecord, StepError, Task, Tool, ToolEnv, fatal_turn

__version__ = "0.1.0"
__all__ = ["ENVS", "EpisodeRecord", "StepError", "Task", "Tool", "ToolEnv", "fatal_turn", "register_all", "__version__"]

register_all()
