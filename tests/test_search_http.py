"""Every HTTP backend against a 127.0.0.1 server replaying recorded-shape JSON with injected faults."""

import logging
import time

import numpy as np
import pytest

from mmsearch_gym.core import ImageStore, ToolContext, ToolError
from mmsearch_gym.search import BackendError, make_backend
from mmsearch_gym.search.fault_server import APIS, FaultServer, refused_url
from mmsearch_gym.tools.search import ImageSearchTool, TextSearchTool, VisitTool

KEY = "sk-test-SECRET-4242"
KEYED = {"serper": ("SERPER_API_KEY", "X-API-KEY", ""), "tavily": ("TAVILY_API_KEY", "Authorization", "Bearer ")}


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for env, _, _ in KEYED.values():
        monkeypatch.setenv(env, KEY)


def _spec(api: str, url: str, sleeps: list | None = None, **kw) -> dict:
    base = f"{url}/w/api.php" if api == "mediawiki" else url
    opts = {"timeout_s": 0.3, "retries": 2, "backoff_s": 0.01}
    if sleeps is not None:
        opts["sleep"] = sleeps.append
    return {"kind": api, "base_url": base, **opts, **kw}


@pytest.fixture(params=APIS)
def served(request):
    with FaultServer(request.param, hang_s=1.0) as server:
        sleeps: list[float] = []
        backend = make_backend(_spec(request.param, server.url, sleeps))
        yield request.param, server, backend, sleeps
        backend.close()


def _fail(fn, *args, **kwargs) -> BackendError:
    with pytest.raises(BackendError) as err:
        fn(*args, **kwargs)
    return err.value


def test_ok_parses_recorded_shape(served):
    api, server, backend, _ = served
    hits = backend.text_search("ada lovelace", 5)
    assert hits and hits[0].title.startswith("Ada Lovelace") and hits[0].url.startswith("http")
    assert "mathematician" in hits[0].snippet and "<" not in hits[0].snippet
    assert len(server.requests) == 1
    if api in KEYED:
        _, header, prefix = KEYED[api]
        assert server.requests[0]["headers"][header] == prefix + KEY


def test_timeout_is_retried_then_reported(served):
    _, server, backend, sleeps = served
    server.faults.extend(["timeout"] * 3)
    start = time.monotonic()
    err = _fail(backend.text_search, "q", 5)
    assert err.kind == "timeout" and len(server.requests) == 3 and sleeps == [0.01, 0.02]
    assert time.monotonic() - start < 3.0


def test_server_error_is_retried_with_backoff(served):
    _, server, backend, sleeps = served
    server.faults.append("500")
    assert backend.text_search("q", 5)
    assert len(server.requests) == 2 and sleeps == [0.01]
    server.faults.extend(["500"] * 3)
    err = _fail(backend.text_search, "q", 5)
    assert err.kind == "backend_down" and "HTTP 500" in str(err)


def test_429_waits_retry_after_and_gives_up_on_storms(served):
    _, server, backend, sleeps = served
    server.faults.append("429:2")
    assert backend.text_search("q", 5)
    assert sleeps == [2.0]
    server.faults.extend(["429:1"] * 3)
    err = _fail(backend.text_search, "q", 5)
    assert err.kind == "backend_down" and "rate limiting" in str(err)
    n = len(server.requests)
    server.faults.append("429:3600")  # longer than max_retry_after_s: no point waiting
    assert _fail(backend.text_search, "q", 5).kind == "backend_down" and len(server.requests) == n + 1


@pytest.mark.parametrize("fault, words", [("malformed", "malformed"), ("shape", "unexpected shape")])
def test_bad_bodies_are_tool_failed_without_retry(served, fault, words):
    _, server, backend, _ = served
    server.faults.append(fault)
    err = _fail(backend.text_search, "q", 5)
    assert err.kind == "tool_failed" and words in str(err) and len(server.requests) == 1


def test_connection_refused_is_backend_down(served):
    api, _, _, _ = served
    sleeps: list[float] = []
    backend = make_backend(_spec(api, refused_url(), sleeps))
    err = _fail(backend.text_search, "q", 5)
    assert err.kind == "backend_down" and "unreachable" in str(err) and len(sleeps) == 2


def test_rejected_credentials_name_the_variable_not_the_key(served):
    api, server, backend, _ = served
    server.faults.append("401")
    err = _fail(backend.text_search, "q", 5)
    assert err.kind == "tool_failed" and KEY not in str(err)
    if api in KEYED:
        assert KEYED[api][0] in str(err)


def test_keys_never_reach_errors_logs_or_tool_output(served, caplog):
    api, server, backend, _ = served
    caplog.set_level(logging.DEBUG)
    tool = TextSearchTool(backend)
    server.faults.append("echo_key")  # the API repeats the key in its error text
    with pytest.raises(ToolError) as err:
        tool({"query": "q"}, ToolContext(ImageStore(), np.random.default_rng(0)))
    assert err.value.kind == "bad_arguments" and "credentials" in str(err.value)
    assert KEY not in str(err.value)
    assert ("***" in str(err.value)) == (api in KEYED)  # it was there, and was scrubbed
    server.faults.append("500")  # a retried failure is logged
    text = tool({"query": "q"}, ToolContext(ImageStore(), np.random.default_rng(0))).text
    assert KEY not in text and "retrying" in caplog.text and KEY not in caplog.text
    if api in KEYED:  # the server did get the key: it is only kept out of what the agent and logs see
        assert KEY in server.requests[0]["headers"][KEYED[api][1]]


