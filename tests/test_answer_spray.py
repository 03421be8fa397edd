"""Answer spraying does not pay: listing every candidate of the asked kind scored 1.0 on every DeepSearch
task with no tool call; now it scores at most 10%, while honest answers (a full name with a title, a
sentence, an alias) keep their score. ``python benchmarks/answer_spray.py`` prints the full table."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from chat_server import ChatServer, completion

import mmsearch_gym  # noqa: F401  (registers the ids)
from mmsearch_gym.rewards.deep_search import answer_accuracy
from mmsearch_gym.rewards.judge import HTTPJudge, RuleJudge, hedging, make_judge
from mmsearch_gym.tasks.deep_search_clues import GraphView

N_TASKS = 30


@pytest.fixture(scope="module")
def played():
    env = gym.make("mmsearch_gym/DeepSearch-v0", max_turns=4)
    tasks = [env.unwrapped.sampler.sample(np.random.default_rng([7, i])) for i in range(N_TASKS)]
    world = env.unwrapped.world
    view = GraphView(world)

    def candidates(task) -> list[str]:  # what an attacker collects: every answer of the asked kind
        kind = world.entity(task.path[-1]["id"]).type
        if task.asked == "name":
            return sorted(e.name for e in world.iter_entities() if e.type == kind)
        return sorted({a.text for e in world.iter_entities() for a in view.attributes(e) if a.key == task.asked})

    def accuracy(task, text: str) -> float:
        env.reset(options={"task": task})
        *_, info = env.step(f"<think>no tools</think><answer>{text}</answer>")
        return info["reward_components"]["accuracy"]

    return env, tasks, candidates, accuracy


@pytest.mark.parametrize("sep", [", ", " or ", " ", "\n", "; ", "/"])
def test_spraying_every_candidate_scores_at_most_ten_percent(played, sep):
    _, tasks, candidates, accuracy = played
    sprays = [sep.join(candidates(t)) for t in tasks]
    assert sum(answer_accuracy(s, t.answers) for s, t in zip(sprays, tasks)) == N_TASKS  # the old rule: all right
    assert sum(accuracy(t, s) for s, t in zip(sprays, tasks)) / N_TASKS <= 0.10


def test_spraying_as_many_candidates_as_fit_the_length_cap_scores_at_most_ten_percent(played):
    _, tasks, candidates, accuracy = played
    rng = np.random.default_rng(0)
    total = 0.0
    for t in tasks:
        pool = list(rng.permutation(candidates(t)))
        fit = ""
        while pool and len(fit) + len(pool[0]) + 1 <= 200:
            fit = f"{fit} {pool.pop(0)}".strip()
        total += accuracy(t, fit)
    assert total / N_TASKS <= 0.10


@pytest.mark.parametrize(
    "form",
    [lambda g, t: g, lambda g, t: f"The answer is {g}.",
     lambda g, t: f"Dr. {g}, Fellow of the Academy" if t.asked == "name" else f"{g}, according to its article",
     lambda g, t: f"{g} ({t.answers[-1]})"],
    ids=["gold", "sentence", "title", "with_variant"],
)  # fmt: skip
def test_honest_answers_keep_their_score(played, form):
    _, tasks, _, accuracy = played
    assert all(accuracy(t, form(t.answers[0], t)) == 1.0 for t in tasks)


def test_refused_answers_say_why_in_the_evaluation(played):
    env, tasks, candidates, _ = played
    t = tasks[0]
    env.reset(options={"task": t})
    *_, info = env.step(f"<think>x</think><answer>{' or '.join(candidates(t)[:2] + [t.answers[0]])}</answer>")
    assert info["reward_components"]["accuracy"] == 0.0 and "commit to one" in info["evaluation"]["answer_refused"]


@pytest.mark.parametrize(
    "prediction, rivals, refused",
    [
        ("Ada Lovelace", (), None),
        ("Sir Ada Lovelace, Countess of Lovelace", (), None),
        ("It has 1,204 floors", (), None),  # a thousands separator is not a list
        ("Ada Lovelace, 12/03/1815", (), None),  # nor a date's slashes
        ("Ada Lovelace or Alan Turing", (), "alternatives"),
        ("Ada Lovelace | Alan Turing", (), "alternatives"),
        ("Ada Lovelace or Countess Ada Lovelace", (), None),  # every alternative holds the answer
        ("Alan Turing, Ada Lovelace, Grace Hopper, Edsger Dijkstra", (), "4 items"),
        ("x" * 201, (), "201 characters"),
        ("Ada Lovelace Alan Turing", ("Alan Turing",), "more than one candidate"),
        ("Ada Lovelace, born in London", ("Alan Turing", "London"), "more than one candidate"),
        ("Ada Lovelace", ("Lovelace", "Ada"), None),  # rivals inside the answer itself are not hedging
    ],
)
def test_hedging(prediction, rivals, refused):
    golds = ["1204"] if "floors" in prediction else ["Ada Lovelace"]
    reason = hedging(prediction, golds, rivals)
    assert (reason is None) if refused is None else (refused in reason)
    assert RuleJudge()("q", prediction, golds, rivals) == float(refused is None)


def test_judge_limits_are_options_and_checked():
    judge = make_judge({"kind": "rule", "max_answer_chars": 1000, "max_candidates": 10})
    assert judge("q", "a, b, c, d, Ada Lovelace", ["Ada Lovelace"]) == 1.0
    with pytest.raises(ValueError, match="max_candidates"):
        RuleJudge(max_candidates=0)


def test_the_http_judge_refuses_a_hedged_answer_without_asking():
    server = ChatServer(lambda i: (200, completion("yes")))
    try:
        judge = HTTPJudge(server.api, "judge", retries=0)
        assert judge("q", "Ada Lovelace or Alan Turing", ["Ada Lovelace"]) == 0.0
        assert judge("q", "Ada Lovelace", ["Ada Lovelace"], rivals=("Alan Turing",)) == 1.0
        assert len(server.requests) == 1  # only the honest answer was sent to the model
    finally:
        server.close()
