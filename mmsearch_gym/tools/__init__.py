"""Tools: pure functions on images and text, wrapped once as :class:`~mmsearch_gym.core.Tool`.

The vision tools (``mmsearch_gym.tools.vision``) are imported by the envs that use them,
so that ``import mmsearch_gym`` does not load OpenCV or tesseract.
"""

from .draw import ObjectMapperTool, PathTracerTool, draw_boxes, draw_paths
from .search import ImageSearchTool, TextSearchTool, VisitTool

__all__ = [
    "ImageSearchTool", "ObjectMapperTool", "PathTracerTool", "TextSearchTool", "VisitTool", "draw_boxes", "draw_paths",
]
