"""The embedded search backend: a built world folder answering text search, image search and page fetches."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.failures import StepError
from ..search.base import BackendError, ImageHit, Page, SearchBackend, SearchHit
from .model import IMAGE_URL_PREFIX, URL_PREFIX, World
from .store import DEFAULT_ENTITIES, DEFAULT_SEED, ensure_world, iter_articles, load_world, read_manifest


class LocalWorldBackend(SearchBackend):
    """Search over a world folder made by :func:`~mmsearch_gym.world.store.build_world`.

    Thread-safe: one instance can serve many threads (``mmsearch-gym serve`` does).
    """

    name = "world"
    deterministic = True

    def __init__(self, path: str | Path):
        from .image_index import ImageIndex
        from .text_index import TextIndex

        self.path = Path(path)
        manifest = read_manifest(self.path)
        if manifest is None:
            raise FileNotFoundError(
                f"{self.path} is not a built world (no manifest.json); run `mmsearch-gym world build`"
            )
        self.manifest = manifest
        self.world: World = load_world(self.path)
        self.articles = {a.doc_id: a for a in iter_articles(self.path)}
        self.text_index = TextIndex.open(self.path / "index" / "text")
        self.caption_index = TextIndex.open(self.path / "index" / "captions")
        self.image_index = ImageIndex.load(self.path / "index" / "images.npz")
        self._lock = threading.Lock()
        self.image_array = lru_cache(maxsize=256)(self._image_array)

    @classmethod
    def default(cls, n_entities: int = DEFAULT_ENTITIES, seed: int = DEFAULT_SEED) -> LocalWorldBackend:
        """The cached default world, built on first use."""
        return cls(ensure_world(n_entities, seed))

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    @property
    def cache_identity(self) -> str:
        return f"world:{self.fingerprint}"

    # ---- text ---------------------------------------------------------------------------------
    def text_search(self, query: str, top_k: int) -> list[SearchHit]:
        with self._lock:
            hits = self.text_index.search(query, top_k)
        return [SearchHit(h.title, h.url, h.snippet, h.doc_id, h.score) for h in hits]

    def fetch(self, url: str) -> Page:
        entity = self.world.entity_for_url(url)
        if entity is not None:
            article = self.articles[entity.id]
            return Page(article.url, article.title, article.text)
        info = self.world.image_for_url(url) if url.strip().lower().startswith(IMAGE_URL_PREFIX.lower()) else None
        if info is not None:
            owner = self.world.entity(info.entity_id)
            return Page(
                info.url,
                info.caption,
                f"{info.caption}\n\nSource page: {owner.url}"
                + (f"\n\nPrinted text:\n{info.text}" if info.text else ""),
            )
        raise BackendError(
            StepError.BAD_ARGUMENTS,
            f"Unknown url {url[:200]!r}: pages of this world look like "
            f"{URL_PREFIX}<Title>; use a url from the search results.",
        )

    # ---- images -------------------------------------------------------------------------------
    def _image_array(self, image_id: str) -> np.ndarray:
        png = self.path / "images" / f"{image_id}.png"
        if png.exists():
            with Image.open(png) as im:
                return np.asarray(im.convert("RGB"))
        from .render import render

        return render(self.world, image_id)

    def image_png(self, image_id: str) -> bytes:
        """PNG bytes of a world image (photos are rendered on demand)."""
        png = self.path / "images" / f"{image_id}.png"
        if png.exists():
            return png.read_bytes()
        from .render import png_bytes

        return png_bytes(self.image_array(image_id))

    def image_search(
        self, *, image: np.ndarray | None = None, query: str | None = None, url: str | None = None, top_k: int = 5
    ) -> list[ImageHit]:
        if sum(x is not None for x in (image, query, url)) != 1:
            raise BackendError(StepError.BAD_ARGUMENTS, "give exactly one of image, query or url")
        if query is not None:
            with self._lock:
                hits = self.caption_index.search(query, top_k)
            return [self._hit(h.doc_id, h.score) for h in hits]
        if url is not None:
            info = self.world.image_for_url(url)
            if info is None:
                raise BackendError(
                    StepError.BAD_ARGUMENTS,
                    f"Unknown image url {url[:200]!r}: images of this world look like {IMAGE_URL_PREFIX}<id>.png.",
                )
            image = self.image_array(info.id)
        assert image is not None
        return [self._hit(image_id, score) for image_id, score in self.image_index.search(image, top_k)]

    def _hit(self, image_id: str, score: float | None) -> ImageHit:
        info = self.world.images[image_id]
        owner = self.world.entity(info.entity_id)
        return ImageHit(
            title=owner.name,
            page_url=owner.url,
            image_url=info.url,
            caption=info.caption,
            image_id=image_id,
            score=score,
            thumbnail=self.image_array(image_id),
        )


def decode_image(data: bytes, max_pixels: int = 16_000_000, max_side: int = 4096) -> np.ndarray:
    """RGB array of encoded image bytes (PNG, JPEG, …); the size is checked from the header first."""
    from ..core.safe_io import decode_bounded

    return decode_bounded(data, max_pixels, max_side)
