"""``mmsearch_gym/DeepSearch-v0``: multi-hop visual deep search (OpenSearch-VL, arXiv 2605.05185)."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.cache import CacheSpec, digest, resolve_cache
from ..core.env import Score, Task, ToolEnv, _check_int
from ..core.images import DEFAULT_MAX_BYTES
from ..core.tool import Tool
from ..rewards.deep_search import PERCEPTION_TOOLS, deep_search_reward, format_score, normalize_answer, query_score
from ..rewards.judge import JudgeError, RuleJudge, hedging, make_judge
from ..tasks.deep_search import DeepSearchTask, TaskSampler
from ..tools.ocr import DEFAULT_PSM

SEARCH_TOOLS = ("text_search", "image_search", "visit")
ALL_TOOLS = SEARCH_TOOLS + PERCEPTION_TOOLS


class DeepSearchEnv(ToolEnv):
    """Answer a multi-hop question anchored on an image by perceiving it and searching.

    ## Description
    A question names no entity: it starts from an image of the first entity (its picture,
    a degraded photo, a small picture inside a cluttered scene, or a photographed card whose
    text must be read) and walks 2–4 relations, each next entity given only by fuzzy clues
    ("a person whose occupation is potter was born in that city"). The agent identifies the
    image's entity (crop, rectify, upscale, OCR, reverse image search), then follows the
    hops with text search and page visits, and answers the last entity's name or attribute.
    Tasks are generated from the offline world (path sampling, fuzzy entity rewriting,
    shortcut filters; see :mod:`mmsearch_gym.tasks.deep_search`) or loaded from a dataset.

    ## Action Space
    ``FreeText``: one model turn, ``<think>…</think>`` then one
    ``<tool_call>{"name": …, "arguments": {…}}</tool_call>`` or ``<answer>…</answer>``.

    ## Observation Space
    ``Dict(text=FreeText, images=Sequence(ImageSpace))``: the question and its image at reset,
    then ``<tool_response>…</tool_response>`` with at most ``max_new_images`` (4) new images.

    ## Tools
    ``text_search(query, top_k=5)``, ``image_search(image | url | query)``, ``visit(url, goal, page)``,
    ``crop(image, x, y, width, height | bbox_2d)``, ``sharpen(image, amount=1.5)``,
    ``super_resolution(image, scale=4)``, ``perspective_correct(image)``, ``ocr(image, psm=6)``.
    ``tools=`` offers a subset (e.g. search only, for an ablation).

    ## Rewards
    At the end only (OpenSearch-VL): ``r = r_fmt · (0.8·r_acc + 0.2·r_query)``.
    ``r_acc``: the judge's verdict on the answer against the gold answer and its aliases
    (rule-based by default: normalised containment, exact or token-F1; an OpenAI-compatible
    HTTP judge as option). A hedged answer scores ``r_acc = 0`` whatever it contains (see
    :func:`~mmsearch_gym.rewards.judge.hedging`): over 200 characters, more than 3 listed items,
    "A or B" alternatives, or naming a *rival* (another answer of the asked kind in the world,
    or the dataset row's ``rivals``); the reason is in ``info["evaluation"]["answer_refused"]``.
    A scorer that fails gives reward 0 and ``info["evaluation"]["judge_error"]``.
    ``r_fmt``: the share of turns well formed and error free.
    ``r_query``: rule-based search quality over five criteria (image-search utility,
    text-search utility, query progression, complementarity, evidence vs noise), 0 without
    tool calls. In a fatal episode ``r_fmt`` and ``r_query`` count only turns before
    ``fatal_turn``, so ``fatal_turn = 0`` gives reward 0. ``info["reward_components"] =
    {"accuracy", "format", "query", "overall"}``; the criteria are in ``info["evaluation"]``.

    ## Starting State
    A new task: sampled from the world with the env's RNG (``reset(seed=…)`` reproduces it), or
    drawn from ``dataset``; ``reset(options={"index": i})`` picks dataset task ``i`` and
    ``reset(options={"task": DeepSearchTask})`` plays a given task.

    ## Episode End
    Terminated on an answer or after ``fatal_k`` (3) consecutive step errors; truncated after
    ``max_turns`` (50) model calls, the last of which may only answer. The paper's 4096 tokens
    per turn is a generation limit: the rollout engine's ``SamplingParams(max_new_tokens=4096)``.

    ## Failure signals
    ``info["step_error"]`` (``parse``, ``unknown_tool``, ``bad_arguments``, ``bad_image_ref``,
    ``tool_failed``, ``timeout``, ``backend_down``, ``tool_disabled``), ``info["fatal"]`` and
    ``info["fatal_turn"]`` (OpenSearch-VL's rule, ``mmsearch_gym.core.failures``).

    ## Arguments
    - ``backend``: search backend spec (``None``: the cached default world; ``"world:DIR"``; a
      ``serve`` url; ``{"kind": "searxng" | "mediawiki" | "serper" | "tavily", …}``). HTTP backends
      open agent-chosen urls (``visit``, thumbnails) on public addresses only, unless the spec says
      ``allow_private_addresses=True``; a ``serve`` url sends ``MMSEARCH_GYM_SERVE_TOKEN`` when set.
    - ``world``: a built world folder to generate tasks from when the backend is not a local
      world, e.g. ``backend="http://127.0.0.1:8765", world=DIR`` for rollout workers sharing one
      ``mmsearch-gym serve`` of that world.
    - ``dataset``: a folder written by ``mmsearch-gym data build deep_search`` (or any folder with a
      ``tasks.jsonl`` in that format); required when the backend is not an offline world. Every row
      is checked and every image opened when the env is made (paths must stay inside the folder,
      images within 4096 px a side and 16 M pixels, checked before decoding); errors name
      ``tasks.jsonl:LINE``. A task's ``tool_benefit`` (AdaTooler's ΔS, from ``mmsearch-gym data
      tool-benefit``) reaches ``episode_record().task["tool_benefit"]`` for ``at_grpo``.
    - ``tools``: the tools offered (default all eight); ``min_hops``/``max_hops`` (2, 4),
      ``anchor_weights``, ``answer_weights``: task sampling (see ``TaskSampler``).
    - ``judge``: ``"rule"`` (default), ``{"kind": "rule", "mode": "contains" | "exact" | "f1"}`` or
      ``{"kind": "http", "base_url": …, "model": …}``; an HTTP judge that fails falls back to the rule
      judge and says so in ``info["evaluation"]["judge_error"]``.
    - ``acc_weight`` (0.8), ``query_weight`` (0.2): the reward's weights.
    - ``cache``: ``"auto"`` (default) shares deterministic results across the process's envs
      (:mod:`mmsearch_gym.core.cache`): the vision tools' outputs, the offline world's searches
      and pages, and the task a seed (an RNG state) generates, anchor image included; a GRPO
      group's rollouts compute each once. ``True`` also caches live HTTP search backends,
      ``False`` nothing; a ``ResultCache`` sets the bounds. Rewards and records do not change.
    - ``ocr_psm``: the ``ocr`` tool's default page segmentation mode (the agent may pass ``psm``).
    - ``max_turns`` (50), ``fatal_k`` (3), ``max_new_images`` (4), ``max_images`` (45),
      ``max_image_bytes`` (256 MiB: the episode's images together; a tool going over fails),
      ``ocr_timeout_s`` (30), ``render_mode``.

    ## Example
    >>> import gymnasium as gym, mmsearch_gym
    >>> env = gym.make("mmsearch_gym/DeepSearch-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
    """

    env_id = "mmsearch_gym/DeepSearch-v0"
    component_names = ("accuracy", "format", "query", "overall")
    intro = (
        "You are a research agent. You answer questions about an image by looking at it closely "
        "(crop, rectify, upscale, read its text) and searching the web over several steps."
    )

    def __init__(
        self,
        backend: Any = None,
        dataset: str | Path | None = None,
        world: str | Path | None = None,
        tools: Sequence[str] = ALL_TOOLS,
        min_hops: int = 2,
        max_hops: int = 4,
        anchor_weights: dict[str, float] | None = None,
        answer_weights: dict[str, float] | None = None,
        judge: Any = None,
        acc_weight: float = 0.8,
        query_weight: float = 0.2,
        max_turns: int = 50,
        fatal_k: int = 3,
        max_new_images: int = 4,
        max_images: int = 45,
        ocr_timeout_s: float = 30.0,
        render_mode: str | None = None,
        max_image_bytes: int = DEFAULT_MAX_BYTES,
        cache: CacheSpec = "auto",
        ocr_psm: int = DEFAULT_PSM,
    ):
        from ..tools.search import shared_backend

        names = (tools,) if isinstance(tools, str) else tuple(tools)
        unknown = [t for t in names if t not in ALL_TOOLS]
        if not names or unknown or len(set(names)) != len(names):
            raise ValueError(f"tools must be distinct names from {ALL_TOOLS}, got {tools!r}")
        for name, w in (("acc_weight", acc_weight), ("query_weight", query_weight)):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {w!r}")
        self.acc_weight, self.query_weight = float(acc_weight), float(query_weight)
        self.judge = make_judge(judge)
        self.backend = shared_backend(backend)  # built (or opened) now, not on the first search
        self.world = getattr(self.backend, "world", None)
        article_text = None
        world_identity = getattr(self.backend, "cache_identity", None) if self.world is not None else None
        if world is not None:
            self.world, article_text, world_identity = _load_world_folder(Path(world))
        self.dataset: list[DeepSearchTask] | None = None
        self.dataset_root: Path | None = None
        if dataset is not None:
            from ..tasks.deep_search_data import load_tasks

            self.dataset_root = Path(dataset)
            self.dataset = load_tasks(self.dataset_root, max_pixels=16_000_000, max_side=4096)  # the store's limits
            self.sampler = None
        elif self.world is None:
            raise ValueError(
                f"the search backend {type(self.backend).__name__} has no offline world to generate tasks from; "
                "pass dataset=DIR (a folder with tasks.jsonl, e.g. from `mmsearch-gym data build deep_search`) "
                "or world=DIR (the world folder a `mmsearch-gym serve` backend serves)"
            )
        else:
            self.sampler = TaskSampler(
                self.world, self.backend, min_hops=min_hops, max_hops=max_hops, article_text=article_text,
                anchor_weights=anchor_weights, answer_weights=answer_weights,
            )  # fmt: skip
        self.cache_spec = cache
        self.cache = resolve_cache(cache, getattr(self.backend, "deterministic", False))  # for generated tasks
        self._task_key: tuple[Any, ...] | None = None
        backend_identity = getattr(self.backend, "cache_identity", None) if self.cache is not None else None
        if self.sampler is not None and world_identity and backend_identity:
            sp = self.sampler
            self._task_key = ("deep_search_task", world_identity, backend_identity, sp.min_hops, sp.max_hops,
                              sp.max_clues, sp.filter_top_k, sp.max_tries, sp.anchor_weights, sp.answer_weights)  # fmt: skip
        super().__init__(
            self._make_tools(names, ocr_timeout_s, ocr_psm), max_turns=max_turns, fatal_k=fatal_k, max_images=max_images,
            max_new_images=max_new_images, max_image_side=4096, render_mode=render_mode,
            max_image_bytes=max_image_bytes,
        )  # fmt: skip
        self.ds_task: DeepSearchTask | None = None
        self._rival_cache: dict[tuple[str, str], tuple[str, ...]] | None = None  # made on first use

    def _make_tools(self, names: Sequence[str], ocr_timeout_s: float, ocr_psm: int) -> list[Tool]:
        from ..tools import vision
        from ..tools.search import ImageSearchTool, TextSearchTool, VisitTool

        cache = self.cache_spec
        makers = {
            "text_search": lambda: TextSearchTool(self.backend, cache=cache),
            "image_search": lambda: ImageSearchTool(self.backend, max_thumbnails=4, cache=cache),
            "visit": lambda: VisitTool(self.backend, cache=cache),
            "crop": vision.CropTool,
            "sharpen": lambda: vision.SharpenTool(cache=cache),
            "super_resolution": lambda: vision.SuperResolutionTool(cache=cache),
            "perspective_correct": lambda: vision.PerspectiveCorrectTool(cache=cache),
            "ocr": lambda: vision.OcrTool(timeout_s=ocr_timeout_s, psm=ocr_psm, cache=cache),
        }
        return [makers[n]() for n in names]

    # ---- task ----------------------------------------------------------------------------
    def _new_task(self, rng: np.random.Generator, options: dict[str, Any]) -> Task:
        unknown = set(options) - {"index", "task"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; valid: index, task")
        if "task" in options:
            task = options["task"]
            if not isinstance(task, DeepSearchTask):
                raise ValueError(f"options['task'] must be a DeepSearchTask, got {type(task).__name__}")
        elif self.dataset is not None:
            n = len(self.dataset)
            index = options.get("index")
            index = int(rng.integers(n)) if index is None else _check_int("index", index, 0, n - 1)
            task = self.dataset[index]
        else:
            if "index" in options:
                raise ValueError("options['index'] needs a dataset; generated tasks are chosen by the seed")
            task = self._generate(rng)
        image = task.image
        if image is None and task.image_paths:
            from ..tasks.deep_search_data import read_image

            image = read_image(task.image_paths[0], self.dataset_root, self.images.max_pixels, self.images.max_side)
        self.ds_task = task
        what = "its name" if task.asked == "name" else f"the {task.asked_label}" if task.asked_label else "the answer"
        prompt = (
            f"{task.question}\nFind the answer step by step with the tools, then give {what} in <answer>…</answer>."
        )
        meta = {"hops": task.hops, "difficulty": task.difficulty, "anchor": task.anchor.get("kind"),
                "required_tools": list(task.required_tools)}  # fmt: skip
        if task.meta.get("tool_benefit") is not None:  # AdaTooler's ΔS, for at_grpo (`data tool-benefit`)
            meta["tool_benefit"] = task.meta["tool_benefit"]
        return Task(task.task_id, prompt, [image] if image is not None else [], task.answers[0], meta)

    def _generate(self, rng: np.random.Generator) -> DeepSearchTask:
        """A generated task; the same RNG state gives the same task, so it is shared through the cache
        (and the RNG is left where sampling would have left it)."""
        assert self.sampler is not None
        if self.cache is None or self._task_key is None:
            return self.sampler.sample(rng)

        def draw() -> tuple[DeepSearchTask, dict[str, Any]]:
            return self.sampler.sample(rng), rng.bit_generator.state

        task, after = self.cache.get_or_compute(digest(*self._task_key, rng.bit_generator.state), draw)
        rng.bit_generator.state = after
        return copy.deepcopy(task, {id(task.image): task.image})  # lists and dicts fresh; the image is read-only

    # ---- reward --------------------------------------------------------------------------
    def _score(self, answer: str | None) -> Score:
        assert self.ds_task is not None
        task, record = self.ds_task, self.episode_record()
        details: dict[str, Any] = {"answers": list(task.answers)}
        accuracy = 0.0
        rivals = self._rivals(task)
        refused = hedging(answer, task.answers, rivals, self.judge.max_answer_chars, self.judge.max_candidates)
        if refused:
            details["answer_refused"] = refused
        elif answer is not None:
            try:
                accuracy = float(self.judge(task.question, answer, task.answers, rivals))
            except JudgeError as err:
                details["judge_error"] = str(err)
                accuracy = float(RuleJudge()(task.question, answer, task.answers, rivals))
        fatal_turn = self._fatal_turn  # None unless the episode is fatal
        fmt = format_score(record.turns, fatal_turn)
        query, criteria = query_score(record.turns, fatal_turn, task.evidence_urls, has_image=bool(self.task.images))
        overall = deep_search_reward(accuracy, fmt, query, self.acc_weight, self.query_weight)
        details["query_criteria"] = criteria
        components = {"accuracy": accuracy, "format": fmt, "query": query, "overall": overall}
        return Score(overall, components, accuracy >= 1.0, details)

    def _rivals(self, task: DeepSearchTask) -> tuple[str, ...]:
        """The other answers of the kind ``task`` asks for (see :func:`~..rewards.judge.hedging`): names
        and aliases of the world's entities of the answer's type, or every value of the asked
        attribute; or the row's own ``rivals`` list (datasets). Empty for tasks without either."""
        golds = {normalize_answer(a) for a in task.answers}
        given = task.meta.get("rivals")
        if isinstance(given, list):  # a dataset row may list them itself
            return tuple(r for r in (normalize_answer(str(x)) for x in given) if r and r not in golds)
        last = task.path[-1] if task.path else None
        if self.world is None or not isinstance(last, dict) or last.get("id") not in self.world.entities:
            return ()
        if self._rival_cache is None:  # one pass over the world for every type and attribute
            from ..tasks.deep_search_clues import GraphView

            view, found = GraphView(self.world), defaultdict(set)
            for e in self.world.iter_entities():
                found[("name", e.type)].update((e.name, *e.aliases))
                for a in view.attributes(e):
                    found[(a.key, "")].update((a.text, str(a.value)))
            self._rival_cache = {k: tuple(sorted({normalize_answer(r) for r in v} - {""})) for k, v in found.items()}
        key = ("name", self.world.entity(last["id"]).type) if task.asked == "name" else (task.asked, "")
        return tuple(r for r in self._rival_cache.get(key, ()) if r not in golds)

    # ---- scripted agents -----------------------------------------------------------------
    def oracle_action(self) -> str:
        """The next turn of an agent that knows the gold path and really uses the tools."""
        return self.scripted_action("oracle")

    def scripted_action(self, name: str) -> str:
        """The next turn of a scripted agent: ``oracle``, ``no_vision`` or ``single_search``."""
        from ..tasks.deep_search_agents import DeepSearchAgent

        return DeepSearchAgent(name).act(self)

    def random_answer(self, rng: np.random.Generator) -> str:
        if self.world is not None and len(self.world):
            ids = list(self.world.entities)
            return self.world.entity(ids[int(rng.integers(len(ids)))]).name
        return "I do not know"


def _load_world_folder(path: Path) -> tuple[Any, Any, str]:
    """The graph of a built world folder, its article texts (for generating tasks) and its identity."""
    from ..world.store import iter_articles, load_world, read_manifest

    manifest = read_manifest(path)
    if manifest is None:
        raise FileNotFoundError(
            f"{path} is not a built world (no manifest.json); run `mmsearch-gym world build --out {path}`"
        )
    texts = {a.doc_id: a.text for a in iter_articles(path)}
    return load_world(path), texts.__getitem__, f"world:{manifest.get('fingerprint')}"
