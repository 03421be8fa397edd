"""Confined, bounded reading of dataset files (and of image bytes from the network).

A dataset row is written by someone else and may be hostile or just careless: an image path
that is absolute, climbs out with ``..`` or goes through a symlink shows the agent a file
from outside the dataset (``/etc/passwd`` was opened); a 168 KB PNG that decodes to
12000×12000 costs 1.7 GB; a non-UTF-8 byte or a bad JSON line fails with no hint where.
Every dataset loader reads through these functions:

- :func:`confined_path` — a relative path resolved under a root, refusing absolute paths,
  ``..`` and symlinks that lead outside it.
- :func:`check_image` / :func:`open_image` / :func:`decode_bounded` — images whose size is
  read from the header and checked against ``max_pixels`` and ``max_side`` *before*
  anything is decoded (PIL's own global ``Image.MAX_IMAGE_PIXELS`` is left alone).
- :func:`iter_jsonl` — ``(line number, object)`` per non-blank line; every error (not UTF-8,
  not JSON, a line over ``max_line_bytes``) is a :class:`DatasetError` naming ``file:line``.
- :func:`load_task_rows` — a dataset's ``tasks.jsonl`` with every row parsed and every image it
  names checked, the one loader the envs' datasets share.

Errors are :class:`DatasetError` (a ``ValueError``) or :class:`ImageTooLarge`; callers add
the row's ``file:line`` when they know it (:func:`at`).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, TypeVar

import numpy as np

DEFAULT_MAX_PIXELS = 16_000_000  # the envs' ImageStore default
DEFAULT_MAX_SIDE = 4096
MAX_LINE_BYTES = 16_000_000
T = TypeVar("T")


class DatasetError(ValueError):
    """A dataset file or row that cannot be used; the message names the file (and line) and what to fix."""


class ImageTooLarge(DatasetError):
    """An image whose header announces more pixels (or a longer side) than allowed."""


def at(where: str, err: Exception) -> DatasetError:
    """``err`` as a :class:`DatasetError` prefixed with ``where`` (e.g. ``"data/tasks.jsonl:12"``)."""
    cls = ImageTooLarge if isinstance(err, ImageTooLarge) else DatasetError
    return cls(f"{where}: {err}")


def confined_path(root: str | Path, relative: Any) -> Path:
    """``root/relative`` resolved (symlinks followed), refused unless it stays inside ``root``.

    ``relative`` must be a non-empty relative path string without ``..`` parts (POSIX or
    Windows forms); the resolved path must lie under the resolved ``root``.
    """
    if not isinstance(relative, str) or not relative.strip() or "\x00" in relative:
        raise DatasetError(f"a path must be a non-empty string, got {str(relative)[:100]!r}")
    if (
        PurePosixPath(relative).is_absolute()
        or PureWindowsPath(relative).is_absolute()
        or PureWindowsPath(relative).drive
    ):
        raise DatasetError(f"path {relative[:200]!r} is absolute; paths must be relative to the dataset folder")
    if ".." in PurePosixPath(relative.replace("\\", "/")).parts:
        raise DatasetError(f"path {relative[:200]!r} climbs out with '..'; paths must stay inside the dataset folder")
    base = Path(root).resolve()
    try:
        resolved = (base / relative).resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise DatasetError(f"path {relative[:200]!r} cannot be resolved ({err})") from None
    if not resolved.is_relative_to(base):
        raise DatasetError(
            f"path {relative[:200]!r} leads outside the dataset folder (to {resolved}) through a symlink"
        )
    return resolved


def _check_size(w: int, h: int, max_pixels: int, max_side: int, what: str) -> None:
    if w < 1 or h < 1:
        raise ImageTooLarge(f"{what} has no pixels ({w}×{h})")
    if w * h > max_pixels or max(w, h) > max_side:
        raise ImageTooLarge(
            f"{what} is {w}×{h} ({w * h:,} pixels); the limit is {max_pixels:,} pixels and {max_side} per side"
        )


def _open(source: Any, what: str) -> Any:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked next
        try:
            return Image.open(source)
        except Image.DecompressionBombError as err:
            raise ImageTooLarge(f"{what} is too large to open ({err})") from None
        except (OSError, ValueError, SyntaxError) as err:  # PIL raises SyntaxError for some broken headers
            raise DatasetError(f"{what} is not a readable image ({type(err).__name__}: {err})") from None


def _check_file(p: Path, max_file_bytes: int | None) -> None:
    if not p.is_file():
        raise DatasetError(f"image {p} does not exist")
    if max_file_bytes is not None and p.stat().st_size > max_file_bytes:
        raise DatasetError(f"image {p} is over {max_file_bytes} bytes")


def check_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    max_file_bytes: int | None = None,
) -> tuple[int, int]:
    """``(width, height)`` of the image at ``path`` from its header, after checking the bounds (and
    the file's size, given ``max_file_bytes``) and the file's structure (``verify``: chunk CRCs,
    truncation); nothing is decoded."""
    p = Path(path)
    _check_file(p, max_file_bytes)
    im = _open(p, f"image {p}")
    with im:
        w, h = im.size
        _check_size(w, h, max_pixels, max_side, f"image {p}")
        try:
            im.verify()
        except Exception as err:  # PIL's verify raises many kinds
            raise DatasetError(f"image {p} is damaged ({type(err).__name__}: {err})") from None
    return w, h


def _decode(im: Any, what: str, max_pixels: int, max_side: int, thumbnail: int | None) -> np.ndarray:
    with im:
        _check_size(*im.size, max_pixels, max_side, what)
        try:
            if thumbnail:
                im.thumbnail((thumbnail, thumbnail))
            return np.asarray(im.convert("RGB"))
        except Exception as err:  # truncated data, a bad palette, …
            raise DatasetError(f"{what} could not be decoded ({type(err).__name__}: {err})") from None


def open_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    max_file_bytes: int | None = None,
) -> np.ndarray:
    """An RGB uint8 array of the image at ``path``, its size checked from the header before decoding."""
    p = Path(path)
    _check_file(p, max_file_bytes)
    return _decode(_open(p, f"image {p}"), f"image {p}", max_pixels, max_side, None)


def decode_bounded(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = DEFAULT_MAX_SIDE, thumbnail: int | None = None
) -> np.ndarray:
    """An RGB uint8 array of encoded image bytes (PNG, JPEG, …), checked like :func:`open_image`;
    ``thumbnail`` shrinks it to fit that many pixels per side while decoding."""
    return _decode(_open(io.BytesIO(data), "the image"), "the image", max_pixels, max_side, thumbnail)


def iter_jsonl(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` for every non-blank line of ``path``; errors name ``path:line``."""
    p = Path(path)
    with p.open("rb") as fh:
        line_no = 0
        while True:
            raw = fh.readline(max_line_bytes + 1)
            if not raw:
                return
            line_no += 1
            if len(raw) > max_line_bytes:
                raise DatasetError(f"{p}:{line_no}: line longer than {max_line_bytes} bytes")
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise DatasetError(
                    f"{p}:{line_no}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1}); "
                    "write the file as UTF-8"
                ) from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                raise DatasetError(f"{p}:{line_no}: not valid JSON ({err.msg} at column {err.colno})") from None
            except (ValueError, RecursionError) as err:
                reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)[:200]
                raise DatasetError(f"{p}:{line_no}: not readable JSON ({reason})") from None
            yield line_no, obj


