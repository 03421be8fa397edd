"""A run's folder: ``config.json``, ``episodes.jsonl`` (one finished episode a line), ``images/``.

An episode's images are written first, then its line, flushed to the OS: a line in the file
means the episode and its images are complete, so a killed run loses only the episodes it
had in flight. The file is fsynced at most every ``fsync_every`` seconds and at the end
(a crash of the whole machine may lose the last second). A torn last line (killed
mid-write) is dropped on reopening.

Each line: ``key`` (``env/seed/sample``), ``env`` (the suite entry), ``env_id``, ``index``,
``seed``, ``sample``, ``record`` (the env's :class:`~mmsearch_gym.core.record.EpisodeRecord`,
images as ids), ``images`` (id → path relative to the run folder), ``usage`` (tokens, when
the policy reports them) and ``elapsed_s``.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

_IMAGE_ID = re.compile(r"img_\d{1,6}")


@dataclass(frozen=True)
class Job:
    """One episode to play: task ``index`` of suite entry ``env`` (reset with ``seed``), sample ``sample``."""

    env: str
    index: int
    seed: int
    sample: int

    @property
    def key(self) -> str:
        return f"{self.env}/{self.seed}/{self.sample}"


class RunStore:
    """Reads and appends a run folder's files."""

    def __init__(self, out: str | Path, fsync_every: float = 1.0):
        self.root = Path(out)
        self.fsync_every = fsync_every
        self._synced = time.monotonic()
        self._dirty = False
        self.episodes_path = self.root / "episodes.jsonl"
        self.config_path = self.root / "config.json"
        self.summary_path = self.root / "summary.json"
        self.report_path = self.root / "report.html"
        self.images_dir = self.root / "images"
        self._lock = threading.Lock()

    # ---- reading -------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.episodes_path.exists() or self.config_path.exists()

    def lines(self) -> list[dict[str, Any]]:
        """Every complete episode line (a torn last line is cut off the file)."""
        return list(self._iter_lines(repair=True))

    def _iter_lines(self, repair: bool) -> Iterator[dict[str, Any]]:
        if not self.episodes_path.exists():
            return
        with open(self.episodes_path, "rb") as fh:
            data = fh.read()
        good = 0
        seen: set[str] = set()
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # killed mid-write
            try:
                line = json.loads(raw)
            except ValueError:
                break
            good += len(raw)
            if line.get("key") in seen:
                continue
            seen.add(line.get("key"))
            yield line
        if repair and good < len(data):
            with open(self.episodes_path, "r+b") as fh:
                fh.truncate(good)

    def done_keys(self) -> set[str]:
        return {line["key"] for line in self._iter_lines(repair=True)}

    def read_config(self) -> dict[str, Any] | None:
        if not self.config_path.exists():
            return None
        return json.loads(self.config_path.read_text())

    # ---- writing -------------------------------------------------------------------------
    def write_config(self, config: Mapping[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False, default=str))
        os.replace(tmp, self.config_path)

    def clear(self) -> None:
        """Remove the episodes and images of a previous run (``--overwrite``)."""
        import shutil

        for p in (self.episodes_path, self.summary_path, self.report_path):
            p.unlink(missing_ok=True)
        shutil.rmtree(self.images_dir, ignore_errors=True)

    def write_episode(
        self, job: Job, env_id: str, record: dict[str, Any], images: Mapping[str, np.ndarray | bytes], **extra: Any
    ) -> dict[str, Any]:
        """Save ``images`` (id → array, or PNG bytes already encoded) as
        ``images/ENV/SEED-SAMPLE_img_N.png``, then append the episode's line; return the line."""
        folder = self.images_dir / job.env
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for image_id, image in images.items():
            if not _IMAGE_ID.fullmatch(image_id):
                continue  # ids come from the env, but they name files: keep only the env's own form
            path = folder / f"{job.seed}-{job.sample}_{image_id}.png"
            path.write_bytes(image if isinstance(image, bytes) else png_bytes(image))
            paths[image_id] = path.relative_to(self.root).as_posix()
        line = {
            "key": job.key,
            "env": job.env,
            "env_id": env_id,
            "index": job.index,
            "seed": job.seed,
            "sample": job.sample,
            "record": record,
            "images": paths,
            **extra,
        }
        text = json.dumps(line, ensure_ascii=False, default=_jsonable) + "\n"
        with self._lock, open(self.episodes_path, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(text)
            fh.flush()
            self._dirty = True
            if time.monotonic() - self._synced >= self.fsync_every:
                os.fsync(fh.fileno())
                self._synced, self._dirty = time.monotonic(), False
        return line

    def sync(self) -> None:
        """fsync the episodes file (the end of a run)."""
        with self._lock:
            if self._dirty and self.episodes_path.exists():
                with open(self.episodes_path, "rb") as fh:
                    os.fsync(fh.fileno())
            self._synced, self._dirty = time.monotonic(), False


def png_bytes(image: np.ndarray) -> bytes:
    """``image`` as PNG (fast compression: these are written and sent once)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
