"""``mmsearch-gym serve`` end to end: a world server on 127.0.0.1 and its client give the local results."""

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from mmsearch_gym.core import ImageStore, ToolContext, ToolError
from mmsearch_gym.search import BackendError, make_backend
from mmsearch_gym.tools.search import ImageSearchTool, TextSearchTool
from mmsearch_gym.world import build_world
from mmsearch_gym.world.backend import LocalWorldBackend
from mmsearch_gym.world.server import WorldServer


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return LocalWorldBackend(build_world(tmp_path_factory.mktemp("w") / "world", 120, 9))


@pytest.fixture(scope="module")
def server(local):
    srv = WorldServer(local, "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def remote(server):
    backend = make_backend(server.url)
    yield backend
    backend.close()


def test_remote_text_search_and_pages_match_local(local, remote):
    for query in ["festival", "born in", local.world.of_type("toy")[0].name]:
        assert remote.text_search(query, 5) == local.text_search(query, 5)
    url = local.world.of_type("game")[0].url
    assert remote.fetch(url) == local.fetch(url)
    assert remote.health()["fingerprint"] == local.fingerprint


def test_remote_reverse_image_search_matches_local_and_brings_thumbnails(local, remote):
    photo = next(i for i in local.world.images.values() if i.kind == "photo")
    image = local.image_array(photo.id)
    here = local.image_search(image=image, top_k=3)
    there = remote.image_search(image=image, top_k=3)
    assert [(h.image_id, h.score, h.page_url) for h in there] == [(h.image_id, h.score, h.page_url) for h in here]
    assert np.array_equal(there[0].thumbnail, here[0].thumbnail)
    assert [h.image_id for h in remote.image_search(query="logo", top_k=4)] == [
        h.image_id for h in local.image_search(query="logo", top_k=4)
    ]


def test_remote_errors_are_the_same_step_errors(remote):
    with pytest.raises(BackendError) as err:
        remote.fetch("https://world.invalid/wiki/Nowhere")
    assert err.value.kind == "bad_arguments" and "Unknown url" in str(err.value)
    with pytest.raises(BackendError) as err:
        remote.image_search(url="https://world.invalid/img/none.png")
    assert err.value.kind == "bad_arguments"
    with pytest.raises(BackendError) as err:
        remote.text_search("x", 500)
    assert err.value.kind == "bad_arguments" and "top_k" in str(err.value)


def _raw(server, path: str, data: bytes | None = None) -> tuple[int, dict | bytes]:
    req = urllib.request.Request(server.url + path, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if resp.headers["Content-Type"] == "application/json" else body
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize(
    "path, data, status",
    [
        ("/search?q=", None, 400),
        ("/search?q=x&top_k=abc", None, 400),
        ("/image_search", None, 400),
        ("/image_search", b"not an image", 400),
        ("/nothing", None, 404),
        ("/image/zzz.png", None, 404),
        ("/page?url=https://elsewhere.org", None, 404),
    ],
)
def test_server_answers_bad_requests_with_json_errors(server, path, data, status):
    code, body = _raw(server, path, data)
    assert code == status and "error" in body


def test_server_serves_png_images(server, local):
    image_id = next(iter(local.world.images))
    code, body = _raw(server, f"/image/{image_id}.png")
    assert code == 200 and body == local.image_png(image_id)


def test_many_workers_share_one_server(server, local):
    queries = [e.name for e in list(local.world.iter_entities())[:24]]
    results: dict[str, str] = {}

    def worker(chunk: list[str]) -> None:
        backend = make_backend(server.url)
        for q in chunk:
            results[q] = backend.text_search(q, 1)[0].title
        backend.close()

    threads = [threading.Thread(target=worker, args=(queries[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {q: q for q in queries}


def test_tools_work_through_the_server(server, local):
    ctx = ToolContext(ImageStore(), np.random.default_rng(0))
    name = local.world.of_type("festival")[0].name
    assert f"[1] {name}" in TextSearchTool(server.url)({"query": name}, ctx).text
    photo = next(i for i in local.world.images.values() if i.kind == "photo")
    ctx.images.add(local.image_array(photo.id))
    result = ImageSearchTool(server.url)({"image": "img_1", "top_k": 2}, ctx)
    assert result.images == ["img_2", "img_3"]
    with pytest.raises(ToolError) as err:
        TextSearchTool(server.url)({"query": "  "}, ctx)
    assert err.value.kind == "bad_arguments"
