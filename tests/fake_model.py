"""A fake served model for Maze-v0: traces a route on the image, then answers a letter.

``maze_model(i, body)`` is a :class:`chat_server.ChatServer` script: on a fresh chat it calls
``path_tracer`` on ``img_1``; after the tool's answer it picks a letter from the question's
hash (right about one time in four on choice questions). Replies carry token ``usage``.
"""

from __future__ import annotations

import zlib
from typing import Any

from chat_server import completion

TRACE = (
    '<think>Let me trace a route from S.</think><tool_call>{"name": "path_tracer", "arguments": '
    '{"image": "img_1", "paths": [{"start_point_2d": [48, 48], "end_point_2d": [96, 48]}]}}</tool_call>'
)


def text_of(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def images_of(message: dict[str, Any]) -> list[str]:
    content = message["content"]
    if isinstance(content, str):
        return []
    return [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]


def answer_for(body: dict[str, Any]) -> str:
    question = text_of(body["messages"][1])
    return "ABCD"[zlib.crc32(question.encode()) % 4]


def maze_model(i: int, body: dict[str, Any], answer: str | None = None) -> tuple[int, Any]:
    usage = {"prompt_tokens": 100 * len(body["messages"]), "completion_tokens": 20}
    if len(body["messages"]) <= 2:
        return 200, completion(TRACE, usage)
    letter = answer if answer is not None else answer_for(body)
    return 200, completion(f"<think>The drawn route tells me.</think><answer>{letter}</answer>", usage)
