"""GroundedGen datasets on disk: RL tasks with their ground-truth pictures, and oracle SFT trajectories.

A dataset folder::

    manifest.json    kind, split, n, seed, world fingerprint, counts by category and composition
    tasks.jsonl      one task per line (GroundedGenTask fields; ``gt_path`` relative to the folder)
    images/          ground-truth pictures (PNG); for SFT also every image of the chats
    sft.jsonl        split "sft" only: one oracle chat per line, messages with text and image parts

Real data plugs in with the same ``tasks.jsonl``: at least ``task_id``, ``question`` and
``gt_path`` (Gen-Searcher's ``gt_image``), optionally ``category`` and ``subjects``. Files are
read through :mod:`mmsearch_gym.core.safe_io`: paths that leave the folder and images over the
pixel budget are refused, every row and picture is checked when the dataset is opened, and
errors name ``tasks.jsonl:LINE``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...core.safe_io import confined_path, load_task_rows, open_image
from .tasks import GroundedGenTask

SPLITS = ("rl", "sft")
FORMAT = 1
MAX_PIXELS = 16_000_000  # the env's image store's limits
MAX_SIDE = 4096
MAX_FILE_BYTES = 64_000_000


def read_dataset_image(root: str | Path, rel: str, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> np.ndarray:
    """An RGB array of the image ``rel`` inside the dataset folder ``root``.

    Refuses absolute paths, ``..``, links that resolve outside ``root``, files over
    ``MAX_FILE_BYTES`` and images over ``max_pixels`` / ``max_side`` (from the header, before decoding).
    """
    return open_image(confined_path(root, rel), max_pixels, max_side, MAX_FILE_BYTES)


def _parse(row: Any) -> GroundedGenTask:
    if not isinstance(row, dict):
        raise ValueError("a task must be a JSON object")
    row.setdefault("gt_path", row.pop("gt_image", None))
    return GroundedGenTask.from_json(row)


def load_tasks(root: str | Path, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> list[GroundedGenTask]:
    """The tasks of a dataset folder, every row and ground-truth picture checked now (inside the
    folder, within the limits, not damaged); pictures are decoded when a task is played. Errors are
    :class:`~mmsearch_gym.core.safe_io.DatasetError` naming ``tasks.jsonl:LINE``."""
    return load_task_rows(
        root, _parse, lambda task: [("gt_path", task.gt_path)] if task.gt_path is not None else [],
        f"build one with `mmsearch-gym data build grounded_gen --out {root}` "
        "or write one task per line with task_id, question and gt_path",
        max_pixels, max_side, MAX_FILE_BYTES,
    )  # fmt: skip


def _write_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path, optimize=False, compress_level=6)


def write_tasks(tasks: list[GroundedGenTask], out: Path) -> None:
    with (out / "tasks.jsonl").open("w", encoding="utf-8") as fh:
        for task in tasks:
            if task.gt_image is not None:
                task.gt_path = f"images/{task.task_id}.png"
                _write_png(task.gt_image, out / task.gt_path)
            fh.write(json.dumps(task.to_json(), ensure_ascii=False, sort_keys=True) + "\n")


def build_dataset(out: str | Path, split: str = "rl", n: int = 100, seed: int = 0, backend: Any = None,
                  env_kwargs: dict[str, Any] | None = None, progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Write ``n`` tasks (``rl``) or ``n`` oracle trajectories with reward ≥ 0.7 (``sft``) to ``out``; return the manifest.

    Task ``i`` is sampled with ``default_rng([seed, i])``, so any prefix of a dataset is reproducible.
    """
    from rich.progress import Progress

    from ...envs.grounded_gen import GroundedGenEnv
    from ..deep_search_data import sft_chat

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = GroundedGenEnv(backend=backend, **(env_kwargs or {}))
    assert env.sampler is not None
    manifest: dict[str, Any] = {"format": FORMAT, "kind": "grounded_gen", "split": split, "seed": seed,
                                "world": getattr(env.backend, "fingerprint", None)}  # fmt: skip
    tasks: list[GroundedGenTask] = []
    failed, i = 0, 0
    with Progress(disable=not progress) as bar:
        job = bar.add_task(f"grounded_gen {split}", total=n)
        fh = (out / "sft.jsonl").open("w", encoding="utf-8") if split == "sft" else None
        try:
            while len(tasks) < n:
                if i >= 3 * n + 10:
                    raise RuntimeError(f"the oracle passed only {len(tasks)} of {i} tasks; check the world and tools")
                task = env.sampler.sample(np.random.default_rng([seed, i]))
                i += 1
                if fh is not None:
                    env.reset(options={"task": task})
                    done = False
                    while not done:
                        _, _, terminated, truncated, info = env.step(env.oracle_action())
                        done = terminated or truncated
                    if not info["success"]:
                        failed += 1
                        continue
                    fh.write(json.dumps(sft_chat(env, task, out), ensure_ascii=False) + "\n")
                tasks.append(task)
                bar.advance(job)
        finally:
            if fh is not None:
                fh.close()
    write_tasks(tasks, out)
    if split == "sft":
        manifest["oracle_failures"] = failed
    manifest.update(n=len(tasks), categories=dict(sorted(Counter(t.category for t in tasks).items())),
                    compositions=dict(sorted(Counter(t.composition for t in tasks).items())))  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    env.close()
    return manifest
