"""DeepSearch datasets on disk: RL tasks and SFT trajectories (in the spirit of SearchVL-RL / SearchVL-SFT).

A dataset folder::

    manifest.json      kind, split, n, seed, world fingerprint, filter statistics
    tasks.jsonl        one task per line (DeepSearchTask fields; ``image_paths`` relative to the folder)
    images/            the tasks' anchor images (PNG); for SFT also every image a tool produced
    sft.jsonl          split "sft" only: one chat per line, messages with text and image parts

Real data plugs in by writing the same ``tasks.jsonl`` (at least ``task_id``, ``question``,
``answers`` and ``image_paths``) and passing the folder as ``dataset=`` to the env.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .deep_search import DeepSearchTask, TaskSampler

SPLITS = ("rl", "sft")
FORMAT = 1


def read_image(path: str | Path, root: str | Path | None = None) -> np.ndarray:
    """An RGB uint8 array from an image file (relative paths are taken from ``root``)."""
    p = Path(path)
    if root is not None and not p.is_absolute():
        p = Path(root) / p
    if not p.is_file():
        raise FileNotFoundError(f"image {p} does not exist; image_paths are relative to the dataset folder")
    with Image.open(p) as im:
        return np.asarray(im.convert("RGB"))


def _write_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image)).save(path, optimize=False, compress_level=6)


def load_tasks(root: str | Path) -> list[DeepSearchTask]:
    """The tasks of a dataset folder (images are read when a task is played)."""
    root = Path(root)
    path = root / "tasks.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{root} has no tasks.jsonl; build one with `mmsearch-gym data build deep_search --out {root}` "
            "or write one task per line with task_id, question, answers and image_paths"
        )
    tasks = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                tasks.append(DeepSearchTask.from_json(json.loads(line)))
            except (ValueError, TypeError) as err:
                raise ValueError(f"{path}:{line_no}: {err}") from None
    if not tasks:
        raise ValueError(f"{path} holds no tasks")
    return tasks


def iter_sft(root: str | Path) -> Iterator[dict[str, Any]]:
    """The SFT chats of a dataset folder, image paths made absolute."""
    root = Path(root)
    path = root / "sft.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{root} has no sft.jsonl; build it with `mmsearch-gym data build deep_search --split sft`"
        )
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                chat = json.loads(line)
                for m in chat["messages"]:
                    for part in m["content"]:
                        if part["type"] == "image":
                            part["image"] = str(root / part["image"])
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