def load_task_rows(
    root: str | Path,
    parse: Callable[[Any], T],
    image_paths: Callable[[T], Iterable[tuple[str, str]]],
    how_to_build: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
    max_file_bytes: int | None = None,
) -> list[T]:
    """Every task of ``root/tasks.jsonl``, each row parsed and each of its images checked now.

    ``parse(row)`` builds a task (raising ValueError / TypeError / KeyError / AttributeError on a
    bad row); ``image_paths(task)`` yields ``(field, relative path)`` pairs, each confined to
    ``root`` and checked by :func:`check_image` (nothing decoded). Errors are
    :class:`DatasetError` naming ``tasks.jsonl:LINE`` and the field; ``how_to_build`` finishes
    the message when the file is missing.
    """
    root = Path(root)
    path = root / "tasks.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{root} has no tasks.jsonl; {how_to_build}")
    tasks = []
    for line_no, row in iter_jsonl(path):
        try:
            task = parse(row)
            for field, rel in image_paths(task):
                try:
                    check_image(confined_path(root, rel), max_pixels, max_side, max_file_bytes)
                except DatasetError as err:
                    raise at(field, err) from None
        except (ValueError, TypeError, AttributeError, KeyError) as err:  # DatasetError is a ValueError
            raise at(f"{path}:{line_no}", err) from None
        tasks.append(task)
    if not tasks:
        raise DatasetError(f"{path} holds no tasks")
    return tasks
