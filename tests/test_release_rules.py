"""Answer rules as the papers' releases compute them, with hand-computed numbers:
AdaTooler-V's R_acc by problem type and Reagent's rule reward."""

import math

import pytest

from algos.reagent import rule_reward, token_f1
from mmsearch_gym.rewards.adatooler import AdaToolerJudge, accuracy_reward, answer_score
from mmsearch_gym.rewards.judge import make_judge
from mmsearch_gym.rewards.math_equiv import math_equal


def reply(answer: str) -> str:
    return f"<think>I read the image.</think><answer>{answer}</answer>"


# -- AdaTooler-V ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, score",
    [
        (reply("0.5"), 1.0),
        ("<think>r</think> then <answer>0.5</answer> and text after", 1.0),  # .* around the answer
        (" <think>r</think><answer>0.5</answer>", 0.0),  # must match from the first character
        ("<answer>0.5</answer>", 0.0),  # no think block
        ("<think>r</think>0.5", 0.0),  # no answer block
        ("<think>r</think><answer>0.5</answer><answer>7</answer>", 1.0),  # the first answer block
        (None, 0.0),
    ],
)
def test_adatooler_format_gate(text, score):
    assert accuracy_reward(text, "\\frac{1}{2}", "numerical") == score


@pytest.mark.parametrize(
    "answer, truth, score",
    [
        ("\\frac{1}{2}", "0.5", 1.0),
        ("0.5", "\\frac{1}{2}", 1.0),
        ("42.0", "42", 1.0),
        ("5e-1", "0.5", 1.0),  # exponent notation is a number
        ("1/2", "0.5", 1.0),
        ("0.6", "0.5", 0.0),
        ("", "0.5", 0.0),
    ],
)
def test_adatooler_numerical(answer, truth, score):
    assert accuracy_reward(reply(answer), truth, "numerical") == score
    assert math_equal(answer, truth) is bool(score)


@pytest.mark.parametrize(
    "answer, truth, score",
    [
        ("A, A", "A, B", 1.0),  # the release checks count and membership, not repeats
        ("A, B", ["A", "B"], 1.0),
        ("B,A", "A, B", 1.0),
        ("a", "A", 0.0),  # case-sensitive
        ("A", "A, B", 0.0),  # fewer parts than the truth
        ("A, B, C", "A, B", 0.0),  # more parts: spraying options scores 0
        ("C", "A", 0.0),
    ],
)
def test_adatooler_multiple_choice(answer, truth, score):
    assert accuracy_reward(reply(answer), truth, "multiple choice") == score


def test_adatooler_ocr_is_exp_minus_wer():
    assert accuracy_reward(reply("hello world"), "hello world", "OCR") == 1.0
    # 1 substitution in 2 reference words: WER 0.5
    assert accuracy_reward(reply("hello word"), "hello world", "OCR") == pytest.approx(math.exp(-0.5))
    # "a b" -> "a x y z w": 1 substitution + 3 insertions over 2 words: WER 2 > 1, score e^-2
    assert accuracy_reward(reply("a x y z w"), "a b", "OCR") == pytest.approx(0.1353352832)


def test_adatooler_free_form_is_mean_rouge_f():
    # unigrams: 4 of 6 shared (F 2/3); bigrams "cat sat", "sat on": 2 of 5 (F .4); LCS 4 of 6 (F 2/3)
    got = accuracy_reward(reply("the cat sat on the mat"), "a cat sat on a mat", "free-form")
    assert got == pytest.approx((2 / 3 + 0.4 + 2 / 3) / 3)
    assert accuracy_reward(reply("A cat\nsat."), "a cat sat", "free-form") == pytest.approx(1.0)
    assert answer_score("a cat sat", "a cat sat", "caption") == pytest.approx(1.0)  # SophiaVL's name


def test_adatooler_bounds_and_types():
    with pytest.raises(ValueError, match="unknown problem_type 'regression'; use one of numerical"):
        accuracy_reward(reply("1"), "1", "regression")
    assert accuracy_reward(reply("x " * 5000), "x", "free-form") == 0.0  # too long: scored 0 before any work
    assert answer_score("7", "7", "Numerical") == 1.0


def test_adatooler_as_an_env_judge():
    judge = make_judge({"kind": "adatooler", "problem_type": "multiple choice"})
    assert isinstance(judge, AdaToolerJudge)
    assert judge("Which?", "A, C", ["A, C"]) == 1.0 and judge("Which?", "A", ["A, C"]) == 0.0
    assert judge("Which?", None, ["A"]) == 0.0
    assert make_judge({"kind": "adatooler", "problem_type": "OCR"})(
        "q", "hello word", ["hello world"]
    ) == pytest.approx(math.exp(-0.5))


# -- Reagent rule reward (rllm/rewards/{mix,search,math}_reward.py) -------------------------


@pytest.mark.parametrize(
    "prediction, golds, score",
    [
        ("42.0", "42", 1.0),  # numbers by math equivalence
        ("The answer is \\boxed{42}", "42", 1.0),  # \boxed{} extraction
        ("\\boxed{\\frac{1}{2}}", "0.5", 1.0),
        ("<think>maybe 41</think>43", "42", 0.0),
        ("Yes, definitely", "yes", 1.0),  # yes/no found inside a longer answer
        ("\\boxed{no, because the conditions are not met}", "NO", 1.0),
        ("\\boxed{True, because the statement is logically valid.}", "true", 1.0),
        ("\\boxed{False, this is incorrect}", "true", 0.0),
        ("yes no", "no", 0.0),  # a hedge is not an answer (the release would give 1)
        ("I don't know", "no", 0.0),  # "know" is not "no" (the release would give 1)
        ("The Paris.", "paris", 1.0),  # normalised exact match
        ("the Eiffel Tower in Paris", ["Louvre", "Eiffel Tower"], pytest.approx(2 / 3)),  # F1 2/3 >= .3
        ("big red house near lake", "house", pytest.approx(1 / 3)),  # F1 1/3 >= .3
        ("one two three four five six house", "house", 0.0),  # F1 .25 < .3
        ("\\boxed{9:45}", "9:45", 1.0),
        (None, "x", 0.0),
    ],
)
def test_reagent_rule_reward(prediction, golds, score):
    assert rule_reward(prediction, golds) == score


def test_reagent_f1_is_zero_against_yes_no_noanswer():
    assert token_f1("no answer", "noanswer") == 0.0  # plain F1 would be 0 too, but by the rule
    assert token_f1("yes sir", "yes") == 0.0  # plain F1: 2/3
    assert token_f1("noanswer", "noanswer") == 1.0
    assert token_f1("red house", "big red house") == pytest.approx(0.8)
