"""``mmsearch_gym/GroundedGen-v0``: search, pick references, write a grounded generation prompt (Gen-Searcher, Unify-Agent)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.env import Score, Task, ToolEnv, _check_int
from ..core.failures import StepError
from ..core.gen_grammar import GenSearcherGrammar
from ..core.images import ImageLimitError, ImageRefError
from ..core.record import TurnRecord
from ..core.tool import Tool
from ..rewards import grounded_gen as R
from ..rewards.grounded_gen_judge import HTTPGenJudge, ImageCase, OfflineImageJudge, OfflineTextJudge, TextCase
from ..rewards.judge import JudgeError
from ..tasks.grounded_gen.tasks import GroundedGenTask, TaskSampler, ground_truth
from ..tools.generate import GenerationError, make_generator
from ..world.compose import CANVAS_H, CANVAS_W, banner_box, panel_boxes

ALL_TOOLS = ("text_search", "image_search", "visit", "search", "browse")
DEFAULT_TOOLS = ("text_search", "image_search", "visit")
ALIASES = {"search": "text_search", "browse": "visit", "text_search": "search", "visit": "browse"}


class GroundedGenEnv(ToolEnv):
    """Draw a long-tail entity of the world: search for evidence and references, then write the prompt a generator follows.

    ## Description
    The agent is asked for an image it cannot draw from memory: an entity of the offline
    world (its emblem, figure, cover, building …), alone, in a setting, beside a linked entity
    named only by the relation, or above a banner with one of its attributes as text (FactIP's
    12 categories; KnowGen's compositions; :mod:`mmsearch_gym.tasks.grounded_gen`). It searches
    text and images, reads pages, and answers with a generation prompt and the reference
    images a generator copies. The env generates the image and judges it against the
    ground truth (the world's renders of those entities, composed as asked).

    ## Action Space
    ``FreeText``: one model turn, ``<think>…</think>`` then one ``<tool_call>{…}</tool_call>`` or
    ``<answer>{"gen_prompt": "…", "reference_images": [{"img_id": "img_3", "note": "…"}]}</answer>``.
    The prompt should tie each reference by ordinal ("the first reference image"). Gen-Searcher's
    rules: a turn with a tool call and an answer runs the tool and ignores the answer; the answer
    is read by ``<answer>\\s*(\\{.*?\\})\\s*</answer>`` (text after the closing brace fails); ids must
    be images that ``image_search`` returned (``IMG_003`` is read as ``img_3``); only the first five
    items count.

    ## Observation Space
    ``Dict(text=FreeText, images=Sequence(ImageSpace))``: the request at reset (no image), then
    ``<tool_response>…</tool_response>`` with up to ``max_new_images`` (5) search thumbnails.

    ## Tools
    ``text_search(query, top_k=5)``, ``image_search(query | image | url, top_k=5)``, ``visit(url, goal)``;
    Gen-Searcher's names are accepted too: ``search(queries=[…], top_k)`` and ``browse(url, query)``.
    ``tools=`` chooses which are offered (an offered tool's alias works as well).

    ## Rewards
    At the end only (Gen-Searcher, arXiv 2603.28767): ``R = (1 − λ)·R_img + λ·R_text``, λ = ``text_coef``
    (0.5), and ``R = 0`` unless ``min_refs ≤ n_refs ≤ max_refs`` (1–4). ``R_img =
    round(0.1·faithfulness + 0.4·visual_correctness + 0.4·text_accuracy + 0.1·aesthetics, 2)`` from the
    image judge's JSON (text N/A → 0.5); ``R_text`` is the text judge's score snapped to quarters, ties
    down (:mod:`mmsearch_gym.rewards.grounded_gen`). A failed generation, an unparseable answer or an
    empty prompt gives 0. ``info["reward_components"] = {"image", "text", "n_refs", "overall"}``;
    ``info["evaluation"]`` holds both judges' JSON (with FactIP's 0–10 fields), the generator, and any
    ``answer_error`` / ``generation_error`` / ``judge_error``. ``success``: ``R ≥ 0.7``. The generated
    image is ``env.unwrapped.generated_image`` and the last image of the store (``render()``).

    ## Starting State
    A task sampled with the env's RNG (``reset(seed=…)`` reproduces it) or taken from ``dataset``;
    ``reset(options={"index": i})`` picks dataset task ``i``, ``{"task": GroundedGenTask}`` plays one,
    ``{"category": "mascot", "composition": "pair"}`` narrows sampling.

    ## Episode End
    Terminated by an answer (scored, even when malformed) or by ``fatal_k`` (3) step errors in a row;
    also, as in the release, by ``max_truncated_turns`` (2) over-long turns in a row (longer than
    ``max_action_chars``, the stand-in for 4096 tokens) or a turn repeating the previous (parsed) one
    word for word, both fatal with reward 0. Truncated after ``max_turns`` (10): nine model calls and a forced
    last one, where a tool call is cut off and unknown references are skipped.

    ## Failure signals
    ``info["step_error"]`` (``parse``, ``unknown_tool``, ``bad_arguments``, ``bad_image_ref``,
    ``tool_failed``, ``timeout``, ``backend_down``, ``tool_disabled``), ``info["fatal"]``, ``info["fatal_turn"]``.

    ## Arguments
    - ``backend``: search backend spec (``None``: the cached default world; ``"world:DIR"``; a ``serve``
      url; HTTP backends need ``dataset`` or ``world``); ``world``: a world folder to sample from.
    - ``dataset``: a folder from ``mmsearch-gym data build grounded_gen`` (``tasks.jsonl`` + ``gt_path`` images).
    - ``tools`` (default ``text_search``, ``image_search``, ``visit``); ``composition_weights``, ``categories``.
    - ``generator``: ``None``/``"offline"``, ``{"kind": "diffusers", "path": …}`` or
      ``{"kind": "http", "base_url": …, "model": …}`` (:mod:`mmsearch_gym.tools.generate`).
    - ``judge``: ``None``/``"offline"`` or ``{"kind": "http", "base_url": …, "model": …, "api_key_env": …}``;
      an HTTP judge that fails falls back to the offline judges and says so in ``judge_error``.
    - ``text_coef`` (0.5), ``min_refs`` (1), ``max_refs`` (4), ``require_think`` (False),
      ``max_truncated_turns`` (2), ``end_on_repeat`` (True), ``max_turns`` (10: Gen-Searcher's nine calls
      and a forced answer; Unify-Agent's six search turns are ``max_turns=7``), ``fatal_k`` (3),
      ``max_new_images`` (5), ``max_images`` (45), ``max_action_chars`` (16384), ``render_mode``.

    ## Example
    >>> import gymnasium as gym, mmsearch_gym
    >>> env = gym.make("mmsearch_gym/GroundedGen-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
    """

    env_id = "mmsearch_gym/GroundedGen-v0"
    intro = (
        "You are a helpful assistant for grounding prompts for image generation. The user asks for an image of "
        "something you cannot know from memory: search for the missing world knowledge and visual references, "
        "then answer with a generation-ready prompt. Call image_search at least once; use at most 8 tool calls. "
        "In the answer, reference_images lists 1-4 images by the ids image_search gave them (img_3 …), each with a "
        "note on what to copy, and gen_prompt refers to them by ordinal only: 'the first reference image', "
        "'the second reference image' … in the order of the list. Put any text the image must show in double quotes."
    )

    def __init__(
        self, backend: Any = None, dataset: str | Path | None = None, world: str | Path | None = None,
        tools: Sequence[str] = DEFAULT_TOOLS, composition_weights: dict[str, float] | None = None,
        categories: Sequence[str] | None = None, generator: Any = None, judge: Any = None,
        text_coef: float = R.TEXT_COEF, min_refs: int = R.MIN_REFS, max_refs: int = R.MAX_REFS,
        require_think: bool = False, max_truncated_turns: int = 2, end_on_repeat: bool = True,
        max_turns: int = 10, fatal_k: int = 3, max_new_images: int = 5, max_images: int = 45,
        max_action_chars: int = 16384, render_mode: str | None = None,
    ):  # fmt: skip
        from ..tools.search import shared_backend

        names = (tools,) if isinstance(tools, str) else tuple(tools)
        if not names or set(names) - set(ALL_TOOLS) or len(set(names)) != len(names):
            raise ValueError(f"tools must be distinct names from {ALL_TOOLS}, got {tools!r}")
        R.dual_reward(0, 0, 1, text_coef)  # validates λ
        if not 0 <= _check_int("min_refs", min_refs, 0) <= _check_int("max_refs", max_refs, 0, R.MAX_LISTED_REFS):
            raise ValueError(f"need 0 <= min_refs <= max_refs <= {R.MAX_LISTED_REFS}, got {min_refs} and {max_refs}")
        self.text_coef, self.min_refs, self.max_refs = float(text_coef), min_refs, max_refs
        self.max_truncated_turns = _check_int("max_truncated_turns", max_truncated_turns, 1)
        self.end_on_repeat, self.max_action_chars = bool(end_on_repeat), _check_int("max_action_chars", max_action_chars, 1)
        self.generator = make_generator(generator)
        self.image_judge, self.text_judge, self.http_judge = OfflineImageJudge(), OfflineTextJudge(), _http_judge(judge)
        self.backend = shared_backend(backend)
        self.world = getattr(self.backend, "world", None)
        article_text = image_fn = None
        if hasattr(self.backend, "articles"):
            article_text, image_fn = (lambda i: self.backend.articles[i].text), self.backend.image_array
        if world is not None:
            from .deep_search import _load_world_folder

            self.world, article_text = _load_world_folder(Path(world))
            image_fn = None
        self.dataset: list[GroundedGenTask] | None = None
        self.dataset_root = Path(dataset) if dataset is not None else None
        self.sampler: TaskSampler | None = None
        if self.dataset_root is not None:
            from ..tasks.grounded_gen.data import load_tasks

            self.dataset = load_tasks(self.dataset_root)
        elif self.world is None:
            raise ValueError(
                f"the search backend {type(self.backend).__name__} has no offline world to sample tasks from; "
                "pass dataset=DIR (from `mmsearch-gym data build grounded_gen`) or world=DIR"
            )
        else:
            self.sampler = TaskSampler(
                self.world, image_fn=image_fn, composition_weights=composition_weights,
                categories=tuple(categories) if categories is not None else None, article_text=article_text,
            )  # fmt: skip
        self.offered = names
        grammar = GenSearcherGrammar(max_chars=max_action_chars, require_think=require_think)
        super().__init__(
            self._make_tools(names), grammar=grammar, max_turns=max_turns, fatal_k=fatal_k, max_images=max_images,
            max_new_images=max_new_images, max_image_side=4096, max_action_chars=max_action_chars,
            render_mode=render_mode,
        )  # fmt: skip
        self.gg_task: GroundedGenTask | None = None
        self.generated_image: np.ndarray | None = None

    def _make_tools(self, offered: Sequence[str]) -> list[Tool]:
        from ..tools.gen_search import BrowseTool, GenSearchTool
        from ..tools.search import ImageSearchTool, TextSearchTool, VisitTool

        makers = {"text_search": lambda: TextSearchTool(self.backend), "search": lambda: GenSearchTool(self.backend),
                  "image_search": lambda: ImageSearchTool(self.backend, max_thumbnails=5),
                  "visit": lambda: VisitTool(self.backend), "browse": lambda: BrowseTool(self.backend)}  # fmt: skip
        accepted = [n for n in ALL_TOOLS if n in offered or ALIASES.get(n) in offered]
        return [makers[n]() for n in accepted]

    # ---- episode -----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._prev_action, self._long_run, self._final_answer = None, 0, False
        self.generated_image = None
        obs, info = super().reset(seed=seed, options=options)
        info["tools"] = [t.schema() for t in self.tools.values() if t.name in self.offered]
        return obs, info

    def system_prompt(self) -> str:
        tools = "\n".join(f"- {t.signature()}: {t.description}" for t in self.tools.values() if t.name in self.offered)
        return (f"{self.intro}\n\n{self.grammar.describe()}\n\nTools:\n{tools}\n\nYou have at most "
                f"{self.max_turns - 1} turns with tools, then one last turn for the answer.")  # fmt: skip

    def _new_task(self, rng: np.random.Generator, options: dict[str, Any]) -> Task:
        unknown = set(options) - {"index", "task", "category", "composition"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; valid: index, task, category, composition")
        if "task" in options:
            task = options["task"]
            if not isinstance(task, GroundedGenTask):
                raise ValueError(f"options['task'] must be a GroundedGenTask, got {type(task).__name__}")
        elif self.dataset is not None:
            index = options.get("index")
            n = len(self.dataset)
            task = self.dataset[int(rng.integers(n)) if index is None else _check_int("index", index, 0, n - 1)]
        else:
            if "index" in options:
                raise ValueError("options['index'] needs a dataset; generated tasks are chosen by the seed")
            assert self.sampler is not None
            task = self.sampler.sample(rng, options.get("category"), options.get("composition"))
        self.gg_task = task
        meta = {"category": task.category, "composition": task.composition, "difficulty": task.difficulty}
        return Task(task.task_id, task.question, [], [s["name"] for s in task.subjects], meta)

    def _run_turn(self, action: Any, rec: TurnRecord, new_ids: list[str]) -> str:
        last = self._turn == self.max_turns - 1
        if last and isinstance(action, str) and "<tool_call>" in action:
            action = action[: action.find("<tool_call>")]  # the release ignores a tool call on the forced last turn
        text_now = action.strip() if isinstance(action, str) else None
        if self.end_on_repeat and text_now is not None and text_now == self._prev_action:
            self._fatal.k = self._fatal.consecutive + 1  # this error ends the episode (reward 0), as in the release
            return self._fail(rec, StepError.PARSE, "You repeated your previous turn word for word.", wrap=False)
        too_long = isinstance(action, str) and len(action) > self.max_action_chars
        text = super()._run_turn(action, rec, new_ids)
        self._prev_action = text_now if rec.kind is not None else None  # turns that did not parse: the fatal rule
        self._long_run = self._long_run + 1 if too_long else 0
        if self._long_run >= self.max_truncated_turns:
            self._fatal.k = self._fatal.consecutive + 1  # the release stops after two truncated turns in a row
        if rec.kind == "answer" and rec.step_error is None:
            self._final_answer = last
        return text

    # ---- reward ------------------------------------------------------------------------------
    def _score(self, answer: str | None) -> Score:
        task = self.gg_task
        assert task is not None
        details: dict[str, Any] = {"category": task.category, "composition": task.composition,
                                   "generator": self.generator.name}  # fmt: skip

        def zero(key: str, why: str, n_refs: int = 0) -> Score:
            details[key] = why
            return Score(0.0, {"image": 0.0, "text": 0.0, "n_refs": float(n_refs), "overall": 0.0}, False, details)

        if answer is None:
            return zero("answer_error", "no answer")
        obj = R.parse_answer(f"<answer>{answer}</answer>")
        if obj is None:
            return zero("answer_error", 'the answer is not one JSON object {"gen_prompt", "reference_images": [...]}')
        citable = {i for i in self.images.ids if self.images.source(i).startswith("image_search:")}
        for item in obj["reference_images"]:
            if isinstance(item, dict) and isinstance(item.get("img_id"), str):
                try:
                    item["img_id"] = self.images.resolve(item["img_id"])
                except ImageRefError:
                    pass
        try:
            refs = R.resolve_references(obj, citable, strict=not self._final_answer)
        except R.AnswerError as err:
            return zero("answer_error", str(err))
        prompt = obj["gen_prompt"]
        details["gen_prompt"], details["references"] = prompt, refs
        if not isinstance(prompt, str) or not prompt.strip():
            return zero("answer_error", "gen_prompt is empty", len(refs))
        if not self.min_refs <= len(refs) <= self.max_refs:
            return zero("gated", f"{len(refs)} reference images; the reward needs {self.min_refs} to {self.max_refs}", len(refs))
        try:
            image = self.images.check(self.generator(prompt, [self.images.get(r["img_id"]) for r in refs], seed=0))
        except GenerationError as err:
            return zero("generation_error", f"{err.kind.value}: {err}", len(refs))
        except ImageLimitError as err:
            return zero("generation_error", f"the generator returned an unusable image: {err}", len(refs))
        except Exception as err:  # a custom backend's bug must not crash the episode
            return zero("generation_error", f"tool_failed: {type(err).__name__}: {err}", len(refs))
        self.generated_image = image
        try:
            self.images.add(image, source="generated")
        except ImageLimitError:
            pass
        gt = self._gt(task)
        img_json = self._judge_image(task, image, gt, details)
        r_img = R.image_reward(img_json)
        r_text, text_json = 0.0, None
        if self.text_coef > 0:  # the release calls the text judge only when λ > 0
            text_json = self._judge_text(task, prompt, refs, gt, details)
            r_text = R.text_reward(text_json)
        overall = R.dual_reward(r_img, r_text, len(refs), self.text_coef, self.min_refs, self.max_refs)
        details.update(image_judge=img_json, text_judge=text_json)
        components = {"image": r_img, "text": r_text, "n_refs": float(len(refs)), "overall": overall}
        return Score(overall, components, overall >= 0.7, details)

    def _gt(self, task: GroundedGenTask) -> np.ndarray:
        if task.gt_image is None:
            if task.gt_path is not None and self.dataset_root is not None:
                from ..tasks.grounded_gen.data import read_dataset_image

                task.gt_image = read_dataset_image(self.dataset_root, task.gt_path)
            else:
                assert self.sampler is not None, "a task without a ground-truth image needs a world to render it"
                task.gt_image = ground_truth(task, self.sampler.image_fn)
        return task.gt_image

    def _judge_image(self, task: GroundedGenTask, image: np.ndarray, gt: np.ndarray, details: dict[str, Any]) -> Any:
        if self.http_judge is not None:
            try:
                return self.http_judge.image(task.question, task.task_id, image, gt)
            except JudgeError as err:
                details["judge_error"] = str(err)
        laid_out = bool(task.subjects) and gt.shape[:2] == (CANVAS_H, CANVAS_W)
        boxes = panel_boxes(len(task.subjects), task.text is not None) if laid_out else [(0, 0, gt.shape[1], gt.shape[0])]
        return self.image_judge(ImageCase(image, gt, boxes, task.text, banner_box() if laid_out and task.text else None))

    def _judge_text(self, task: GroundedGenTask, prompt: str, refs: list[dict[str, Any]], gt: np.ndarray,
                    details: dict[str, Any]) -> Any:  # fmt: skip
        if self.http_judge is not None and "judge_error" not in details:
            from ..rewards.grounded_gen_prompts import answer_text

            shown = [{**r, **self._ref_info(r["img_id"])} for r in refs]
            try:
                return self.http_judge.text(task.question, task.task_id, gt, answer_text(prompt, shown))
            except JudgeError as err:
                details["judge_error"] = str(err)
        owners = [self._ref_info(r["img_id"]).get("entity_id") for r in refs]
        words = [w for s in task.subjects for v in s.get("visual", {}).values() for w in (v if isinstance(v, list) else [str(v)])]
        return self.text_judge(TextCase(prompt, owners, [s["entity_id"] for s in task.subjects],
                                        [s["name"] for s in task.subjects], words, task.setting, task.text))  # fmt: skip

    def _ref_info(self, image_id: str) -> dict[str, Any]:
        """Title, page and owning entity of a cited search thumbnail (what the release's img_map keeps)."""
        url = self.images.source(image_id).removeprefix("image_search:")
        info = self.world.image_for_url(url) if self.world is not None else None
        if info is None:
            return {"title": "", "page_url": "", "entity_id": None}
        owner = self.world.entity(info.entity_id)
        return {"title": owner.name, "page_url": owner.url, "entity_id": owner.id}

    # ---- scripted agents ---------------------------------------------------------------------
    def oracle_action(self) -> str:
        """The next turn of an agent that knows the task's entities and really searches for them."""
        return self.scripted_action("oracle")

    def scripted_action(self, name: str) -> str:
        """The next turn of a scripted agent: ``oracle``, ``no_search`` or ``wrong_reference``."""
        from ..tasks.grounded_gen.agents import GroundedGenAgent

        return GroundedGenAgent(name).act(self)

    def random_answer(self, rng: np.random.Generator) -> str:
        ids = [i for i in self.images.ids if self.images.source(i).startswith("image_search:")]
        picked = rng.choice(len(ids), size=min(len(ids), int(rng.integers(0, 3))), replace=False) if ids else []
        refs = [{"img_id": ids[int(k)], "note": "looks right"} for k in picked]
        prompt = "A picture of it, as in the first reference image."
        return json.dumps({"gen_prompt": prompt, "reference_images": refs})


def _http_judge(spec: Any) -> HTTPGenJudge | None:
    if spec is None or spec == "offline":
        return None
    if isinstance(spec, HTTPGenJudge):
        return spec
    if not isinstance(spec, dict) or spec.get("kind") != "http":
        raise ValueError(
            f"judge {spec!r}: use None/'offline' or {{'kind': 'http', 'base_url': …, 'model': …, 'api_key_env': …}}"
        )
    kwargs = {k: v for k, v in spec.items() if k != "kind"}
    try:
        return HTTPGenJudge(**kwargs)
    except TypeError as err:
        raise ValueError(f"judge 'http': {err}") from None
