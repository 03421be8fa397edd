"""``mmsearch_gym/SpatialDraw-v0``: spatial questions over rendered 3D scenes at five scales (VILASR + SpaceVista)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.env import Score, Task, ToolEnv
from ..core.grammar import ChainGrammar, DefaultGrammar, VilasrGrammar
from ..rewards.vilasr import choice_accuracy, format_reward, numeric_accuracy, overall_reward, text_accuracy
from ..tasks.spatial_draw.agents import AGENTS, SpatialAgent
from ..tasks.spatial_draw.scenes import HEIGHT, SPECS, WIDTH
from ..tasks.spatial_draw.task import TASK_TYPES, SpatialTask
from ..tools.draw import ObjectMapperTool, PathTracerTool
from ..tools.vision import CropTool

SCALES = tuple(SPECS)
RewardFn = Callable[[dict[str, Any]], float]


class SpatialDrawEnv(ToolEnv):
    """Answer spatial questions about rendered 3D scenes, drawing boxes and paths to reason.

    ## Description
    A seeded scene of objects with true metric geometry is rendered at one of SpaceVista's
    (arXiv 2510.09606) five scales: ``tiny_tabletop`` (coins, dice, screws on a cutting mat;
    millimetres), ``tabletop`` (mugs, bottles, books on a table; centimetres), ``indoor``
    (furniture in a room), ``outdoor`` (cars, trees, benches on a lawn by a street) and
    ``drone`` (buildings, trucks, a pond from hundreds of metres up). The renderer
    (OpenGL on Mesa's software EGL) gives perspective, z-buffered occlusion, shadows and
    procedural textures; ground-truth boxes come from its object-id buffer. One image, two
    views of one scene, or a six-frame panning sequence, depending on the task type. The
    agent may draw on the images with VILASR's (arXiv 2506.09965) tools and answers.

    Task types (``info["task_type"]``; metric; MME-Reasoning kind): ``object_count``,
    ``relative_direction``, ``relative_distance``, ``route_plan``, ``appearance_order``,
    ``camera_motion``, ``multiview_correspondence``, ``depth_order``, ``height_order``
    (multiple choice), ``absolute_distance``, ``object_size``, ``area_size`` (numeric, MRA)
    and ``nearest_colour`` (short text). See ``mmsearch_gym.tasks.spatial_draw.task.TASK_TYPES``.

    ## Action Space
    ``FreeText``: one model turn, ``<think>…</think>`` then one ``<tool_call>{…}</tool_call>``
    or ``<answer>…</answer>``; or VILASR's ``<think>…</think> Action: Object Mapper`` /
    ``Path Tracer`` + a ```` ```json ```` item list, and ``<think>…</think> Action: Answer`` +
    ``<answer>…</answer>`` (scored as VILASR's code scores them).

    ## Observation Space
    ``Dict(text=FreeText, images=Sequence(ImageSpace))``: the question and the scene's
    images (448×336 by default) at reset, then the tool's reply and the drawn images.

    ## Tools
    - ``object_mapper(image?, objects=[{bbox_2d, label, index?}])``: labelled boxes.
    - ``path_tracer(image?, paths=[{start_point_2d, end_point_2d, label, index?}])``: black
      lines, red start and blue end dots. Items are kept by label and all redrawn on the
      image's original at every call; ``index`` names the 1-based image.
    - ``crop(image, x, y, width, height | bbox_2d)``: zoom into a region.

    ## Rewards
    At the end only: VILASR's ``overall = 0.5·acc + 0.5·format if acc > 0 else 0``; ``acc`` is
    an exact match after strip for multiple choice (``lenient_choice=True`` reads the letter),
    the mean relative accuracy for numbers, a normalised exact match for short text;
    ``format`` is 1 when every turn was well formed and error free and only the last answered.
    ``scale_weights={"drone": 2.0, …}`` multiplies ``overall`` per scale; ``reward_fn(c)``
    replaces it: ``c`` holds accuracy, format, overall, scale, task_type, metric and reasoning
    (a scale-aware, e.g. SpaceVista-progressive, reward without subclassing).
    ``info["reward_components"] = {"accuracy", "format", "overall", "reward"}``.

    ## Starting State
    A new task: scale drawn from ``scales``, task type from ``task_types`` (or
    ``reset(options={"scale": …, "task_type": …})``, or ``{"task": SpatialTask}``), or the
    next task of ``dataset``. ``info`` carries ``scale``, ``task_type``, ``metric`` and
    ``reasoning`` on every step. The same seed gives the same scene, byte for byte.

    ## Episode End
    Terminated on an answer or after ``fatal_k`` consecutive step errors; truncated after
    ``max_turns`` model calls (VILASR: 10); the reply before the last turn says drawing is over.

    ## Failure signals
    ``info["step_error"]`` (``parse``, ``unknown_tool``, ``bad_arguments``, ``bad_image_ref``,
    ``tool_disabled``, …), ``info["fatal"]`` and ``info["fatal_turn"]`` as in ``ToolEnv``.

    ## Arguments
    - ``scales``: subset of ``tiny_tabletop, tabletop, indoor, outdoor, drone`` (all).
    - ``task_types``: subset of the 13 task types (all).
    - ``dataset``: a folder with ``tasks.jsonl`` (``mmsearch-gym data build spatial_draw`` or real
      data: see ``mmsearch_gym.tasks.spatial_draw.data``); tasks are played in a seeded order.
    - ``lenient_choice`` (False), ``scale_weights`` (None), ``reward_fn`` (None): see Rewards.
    - ``width``/``height`` (448×336), ``supersample`` (1: render at k× and average down).
    - ``max_turns`` (10), ``fatal_k`` (3), ``max_images`` (45), ``render_mode``.

    Vector envs: ``SyncVectorEnv`` and ``AsyncVectorEnv`` (any context, the default ``fork``
    included) work as is. A worker forked after its parent had rendered cannot make a GL context
    of its own (Mesa's EGL state does not survive ``fork``): it renders in a helper process it
    starts (``env.unwrapped.render_process == "remote"``; same pixels; 0.6–2 s to start once per
    worker, then a frame's copy per render: ~1.1× the in-process render time in
    ``benchmarks/spatial_draw.py``). Workers forked before the parent rendered render in-process.

    ## Example
    >>> import gymnasium as gym, mmsearch_gym
    >>> env = gym.make("mmsearch_gym/SpatialDraw-v0", scales=("tabletop",))
    >>> obs, info = env.reset(seed=0)
    >>> info["scale"], info["task_type"], info["metric"]
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
    """

    env_id = "mmsearch_gym/SpatialDraw-v0"
    component_names = ("accuracy", "format", "overall", "reward")
    intro = ("You are a spatial reasoning assistant. You may draw boxes (object_mapper) and paths (path_tracer) on "
             "the images and look at the result before you answer.")  # fmt: skip

    def __init__(
        self,
        scales: Sequence[str] = SCALES,
        task_types: Sequence[str] = tuple(TASK_TYPES),
        dataset: str | None = None,
        lenient_choice: bool = False,
        scale_weights: dict[str, float] | None = None,
        reward_fn: RewardFn | None = None,
        width: int = WIDTH,
        height: int = HEIGHT,
        supersample: int = 1,
        max_turns: int = 10,
        fatal_k: int = 3,
        max_images: int = 45,
        render_mode: str | None = None,
    ):
        self.scales = _subset("scales", scales, SCALES)
        self.task_types = _subset("task_types", task_types, tuple(TASK_TYPES))
        if not isinstance(lenient_choice, bool):
            raise ValueError(f"lenient_choice must be True or False, got {lenient_choice!r}")
        self.lenient_choice = lenient_choice
        if scale_weights is not None and (not isinstance(scale_weights, dict) or not set(scale_weights) <= set(SCALES)
                                          or not all(isinstance(v, (int, float)) for v in scale_weights.values())):  # fmt: skip
            raise ValueError(f"scale_weights must map scales ({', '.join(SCALES)}) to numbers, got {scale_weights!r}")
        self.scale_weights = dict(scale_weights or {})
        if reward_fn is not None and not callable(reward_fn):
            raise ValueError("reward_fn must be a callable taking the reward components dict")
        self.reward_fn = reward_fn
        for name, v, lo, hi in (("width", width, 64, 2048), ("height", height, 64, 2048), ("supersample", supersample, 1, 4)):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name} must be an integer between {lo} and {hi}, got {v!r}")
        self.width, self.height, self.supersample = width, height, supersample
        self.dataset = dataset
        self._dataset_tasks = None
        if dataset is not None:
            from ..tasks.spatial_draw.data import load_tasks

            self._dataset_tasks = load_tasks(dataset)
        grammar = ChainGrammar([DefaultGrammar(), VilasrGrammar()])
        super().__init__([ObjectMapperTool(), PathTracerTool(), CropTool()], grammar=grammar, max_turns=max_turns,
                         fatal_k=fatal_k, max_images=max_images, max_image_side=4096, render_mode=render_mode)  # fmt: skip
        self._renderer = None
        self.spatial_task: SpatialTask | None = None

    @property
    def renderer(self) -> Any:
        from ..tasks.spatial_draw.render import Renderer

        if self._renderer is None:
            self._renderer = Renderer(supersample=self.supersample)
        return self._renderer

    @property
    def render_process(self) -> str:
        """Where this env renders: ``"local"`` (this process) or ``"remote"`` (a helper, after a fork)."""
        return self.renderer.mode

    # ---- task ----------------------------------------------------------------------------
    def _new_task(self, rng: np.random.Generator, options: dict[str, Any]) -> Task:
        unknown = set(options) - {"scale", "task_type", "task"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; valid: scale, task_type, task")
        if "task" in options:
            task = options["task"]
            if not isinstance(task, SpatialTask):
                raise ValueError("options['task'] must be a SpatialTask")
        elif self._dataset_tasks is not None:
            from ..tasks.spatial_draw.data import with_images

            task = with_images(self._dataset_tasks[int(rng.integers(len(self._dataset_tasks)))], self.dataset)
        else:
            from ..tasks.spatial_draw.generators import generate_task

            scale = options.get("scale") or self.scales[int(rng.integers(len(self.scales)))]
            ttype = options.get("task_type") or self.task_types[int(rng.integers(len(self.task_types)))]
            task = generate_task(rng, scale, ttype, self._sized_renderer())
        self.spatial_task = task
        return Task(task.task_id, task.prompt(), list(task.images), task.answer, {**task.tags(), "options": task.options})

    def _sized_renderer(self) -> Any:
        from ..tasks.spatial_draw import scenes

        scenes.WIDTH, scenes.HEIGHT = self.width, self.height  # read by main_camera's defaults at call time
        return self.renderer

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        if self.spatial_task is not None:
            info.update(self.spatial_task.tags())
        return info

    # ---- reward --------------------------------------------------------------------------
    def _score(self, answer: str | None) -> Score:
        task = self.spatial_task
        assert task is not None
        accuracy = 0.0
        if answer is not None:
            if task.metric == "multiple_choice":
                accuracy = choice_accuracy(answer, task.answer, self.lenient_choice, max(len(task.options), 1))
            elif task.metric == "numeric":
                accuracy = numeric_accuracy(answer, task.truth if task.truth is not None else float(task.answer))
            else:
                accuracy = text_accuracy(answer, task.answer)
        fmt = format_reward(self.episode_record().turns)
        overall = overall_reward(accuracy, fmt)
        components: dict[str, Any] = {"accuracy": accuracy, "format": fmt, "overall": overall, **task.tags()}
        reward = float(self.reward_fn(dict(components))) if self.reward_fn else overall * self.scale_weights.get(task.scale, 1.0)
        numbers = {k: float(v) for k, v in components.items() if isinstance(v, (int, float))} | {"reward": reward}
        return Score(reward, numbers, accuracy >= 1.0, {**task.tags(), "answer": task.answer})

    # ---- scripted agents -----------------------------------------------------------------
    def oracle_action(self) -> str:
        """Draw the true boxes/paths (VILASR's format), then answer."""
        return self.scripted_action("oracle")

    def scripted_action(self, name: str) -> str:
        """The next turn of a scripted agent: ``oracle``, ``blind`` (the task type's prior) or ``random``."""
        if name not in AGENTS:
            raise ValueError(f"unknown SpatialDraw agent {name!r}; choose one of {', '.join(AGENTS)}")
        return SpatialAgent(name).act(self)

    def random_answer(self, rng: np.random.Generator) -> str:
        from ..tasks.spatial_draw.agents import random_guess

        assert self.spatial_task is not None
        return random_guess(self.spatial_task, rng)

    def random_action(self, rng: np.random.Generator | None = None) -> str:
        """Half the time a random box on a random image, else (and on the last turn) a random answer."""
        rng = rng if rng is not None else self.np_random
        if self._turn >= self.max_turns - 1 or rng.random() < 0.5 or not self.images.ids:
            return f"<think>guess</think><answer>{self.random_answer(rng)}</answer>"
        index = int(rng.integers(len(self.images.ids))) + 1
        h, w = self.images.get(index).shape[:2]
        x, y = sorted(rng.integers(0, w, 2)), sorted(rng.integers(0, h, 2))
        box = {"index": index, "bbox_2d": [int(x[0]), int(y[0]), int(x[1]) + 1, int(y[1]) + 1], "label": "somewhere"}
        return f'<think>look here</think><tool_call>{{"name": "object_mapper", "arguments": {{"objects": [{json.dumps(box)}]}}}}</tool_call>'

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
        self._renderer = None
        super().close()


def _subset(name: str, given: Any, valid: tuple[str, ...]) -> tuple[str, ...]:
    given = (given,) if isinstance(given, str) else given
    if not isinstance(given, (list, tuple)) or not given or any(g not in valid for g in given):
        raise ValueError(f"{name} must be a non-empty subset of {valid}, got {given!r}")
    return tuple(given)
