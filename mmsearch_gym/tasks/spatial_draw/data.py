"""SpatialDraw datasets on disk: generated RL tasks, oracle SFT chats, and real spatial data.

A dataset folder::

    manifest.json   kind, split, seed, counts per scale / task type / metric
    tasks.jsonl     one task per line: task_id, question, answer, metric, options, truth, unit,
                    scale, task_type, reasoning, oracle, image_paths (relative to the folder)
    images/         PNGs (for SFT also every image a tool drew)
    sft.jsonl       split "sft": one oracle chat per line in VILASR's turn format

Real data (VSI-Bench / SPAR style) plugs in by writing ``tasks.jsonl`` with at least
``task_id``, ``question``, ``answer``, ``metric`` (``multiple_choice`` | ``numeric`` |
``text``) and ``image_paths`` or ``frames`` (video frames, in order), paths relative to the
folder. Files are read through :mod:`mmsearch_gym.core.safe_io` only: relative paths inside the
folder (no absolute paths, no ``..``, no symlink leading out), at most ``MAX_PIXELS`` pixels and
``MAX_SIDE`` per side checked from the header before decoding; :func:`load_tasks` checks every
row and image when the dataset is opened, naming ``tasks.jsonl:LINE`` in its errors.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...core.safe_io import confined_path, load_task_rows, open_image
from .task import SpatialTask

SPLITS = ("rl", "sft")
MAX_PIXELS = 16_000_000  # the env's image store's limits
MAX_SIDE = 4096
MAX_IMAGES_PER_TASK = 32


def read_confined_image(root: str | Path, rel: str, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> np.ndarray:
    """An RGB image at ``rel`` inside ``root``; refuses paths that leave the folder (absolute, ``..``,
    a symlink out) and images over ``max_pixels`` / ``max_side``, read from the header before decoding."""
    return open_image(confined_path(root, rel), max_pixels, max_side)


def _parse(row: Any) -> SpatialTask:
    if not isinstance(row, dict):
        raise ValueError(f"a task is a JSON object, got {type(row).__name__}")
    task = SpatialTask.from_json(row)
    if not task.image_paths or len(task.image_paths) > MAX_IMAGES_PER_TASK:
        raise ValueError(f"a task needs 1 to {MAX_IMAGES_PER_TASK} image_paths (or frames)")
    return task


def load_tasks(root: str | Path, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> list[SpatialTask]:
    """The tasks of a dataset folder, every row and every image checked now (path inside the folder,
    header within the limits, file not damaged); pixels are decoded when a task is played.
    Errors are :class:`~mmsearch_gym.core.safe_io.DatasetError` naming ``tasks.jsonl:LINE``."""
    return load_task_rows(
        root, _parse, lambda task: ((f"image_paths[{i}]", rel) for i, rel in enumerate(task.image_paths)),
        f"build one with `mmsearch-gym data build spatial_draw --out {root}` or write one task per line "
        "with task_id, question, answer, metric and image_paths (or frames)",
        max_pixels, max_side,
    )  # fmt: skip


def with_images(task: SpatialTask, root: str | Path) -> SpatialTask:
    """A copy of ``task`` with its images read (confined to ``root``)."""
    images = [read_confined_image(root, p) for p in task.image_paths]
    return SpatialTask(task.task_id, task.scale, task.task_type, task.question, task.answer, images, task.options,
                       task.truth, task.unit, task.oracle, task.meta, task.image_paths)  # fmt: skip


def _write_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path, compress_level=6)


def build_dataset(out: str | Path, split: str = "rl", n: int = 100, seed: int = 0,
                  env_kwargs: dict[str, Any] | None = None, progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Write ``n`` generated tasks (``rl``) or ``n`` successful oracle chats (``sft``); return the manifest.

    Task ``i`` is the env's reset with seed ``[seed, i]``, so any prefix is reproducible.
    """
    from rich.progress import track

    from ...envs.spatial_draw import SpatialDrawEnv

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = SpatialDrawEnv(**(env_kwargs or {}))
    tasks, failed = [], 0
    sft = (out / "sft.jsonl").open("w", encoding="utf-8") if split == "sft" else None
    try:
        for i in track(range(n), description=f"spatial_draw {split}", disable=not progress):
            env.reset(seed=int(np.random.default_rng([seed, i]).integers(1 << 31)))
            task = env.spatial_task
            assert task is not None
            task.image_paths = [f"images/{task.task_id}/img_{k + 1}.png" for k in range(len(task.images))]
            for rel, img in zip(task.image_paths, task.images, strict=True):
                _write_png(img, out / rel)
            if sft is not None:
                done, info = False, {}
                while not done:
                    _, _, terminated, truncated, info = env.step(env.oracle_action())
                    done = terminated or truncated
                if not info.get("success"):
                    failed += 1
                    continue
                sft.write(json.dumps(_chat(env, task, out), ensure_ascii=False) + "\n")
            tasks.append(task)
    finally:
        if sft is not None:
            sft.close()
        env.close()
    with (out / "tasks.jsonl").open("w", encoding="utf-8") as fh:
        for task in tasks:
            fh.write(json.dumps(task.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    manifest = {"format": 1, "kind": "spatial_draw", "split": split, "seed": seed, "n": len(tasks), "oracle_failures": failed,
                "scales": dict(Counter(t.scale for t in tasks)), "task_types": dict(Counter(t.task_type for t in tasks)),
                "metrics": dict(Counter(t.metric for t in tasks))}  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _chat(env: Any, task: SpatialTask, out: Path) -> dict[str, Any]:
    record = env.episode_record()
    messages = []
    for m in record.messages:
        parts: list[dict[str, Any]] = []
        for image_id in m["images"]:
            rel = f"images/{task.task_id}/{image_id}.png"
            if not (out / rel).exists():
                _write_png(env.images.get(image_id), out / rel)
            parts.append({"type": "image", "image": rel})
        parts.append({"type": "text", "text": m["content"]})
        messages.append({"role": m["role"], "content": parts})
    return {"id": task.task_id, "messages": messages, "tools": [t.schema() for t in env.tools.values()],
            "reward": record.reward, "reward_components": record.reward_components, "task": task.to_json()}  # fmt: skip
