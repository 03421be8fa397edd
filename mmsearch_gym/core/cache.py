"""A bounded, content-addressed cache of deterministic results, shared by every env of a process.

A GRPO group plays one prompt several times, and its rollouts call the same deterministic
tools on the same image bytes with the same arguments (OCR of the anchor photo, the reverse
image search, the searches and pages of the offline world). :class:`ResultCache` keeps those
results once per process: the key is a digest of what determines the result (the operation,
the content of its input images, its normalised arguments, the backend's identity), the
value is the result itself, stored read-only (its arrays are flagged non-writeable; an
episode's image store copies what it keeps). It holds at most ``max_entries`` results and
about ``max_bytes`` of them, evicting the least recently used; failures are never cached.

``shared_cache()`` is the process's cache; :func:`resolve_cache` turns a tool's or env's
``cache`` argument (``"auto"``, ``True``, ``False`` or a :class:`ResultCache`) into the
cache to use. A ``mmsearch-gym serve`` process caches its answers the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
CacheSpec = Any  # "auto" | bool | ResultCache | None

DEFAULT_MAX_ENTRIES = 4096
DEFAULT_MAX_BYTES = 256 * 2**20


def digest(*parts: Any) -> str:
    """A stable hex digest of JSON-able ``parts`` (the cache key of an operation and its arguments)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)
    return hashlib.blake2b(blob.encode(), digest_size=20).hexdigest()


_IMAGE_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}
_IMAGE_LOCK = threading.Lock()


def image_digest(image: np.ndarray) -> str:
    """Digest of an array's shape, dtype and bytes. Read-only arrays that own their memory (an
    episode's stored images) cannot change, so theirs is computed once."""
    arr = np.asarray(image)
    frozen = not arr.flags.writeable and arr.flags.owndata
    if frozen:
        with _IMAGE_LOCK:
            known = _IMAGE_DIGESTS.get(id(arr))
        if known is not None and known[0]() is arr:
            return known[1]
    h = hashlib.blake2b(f"{arr.shape}|{arr.dtype.str}|".encode(), digest_size=20)
    h.update(np.ascontiguousarray(arr).data)
    value = h.hexdigest()
    if frozen:
        key = id(arr)

        def forget(_: weakref.ref, key: int = key) -> None:
            with _IMAGE_LOCK:
                _IMAGE_DIGESTS.pop(key, None)

        with _IMAGE_LOCK:
            _IMAGE_DIGESTS[key] = (weakref.ref(arr, forget), value)
    return value


def freeze(value: Any) -> Any:
    """Flag every array inside ``value`` (dataclasses, lists, tuples, dicts) read-only; return it."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            freeze(getattr(value, f.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            freeze(item)
    elif isinstance(value, dict):
        for item in value.values():
            freeze(item)
    return value


def size_of(value: Any) -> int:
    """Rough bytes held by ``value`` (arrays and strings counted exactly, containers estimated)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    if isinstance(value, (str, bytes)):
        return len(value) + 49
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(size_of(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (list, tuple)):
        return 56 + sum(size_of(v) for v in value)
    if isinstance(value, dict):
        return 232 + sum(size_of(k) + size_of(v) for k, v in value.items())
    return 32


class ResultCache:
    """Least-recently-used results by key, bounded by entries and bytes; thread-safe.

    Args:
        max_entries: most results kept.
        max_bytes: most bytes kept (as :func:`size_of` counts them); a single result over a
            quarter of it is returned but not kept.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES):
        for name, v in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = self.hits = self.misses = self.evictions = 0

    def get_or_compute(self, key: str, compute: Callable[[], T]) -> T:
        """The cached result for ``key``, or ``compute()``'s (kept, read-only; exceptions pass through uncached)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return item[0]
            self.misses += 1
        value = freeze(compute())
        size = size_of(value)
        if size <= self.max_bytes // 4:
            with self._lock:
                if key not in self._items:
                    self._items[key] = (value, size)
                    self.bytes += size
                    while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                        _, (_, dropped) = self._items.popitem(last=False)
                        self.bytes -= dropped
                        self.evictions += 1
        return value

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = self.hits = self.misses = self.evictions = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._items), "bytes": self.bytes, "hits": self.hits,
                    "misses": self.misses, "evictions": self.evictions}  # fmt: skip


_SHARED = ResultCache()


def shared_cache() -> ResultCache:
    """The process's cache, shared by every env and tool that does not bring its own."""
    return _SHARED


def resolve_cache(spec: CacheSpec, deterministic: bool = True) -> ResultCache | None:
    """The cache a tool should use: ``"auto"`` (default) shares results of deterministic work
    only, ``True`` always, ``False``/``None`` never; a :class:`ResultCache` is used as given."""
    if isinstance(spec, ResultCache):
        return spec
    if spec is None or spec is False:
        return None
    if spec is True:
        return _SHARED
    if spec == "auto":
        return _SHARED if deterministic else None
    raise ValueError(f"cache must be 'auto', True, False or a ResultCache, got {spec!r}")
