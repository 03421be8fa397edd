"""GroundedGen datasets on disk: RL tasks with their ground-truth pictures, and oracle SFT trajectories.

A dataset folder::

    manifest.json    kind, split, n, seed, world fingerprint, counts by category and composition
    tasks.jsonl      one task per line (GroundedGenTask fields; ``gt_path`` relative to the folder)
    images/          ground-truth pictures (PNG); for SFT also every image of the chats
    sft.jsonl        split "sft" only: one oracle chat per line, messages with text and image parts

Real data plugs in with the same ``tasks.jsonl``: at least ``task_id``, ``question`` and
``gt_path`` (Gen-Searcher's ``gt_image``), optionally ``category`` and ``subjects``. Files are
read through :func:`read_dataset_image`, which refuses paths that leave the folder and images
over a pixel budget.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .tasks import GroundedGenTask

SPLITS = ("rl", "sft")
FORMAT = 1
MAX_PIXELS = 16_000_000
MAX_FILE_BYTES = 64_000_000


def read_dataset_image(root: str | Path, rel: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An RGB array of the image ``rel`` inside the dataset folder ``root``.

    Refuses absolute paths, paths (or links) that resolve outside ``root``, files over
    ``MAX_FILE_BYTES`` and images over ``max_pixels`` (checked from the header, before decoding).
    """
    base = Path(root).resolve()
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or "\x00" in rel:
        raise ValueError(f"image paths must be relative to the dataset folder, got {str(rel)[:100]!r}")
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"image path {rel[:100]!r} leaves the dataset folder {base}")
    if not path.is_file():
        raise FileNotFoundError(f"image {rel[:100]!r} does not exist in {base}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"image {rel[:100]!r} is over {MAX_FILE_BYTES} bytes")
    with Image.open(path) as im:
        w, h = im.size
        if w * h > max_pixels:
            raise ValueError(f"image {rel[:100]!r} is {w}×{h}, over {max_pixels} pixels")
        return np.asarray(im.convert("RGB"))


def load_tasks(root: str | Path) -> list[GroundedGenTask]:
    """The tasks of a dataset folder (ground-truth pictures are read when a task is played)."""
    root = Path(root)
    path = root / "tasks.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{root} has no tasks.jsonl; build one with `mmsearch-gym data build grounded_gen --out {root}` "
            "or write one task per line with task_id, question and gt_path"
        )
    tasks = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("a task must be a JSON object")
                d.setdefault("gt_path", d.pop("gt_image", None))
                tasks.append(GroundedGenTask.from_json(d))
            except (ValueError, TypeError) as err:
                raise ValueError(f"{path}:{line_no}: {err}") from None
    if not tasks:
        raise ValueError(f"{path} holds no tasks")
    return tasks


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
