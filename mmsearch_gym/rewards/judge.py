"""Answer judges for ``r_acc`` of OpenSearch-VL (arXiv 2605.05185): "does the response contain the correct answer".

:class:`RuleJudge` (the default) scores by :func:`~.deep_search.answer_accuracy`;
:class:`HTTPJudge` asks an OpenAI-compatible ``/v1/chat/completions`` endpoint, as the paper
does, and reads a yes/no reply as 1/0. An HTTP judge that fails raises :class:`JudgeError`
(its message safe to log: no API key); the caller decides whether to fall back to the rule.
:func:`make_judge` builds either from an env kwarg.

"Contains the correct answer" alone is gamed by listing every candidate: an answer naming
every entity of the asked kind scored 1.0 on every task. Both judges first apply
:func:`hedging`: an answer longer than ``max_answer_chars``, listing more than
``max_candidates`` items, offering alternatives ("A or B") that are not all correct, or
naming a *rival* (another answer of the asked kind, which the env may pass) besides the gold
scores 0.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from typing import Any

from .deep_search import ACCURACY_MODES, _contains, answer_accuracy, normalize_answer

JUDGE_KINDS = ("rule", "http", "adatooler")
MAX_ANSWER_CHARS = 200
MAX_CANDIDATES = 3
_ALTERNATIVES = re.compile(r"\s+or\s+|\s*\|\s*|\s+/\s+", re.IGNORECASE)  # "A or B", "A | B", "A / B"
_ITEMS = re.compile(r"\s+or\s+|[;\n|]|/(?!\d)|(?<!\d)/|,(?!\d{3}(?!\d))", re.IGNORECASE)  # not "1,204" nor "12/3"
DEFAULT_PROMPT = (
    "You are grading the response to a question.\n\n"
    "Question: {question}\n"
    "Correct answer (any of these forms is acceptable): {golds}\n"
    "Response: {response}\n\n"
    "Does the response contain the correct answer? Reply with one word: yes or no."
)
_YES, _NO = frozenset({"yes", "1", "true", "correct"}), frozenset({"no", "0", "false", "incorrect"})
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_REPLY_SCHEMA = {
    "type": "object",
    "required": ["choices"],
    "properties": {
        "choices": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "object", "required": ["content"]}},
            },
        }
    },
}


@functools.lru_cache(maxsize=1 << 16)
def _normalized(text: str) -> str:
    return normalize_answer(text)  # rivals repeat across episodes: normalise each once


def hedging(
    prediction: str | None,
    golds: Sequence[str],
    rivals: Sequence[str] = (),
    max_answer_chars: int = MAX_ANSWER_CHARS,
    max_candidates: int = MAX_CANDIDATES,
) -> str | None:
    """Why ``prediction`` cannot be graded correct however much of it is right, or None.

    - longer than ``max_answer_chars`` characters (after stripping);
    - more than ``max_candidates`` items when split at ``, ; | / or`` and new lines (a
      thousands separator or a slash between digits does not split);
    - alternatives ("A or B", "A | B", "A / B") that do not each contain a gold answer;
    - a ``rival`` (another answer of the asked kind: another person's name, another year…)
      on token boundaries once the gold answers are taken out: hedging between candidates.

    A full name with a title ("Sir Ada Lovelace, Countess of Lovelace") passes: two items,
    no rival. The message says what to do; it is safe to show the agent.
    """
    if not prediction:
        return None
    text = prediction.strip()
    if len(text) > max_answer_chars:
        return f"the answer has {len(text)} characters; answers over {max_answer_chars} are not graded. Answer briefly."
    refs = sorted({g for g in (normalize_answer(x) for x in ([golds] if isinstance(golds, str) else golds)) if g},
                  key=len, reverse=True)  # fmt: skip
    items = [x for x in _ITEMS.split(text) if normalize_answer(x)]
    if len(items) > max_candidates:
        return f"the answer lists {len(items)} items (at most {max_candidates}); give one answer, not candidates."
    options = [normalize_answer(x) for x in _ALTERNATIVES.split(text)]
    options = [x for x in options if x]
    if len(options) > 1 and not all(any(_contains(x, g) for g in refs) for x in options):
        return "the answer offers alternatives; commit to one answer."
    if rivals:
        rest = f" {normalize_answer(text)} "
        for g in refs:
            rest = rest.replace(f" {g} ", " | ")
        gold_set = set(refs)
        for rival in rivals:
            r = _normalized(rival)
            if r and r not in gold_set and f" {r} " in rest:
                return "the answer names more than one candidate; commit to one answer."
    return None


class JudgeError(RuntimeError):
    """The HTTP judge gave no usable verdict (unreachable, HTTP error after retries, unparseable reply)."""


def _check_limits(max_answer_chars: Any, max_candidates: Any) -> None:
    for name, v in (("max_answer_chars", max_answer_chars), ("max_candidates", max_candidates)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


class RuleJudge:
    """``answer_accuracy(prediction, golds, mode, f1_threshold)`` after :func:`hedging` (0 when hedged);
    the question is not used. ``rivals``: other answers of the asked kind (see :func:`hedging`)."""

    def __init__(
        self,
        mode: str = "contains",
        f1_threshold: float | None = None,
        max_answer_chars: int = MAX_ANSWER_CHARS,
        max_candidates: int = MAX_CANDIDATES,
    ):
        if mode not in ACCURACY_MODES:
            raise ValueError(f"unknown accuracy mode {mode!r}; use one of: {', '.join(ACCURACY_MODES)}")
        answer_accuracy("x", ["x"], mode, f1_threshold)  # fail now on a bad threshold, not mid-training
        _check_limits(max_answer_chars, max_candidates)
        self.mode, self.f1_threshold = mode, f1_threshold
        self.max_answer_chars, self.max_candidates = max_answer_chars, max_candidates

    def __call__(
        self, question: str, prediction: str | None, golds: Sequence[str], rivals: Sequence[str] = ()
    ) -> float:
        if hedging(prediction, golds, rivals, self.max_answer_chars, self.max_candidates):
            return 0.0
        return answer_accuracy(prediction, golds, self.mode, self.f1_threshold)

    def __repr__(self) -> str:
        return f"RuleJudge(mode={self.mode!r}, f1_threshold={self.f1_threshold!r})"


def parse_verdict(reply: str) -> float | None:
    """1.0 / 0.0 from a yes/no (or 1/0, true/false) reply, ``<think>`` blocks ignored; None if unclear."""
    words = re.findall(r"[a-z0-9]+", _THINK.sub(" ", reply).casefold())
    if not words:
        return None
    if words[0] in _YES or words[0] in _NO:
        return float(words[0] in _YES)
    yes, no = "yes" in words, "no" in words  # "Verdict: yes" — one of the two, not both
    return float(yes) if yes != no else None


class HTTPJudge:
    """An LLM judge behind an OpenAI-compatible chat completions endpoint.

    Args:
        base_url: server address; ``/v1/chat/completions`` is appended (just ``/chat/completions``
            when it already ends in ``/v1``; nothing when it ends in ``/chat/completions``).
        model: model name sent in the request.
        api_key_env: environment variable holding the API key, sent as ``Authorization: Bearer``;
            None sends no key. Keys are never taken as arguments.
        timeout_s: per-request timeout; retries: extra attempts after the first (connection
            errors, timeouts, 429, 5xx); backoff_s: first wait between attempts, doubled each time.
        prompt: template with ``{question}``, ``{golds}`` and ``{response}``.
        max_answer_chars, max_candidates: bounds of :func:`hedging`, applied before the request
            (a hedged answer scores 0 without asking the model).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        prompt: str = DEFAULT_PROMPT,
        max_answer_chars: int = MAX_ANSWER_CHARS,
        max_candidates: int = MAX_CANDIDATES,
    ):
        from ..search.http import HttpClient

        _check_limits(max_answer_chars, max_candidates)
        self.max_answer_chars, self.max_candidates = max_answer_chars, max_candidates
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) url such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be the served model's name, got {model!r}")
        try:
            prompt.format(question="q", golds="g", response="r")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"prompt must be a template using only {{question}}, {{golds}} and {{response}} ({err!r})"
            ) from None
        url = base_url.rstrip("/")
        if not url.endswith("/chat/completions"):
            url += "/chat/completions" if url.endswith("/v1") else "/v1/chat/completions"
        self.url, self.model, self.api_key_env, self.prompt = url, model, api_key_env, prompt
        header = {"Authorization": api_key_env} if api_key_env else {}
        deadline = (retries + 1) * timeout_s + backoff_s * 2 ** (retries + 1)
        self.client = HttpClient(
            url,
            f"the judge {model} at {url}",
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            deadline_s=deadline,
            secret_env=header,
            secret_prefix={"Authorization": "Bearer "} if header else None,
        )

    def _scrub(self, text: str) -> str:
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        return text.replace(key, "***") if len(key) >= 4 else text

    def __call__(
        self, question: str, prediction: str | None, golds: Sequence[str], rivals: Sequence[str] = ()
    ) -> float:
        from ..search.base import BackendError

        if not prediction or not prediction.strip():
            return 0.0
        golds = [golds] if isinstance(golds, str) else [g for g in golds if g and g.strip()]
        if not golds:
            raise ValueError("golds must hold at least one non-empty answer (a list of accepted variants)")
        if hedging(prediction, golds, rivals, self.max_answer_chars, self.max_candidates):
            return 0.0
        content = self.prompt.format(question=question, golds="; ".join(golds), response=prediction)
        body = {"model": self.model, "messages": [{"role": "user", "content": content}], "temperature": 0.0}
        try:
            data: Any = self.client.post_json("", body, schema=_REPLY_SCHEMA)
        except BackendError as err:
            raise JudgeError(self._scrub(str(err))) from None
        reply = data["choices"][0]["message"]["content"]
        verdict = parse_verdict(reply) if isinstance(reply, str) else None
        if verdict is None:
            shown = self._scrub(" ".join(str(reply).split()))[:120]
            raise JudgeError(f"the judge {self.model} at {self.url} replied neither yes nor no: {shown!r}")
        return verdict

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"HTTPJudge(url={self.url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"


