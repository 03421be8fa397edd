"""Building worlds on disk: byte-identical per seed (articles, PNG images, index results), atomic, cached."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mmsearch_gym.world import CACHE_ENV, build_world, ensure_world, is_complete, load_world, world_dir
from mmsearch_gym.world.backend import LocalWorldBackend
from mmsearch_gym.world.render import png_bytes, render
from mmsearch_gym.world.store import read_manifest

N, SEED = 150, 5


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    return build_world(root / "a", N, SEED), build_world(root / "b", N, SEED)


def _files(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file() and "index" not in f.parts and f.name != "manifest.json"
    }


def test_same_seed_builds_byte_identical_worlds(twins):
    a, b = twins
    files = _files(a)
    assert files == _files(b)
    assert "world.json" in files and "articles.jsonl" in files
    assert sum(name.startswith("images/") for name in files) == sum(i.indexed for i in load_world(a).images.values())
    assert read_manifest(a)["fingerprint"] == read_manifest(b)["fingerprint"]


def test_same_seed_gives_identical_search_results(twins):
    a, b = (LocalWorldBackend(p) for p in twins)
    for query in ["festival lantern", "born in", "postal code", "flag crimson gold", "chalice bronze"]:
        assert a.text_search(query, 5) == b.text_search(query, 5)
        assert [(h.image_id, h.score) for h in a.image_search(query=query, top_k=5)] == [
            (h.image_id, h.score) for h in b.image_search(query=query, top_k=5)
        ]
    photos = [i.id for i in a.world.images.values() if i.kind == "photo"][:4]
    for pid in photos:
        assert a.image_png(pid) == b.image_png(pid)  # photos are rendered on demand, identically
        ra = [(h.image_id, h.score) for h in a.image_search(image=a.image_array(pid), top_k=5)]
        assert ra == [(h.image_id, h.score) for h in b.image_search(image=b.image_array(pid), top_k=5)]


def test_other_seed_differs(twins, tmp_path):
    other = build_world(tmp_path / "c", N, SEED + 1)
    assert read_manifest(other)["fingerprint"] != read_manifest(twins[0])["fingerprint"]


def test_rendering_is_deterministic_and_photos_are_degraded(twins):
    world = load_world(twins[0])
    photo = next(i for i in world.images.values() if i.kind == "photo")
    first, second = render(world, photo.id), render(world, photo.id)
    assert png_bytes(first) == png_bytes(second)
    source = render(world, photo.source)
    assert first.shape != source.shape or not np.array_equal(first, source)
    assert first.dtype == np.uint8 and first.ndim == 3


def test_existing_world_is_kept_and_force_rebuilds(twins):
    a = twins[0]
    stamp = (a / "manifest.json").stat().st_mtime_ns
    assert build_world(a, N, SEED) == a
    assert (a / "manifest.json").stat().st_mtime_ns == stamp
    assert not is_complete(a, N + 1, SEED) and not is_complete(a, N, SEED + 1)


def test_refuses_to_overwrite_a_folder_that_is_not_a_world(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_world(tmp_path, 40, 0)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_ensure_world_uses_the_cache_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    path = ensure_world(40, 2, progress=False)
    assert path == world_dir(40, 2) and str(path).startswith(str(tmp_path / "cache"))
    assert is_complete(path, 40, 2)
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the temporary build folder was renamed into place
    assert LocalWorldBackend(path).fingerprint == read_manifest(path)["fingerprint"]


def test_backend_rejects_a_folder_without_a_world(tmp_path):
    with pytest.raises(FileNotFoundError, match="world build"):
        LocalWorldBackend(tmp_path)
