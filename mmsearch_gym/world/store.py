"""A world on disk: build it once (articles, PNG images, indexes), load it fast, cache the default one.

Layout of a world folder::

    manifest.json      format, seed, entity count, sha256 of every data file, fingerprint
    world.json         entities, relations, image specs, near-duplicate pairs (sorted keys)
    articles.jsonl     one article per line, in entity order
    images/<id>.png    every indexed image (and photos with ``photos=True``)
    index/text/        tantivy index of the articles
    index/captions/    tantivy index of the image captions
    index/images.npz   reverse image search descriptors and thumbnails

Builds write into a temporary sibling folder and rename it into place, so concurrent
builders (rollout workers, xdist) never see half a world.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .articles import make_article
from .generate import generate_world
from .model import Article, Entity, ImageInfo, Relation, World

FORMAT_VERSION = 2  # bump when the generator's output or an index layout changes: cached worlds are rebuilt
# 2: one-field text index with doc_ids.json; image index of layout descriptors without thumbnails
DEFAULT_ENTITIES = 2000
DEFAULT_SEED = 0
CACHE_ENV = "MMSEARCH_GYM_CACHE"


def cache_root() -> Path:
    """Where default worlds are cached: ``$MMSEARCH_GYM_CACHE`` or ``~/.cache/mmsearch_gym``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mmsearch_gym"


def world_dir(n_entities: int = DEFAULT_ENTITIES, seed: int = DEFAULT_SEED, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"world-{seed}-{n_entities}-v{FORMAT_VERSION}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def world_json(world: World) -> bytes:
    data = {
        "format": FORMAT_VERSION,
        "seed": world.seed,
        "entities": [e.to_json() for e in world.entities.values()],
        "relations": [[r.head, r.relation, r.tail] for r in world.relations],
        "images": [i.to_json() for i in world.images.values()],
        "near_duplicates": [list(p) for p in world.near_duplicate_pairs],
    }
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def world_from_json(data: bytes) -> World:
    d = json.loads(data)
    if d.get("format") != FORMAT_VERSION:
        raise ValueError(f"world format {d.get('format')} is not the supported {FORMAT_VERSION}; rebuild it")
    entities = {e["id"]: Entity.from_json(e) for e in d["entities"]}
    relations = [Relation(h, r, t) for h, r, t in d["relations"]]
    images = {i["id"]: ImageInfo(**i) for i in d["images"]}
    return World(d["seed"], entities, relations, images, [tuple(p) for p in d["near_duplicates"]])


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=not enabled,
    )


def build_world(
    out: Path,
    n_entities: int = DEFAULT_ENTITIES,
    seed: int = DEFAULT_SEED,
    photos: bool = False,
    progress: bool = False,
    force: bool = False,
) -> Path:
    """Generate a world and write it with its indexes to ``out`` (atomically); returns ``out``.

    An existing complete world at ``out`` with the same seed and size is kept unless ``force``.
    """
    out = Path(out)
    if not force and is_complete(out, n_entities, seed):
        return out
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and read_manifest(out) is None)):
        raise FileExistsError(f"{out} exists and is not a world folder; refusing to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write(tmp, n_entities, seed, photos, progress)
        if out.exists():
            if not force and is_complete(out, n_entities, seed):  # another builder finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return out
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write(tmp: Path, n_entities: int, seed: int, photos: bool, progress: bool) -> None:
    from .image_index import ImageIndex
    from .render import png_bytes, render
    from .text_index import TextIndex, article_doc, caption_doc

    world = generate_world(n_entities, seed, progress=progress)
    files: dict[str, str] = {}
    blob = world_json(world)
    (tmp / "world.json").write_bytes(blob)
    files["world.json"] = _sha(blob)
    articles = [make_article(world, e) for e in world.entities]
    lines = "".join(json.dumps(a.to_json(), sort_keys=True, ensure_ascii=False) + "\n" for a in articles).encode()
    (tmp / "articles.jsonl").write_bytes(lines)
    files["articles.jsonl"] = _sha(lines)
    (tmp / "images").mkdir()
    wanted = [i for i in world.images.values() if i.indexed or photos]

    def rendered() -> Iterator[tuple[str, np.ndarray]]:  # write each PNG, hand indexed pixels to the index
        with _progress(progress) as bar:
            task = bar.add_task("images", total=len(wanted))
            for info in wanted:
                arr = render(world, info.id)
                data = png_bytes(arr)
                (tmp / "images" / f"{info.id}.png").write_bytes(data)
                files[f"images/{info.id}.png"] = _sha(data)
                bar.advance(task)
                if info.indexed:
                    yield info.id, arr

    image_index = ImageIndex.build(rendered())
    (tmp / "index").mkdir()
    image_index.save(tmp / "index" / "images.npz")
    TextIndex.build((article_doc(a) for a in articles), tmp / "index" / "text")
    names = {e.id: e.name for e in world.entities.values()}
    captions = (caption_doc(i, names[i.entity_id]) for i in world.images.values() if i.indexed)
    TextIndex.build(captions, tmp / "index" / "captions")
    fingerprint = _sha("".join(f"{k}={v}\n" for k, v in sorted(files.items())).encode())
    manifest = {
        "format": FORMAT_VERSION,
        "seed": seed,
        "n_entities": n_entities,
        "photos": photos,
        "fingerprint": fingerprint,
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def is_complete(path: Path, n_entities: int | None = None, seed: int | None = None) -> bool:
    """Whether ``path`` holds a finished world of this format (and of this size and seed, if given)."""
    m = read_manifest(path)
    return (
        bool(m)
        and m.get("format") == FORMAT_VERSION
        and (n_entities is None or m.get("n_entities") == n_entities)
        and (seed is None or m.get("seed") == seed)
        and (Path(path) / "index" / "images.npz").exists()
    )


def ensure_world(
    n_entities: int = DEFAULT_ENTITIES, seed: int = DEFAULT_SEED, root: Path | None = None, progress: bool = True
) -> Path:
    """The folder of the cached world ``(n_entities, seed)``, built on first use."""
    return build_world(world_dir(n_entities, seed, root), n_entities, seed, progress=progress)


def load_world(path: Path) -> World:
    """The :class:`World` graph stored at ``path``."""
    return world_from_json((Path(path) / "world.json").read_bytes())


def iter_articles(path: Path) -> Iterator[Article]:
    with open(Path(path) / "articles.jsonl", encoding="utf-8") as f:
        for line in f:
            yield Article.from_json(json.loads(line))