def make_judge(spec: str | dict[str, Any] | RuleJudge | HTTPJudge | None) -> Any:
    """A judge from an env kwarg: None or ``"rule"`` → :class:`RuleJudge`; a dict with ``kind``
    (``"rule"``, ``"http"`` or ``"adatooler"``, :class:`~.adatooler.AdaToolerJudge` with its
    ``problem_type``) and that class's arguments; or a judge, returned as is."""
    from .adatooler import AdaToolerJudge  # AdaTooler-V's rules by problem type

    if isinstance(spec, (RuleJudge, HTTPJudge, AdaToolerJudge)):
        return spec
    if spec is None:
        return RuleJudge()
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        raise TypeError(
            f"judge {spec!r}: use None, 'rule', or a dict with 'kind' in {JUDGE_KINDS}, "
            "e.g. {'kind': 'http', 'base_url': 'http://127.0.0.1:8000/v1', 'model': 'judge'}"
        )
    kwargs = dict(spec)
    kind = kwargs.pop("kind", None)
    classes = {"rule": RuleJudge, "http": HTTPJudge, "adatooler": AdaToolerJudge}
    if kind not in classes:
        raise ValueError(f"unknown judge kind {kind!r}; known kinds: {', '.join(JUDGE_KINDS)}")
    try:
        return classes[kind](**kwargs)
    except TypeError as err:
        raise ValueError(f"judge {kind!r}: {err}") from None
