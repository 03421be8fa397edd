"""Scripted GroundedGen agents: the oracle (for SFT data and solvability checks) and two baselines.

They decide each turn from the episode so far (no state of their own) and really call the tools.

- ``oracle`` knows the task's entities but must find their pages and pictures: it searches
  the first entity's name, reads its page (where a pair's second entity is named and a text
  task's text is stated), image-searches each entity and cites the thumbnail that is that
  entity's official picture, then writes a complete prompt: each entity tied to its reference
  by ordinal with its colours, shape, material and creature, the setting, and the text in quotes.
- ``no_search`` answers at once from the request alone, with no reference.
- ``wrong_reference`` does what the oracle does but cites a picture of another entity from
  the same searches (a near-namesake or look-alike), with the oracle's prompt.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ..deep_search import contains_phrase

if TYPE_CHECKING:
    from ...envs.grounded_gen import GroundedGenEnv
    from .tasks import GroundedGenTask

AGENTS = ("oracle", "no_search", "wrong_reference")
ORDINAL_WORDS = ("first", "second", "third", "fourth", "fifth")
_HIT = re.compile(
    r"^\[\d+\] (?P<title>.*?)(?: — .*)?\n {4}page: (?P<page>\S+)\n {4}image: (?P<image>\S+)(?: \(shown as (?P<id>img_\d+)\))?",
    re.MULTILINE,
)


def image_hits(response: str) -> list[dict[str, str]]:
    """``{"title", "page", "image", "id"}`` of each result of an ``image_search`` reply (``id`` empty when not attached)."""
    return [{k: m.group(k) or "" for k in ("title", "page", "image", "id")} for m in _HIT.finditer(response)]


def _call(think: str, name: str, **arguments: Any) -> str:
    return f"<think>{think}</think><tool_call>{json.dumps({'name': name, 'arguments': arguments}, ensure_ascii=False)}</tool_call>"


def describe_look(subject: dict[str, Any]) -> str:
    """The visual attributes in words: ``"crimson and gold colours, a star shape, made of bronze"``."""
    v = subject.get("visual", {})
    bits = []
    colours = v.get("flag_colours") or v.get("colours") or ([v["colour"]] if "colour" in v else [])
    if colours:
        bits.append((colours[0] if len(colours) == 1 else ", ".join(colours[:-1]) + " and " + colours[-1]) + " colours")
    if "shape" in v:
        bits.append(f"a {v['shape']} shape")
    if "material" in v:
        bits.append(f"made of {v['material']}")
    if "creature" in v:
        bits.append(f"a {v['creature']}")
    if "kind" in v:
        bits.append(f"a {v['kind']}")
    return ", ".join(bits)


def write_prompt(task: GroundedGenTask, order: list[int]) -> str:
    """The oracle's prompt: subject ``order[k]`` copied from the ``k``-th reference image, then setting and text."""
    sentences = []
    for pos, idx in enumerate(order):
        s = task.subjects[idx]
        look = describe_look(s)
        lead = "Show" if pos == 0 else "Side by side with it, show"
        sentences.append(f"{lead} {s['name']}, the {s['noun']}, exactly as in the {ORDINAL_WORDS[pos]} reference image"
                         + (f": {look}." if look else "."))  # fmt: skip
    if task.setting:
        sentences.append(f"The scene is {task.setting}, clearly visible around it.")
    if task.text:
        sentences.append(f'Beneath it, a banner reads "{task.text}" in clear, crisp letters.')
    sentences.append("Keep the official colours and shapes; sharp, clean, well-lit composition.")
    return " ".join(sentences)


class GroundedGenAgent:
    """A scripted agent; ``act(env)`` returns its next turn (the env must be the unwrapped GroundedGenEnv)."""

    def __init__(self, mode: str = "oracle"):
        if mode not in AGENTS:
            raise ValueError(f"unknown GroundedGen agent {mode!r}; choose one of {', '.join(AGENTS)}")
        self.mode = mode

    def act(self, env: GroundedGenEnv) -> str:
        task = env.gg_task
        if task is None:
            raise RuntimeError("call env.reset() before asking a scripted agent for a turn")
        if self.mode == "no_search":
            prompt = task.question.split(" Find out")[0]
            return self._answer("I draw it from the request alone.", prompt, [])
        if not task.subjects:
            raise ValueError(f"task {task.task_id!r} has no subjects (a dataset without them); the {self.mode} agent needs them")
        turns = [t for t in env.episode_record().turns if t.step_error is None and t.kind == "tool_call"]
        last = env._turn >= env.max_turns - 1
        first = task.subjects[0]
        text_tool = next((n for n in ("text_search", "search") if n in env.offered), None)
        visit_tool = next((n for n in ("visit", "browse") if n in env.offered), None)
        visited = "\n".join(t.response for t in turns if t.tool in ("visit", "browse"))
        if not last and text_tool and not any(t.tool in ("text_search", "search") for t in turns):
            args = {"query": first["name"]} if text_tool == "text_search" else {"queries": [first["name"]]}
            return _call(f"I look up {first['name']} to confirm what it looks like.", text_tool, **args)
        if not last and visit_tool and not visited:
            goal = "appearance, colours, shape" + (f" and {task.text_label}" if task.text_label else "")
            key = "goal" if visit_tool == "visit" else "query"
            return _call(f"I read the page of {first['name']}.", visit_tool, url=first["url"], **{key: goal})
        picks: dict[int, str] = {}
        for idx, s in enumerate(task.subjects):
            searches = [t for t in turns if t.tool == "image_search" and s["name"] in json.dumps(t.arguments, ensure_ascii=False)]
            pick = self._pick(s, [h for t in searches for h in image_hits(t.response) if h["id"]])
            if pick is not None:
                picks[idx] = pick
            elif not last and len(searches) < 2:
                query = f"{s['name']} {s['noun']}" if searches else s["name"]
                named = " (named on the page I read)" if idx > 0 and contains_phrase(visited, s["name"]) else ""
                return _call(f"I need a reference picture of {s['name']}{named}.", "image_search", query=query, top_k=5)
        order = sorted(picks, key=lambda i: int(picks[i].split("_")[1]))
        refs = [{"img_id": picks[i], "note": f"{task.subjects[i]['name']}: copy its look"} for i in order]
        return self._answer("I have the references and the facts; I write the prompt.", write_prompt(task, order), refs)

    def _pick(self, subject: dict[str, Any], hits: list[dict[str, str]]) -> str | None:
        if self.mode == "oracle":
            exact = [h["id"] for h in hits if h["image"] == subject["image_url"]]
            return exact[0] if exact else None
        others = [h["id"] for h in hits if h["page"] != subject["url"]]
        return others[0] if others else None

    @staticmethod
    def _answer(think: str, prompt: str, refs: list[dict[str, str]]) -> str:
        body = json.dumps({"gen_prompt": prompt, "reference_images": refs}, ensure_ascii=False)
        return f"<think>{think}</think><answer>{body}</answer>"