def test_missing_key_is_backend_down_with_the_variable_name(monkeypatch):
    with FaultServer("serper") as server:
        monkeypatch.delenv("SERPER_API_KEY")
        err = _fail(make_backend(_spec("serper", server.url)).text_search, "q", 5)
        assert err.kind == "backend_down" and "SERPER_API_KEY" in str(err) and not server.requests


@pytest.mark.parametrize("api", ["searxng", "serper"])
def test_visit_fetches_web_pages_without_sending_keys(api):
    with FaultServer(api) as server:
        backend = make_backend(_spec(api, server.url, allow_private_addresses=True))  # the pages are on 127.0.0.1
        page = backend.fetch(f"{server.url}/page/a.html")
        assert page.title == "Ada Lovelace" and "Analytical Engine" in page.text and "var x" not in page.text
        assert all(h.lower() not in ("x-api-key", "authorization") for h in server.requests[-1]["headers"])
        err = _fail(backend.fetch, f"{server.url}/page/missing.html")
        assert err.kind == "bad_arguments" and "404" in str(err)
        text = VisitTool(backend)(
            {"url": f"{server.url}/page/a.html", "goal": "algorithm"},
            ToolContext(ImageStore(), np.random.default_rng(0)),
        ).text
        assert "1843" in text.split("Page text")[0]


def test_mediawiki_pages_come_from_the_extracts_api():
    with FaultServer("mediawiki") as server:
        backend = make_backend(_spec("mediawiki", server.url))
        url = backend.text_search("ada", 2)[0].url
        assert url == f"{server.url}/wiki/Ada_Lovelace"
        page = backend.fetch(url)
        assert "Countess of Lovelace" in page.text and server.requests[-1]["params"]["prop"] == "extracts"
        err = _fail(backend.fetch, f"{server.url}/wiki/Nobody")
        assert err.kind == "bad_arguments" and "no page" in str(err)


def test_tavily_extract_and_failed_urls():
    with FaultServer("tavily") as server:
        backend = make_backend(_spec("tavily", server.url))
        assert "1843" in backend.fetch(f"{server.url}/page/a.html").text
        assert _fail(backend.fetch, "https://example.invalid/x").kind == "bad_arguments"
        assert server.requests[-1]["body"] == {"urls": ["https://example.invalid/x"]}


@pytest.mark.parametrize("api", ["searxng", "serper", "tavily", "serve"])
def test_image_search_by_text_returns_thumbnails_as_images(api):
    with FaultServer(api) as server:
        private = {} if api == "serve" else {"allow_private_addresses": True}  # thumbnails on 127.0.0.1
        tool = ImageSearchTool(make_backend(_spec(api, server.url, **private)))
        ctx = ToolContext(ImageStore(), np.random.default_rng(0))
        result = tool({"query": "ada lovelace portrait"}, ctx)
        assert result.images == ["img_1"] and ctx.images.get("img_1").shape == (16, 24, 3)
        assert "/thumb/a.png" in result.text


@pytest.mark.parametrize("api", ["searxng", "serper", "tavily", "mediawiki"])
def test_web_backends_say_reverse_image_search_is_unsupported(api):
    with FaultServer(api) as server:
        err = _fail(make_backend(_spec(api, server.url)).image_search, image=np.zeros((8, 8, 3), np.uint8))
        assert err.kind == "tool_failed"


def test_deadline_caps_total_retry_time():
    with FaultServer("searxng") as server:
        sleeps: list[float] = []
        backend = make_backend(_spec("searxng", server.url, sleeps, retries=10, backoff_s=1.0, deadline_s=2.5))
        server.faults.extend(["500"] * 10)
        assert _fail(backend.text_search, "q", 5).kind == "backend_down"
        assert sum(sleeps) <= 2.5 and len(server.requests) == 2


@pytest.mark.parametrize("bad", [{"timeout_s": -1}, {"retries": -1}, {"backoff_s": float("nan")}])
def test_bad_client_settings_are_refused(bad):
    with pytest.raises(ValueError):
        make_backend({"kind": "searxng", "base_url": "http://127.0.0.1:9", **bad})


def test_retry_after_parsing():
    from mmsearch_gym.search.http import _retry_after

    assert _retry_after("3") == 3.0 and _retry_after("-2") == 0.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now
    assert _retry_after("soon") is None and _retry_after("inf") is None and _retry_after(None) is None


def test_unreadable_retry_after_falls_back_to_backoff():
    with FaultServer("searxng") as server:
        sleeps: list[float] = []
        server.faults.append("429:soon")
        assert make_backend(_spec("searxng", server.url, sleeps)).text_search("q", 5)
        assert sleeps == [0.01]
