"""Tools: pure functions on images and text, wrapped once as :class:`~mmsearch_gym.core.Tool`."""

from .draw import ObjectMapperTool, PathTracerTool, draw_boxes, draw_paths

__all__ = ["ObjectMapperTool", "PathTracerTool", "draw_boxes", "draw_paths"]
