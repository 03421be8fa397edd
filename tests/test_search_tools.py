"""text_search, image_search and visit as tools: answers, pagination, thumbnails, and step errors inside an env."""

import json

import numpy as np
import pytest

from mmsearch_gym.core import ImageStore, Score, Task, ToolContext, ToolEnv, ToolError, make_tool
from mmsearch_gym.search import BackendError, Page, SearchBackend, make_backend
from mmsearch_gym.search.fault_server import refused_url
from mmsearch_gym.search.pages import html_to_text, paginate, rank_passages, split_passages
from mmsearch_gym.tools.search import ImageSearchTool, TextSearchTool, VisitTool, visit_page
from mmsearch_gym.world import build_world


@pytest.fixture(scope="module")
def world_path(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("w") / "world", 120, 3)


@pytest.fixture(scope="module")
def backend(world_path):
    return make_backend(f"world:{world_path}")


def _ctx() -> ToolContext:
    return ToolContext(images=ImageStore(max_images=8), rng=np.random.default_rng(0))


def _call(action_tool: str, arguments: dict) -> str:
    return f"<think>go</think><tool_call>{json.dumps({'name': action_tool, 'arguments': arguments})}</tool_call>"


class SearchEnv(ToolEnv):
    """The smallest env offering the three search tools, anchored on a degraded photo."""

    def __init__(self, backend):
        self.backend = backend
        super().__init__(tools=[TextSearchTool(backend), ImageSearchTool(backend), VisitTool(backend)], max_turns=12)

    def _new_task(self, rng, options):
        photo = next(i for i in self.backend.world.images.values() if i.kind == "photo")
        return Task(
            "t0",
            "Which entity is shown?",
            images=[self.backend.image_array(photo.id)],
            answer=self.backend.world.entity(photo.entity_id).name,
        )

    def _score(self, answer):
        ok = answer == self.task.answer
        return Score(float(ok), {"accuracy": float(ok)}, success=ok)

    def oracle_action(self):
        return f"<answer>{self.task.answer}</answer>"


def test_an_episode_searches_visits_and_answers(backend):
    env = SearchEnv(backend)
    obs, info = env.reset(seed=0)
    assert {t["function"]["name"] for t in info["tools"]} == {"text_search", "image_search", "visit"}
    obs, _, _, _, info = env.step(_call("image_search", {"image": "img_1"}))
    assert info["step_error"] is None and obs["images"] and "page: https://world.invalid/wiki/" in obs["text"]
    answer = env.task.answer
    obs, _, _, _, info = env.step(_call("text_search", {"query": answer, "top_k": 3}))
    assert info["step_error"] is None and f"[1] {answer}" in obs["text"]
    url = backend.world.find(answer).url
    obs, _, _, _, info = env.step(_call("visit", {"url": url, "goal": "what kind of thing is it"}))
    assert info["step_error"] is None and "Most relevant to the goal" in obs["text"]
    _, reward, terminated, _, info = env.step(env.oracle_action())
    assert terminated and reward == 1.0 and info["n_valid_tool_calls"] == 3


@pytest.mark.parametrize(
    "tool, arguments, kind",
    [
        ("text_search", {"query": "   "}, "bad_arguments"),
        ("text_search", {"query": " ".join(f"w{i}" for i in range(700))}, "bad_arguments"),
        ("text_search", {"query": "x", "top_k": 0}, "bad_arguments"),
        ("text_search", {"query": "x", "top_k": 11}, "bad_arguments"),
        ("text_search", {"query": 5}, "bad_arguments"),
        ("visit", {"url": "https://world.invalid/wiki/No_Such_Page"}, "bad_arguments"),
        ("visit", {"url": "ftp://elsewhere"}, "bad_arguments"),
        ("image_search", {}, "bad_arguments"),
        ("image_search", {"image": "img_1", "query": "flag"}, "bad_arguments"),
        ("image_search", {"image": "img_7"}, "bad_image_ref"),
        ("image_search", {"url": "https://world.invalid/img/nothing.png"}, "bad_arguments"),
    ],
)
def test_bad_input_is_a_step_error_and_counts_toward_the_fatal_rule(backend, tool, arguments, kind):
    env = SearchEnv(backend)
    env.reset(seed=0)
    for turn in range(3):
        obs, _, terminated, _, info = env.step(_call(tool, arguments))
        assert info["step_error"] == kind and obs["text"].startswith("<tool_response>Error")
    assert terminated and info["fatal"] and info["fatal_turn"] == 0


