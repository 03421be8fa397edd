"""The shared result cache: bounded, content-addressed, read-only results; same records with it on and off."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.core import ImageStore, ToolContext
from mmsearch_gym.core.cache import ResultCache, digest, image_digest, resolve_cache, shared_cache
from mmsearch_gym.search import make_backend
from mmsearch_gym.search.fault_server import FaultServer
from mmsearch_gym.tasks.deep_search import TaskSampler
from mmsearch_gym.tools import vision
from mmsearch_gym.tools.search import TextSearchTool

ENV_ID = "mmsearch_gym/DeepSearch-v0"


def test_cache_is_bounded_by_entries_and_bytes_least_recently_used_first():
    cache = ResultCache(max_entries=3, max_bytes=10_000)
    for k in "abc":
        cache.get_or_compute(k, lambda k=k: k * 10)
    cache.get_or_compute("a", lambda: "recomputed")  # a hit: "a" becomes the most recent
    cache.get_or_compute("d", lambda: "dddd")
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    assert cache.get_or_compute("a", lambda: "recomputed") == "a" * 10
    assert cache.stats()["hits"] == 2 and cache.stats()["evictions"] == 1

    cache = ResultCache(max_entries=100, max_bytes=10_000)
    for i in range(5):
        cache.get_or_compute(str(i), lambda: np.zeros(2000, np.uint8))  # ~2.1 kB each
    assert cache.bytes <= 10_000 and len(cache) == 4 and "0" not in cache
    huge = cache.get_or_compute("huge", lambda: np.zeros(5000, np.uint8))  # over a quarter: returned, not kept
    assert huge.shape == (5000,) and "huge" not in cache


def test_failures_are_not_cached_and_results_are_read_only():
    cache = ResultCache()
    calls = []

    def fail():
        calls.append(1)
        raise RuntimeError("backend down")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            cache.get_or_compute("k", fail)
    assert len(calls) == 2 and "k" not in cache
    out = cache.get_or_compute("img", lambda: {"image": np.ones((4, 4, 3), np.uint8), "rows": [np.zeros(3)]})
    assert not out["image"].flags.writeable and not out["rows"][0].flags.writeable
    with pytest.raises(ValueError):
        out["image"][0, 0, 0] = 7


def test_keys_follow_content_not_identity():
    a = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    b = a.copy()
    assert image_digest(a) == image_digest(b)
    assert image_digest(a) != image_digest(a.reshape(2, 8, 3)) != image_digest(a.astype(np.int16))
    before = image_digest(b)
    b[0, 0, 0] = 200  # a writable array is hashed again each time
    assert image_digest(b) != before
    frozen = a.copy()
    frozen.setflags(write=False)
    assert image_digest(frozen) == image_digest(a)
    assert digest("ocr", "x", {"b": 1, "a": 2}) == digest("ocr", "x", {"a": 2, "b": 1}) != digest("ocr", "y", {})
    assert resolve_cache("auto", deterministic=False) is None and resolve_cache("auto") is shared_cache()
    assert resolve_cache(False) is None and resolve_cache(True, deterministic=False) is shared_cache()
    with pytest.raises(ValueError, match="cache must be"):
        resolve_cache("always")


def test_vision_tools_compute_once_per_image_and_arguments(monkeypatch):
    calls = []
    real = vision.sharpen
    monkeypatch.setattr(vision, "sharpen", lambda image, amount: calls.append(amount) or real(image, amount))
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    cache = ResultCache()
    outputs = []
    for amount in (1.5, 1.5, 2.0):
        store = ImageStore()
        store.add(photo.copy())  # another episode, the same bytes
        ctx = ToolContext(store, rng)
        result = vision.SharpenTool(cache=cache)({"image": "img_1", "amount": amount}, ctx)
        outputs.append(store.get(result.images[0]))
    assert calls == [1.5, 2.0]
    assert np.array_equal(outputs[0], outputs[1]) and not np.shares_memory(outputs[0], outputs[1])
    uncached = vision.SharpenTool(cache=False)
    store = ImageStore()
    store.add(photo)
    uncached({"image": "img_1", "amount": 1.5}, ToolContext(store, rng))
    assert calls == [1.5, 2.0, 1.5]


def test_live_http_search_is_cached_only_when_asked():
    with FaultServer("searxng") as server:
        backend = make_backend({"kind": "searxng", "base_url": server.url, "timeout_s": 1.0})
        ctx = ToolContext(ImageStore(), np.random.default_rng(0))
        auto = TextSearchTool(backend)
        asked = TextSearchTool(backend, cache=ResultCache())
        for tool in (auto, auto):
            tool({"query": "ada lovelace"}, ctx)
        assert len(server.requests) == 2
        first = asked({"query": "ada lovelace"}, ctx).text
        assert asked({"query": "ada lovelace"}, ctx).text == first and len(server.requests) == 3


def _episode(env, seed: int) -> str:
    env.reset(seed=seed)
    while True:
        _, _, terminated, truncated, _ = env.step(env.unwrapped.oracle_action())
        if terminated or truncated:
            return env.unwrapped.episode_record().to_json(sort_keys=True)


@pytest.fixture(scope="module")
def seeds():
    """Seeds whose tasks cover every anchor kind (OCR, crop, perspective, reverse search)."""
    env = gym.make(ENV_ID, cache=False)
    kinds: dict[str, int] = {}
    for seed in range(40):
        env.reset(seed=seed)
        kinds.setdefault(env.unwrapped.ds_task.anchor["kind"], seed)
    env.close()
    assert set(kinds) == {"render", "photo", "scene", "document"}
    return sorted(kinds.values())


def test_records_and_rewards_are_the_same_with_the_cache_on_and_off(seeds, monkeypatch):
    calls = {"ocr": 0, "sample": 0}
    real_ocr, real_sample = vision.ocr, TaskSampler.sample

    def counted_ocr(*args, **kwargs):
        calls["ocr"] += 1
        return real_ocr(*args, **kwargs)

    def counted_sample(self, *args, **kwargs):
        calls["sample"] += 1
        return real_sample(self, *args, **kwargs)

    monkeypatch.setattr(vision, "ocr", counted_ocr)
    monkeypatch.setattr(TaskSampler, "sample", counted_sample)
    off = gym.make(ENV_ID, cache=False)
    shared = ResultCache()
    group = [gym.make(ENV_ID, cache=shared) for _ in range(2)]  # two envs of a process, one cache
    ocr_calls = 0
    for seed in seeds:
        before = dict(calls)
        expected = _episode(off, seed)
        spent = {k: calls[k] - before[k] for k in calls}
        ocr_calls += spent["ocr"]
        before = dict(calls)
        assert _episode(group[0], seed) == expected  # the group's first rollout computes everything
        assert {k: calls[k] - before[k] for k in calls} == spent
        before = dict(calls)
        assert _episode(group[1], seed) == expected and _episode(group[0], seed) == expected
        assert calls == before  # later rollouts: the task and every OCR come from the cache
        group[1].reset(seed=seed)
        off.reset(seed=seed)
        assert group[1].unwrapped.np_random.bit_generator.state == off.unwrapped.np_random.bit_generator.state
        assert not group[1].unwrapped.ds_task.image.flags.writeable
        assert not np.shares_memory(group[1].unwrapped.images.get("img_1"), group[0].unwrapped.images.get("img_1"))
    assert ocr_calls > 0 and shared.stats()["hits"] > 0
    for env in (off, *group):
        env.close()


def test_serve_answers_a_repeated_request_once(tmp_path):
    import httpx

    from mmsearch_gym.world import build_world
    from mmsearch_gym.world.backend import LocalWorldBackend
    from mmsearch_gym.world.server import WorldServer

    backend = LocalWorldBackend(build_world(tmp_path / "w", 300, 7))
    calls = []
    real = backend.text_search
    backend.text_search = lambda q, k: calls.append(q) or real(q, k)
    server = WorldServer(backend, "127.0.0.1", 0, cache=ResultCache())
    server.start()
    try:
        answers = [httpx.get(f"{server.url}/search", params={"q": "flag colours", "top_k": 3}).json() for _ in range(3)]
        assert answers[0] == answers[1] == answers[2] and answers[0]["results"]
        assert calls == ["flag colours"]
        httpx.get(f"{server.url}/search", params={"q": "flag colours", "top_k": 4})
        assert len(calls) == 2  # other arguments, another entry
    finally:
        server.shutdown()
        server.server_close()
