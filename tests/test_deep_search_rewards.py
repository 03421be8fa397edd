"""OpenSearch-VL's reward: answer checks, r_fmt, the rule-based r_query, the formula and the judges."""

import json
from collections import deque

import pytest
from chat_server import ChatServer, completion

from mmsearch_gym.core.record import TurnRecord
from mmsearch_gym.rewards.deep_search import (
    CRITERIA,
    answer_accuracy,
    deep_search_reward,
    format_score,
    normalize_answer,
    query_score,
    token_f1,
)
from mmsearch_gym.rewards.judge import HTTPJudge, JudgeError, RuleJudge, make_judge, parse_verdict
from mmsearch_gym.search.base import ImageHit, Page, SearchHit
from mmsearch_gym.search.fault_server import refused_url
from mmsearch_gym.tools.search import format_image_results, format_search_results, visit_page

# ---- answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("1,204 m", "1204 m"),
        ("1,204,000.00", "1204000"),
        ("12.0", "12"),
        ("2.50 kg", "2.5 kg"),
        ("3.14", "3.14"),
        ("Café  O'Brien", "cafe obrien"),
        ("ＡＢＣ", "abc"),  # NFKC: full-width letters
        ("Straße", "strasse"),  # casefold
        ("an apple, a pear", "apple pear"),
        ("e-mail\t(2012)", "e mail 2012"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_token_f1_is_squad_style():
    assert token_f1("the cat sat", "cat sat on mat") == pytest.approx(2 / 3)  # P = 1, R = 1/2
    assert token_f1("Cat", "the cat") == 1.0
    assert token_f1("dog", "cat") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "cat") == 0.0


def test_contains_respects_token_boundaries_and_aliases():
    assert answer_accuracy("It opened in 2012.", ["12"]) == 0.0
    assert answer_accuracy("It has 12 floors.", ["12"]) == 1.0
    assert answer_accuracy("They call it the Big Apple", ["New York City", "Big Apple"]) == 1.0
    assert answer_accuracy("about 1,204 m", ["1204"]) == 1.0
    assert answer_accuracy("about 1,204 m", "1204") == 1.0  # one string is one answer


def test_exact_and_f1_modes():
    assert answer_accuracy("The big apple!", ["Big Apple"], mode="exact") == 1.0
    assert answer_accuracy("1,204 m", ["1204"], mode="exact") == 0.0
    assert answer_accuracy("1,204 m", ["1204", "1204 m"], mode="exact") == 1.0
    assert answer_accuracy("1,204 m", ["1204"], mode="f1") == pytest.approx(2 / 3)  # P = 1/2, R = 1
    assert answer_accuracy("1,204 m", ["Paris", "1204"], mode="f1") == pytest.approx(2 / 3)  # best alias
    assert answer_accuracy("1,204 m", ["1204"], mode="f1", f1_threshold=0.5) == 1.0
    assert answer_accuracy("1,204 m", ["1204"], mode="f1", f1_threshold=0.7) == 0.0


def test_accuracy_edge_cases_and_errors():
    for mode in ("contains", "exact", "f1"):
        assert answer_accuracy(None, ["12"], mode) == 0.0
        assert answer_accuracy("", ["12"], mode) == 0.0
        assert answer_accuracy(" ... ", ["12"], mode) == 0.0
    with pytest.raises(ValueError, match="contains, exact, f1"):
        answer_accuracy("12", ["12"], mode="fuzzy")
    with pytest.raises(ValueError, match="at least one"):
        answer_accuracy("12", [])
    with pytest.raises(ValueError, match="mode='f1'"):
        answer_accuracy("12", ["12"], mode="exact", f1_threshold=0.5)


# ---- r_fmt ---------------------------------------------------------------------------------------


def _turn(i, well_formed=True, error=None, kind="tool_call"):
    return TurnRecord(turn=i, action="", kind=kind, well_formed=well_formed, tool="crop", step_error=error)


