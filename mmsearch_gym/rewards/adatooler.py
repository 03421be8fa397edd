"""AdaTooler-V's accuracy reward R_acc (arXiv 2512.16918), by problem type, as its release intends.

    accuracy_reward(reply, ground_truth, problem_type) -> float in [0, 1]

The whole reply must match ``<think>…</think>…<answer>…</answer>…`` from its first character
(the release's ``re.fullmatch(r"<think>(.*?)</think>.*<answer>(.*?)</answer>.*", DOTALL)``),
else R_acc = 0. The answer is the first ``<answer>`` block, scored by ``problem_type``:

- ``numerical``: 1 if the answer equals the ground truth as math (``\\frac{1}{2}`` = ``0.5``,
  ``42.0`` = ``42``; :func:`mmsearch_gym.rewards.math_equiv.math_equal`, math-verify), else 0.
- ``multiple choice``: the answer split on commas (parts stripped) must have as many parts
  as the ground truth and every part must be one of the ground truth's options;
  case-sensitive, and repeats are not checked, so ``A, A`` scores 1 against ``A, B`` (the
  release's rule). The ground truth is a list of options, or a string split on commas.
- ``OCR``: ``exp(−WER)`` of the answer against the ground truth (jiwer), so a WER above 1
  (many insertions) still gives a small positive score.
- ``free-form``: mean of the ROUGE-1, ROUGE-2 and ROUGE-L F-measures (rouge-score, Porter
  stemmer), newlines read as spaces.

Released code: repo ``CYWang735/AdaTooler-V``, ``verltool/verl_tool/workers/reward_manager/
AdaTooler-V .py``. As shipped it cannot run (``grade_answer``, ``wer`` and ``rouge_scorer`` are
never imported); these are the rules it intends, with the libraries it names (its file
imports math-verify). The release sends any other ``problem_type`` to free form; here the
release's names and their aliases are accepted (``text``/``caption`` as free form, as
SophiaVL-R1 names them) and anything else raises, so that a typo cannot silently change the
rule. Texts longer than ``max_chars`` score 0 before any work (bounded cost).

:class:`AdaToolerJudge` makes the same rules an env judge (``judge(question, answer, golds)``);
the env's grammar has already checked the turn format, so it scores the answer text alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

PROBLEM_TYPES = ("numerical", "multiple choice", "OCR", "free-form")
_ALIASES = {
    "numerical": "numerical",
    "numeric": "numerical",
    "multiple choice": "multiple choice",
    "multiple-choice": "multiple choice",
    "choice": "multiple choice",
    "ocr": "OCR",
    "free-form": "free-form",
    "free form": "free-form",
    "text": "free-form",
    "caption": "free-form",
}
MAX_CHARS = 8192
_FORMAT = re.compile(r"<think>(.*?)</think>.*<answer>(.*?)</answer>.*", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def problem_type_of(name: str) -> str:
    """The canonical problem type for ``name`` (case-insensitive, aliases accepted)."""
    canonical = _ALIASES.get(str(name).strip().lower()) if isinstance(name, str) else None
    if canonical is None:
        raise ValueError(f"unknown problem_type {name!r}; use one of {', '.join(PROBLEM_TYPES)}")
    return canonical


def well_formatted(reply: str) -> bool:
    """Whether the whole reply is ``<think>…</think>…<answer>…</answer>…`` (AdaTooler's format)."""
    return isinstance(reply, str) and _FORMAT.fullmatch(reply) is not None


def accuracy_reward(prediction: str | None, ground_truth: str | Sequence[str], problem_type: str) -> float:
    """R_acc of a whole reply: 0 unless :func:`well_formatted`, else :func:`answer_score` of its answer."""
    kind = problem_type_of(problem_type)
    if prediction is None or not well_formatted(prediction) or len(prediction) > MAX_CHARS:
        return 0.0
    m = _ANSWER.search(prediction)
    assert m is not None  # the format guarantees one
    return answer_score(m.group(1), ground_truth, kind)


def answer_score(answer: str, ground_truth: str | Sequence[str], problem_type: str) -> float:
    """The per-type rule on an answer text (no format check); see the module docstring."""
    kind = problem_type_of(problem_type)
    if not isinstance(answer, str) or len(answer) > MAX_CHARS:
        return 0.0
    if kind == "multiple choice":
        return _choices(answer, ground_truth)
    if not isinstance(ground_truth, str):
        raise TypeError(f"a {kind} ground truth is a string, got {type(ground_truth).__name__}")
    if len(ground_truth) > MAX_CHARS:
        return 0.0
    if kind == "numerical":
        from .math_equiv import math_equal

        return 1.0 if math_equal(answer, ground_truth) else 0.0
    if kind == "OCR":
        return _ocr(answer, ground_truth)
    return _free_form(answer, ground_truth)


def _choices(answer: str, ground_truth: str | Sequence[str]) -> float:
    options = ground_truth.split(",") if isinstance(ground_truth, str) else list(ground_truth)
    options = [str(o).strip() for o in options]
    parts = [a.strip() for a in answer.split(",")]
    if len(parts) != len(options):
        return 0.0
    return 1.0 if all(p in options for p in parts) else 0.0


def _ocr(answer: str, ground_truth: str) -> float:
    import jiwer

    reference, hypothesis = ground_truth.strip(), answer.strip()
    if not reference:  # jiwer's WER is defined against words: no reference words, no errors to count
        return 1.0 if not hypothesis else 0.0
    return math.exp(-jiwer.wer(reference, hypothesis))


_ROUGE = None


def _free_form(answer: str, ground_truth: str) -> float:
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = _ROUGE.score(ground_truth.replace("\n", " ").strip(), answer.replace("\n", " ").strip())
    return (scores["rouge1"].fmeasure + scores["rouge2"].fmeasure + scores["rougeL"].fmeasure) / 3


class AdaToolerJudge:
    """An env judge scoring answers by AdaTooler's rules for one ``problem_type``.

    ``judge(question, answer, golds)`` is the best :func:`answer_score` over the accepted
    golds (for multiple choice each gold is one answer key, e.g. ``"A, C"``); no answer
    scores 0. Use it as ``gym.make(..., judge={"kind": "adatooler", "problem_type": "OCR"})``.
    """

    def __init__(self, problem_type: str = "free-form"):
        self.problem_type = problem_type_of(problem_type)

    def __call__(self, question: str, prediction: str | None, golds: Sequence[str]) -> float:
        if prediction is None:
            return 0.0
        golds = [golds] if isinstance(golds, str) else list(golds)
        return max((answer_score(prediction, g, self.problem_type) for g in golds), default=0.0)

    def __repr__(self) -> str:
        return f"AdaToolerJudge(problem_type={self.problem_type!r})"
