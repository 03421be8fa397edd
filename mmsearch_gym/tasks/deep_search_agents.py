"""Scripted DeepSearch agents: the oracle (for SFT trajectories and solvability checks) and two baselines.

All three really call the env's tools and read the answers; they decide each turn from the
episode so far, so they hold no state and can take over an episode at any turn.

- ``oracle`` knows the gold path (which entity each hop leads to, where the picture is in a
  scene) but must still find it with the tools: it identifies the image's entity (reverse
  image search; crop first for a scene; perspective_correct → OCR → text search for a card,
  with super-resolution and other fallbacks), then for each hop reads the next entity's name
  on the current page, searches it and visits its page, and answers from what the last page
  says. When the tools do not surface what it needs, it gives up with "unknown".
- ``no_vision`` is the oracle without perception tools: one reverse image search of the raw
  image, trusting its top hit.
- ``single_search`` runs one text search of the question, visits the top hit and answers from it.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import TYPE_CHECKING, Any

from .deep_search import DeepSearchTask, contains_phrase

if TYPE_CHECKING:
    from ..core.record import TurnRecord
    from ..envs.deep_search import DeepSearchEnv

AGENTS = ("oracle", "no_vision", "single_search")
_URL = re.compile(r"^(?:URL|    page): (\S+)", re.MULTILINE)
GIVE_UP = "unknown"


def _call(think: str, name: str, **arguments: Any) -> str:
    call = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<think>{think}</think><tool_call>{call}</tool_call>"


def _answer(think: str, answer: str) -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


def result_urls(response: str) -> list[str]:
    """Result page urls in the order a text or image search listed them."""
    return _URL.findall(response)


def ocr_lines(response: str) -> list[str]:
    """The text lines of an ``ocr`` answer."""
    if "\nText:\n" not in response:
        return []
    text = response.split("\nText:\n", 1)[1].split("\nWords [", 1)[0]
    return [line.strip() for line in text.splitlines() if line.strip()]


def infobox_value(page: str, label: str) -> str | None:
    """The value of ``Label: value`` on a visited page (the infobox line), else None."""
    want = label[:1].upper() + label[1:]
    m = re.search(rf"^{re.escape(want)}: (.+)$", page, re.MULTILINE)
    return m.group(1).strip() if m else None


class DeepSearchAgent:
    """A scripted agent; ``act(env)`` returns its next turn (the env must be the unwrapped DeepSearchEnv)."""

    def __init__(self, mode: str = "oracle"):
        if mode not in AGENTS:
            raise ValueError(f"unknown DeepSearch agent {mode!r}; choose one of {', '.join(AGENTS)}")
        self.mode = mode

    def act(self, env: DeepSearchEnv) -> str:
        task = env.ds_task
        if task is None:
            raise RuntimeError("call env.reset() before asking a scripted agent for a turn")
        turns = env.episode_record().turns
        last_turn = env._turn >= env.max_turns - 1
        if self.mode == "single_search":
            return self._single_search(task, turns, last_turn)
        if not task.path:
            raise ValueError(
                f"task {task.task_id!r} has no gold path (a loaded dataset without one); the {self.mode} agent "
                "needs generated tasks"
            )
        return _Episode(task, turns, vision=self.mode == "oracle", last_turn=last_turn).next_turn()

    # ---- baseline: one search ----------------------------------------------------------
    def _single_search(self, task: DeepSearchTask, turns: list[TurnRecord], last_turn: bool) -> str:
        ok = [t for t in turns if t.step_error is None and t.kind == "tool_call"]
        searches = [t for t in ok if t.tool == "text_search"]
        visits = [t for t in ok if t.tool == "visit"]
        if visits or last_turn or (searches and not result_urls(searches[0].response)) or len(turns) >= 3:
            page = visits[0].response if visits else ""
            return _answer("I answer from the top result.", _read_answer(task, page) or GIVE_UP)
        if searches:
            url = result_urls(searches[0].response)[0]
            return _call(
                "The top result should answer the question.", "visit", url=url, goal=task.asked_label or "answer"
            )
        return _call("One search with the whole question.", "text_search", query=task.question[:500])


def _read_answer(task: DeepSearchTask, page: str) -> str | None:
    """The answer as the page states it: its title for a name question, else its infobox value."""
    body = page.removeprefix("<tool_response>")
    if not body.strip():
        return None
    if task.asked == "name":
        return body.splitlines()[0].strip() or None
    return infobox_value(body, task.asked_label)


class _Episode:
    """What the episode so far established, and the next step of the (vision or no-vision) oracle."""

    def __init__(self, task: DeepSearchTask, turns: list[TurnRecord], vision: bool, last_turn: bool):
        self.task, self.turns, self.vision, self.last_turn = task, turns, vision, last_turn
        self.ok = [t for t in turns if t.step_error is None and t.kind == "tool_call"]
        self.known: set[str] = set()
        self.visited: dict[str, str] = {}
        for t in self.ok:
            if t.tool in ("text_search", "image_search"):
                self.known.update(result_urls(t.response))
            elif t.tool == "visit" and t.arguments:
                self.visited.setdefault(t.arguments.get("url", ""), "")
                self.visited[t.arguments.get("url", "")] += t.response
        self.path = task.path

    def used(self, tool: str) -> int:
        return sum(t.tool == tool for t in self.turns)

    def next_turn(self) -> str:
        if not self._identified():
            step = None if self.last_turn else self._perceive()
            return step or _answer("The tools did not tell me what the image shows.", GIVE_UP)
        for i, node in enumerate(self.path):
            if node["url"] in self.visited:
                continue
            if self.last_turn:
                break
            if node["url"] in self.known:
                goal = self._goal(i)
                return _call(
                    f"I open the page of {node['name']} to look for {goal}.", "visit", url=node["url"], goal=goal
                )
            prev = self.visited.get(self.path[i - 1]["url"], "")
            if not contains_phrase(prev, node["name"]):
                pages = re.findall(r"visit the same url with page=(\d+)", prev)
                if pages and f"Page text ({pages[-1]}/" not in prev:
                    url = self.path[i - 1]["url"]
                    return _call("The page goes on; I read the next part.", "visit", url=url, page=int(pages[-1]))
                break
            searched = any(t.tool == "text_search" and node["name"] in str(t.arguments) for t in self.ok)
            if searched:
                break
            rel = self.task.relations[i - 1]["relation"].replace("_", " ")
            clues = " and ".join(self.task.clues[i - 1]) if i - 1 < len(self.task.clues) else ""
            fits = f", the {node['type']} {clues}" if clues else ""
            return _call(
                f"{self.path[i - 1]['name']}'s page names {node['name']} ({rel}){fits}; I search for its page.",
                "text_search",
                query=node["name"],
            )
        else:
            answer = _read_answer(self.task, self.visited[self.path[-1]["url"]])
            what = "name" if self.task.asked == "name" else self.task.asked_label
            return _answer(f"The page of {self.path[-1]['name']} gives the {what}: {answer}.", answer or GIVE_UP)
        return _answer("I could not follow the chain further.", GIVE_UP)

    def _goal(self, i: int) -> str:
        if i + 1 < len(self.path):
            rel = self.task.relations[i]
            return f"{rel['relation'].replace('_', ' ')} ({self.path[i + 1]['type']})"
        return self.task.asked_label or "name"

    # ---- step 1: what does the image show? -----------------------------------------------
    def _identified(self) -> bool:
        target = self.path[0]["url"]
        if self.vision:
            return target in self.known
        firsts = [result_urls(t.response)[:1] for t in self.ok if t.tool == "image_search"]
        return any(f == [target] for f in firsts)

    def _perceive(self) -> str | None:
        kind = self.task.anchor.get("kind", "photo")
        if not self.vision:
            return (
                None
                if self.used("image_search")
                else _call("A reverse image search should tell what the image shows.", "image_search", image="img_1")
            )
        if kind == "scene":
            return self._scene()
        if kind == "document":
            return self._document()
        return self._photo()

    def _last_ok(self) -> TurnRecord | None:
        return self.turns[-1] if self.turns and self.turns[-1].step_error is None else None

    def _photo(self) -> str | None:
        last = self._last_ok()
        if last is not None and last.tool in ("perspective_correct", "sharpen") and last.new_images:
            return _call("I search with the cleaned-up image.", "image_search", image=last.new_images[0])
        if not self.used("image_search"):
            return _call(
                "A reverse image search should find where this picture comes from.", "image_search", image="img_1"
            )
        if not self.used("perspective_correct"):
            return _call("The photo is taken at an angle; I straighten it first.", "perspective_correct", image="img_1")
        if not self.used("sharpen"):
            return _call("The photo is blurry; I sharpen it.", "sharpen", image="img_1", amount=1.5)
        return None

    def _scene(self) -> str | None:
        bbox = self.task.anchor.get("bbox")
        last = self._last_ok()
        if last is not None and last.tool == "crop" and last.new_images:
            return _call("I search with the cropped picture.", "image_search", image=last.new_images[0])
        if bbox and not self.used("crop"):
            x, y, w, h = bbox
            return _call(
                f"The {self.path[0]['type']} is the small picture near ({x + w // 2}, {y + h // 2}); I crop it.",
                "crop", image="img_1", x=x, y=y, width=w, height=h,
            )  # fmt: skip
        if not self.used("image_search"):
            return _call("I search with the whole image.", "image_search", image="img_1")
        return None

    def _document(self) -> str | None:
        last = self._last_ok()
        if last is not None and last.tool in ("perspective_correct", "super_resolution") and last.new_images:
            return _call("I read the printed text.", "ocr", image=last.new_images[0])
        if last is not None and last.tool == "ocr":
            query = self._name_from_ocr(ocr_lines(last.response))
            if query:
                return _call(f'The card reads "{query}"; I search for it.', "text_search", query=query)
        if not self.used("perspective_correct"):
            return _call(
                "The card is photographed at an angle; I straighten it first.", "perspective_correct", image="img_1"
            )
        if not self.used("super_resolution"):
            flat = [t for t in self.ok if t.tool == "perspective_correct" and t.new_images]
            image = flat[-1].new_images[0] if flat else "img_1"
            return _call(
                "The text is small; I upscale the card before reading it again.",
                "super_resolution",
                image=image,
                scale=2,
            )
        if self.used("ocr") < 3:
            return _call("I read the text of the original photo.", "ocr", image="img_1")
        return None

    def _name_from_ocr(self, lines: list[str]) -> str | None:
        """The OCR line closest to the entity's name (the oracle knows what it looks for), else the text."""
        if not lines:
            return None
        name = self.path[0]["name"].casefold()
        best = max(lines, key=lambda s: difflib.SequenceMatcher(None, s.casefold(), name).ratio())
        if difflib.SequenceMatcher(None, best.casefold(), name).ratio() >= 0.5:
            return best[:200]
        return " ".join(lines)[:200]
