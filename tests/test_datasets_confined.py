"""Datasets are confined and bounded: every path stays in its folder, every image is checked from its
header at load time (a decompression bomb is refused before decoding), every row is type-checked, and
every error names ``tasks.jsonl:LINE`` (mmsearch_gym.core.safe_io, used by the DeepSearch loader)."""

from __future__ import annotations

import json
import os
import tracemalloc

import gymnasium as gym
import numpy as np
import pytest
from hostile_files import bomb_png
from PIL import Image

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.core.safe_io import (
    DatasetError,
    ImageTooLarge,
    check_image,
    confined_path,
    decode_bounded,
    iter_jsonl,
    open_image,
)  # fmt: skip
from mmsearch_gym.tasks.deep_search_data import iter_sft, load_tasks


def row(**kw) -> dict:
    return {
        "task_id": "t",
        "question": "Which tower is this?",
        "answers": ["Tower A"],
        "image_paths": ["images/a.png"],
        **kw,
    }


@pytest.fixture
def folder(tmp_path):
    """A dataset folder with one good image; ``write(rows)`` writes tasks.jsonl."""
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(root / "images" / "a.png")
    (tmp_path / "secret.png").write_bytes((root / "images" / "a.png").read_bytes())  # outside the folder

    def write(*rows, raw: bytes | None = None):
        (root / "tasks.jsonl").write_bytes(
            raw if raw is not None else "".join(json.dumps(r) + "\n" for r in rows).encode()
        )
        return root

    return root, write


@pytest.mark.parametrize(
    "path, words",
    [("/etc/passwd", "absolute"), ("../secret.png", "climbs out"), ("images/../../secret.png", "climbs out"),
     ("C:\\Windows\\win.ini", "absolute"), ("", "non-empty"), ("images/missing.png", "does not exist")],
)  # fmt: skip
def test_image_paths_outside_the_folder_are_refused_at_load_with_file_and_line(folder, path, words):
    root, write = folder
    write(row(task_id="ok"), row(image_paths=[path]))
    with pytest.raises(DatasetError, match=rf"tasks.jsonl:2: image_paths\[0\]: .*{words}"):
        load_tasks(root)


def test_a_symlink_out_of_the_folder_is_refused_and_one_inside_is_followed(folder):
    root, write = folder
    os.symlink(root.parent / "secret.png", root / "images" / "link.png")
    os.symlink(root / "images" / "a.png", root / "images" / "inside.png")
    write(row(image_paths=["images/inside.png"]), row(image_paths=["images/link.png"]))
    with pytest.raises(DatasetError, match=r"tasks.jsonl:2: .*outside the dataset folder"):
        load_tasks(root)
    write(row(image_paths=["images/inside.png"]))
    assert load_tasks(root)[0].image_paths == ["images/inside.png"]


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(folder):
    root, write = folder
    data = bomb_png(12000, 12000)  # 144 megapixels
    assert len(data) < 400_000
    (root / "images" / "bomb.png").write_bytes(data)
    write(row(image_paths=["images/bomb.png"]))
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLarge, match=r"tasks.jsonl:1: .*12000×12000"):
            load_tasks(root)
        with pytest.raises(ImageTooLarge):
            decode_bounded(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000  # decoding would take 144 MB


def test_images_over_the_env_limits_fail_at_load_not_at_reset(folder):
    root, write = folder
    Image.fromarray(np.zeros((8, 5000, 3), np.uint8)).save(root / "images" / "wide.png")
    write(row(image_paths=["images/wide.png"]))
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: .*5000×8.*4096 per side"):
        gym.make("mmsearch_gym/DeepSearch-v0", dataset=root)


def test_a_damaged_image_fails_at_load(folder):
    root, write = folder
    good = (root / "images" / "a.png").read_bytes()
    (root / "images" / "cut.png").write_bytes(good[: len(good) // 2])
    (root / "images" / "text.png").write_text("not an image")
    write(row(image_paths=["images/cut.png"]))
    with pytest.raises(DatasetError, match=r"tasks.jsonl:1: .*(damaged|readable)"):
        load_tasks(root)
    write(row(image_paths=["images/text.png"]))
    with pytest.raises(DatasetError, match=r"tasks.jsonl:1: .*not a readable image"):
        load_tasks(root)


@pytest.mark.parametrize(
    "bad, words",
    [({"path": "oops"}, "path: 'oops' is not of type 'array'"), ({"path": [{"name": 3}]}, r"path.0.name"),
     ({"hops": -1}, "hops"), ({"clues": [[1]]}, "clues.0.0"), ({"question": ["q"]}, "question"),
     ({"image_paths": "images/a.png"}, "image_paths"), ({"rivals": [None]}, "rivals.0")],
)  # fmt: skip
def test_bad_fields_fail_at_load_with_the_field_named(folder, bad, words):
    root, write = folder
    write(row(task_id="ok"), row(**bad))
    with pytest.raises(DatasetError, match=rf"tasks.jsonl:2: {words}"):
        load_tasks(root)


def test_a_row_that_is_not_an_object_or_not_utf8_names_the_line(folder):
    root, write = folder
    write(raw=(json.dumps(row()) + "\n[1, 2]\n").encode())
    with pytest.raises(DatasetError, match=r"tasks.jsonl:2: .*not of type 'object'"):
        load_tasks(root)
    write(raw=(json.dumps(row()) + "\n").encode() + b'{"task_id": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match=r"tasks.jsonl:2: not UTF-8 \(byte 0xe9 at column 17\)"):
        load_tasks(root)
    write(raw=b"\xef\xbb\xbf" + json.dumps(row()).encode() + b"\n\n")  # a BOM and a blank line are fine
    assert [t.task_id for t in load_tasks(root)] == ["t"]


def test_a_played_dataset_task_reads_its_image_through_the_same_guard(folder):
    root, write = folder
    write(row())
    env = gym.make("mmsearch_gym/DeepSearch-v0", dataset=root)
    obs, _ = env.reset(seed=0)
    assert obs["images"][0].shape == (24, 32, 3)
    (root / "images" / "a.png").unlink()
    os.symlink(root.parent / "secret.png", root / "images" / "a.png")  # swapped after loading
    with pytest.raises(DatasetError, match="outside the dataset folder"):
        env.reset(seed=0)


def test_sft_image_parts_stay_inside_the_folder(folder):
    root, _ = folder
    chat = {"messages": [{"role": "user", "content": [{"type": "image", "image": "../secret.png"}]}]}
    (root / "sft.jsonl").write_text(json.dumps(chat) + "\n")
    with pytest.raises(DatasetError, match=r"sft.jsonl:1: .*climbs out"):
        list(iter_sft(root))


def test_safe_io_helpers(tmp_path):
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(tmp_path / "x.png")
    assert confined_path(tmp_path, "x.png") == (tmp_path / "x.png").resolve()
    assert check_image(tmp_path / "x.png") == (20, 10)
    assert open_image(tmp_path / "x.png").shape == (10, 20, 3)
    with pytest.raises(ImageTooLarge, match="200 pixels"):
        open_image(tmp_path / "x.png", max_pixels=100)
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n\n[2]\n' + "[" * 5000 + "]" * 5000 + "\n")
    it = iter_jsonl(tmp_path / "a.jsonl")
    assert next(it) == (1, {"a": 1}) and next(it) == (3, [2])
    with pytest.raises(DatasetError, match=r"a.jsonl:4: not readable JSON \(nested too deeply\)"):
        next(it)