def test_format_score_counts_turns_before_fatal_turn():
    turns = [_turn(0), _turn(1, error="tool_failed"), _turn(2), _turn(3, error="parse"), _turn(4, error="parse")]
    assert format_score(turns, 3) == pytest.approx(2 / 3)
    assert format_score(turns, None) == pytest.approx(2 / 5)
    assert format_score(turns, 0) == 0.0
    assert format_score([], None) == 0.0
    assert format_score([_turn(0, well_formed=False), _turn(1)], None) == 0.5  # no think block: not well formed
    with pytest.raises(ValueError, match="fatal_turn"):
        format_score(turns, 6)


# ---- r_query -------------------------------------------------------------------------------------

W_ADA, W_BAB, W_ENG = (
    "https://en.wikipedia.org/wiki/Ada_Lovelace",
    "https://en.wikipedia.org/wiki/Charles_Babbage",
    "https://example.org/engine",
)
P_ADA, P_BYRON = "https://example.org/portraits/ada", "https://example.org/byron"
ADA = SearchHit("Ada Lovelace - Wikipedia", W_ADA, "English mathematician, born in London.")
BAB = SearchHit("Charles Babbage", W_BAB, "Designer of the Analytical Engine.")
ENG = SearchHit("Analytical Engine", W_ENG, "A proposed mechanical computer.")
IMG_ADA = ImageHit("Ada Lovelace", P_ADA, "https://example.org/img/ada.jpg", caption="portrait, 1840")
IMG_BYRON = ImageHit("Byron family", P_BYRON, "https://example.org/img/byron.jpg")


def _call(i, tool, args, text="", error=None):
    response = (
        f"<tool_response>Error ({error}): failed</tool_response>" if error else f"<tool_response>{text}</tool_response>"
    )
    action = f"<think>.</think><tool_call>{json.dumps({'name': tool, 'arguments': args})}</tool_call>"
    return TurnRecord(i, action, "tool_call", True, tool=tool, arguments=args, step_error=error, response=response)


def _answer(i, text):
    return TurnRecord(i, f"<think>.</think><answer>{text}</answer>", "answer", True)


def _text_search(i, query, hits, error=None):
    return _call(i, "text_search", {"query": query}, format_search_results(query, hits), error)


def _visit(i, url, goal, error=None):
    text = "" if error else visit_page(Page(url, "Ada Lovelace", "Ada Lovelace was born in London in 1815."), goal)
    return _call(i, "visit", {"url": url, "goal": goal}, text, error)


def _trajectory():
    return [
        _call(0, "image_search", {"image": "img_1"}, format_image_results("img_1", [IMG_ADA, IMG_BYRON], {0: "img_2"})),
        _text_search(1, "Ada Lovelace birthplace", [ADA, BAB]),
        _text_search(2, "ada lovelace birthplace?", [ADA, BAB]),  # a repeat
        _text_search(3, "Analytical Engine inventor", [ENG, BAB]),  # results never used
        _visit(4, W_ADA, "birthplace"),
        _visit(5, "https://example.org/missing", "birthplace", error="bad_arguments"),
        _answer(6, "London"),
    ]


EVIDENCE = ["http://EN.wikipedia.org/wiki/Ada_Lovelace#Life", P_ADA + "/"]  # normalised like visited urls


def test_query_score_criteria_by_hand():
    score, parts = query_score(_trajectory(), None, evidence_urls=EVIDENCE)
    assert parts == pytest.approx(
        {
            # t0's "Ada Lovelace" result is named in t1's query
            "image_search_utility": 1.0,
            # t1 and t2 found W_ADA, visited at t4; nothing of t3 is used later
            "text_search_utility": 2 / 3,
            # t2 repeats t1 (Jaccard 1.0)
            "query_progression": 2 / 3,
            # distinct {P_ADA, P_BYRON, W_ADA, W_BAB, W_ENG} over 8 results; both modalities used
            "complementarity": 5 / 8,
            # consulted: W_ADA (visited, gold), missing (failed visit), P_ADA (used, gold)
            "evidence_vs_noise": 2 / 3,
        }
    )
    assert score == pytest.approx((1 + 2 / 3 + 2 / 3 + 5 / 8 + 2 / 3) / 5)


