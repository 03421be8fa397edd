"""Gen-Searcher's dual reward as its release computes it: numbers worked out by hand from the released functions."""

from __future__ import annotations

import json
import math

import pytest

from mmsearch_gym.rewards.grounded_gen import (
    AnswerError,
    dual_reward,
    factip_overall,
    image_reward,
    image_scores,
    parse_answer,
    parse_judge_json,
    resolve_references,
    snap_text_score,
    text_reward,
)
from mmsearch_gym.tasks.grounded_gen.report import factip_score, k_score


def _judge(f=1.0, v=1.0, t=1.0, a=1.0, na=False) -> dict:
    return {"rationale": "Constraints: …", "faithfulness": f, "visual_correctness": v, "text_accuracy": t,
            "aesthetics": a, "text_accuracy_na": na}  # fmt: skip


@pytest.mark.parametrize(
    ("judge", "expected"),
    [
        (_judge(), 1.0),
        (_judge(na=True), 0.8),  # 0.1 + 0.4 + 0.4·0.5 + 0.1: the best an image without text can score
        (_judge(1, 0.5, 0.5, 0.5), 0.55),  # 0.1 + 0.2 + 0.2 + 0.05
        (_judge(0.5, 1, 0.5, 0), 0.65),  # 0.05 + 0.4 + 0.2 + 0
        (_judge(0.333, 0.666, 0.125, 0.5), 0.4),  # each rounded first: 0.33, 0.67, 0.12 → 0.399 → 0.4
        (_judge(1.7, -0.3, 2, 0.5), 0.55),  # clipped to [0, 1] first: 1, 0, 1, 0.5 → 0.1 + 0.4 + 0.05
        (_judge("1", "0.5", "0", "1"), 0.4),  # numbers as strings convert, as float() does
        (_judge(True, True, False, True), 0.6),  # booleans are 1 and 0, as float() does
        (_judge(0.5, 0.5, 0, 1), 0.35),
    ],
)
def test_image_reward_rounds_clips_and_weights_as_the_release(judge, expected):
    assert image_reward(judge) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("na", [True, "true", "True", 1, 1.0])
def test_text_accuracy_not_applicable_counts_half(na):
    assert image_reward(_judge(t=0.0, na=na)) == pytest.approx(0.8)
    assert image_reward(_judge(t=1.0, na=na)) == pytest.approx(0.8)


@pytest.mark.parametrize("na", [False, "false", "TRUE", "yes", 0, None, [True]])
def test_only_the_release_spellings_mean_not_applicable(na):
    assert image_reward(_judge(t=0.0, na=na)) == pytest.approx(0.6)


@pytest.mark.parametrize("t", ["n/a", None, "", [1], {"x": 1}])
def test_a_text_accuracy_that_is_not_a_number_counts_as_not_applicable(t):
    assert image_reward(_judge(t=t, na=False)) == pytest.approx(0.8)
    assert image_scores(_judge(t=t, na=False))["text_accuracy_na"] == 1.0


@pytest.mark.parametrize(
    "judge",
    [
        "not json at all",
        "",
        "[1, 2, 3]",
        None,
        42,
        _judge(f="high"),
        _judge(v=None),
        _judge(a=[1]),
        _judge(f=float("nan")),  # the release's max(0, min(1, nan)) would give 1: refused here
        _judge(v=float("inf")),
    ],
)
def test_malformed_judge_output_scores_zero(judge):
    assert image_reward(judge) == 0.0


def test_missing_criteria_count_zero_and_missing_na_means_text_required():
    assert image_reward({}) == 0.0
    assert image_reward({"visual_correctness": 1}) == pytest.approx(0.4)


def test_the_reply_is_read_like_the_release_fences_surrounding_text_trailing_commas():
    reply = 'Sure!\n```json\n{"faithfulness": 1, "visual_correctness": 1, "text_accuracy": 0.5,\n "aesthetics": 1, "text_accuracy_na": false,}\n```'
    assert parse_judge_json(reply)["text_accuracy"] == 0.5
    assert image_reward(reply) == pytest.approx(0.8)
    assert image_reward('{"rationale": "x", "faithfulness": 1, "visual_correctness": 0.5, "text_accuracy": 1, "aesthetics": 0.5, "text_accuracy_na": false}') == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.0, 0.0), (0.1, 0.0), (0.125, 0.0), (0.126, 0.25), (0.375, 0.25), (0.376, 0.5), (0.5, 0.5), (0.625, 0.5),
     (0.7, 0.75), (0.875, 0.75), (0.9, 1.0), (1.0, 1.0), (1.4, 1.0), (-0.2, 0.0), (7, 1.0)],
)  # fmt: skip
def test_text_score_snaps_to_quarters_with_ties_going_down(score, expected):
    assert snap_text_score(score) == expected
    assert text_reward({"rationale": "…", "score": score}) == expected


@pytest.mark.parametrize("score", [None, "abc", [0.5], float("nan"), float("inf"), float("-inf")])
def test_a_text_score_that_is_not_a_usable_number_gives_zero(score):
    assert text_reward({"score": score}) == 0.0


def test_text_reward_reads_replies_and_strings():
    assert text_reward('```json\n{"rationale": "ok", "score": "0.75"}\n```') == 0.75
    assert text_reward("no json") == 0.0
    assert text_reward({"rationale": "no score"}) == 0.0
    assert text_reward('["score", 1]') == 0.0


