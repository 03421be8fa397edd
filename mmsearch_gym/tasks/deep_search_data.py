"""DeepSearch datasets on disk: RL tasks and SFT trajectories (in the spirit of SearchVL-RL / SearchVL-SFT).

A dataset folder::

    manifest.json      kind, split, n, seed, world fingerprint, filter statistics
    tasks.jsonl        one task per line (DeepSearchTask fields; ``image_paths`` relative to the folder)
    images/            the tasks' anchor images (PNG); for SFT also every image a tool produced
    sft.jsonl          split "sft" only: one chat per line, messages with text and image parts

Real data plugs in by writing the same ``tasks.jsonl`` (at least ``task_id``, ``question``,
``answers`` and ``image_paths``; optionally ``rivals``, the other answers of the asked kind, for
the judge's hedging check) and passing the folder as ``dataset=`` to the env.

Loading reads through :mod:`mmsearch_gym.core.safe_io`: every row's fields are type-checked,
every image path must stay inside the folder (no absolute path, ``..`` or symlink out), and
every image is opened at load time, its size checked from the header against the env's limits
before anything is decoded; each error names ``tasks.jsonl:LINE``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
from PIL import Image

from ..core.safe_io import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SIDE,
    DatasetError,
    at,
    confined_path,
    iter_jsonl,
    load_task_rows,
    open_image,
)  # fmt: skip
from .deep_search import DeepSearchTask, TaskSampler

SPLITS = ("rl", "sft")
FORMAT = 1


def read_image(
    path: str | Path,
    root: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
) -> np.ndarray:
    """An RGB uint8 array from an image file; a relative path is taken from ``root`` and must stay
    inside it. The size is checked from the header before decoding."""
    p = confined_path(root, str(path)) if root is not None else Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image {p} does not exist; image_paths are relative to the dataset folder")
    return open_image(p, max_pixels, max_side)


_STR = {"type": "string"}
_STRS = {"type": "array", "items": _STR}
TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {  # task_id, question and answers are required by DeepSearchTask.from_json, which says so
        "task_id": {"type": ["string", "integer"]},
        "question": {"type": "string", "minLength": 1},
        "hops": {"type": "integer", "minimum": 0},
        "path": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "id": _STR, "name": _STR, "type": _STR, "url": _STR, "aliases": _STRS}}},
        "relations": {"type": "array", "items": {"type": "object", "properties": {
            "relation": _STR, "direction": _STR}}},
        "clues": {"type": "array", "items": _STRS},
        "asked": _STR,
        "asked_label": _STR,
        "anchor": {"type": "object"},
        "required_tools": _STRS,
        "difficulty": _STR,
        "image_paths": _STRS,
        "rivals": _STRS,
        "meta": {"type": "object"},
    },
}  # fmt: skip
_ROW_VALIDATOR = jsonschema.Draft202012Validator(TASK_SCHEMA)


def check_row(row: Any) -> None:
    """Check a ``tasks.jsonl`` row against :data:`TASK_SCHEMA` (so a bad field fails at load, not in the
    reward at the last step); raise DatasetError naming the field."""
    try:
        err = next(iter(sorted(_ROW_VALIDATOR.iter_errors(row), key=lambda e: list(e.path))), None)
        if err is not None:
            where = ".".join(str(p) for p in err.absolute_path) or "the row"
            raise DatasetError(f"{where}: {err.message[:200]}")
    except RecursionError:
        raise DatasetError("the row is nested too deeply") from None


def _write_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path, optimize=False, compress_level=6)


def _parse(row: Any) -> DeepSearchTask:
    check_row(row)
    if isinstance(row.get("task_id"), int):
        row = {**row, "task_id": str(row["task_id"])}
    return DeepSearchTask.from_json(row)


def load_tasks(
    root: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = DEFAULT_MAX_SIDE
) -> list[DeepSearchTask]:
    """The tasks of a dataset folder, every row checked and every image opened (header and structure,
    within ``max_pixels``/``max_side``) now; the pixels are decoded when a task is played."""
    return load_task_rows(
        root, _parse, lambda task: ((f"image_paths[{i}]", rel) for i, rel in enumerate(task.image_paths)),
        f"build one with `mmsearch-gym data build deep_search --out {root}` "
        "or write one task per line with task_id, question, answers and image_paths",
        max_pixels, max_side,
    )  # fmt: skip


def iter_sft(root: str | Path) -> Iterator[dict[str, Any]]:
    """The SFT chats of a dataset folder, image paths made absolute (and kept inside the folder)."""
    root = Path(root)
    path = root / "sft.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{root} has no sft.jsonl; build it with `mmsearch-gym data build deep_search --split sft`"
        )
    for line_no, chat in iter_jsonl(path):
        try:
            for m in chat["messages"]:
                for part in m["content"]:
                    if part["type"] == "image":
                        part["image"] = str(confined_path(root, part["image"]))
        except DatasetError as err:
            raise at(f"{path}:{line_no}", err) from None
        except (KeyError, TypeError) as err:
            raise DatasetError(f"{path}:{line_no}: not a chat of messages with content parts ({err!r})") from None
        yield chat


def sample_tasks(sampler: TaskSampler, n: int, seed: int, progress: bool = False) -> list[DeepSearchTask]:
    """``n`` tasks; task ``i`` comes from ``default_rng([seed, i])`` (so any prefix is reproducible)."""
    from rich.progress import track

    indices = range(n)
    it = track(indices, description="sampling tasks") if progress else indices
    return [sampler.sample(np.random.default_rng([seed, i])) for i in it]


def write_tasks(tasks: list[DeepSearchTask], out: Path) -> None:
    with (out / "tasks.jsonl").open("w", encoding="utf-8") as fh:
        for task in tasks:
            if task.image is not None:
                rel = f"images/{task.task_id}.png"
                _write_png(task.image, out / rel)
                task.image_paths = [rel]
            fh.write(json.dumps(task.to_json(), ensure_ascii=False, sort_keys=True) + "\n")


def sft_chat(env: Any, task: DeepSearchTask, out: Path) -> dict[str, Any]:
    """The finished episode in ``env`` as a chat with image parts (images written under ``out``)."""
    record = env.episode_record()
    messages = []
    for m in record.messages:
        parts: list[dict[str, Any]] = []
        for image_id in m["images"]:
            rel = f"images/{task.task_id}/{image_id}.png"
            _write_png(env.images.get(image_id), out / rel)
            parts.append({"type": "image", "image": rel})
        parts.append({"type": "text", "text": m["content"]})
        messages.append({"role": m["role"], "content": parts})
    return {
        "id": task.task_id,
        "messages": messages,
        "tools": [t.schema() for t in env.tools.values()],
        "reward": record.reward,
        "reward_components": record.reward_components,
        "task": task.to_json(),
    }


def build_dataset(
    out: str | Path,
    split: str = "rl",
    n: int = 100,
    seed: int = 0,
    backend: Any = None,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n`` tasks (``rl``) or ``n`` successful oracle trajectories (``sft``) to ``out``; return the manifest."""
    from rich.progress import Progress

    from ..envs.deep_search import DeepSearchEnv

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = DeepSearchEnv(backend=backend, **(env_kwargs or {}))
    assert env.sampler is not None
    manifest: dict[str, Any] = {"format": FORMAT, "kind": "deep_search", "split": split, "seed": seed,
                                "world": getattr(env.backend, "fingerprint", None)}  # fmt: skip
    if split == "rl":
        tasks = sample_tasks(env.sampler, n, seed, progress)
        write_tasks(tasks, out)
    else:
        tasks, failed, i = [], 0, 0
        with (out / "sft.jsonl").open("w", encoding="utf-8") as fh, Progress(disable=not progress) as bar:
            job = bar.add_task("oracle trajectories", total=n)
            while len(tasks) < n:
                if i >= 3 * n + 10:
                    raise RuntimeError(f"the oracle solved only {len(tasks)} of {i} tasks; check the world and tools")
                task = env.sampler.sample(np.random.default_rng([seed, i]))
                i += 1
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
        write_tasks(tasks, out)
        manifest["oracle_failures"] = failed
    manifest.update(n=len(tasks), rejected=dict(env.sampler.rejected),
                    hops=_count(t.hops for t in tasks), anchors=_count(t.anchor.get("kind") for t in tasks),
                    difficulty=_count(t.difficulty for t in tasks))  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    env.close()
    return manifest


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))