def test_evidence_without_gold_path_is_visit_success():
    score, parts = query_score(_trajectory(), None)
    assert parts["evidence_vs_noise"] == 0.5  # one of two visits succeeded
    assert score == pytest.approx((1 + 2 / 3 + 2 / 3 + 5 / 8 + 1 / 2) / 5)


def test_turns_at_or_after_fatal_turn_are_ignored():
    turns = _trajectory()
    score, parts = query_score(turns, 3, evidence_urls=EVIDENCE)
    assert (score, parts) == query_score(turns[:3], None, evidence_urls=EVIDENCE)
    assert parts == pytest.approx(
        {
            "image_search_utility": 1.0,
            # t1's "Ada Lovelace - Wikipedia" is named ("Ada Lovelace") in t2's query; t2 has nothing after it
            "text_search_utility": 1 / 2,
            "query_progression": 1 / 2,
            "complementarity": 4 / 6,
            # no visits before f; used results P_ADA and W_ADA are both gold
            "evidence_vs_noise": 1.0,
        }
    )
    assert score == pytest.approx((1 + 1 / 2 + 1 / 2 + 2 / 3 + 1) / 5)


def test_no_tool_call_before_fatal_turn_scores_zero():
    zeros = dict.fromkeys(CRITERIA, 0.0)
    assert query_score([_answer(0, "London")], None) == (0.0, zeros)
    assert query_score([], None) == (0.0, zeros)
    assert query_score([_turn(0, False, "parse", kind=None), *_trajectory()], 1) == (0.0, zeros)


def _text_only():
    return [_text_search(0, "Ada Lovelace", [ADA, BAB]), _visit(1, W_BAB, "designer"), _answer(2, "Charles Babbage")]


def test_ignored_image_and_single_modality():
    score, parts = query_score(_text_only(), None, has_image=True)
    assert parts == {
        "image_search_utility": 0.0,  # no image search, no perception tool: the image was ignored
        "text_search_utility": 1.0,
        "query_progression": 1.0,
        "complementarity": 0.5,  # 2 distinct of 2, halved: only text search on an image task
        "evidence_vs_noise": 1.0,
    }
    assert score == pytest.approx(3.5 / 5)
    score, parts = query_score(_text_only(), None, has_image=False)
    assert "image_search_utility" not in parts and parts["complementarity"] == 1.0 and score == 1.0
    ocr = _call(0, "ocr", {"image": "img_1"}, "Text in img_1: ADA")
    score, parts = query_score([ocr, *_text_only()], None, has_image=True)
    assert "image_search_utility" not in parts and score == pytest.approx(3.5 / 4)