def test_backend_down_is_a_step_error_not_an_exception(backend):
    env = SearchEnv(backend)
    env.tools["text_search"] = TextSearchTool(
        {"kind": "serve", "base_url": refused_url(), "retries": 1, "backoff_s": 0.0}
    )
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step(_call("text_search", {"query": "lantern"}))
    assert info["step_error"] == "backend_down" and not terminated and "unreachable" in obs["text"]
    _, _, _, _, info = env.step(_call("text_search", {"query": "lantern"}))  # still answers, still counted
    assert info["consecutive_errors"] == 2


def test_visit_paginates_and_ranks_passages_by_goal(backend):
    e = backend.world.of_type("city")[0]
    tool = VisitTool(backend, page_chars=300)
    first = tool({"url": e.url, "goal": "postal code"}, _ctx()).text
    assert "page 1 of" in first and "(more: visit the same url with page=2)" in first
    relevant = first.split("Most relevant")[1].split("Page text")[0]
    assert e.attributes["postal_code"] in relevant.splitlines()[1]
    n_pages = int(first.split("page 1 of ")[1].split()[0])
    last = tool({"url": e.url, "page": n_pages}, _ctx()).text
    assert "Most relevant" not in last and "(more:" not in last
    with pytest.raises(ToolError) as err:
        tool({"url": e.url, "page": n_pages + 1}, _ctx())
    assert err.value.kind == "bad_arguments" and f"has {n_pages} page" in str(err.value)
    pages = paginate(backend.fetch(e.url).text, 300)
    assert all(len(p) <= 300 for p in pages) and "".join(pages).replace(" ", "").replace("\n", "") == backend.fetch(
        e.url
    ).text.replace(" ", "").replace("\n", "")


def test_image_search_thumbnails_become_new_images(backend):
    ctx = _ctx()
    photo = next(i for i in backend.world.images.values() if i.kind == "photo")
    ctx.images.add(backend.image_array(photo.id))
    result = ImageSearchTool(backend, max_thumbnails=2)({"image": "img_1", "top_k": 5}, ctx)
    assert result.images == ["img_2", "img_3"] and "(shown as img_2)" in result.text
    assert result.text.count("page: ") == 5
    full = ImageSearchTool(backend)(
        {"query": "coat of arms city", "top_k": 10}, ToolContext(ImageStore(max_images=2), np.random.default_rng(0))
    )
    assert len(full.images) == 2 and "most images allowed" in full.text


def test_tools_share_one_backend_per_spec(world_path):
    a, b = TextSearchTool(f"world:{world_path}"), VisitTool(f"world:{world_path}")
    assert a.backend is b.backend


def test_unsupported_operations_and_bad_specs_are_clear():
    class TextOnly(SearchBackend):
        name = "text-only"

    with pytest.raises(ToolError) as err:
        ImageSearchTool(TextOnly())({"query": "x"}, _ctx())
    assert err.value.kind == "tool_failed" and "does not support image search" in str(err.value)
    with pytest.raises(ValueError, match="known: world"):
        TextSearchTool({"kind": "bing"})
    with pytest.raises(ToolError) as err:
        TextSearchTool("world:/nonexistent/world")({"query": "x"}, _ctx())
    assert err.value.kind == "backend_down"
    with pytest.raises(ValueError):
        make_backend("gopher://x")


def test_registered_by_name():
    assert make_tool("text_search", backend={"kind": "serve", "base_url": "http://127.0.0.1:9"}).name == "text_search"


def test_page_helpers():
    title, text = html_to_text(
        "<html><head><title>T</title><style>p{}</style></head><body><p>One</p><script>x()</script>"
        "<div>Two &amp; three</div></body></html>"
    )
    assert title == "T" and text == "One\n\nTwo & three"
    passages = split_passages("Alpha beta. Gamma delta.\n\nThe kestrel nests here.")
    assert rank_passages(passages, "where do kestrels nest")[0][0] == len(passages) - 1
    assert rank_passages(passages, "") == [] and rank_passages([], "x") == []
    page = Page("u", "T", "x " * 2000)
    assert "page 1 of" in visit_page(page, "", 1, 500)
    with pytest.raises(ValueError):
        visit_page(page, "", 0, 500)


def test_backend_error_keeps_its_kind():
    err = BackendError("timeout", "slow")
    assert err.kind == "timeout" and str(err) == "slow"