@pytest.mark.parametrize(
    ("args", "expected"),
    [((0.8, 1.0, 1), 0.9), ((0.8, 1.0, 4), 0.9), ((0.8, 1.0, 0), 0.0), ((0.8, 1.0, 5), 0.0), ((0.6, 0.25, 2), 0.425)],
)
def test_dual_reward_needs_one_to_four_references(args, expected):
    assert dual_reward(*args) == pytest.approx(expected)


def test_dual_reward_lambda_and_bounds():
    assert dual_reward(0.8, 0.2, 1, lam=0.0) == pytest.approx(0.8)
    assert dual_reward(0.8, 0.2, 1, lam=1.0) == pytest.approx(0.2)
    assert dual_reward(0.8, 0.2, 1, lam=0.25) == pytest.approx(0.65)
    assert dual_reward(0.8, 0.4, 0, min_refs=0) == pytest.approx(0.6)
    for bad in (-0.1, 1.5, True, "0.5", float("nan")):
        with pytest.raises(ValueError, match="lam"):
            dual_reward(0.5, 0.5, 1, lam=bad)


def _ans(obj, tail: str = "", head: str = "") -> str:
    return f"<think>done</think><answer>{head}{json.dumps(obj)}{tail}</answer>"


GOOD = {"gen_prompt": "Copy the first reference image.", "reference_images": [{"img_id": "img_2", "note": "n"}]}


def test_parse_answer_follows_the_release_regex():
    assert parse_answer(_ans(GOOD)) == GOOD
    assert parse_answer(_ans(GOOD, head="\n  ", tail="\n")) == GOOD  # whitespace around the object is fine
    assert parse_answer(_ans(GOOD, tail=" thanks")) is None  # text after the closing brace fails
    assert parse_answer(_ans(GOOD, head="Here: ")) is None  # so does text before the opening one
    nested = {"gen_prompt": "a {curly} thing }", "reference_images": [{"img_id": "img_1", "note": "{x}"}]}
    assert parse_answer(_ans(nested)) == nested  # the lazy match stretches to the "}" before </answer>
    two = "<answer>junk</answer> then <answer>" + json.dumps(GOOD) + "</answer>"
    assert parse_answer(two) == GOOD  # re.search finds the first block that matches


@pytest.mark.parametrize(
    "obj",
    [{"gen_prompt": "x"}, {"reference_images": []}, {"gen_prompt": "x", "reference_images": "img_1"}, [GOOD]],
)
def test_parse_answer_needs_both_keys_and_a_list(obj):
    assert parse_answer(_ans(obj)) is None
    assert parse_answer("<answer>{not json}</answer>") is None
    assert parse_answer(None) is None


def test_resolve_references_as_the_release_does():
    known = {f"img_{i}" for i in range(1, 9)}
    refs = [{"img_id": f"img_{i}", "note": str(i)} for i in range(1, 8)]
    assert [r["img_id"] for r in resolve_references({"reference_images": refs}, known)] == [f"img_{i}" for i in range(1, 6)]
    mixed = {"reference_images": ["img_1", {"img_id": " img_3 "}, 7, {"img_id": "img_4", "note": "x"}]}
    assert resolve_references(mixed, known) == [{"img_id": "img_3", "note": ""}, {"img_id": "img_4", "note": "x"}]
    with pytest.raises(AnswerError, match="unknown img_id"):
        resolve_references({"reference_images": [{"img_id": "img_99"}]}, known)
    with pytest.raises(AnswerError, match="no img_id"):
        resolve_references({"reference_images": [{"note": "x"}]}, known)
    with pytest.raises(AnswerError, match="string"):
        resolve_references({"reference_images": [{"img_id": 3}]}, known)
    lenient = {"reference_images": [{"img_id": "img_99"}, {"note": "x"}, {"img_id": "img_2"}]}
    assert resolve_references(lenient, known, strict=False) == [{"img_id": "img_2", "note": ""}]


def test_factip_and_k_score_by_hand():
    assert factip_overall({"clarity": 10, "content_quality": 8, "aesthetics": 6, "text_relevance_ip": 9}) == pytest.approx(8.65)
    # two FactIP judgements: overalls 8.65 and 0.05·4 + 0.1·2 + 0.1·0 + 0.75·2 = 1.9 → mean 5.275 → ×10
    s = factip_score([{"clarity": 10, "content_quality": 8, "aesthetics": 6, "text_relevance_ip": 9},
                      {"clarity": 4, "content_quality": 2, "aesthetics": 0, "text_relevance_ip": 2}, {"clarity": 3}])  # fmt: skip
    assert s["factip"] == pytest.approx(52.75) and s["count"] == 2 and s["text_relevance_ip"] == pytest.approx(55.0)
    # KnowGen: means f=(1+0.5+1)/3, v=(1+0+0.5)/3, a=(0.5+0.5+1)/3; text over the two with text only: (1+0)/2
    k = k_score([_judge(1, 1, 1, 0.5), _judge(0.5, 0, 0, 0.5), _judge(1, 0.5, 0, 1, na=True), "garbage"])
    f, v, a, t = 2.5 / 3, 1.5 / 3, 2 / 3, 0.5
    assert k["count"] == 3 and k["text_accuracy"] == 0.5
    assert k["k_score"] == pytest.approx(round(100 * (0.1 * round(f, 4) + 0.4 * round(v, 4) + 0.4 * t + 0.1 * round(a, 4)), 2))
    only_na = k_score([_judge(1, 1, 0, 1, na=True)])
    assert only_na["text_accuracy"] == 0.5 and only_na["k_score"] == pytest.approx(80.0)
    assert math.isclose(k_score([])["k_score"], 0.0)