def test_weights_and_their_errors():
    score, _ = query_score(_text_only(), None, weights={"image_search_utility": 0.0})
    assert score == pytest.approx(3.5 / 4)
    score, _ = query_score(_text_only(), None, weights={"complementarity": 2.0})
    assert score == pytest.approx((0 + 1 + 1 + 2 * 0.5 + 1) / 6)
    with pytest.raises(ValueError, match="known: image_search_utility"):
        query_score(_text_only(), None, weights={"speed": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        query_score(_text_only(), None, weights={"complementarity": -1.0})


def test_query_progression_repeats_and_retries():
    q5, q4 = "ada lovelace born year city", "Ada Lovelace born year"  # Jaccard 4/5 = 0.8: a repeat
    turns = [_text_search(0, q5, [ADA]), _text_search(1, q4, [ADA])]
    assert query_score(turns, None)[1]["query_progression"] == 0.5
    assert query_score(turns, None, repeat_jaccard=0.9)[1]["query_progression"] == 1.0
    # retrying a query whose call failed is not a wasted repeat; repeating one that worked is
    retry = [_text_search(0, q5, [], error="backend_down"), _text_search(1, q5, [ADA]), _text_search(2, q5, [ADA])]
    assert query_score(retry, None)[1]["query_progression"] == pytest.approx(2 / 3)


def test_failed_and_empty_searches_are_not_useful():
    turns = [
        _call(0, "image_search", {"image": "img_1"}, error="backend_down"),
        _call(1, "image_search", {"query": "portrait"}, format_image_results('"portrait"', [], {})),
        _text_search(2, "Charles Babbage", [BAB]),
        _answer(3, "Charles Babbage"),  # the answer names the result: used
    ]
    _, parts = query_score(turns, None)
    assert parts["image_search_utility"] == 0.0 and parts["text_search_utility"] == 1.0
    assert parts["complementarity"] == 1.0  # 1 of 1 distinct; the empty image search still counts as a modality
    assert "evidence_vs_noise" not in parts  # no visits, no gold path: nothing to judge


@pytest.mark.parametrize(
    ("later", "used"),
    [
        (("crop", {"image": "img_3"}), 1.0),  # works on IMG_ADA's thumbnail
        (("crop", {"image": "image 2"}), 1.0),  # IMG_BYRON's thumbnail, referred to loosely
        # searches by a result's image: the first search was used, the second found nothing (1/2)
        (("image_search", {"url": "https://example.org/img/ada.jpg"}), 0.5),
        (("crop", {"image": "img_1"}), 0.0),  # back to the task image: the results were not used
    ],
)
def test_image_results_used_through_thumbnails_and_image_urls(later, used):
    shown = format_image_results("img_1", [IMG_BYRON, IMG_ADA], {0: "img_2", 1: "img_3"})
    turns = [_call(0, "image_search", {"image": "img_1"}, shown), _call(1, *later, "done")]
    assert query_score(turns, None)[1]["image_search_utility"] == used


def test_deep_search_reward_formula():
    assert deep_search_reward(1.0, 0.75, 0.5) == pytest.approx(0.75 * (0.8 + 0.1))  # 0.675
    assert deep_search_reward(0.0, 1.0, 1.0) == pytest.approx(0.2)
    assert deep_search_reward(1.0, 0.0, 1.0) == 0.0
    assert deep_search_reward(1.0, 0.75, 0.5, acc_weight=0.5, query_weight=0.5) == pytest.approx(0.5625)
    with pytest.raises(ValueError, match="r_fmt"):
        deep_search_reward(1.0, 1.5, 0.5)
    with pytest.raises(ValueError, match="query_weight"):
        deep_search_reward(1.0, 1.0, 0.5, query_weight=-0.2)


# ---- judges --------------------------------------------------------------------------------------

KEY = "sk-judge-SECRET-1234"


@pytest.fixture
def server(monkeypatch):
    """A judge on 127.0.0.1: ``server.replies`` queues (status, verdict text or error text); then "yes"."""
    monkeypatch.setenv("JUDGE_KEY", KEY)
    replies: deque[tuple[int, str]] = deque()

    def script(i: int) -> tuple[int, dict]:
        status, text = replies.popleft() if replies else (200, "yes")
        return status, completion(text) if status == 200 else {"error": text}

    with ChatServer(script) as srv:
        srv.replies = replies
        yield srv


def _judge(server, **kw):
    opts = {"api_key_env": "JUDGE_KEY", "timeout_s": 2.0, "retries": 2, "backoff_s": 0.01, **kw}
    return HTTPJudge(server.api, "judge-model", **opts)


def test_http_judge_yes_and_no(server):
    server.replies.extend([(200, "Yes."), (200, "No, it names another city."), (200, "<think>yes?</think> no")])
    judge = _judge(server)
    assert judge("Where was she born?", "In London.", ["London", "City of London"]) == 1.0
    assert judge("Where was she born?", "Paris", ["London"]) == 0.0
    assert judge("Where was she born?", "Paris", ["London"]) == 0.0
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["Authorization"] == f"Bearer {KEY}"
    assert first["body"]["model"] == "judge-model"
    prompt = first["body"]["messages"][0]["content"]
    assert "Where was she born?" in prompt and "London; City of London" in prompt and "In London." in prompt
    assert judge("q", None, ["London"]) == 0.0 and len(server.requests) == 3  # no answer: no request


def test_http_judge_garbage_reply_is_an_error(server):
    server.replies.extend([(200, "maybe"), (200, f"I cannot say; your key is {KEY}")])
    judge = _judge(server)
    with pytest.raises(JudgeError, match="neither yes nor no"):
        judge("q", "London", ["London"])
    with pytest.raises(JudgeError) as err:
        judge("q", "London", ["London"])
    assert KEY not in str(err.value)


def test_http_judge_retries_a_500(server):
    server.replies.append((500, "overloaded"))
    assert _judge(server)("q", "London", ["London"]) == 1.0
    assert len(server.requests) == 2


def test_http_judge_gives_up_after_retries_without_leaking_the_key(server):
    server.replies.extend([(500, f"down, key {KEY}")] * 3)
    with pytest.raises(JudgeError, match="HTTP 500") as err:
        _judge(server)("q", "London", ["London"])
    assert len(server.requests) == 3 and KEY not in str(err.value)
    server.replies.append((400, f"bad request from key {KEY}"))  # error text echoing the key
    with pytest.raises(JudgeError, match="HTTP 400") as err:
        _judge(server)("q", "London", ["London"])
    assert KEY not in str(err.value) and "***" in str(err.value)


def test_http_judge_transport_and_key_errors(server, monkeypatch):
    judge = HTTPJudge(refused_url(), "m", timeout_s=1.0, retries=0)
    with pytest.raises(JudgeError, match="unreachable"):
        judge("q", "London", ["London"])
    monkeypatch.delenv("JUDGE_KEY")
    with pytest.raises(JudgeError, match="JUDGE_KEY"):
        _judge(server)("q", "London", ["London"])


def test_http_judge_arguments():
    assert HTTPJudge("http://h:1", "m").url == "http://h:1/v1/chat/completions"
    assert HTTPJudge("http://h:1/v1/chat/completions", "m").url == "http://h:1/v1/chat/completions"
    with pytest.raises(ValueError, match="base_url"):
        HTTPJudge("h:1", "m")
    with pytest.raises(ValueError, match="question"):
        HTTPJudge("http://h:1", "m", prompt="Grade {answer}")


def test_parse_verdict():
    assert parse_verdict("YES") == 1.0 and parse_verdict("1") == 1.0 and parse_verdict("Verdict: yes") == 1.0
    assert parse_verdict("no.") == 0.0 and parse_verdict("0") == 0.0 and parse_verdict("Incorrect") == 0.0
    assert parse_verdict("yes or no") == 1.0  # the first word decides
    assert parse_verdict("well, yes and no") is None and parse_verdict("") is None


def test_rule_judge_and_make_judge():
    assert RuleJudge()("q", "It has 12 floors", ["12"]) == 1.0
    assert RuleJudge("f1", 0.5)("q", "1,204 m", ["1204"]) == 1.0
    assert isinstance(make_judge(None), RuleJudge) and make_judge("rule").mode == "contains"
    judge = make_judge({"kind": "rule", "mode": "exact"})
    assert judge.mode == "exact" and make_judge(judge) is judge
    http = make_judge({"kind": "http", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    assert isinstance(http, HTTPJudge) and http.model == "m"
    with pytest.raises(ValueError, match="rule, http"):
        make_judge({"kind": "llm"})
    with pytest.raises(ValueError, match="rule, http"):
        make_judge("gpt-judge")
    with pytest.raises(ValueError, match="base_url"):
        make_judge("http")  # an http judge needs its arguments: use a dict
    with pytest.raises(TypeError, match="'kind'"):
        make_judge(42)
    with pytest.raises(ValueError, match="bogus"):
        make_judge({"kind": "rule", "bogus": 1})
    with pytest.raises(ValueError, match="contains, exact, f1"):
        RuleJudge("fuzzy")
