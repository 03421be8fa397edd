"""The rollout engine: groups, limits per turn and per episode, failure signals, vector envs."""

from __future__ import annotations

import functools

import gymnasium as gym
import pytest
import torch

import algos
import mmsearch_gym  # noqa: F401
from algos import tiny
from algos.rollout import (
    TOKEN_LIMIT,
    ChatFormat,
    Generation,
    HFPolicy,
    PolicyError,
    RolloutEngine,
    SamplingParams,
    ScriptedTextPolicy,
)

ENV = "mmsearch_gym/Maze-v0"
KW = {"size": 2, "text_maze": True, "question_types": ("moves",), "max_turns": 4}


@pytest.fixture(scope="module")
def tok():
    return tiny.default_tokenizer(episodes=40)


def make_envs(n: int, **kw) -> list[gym.Env]:
    return [gym.make(ENV, **{**KW, **kw}) for _ in range(n)]


class TextIdsPolicy:
    """A token policy that writes ``text`` every turn (cut at the limit, never stopping unless it fits)."""

    def __init__(self, chat: ChatFormat, text: str):
        self.chat, self.ids = chat, chat.tokenizer(text, add_special_tokens=False)["input_ids"]

    def chat_format(self) -> ChatFormat:
        return self.chat

    def generate(self, prompts, params, stop_ids):
        out = []
        for p in prompts:
            budget = min(params.max_new_tokens, p.max_new_tokens or params.max_new_tokens)
            ids = self.ids + [self.chat.turn_stop_id]
            out.append(Generation(ids, "stop") if len(ids) <= budget else Generation(self.ids[:budget], "length"))
        return out


def test_generation_never_closing_a_tag_ends_in_the_envs_fatal_signal(tok):
    chat = ChatFormat(tok)
    policy = TextIdsPolicy(chat, "<think>" + "I keep thinking about the maze " * 20)
    result = RolloutEngine(policy, SamplingParams(max_new_tokens=16)).rollout(make_envs(2), seeds=[0], group_size=2)
    for rec, ep in zip(result.records, result.tokens):
        assert rec.termination_reason == "fatal_errors" and rec.fatal and rec.fatal_turn == 0
        assert [t.step_error for t in rec.turns] == ["parse"] * 3
        assert "never closed" in rec.turns[0].error_message
        assert [end - start for start, end in ep.spans] == [16, 16, 16]
    assert result.finish_reasons == {"length": 6}
    batch = result.batch
    assert batch.fatal_turn.tolist() == [0, 0]
    _, loss_mask = algos.make("fatal_grpo").compute_advantages(batch)
    assert batch.response_mask.any() and not loss_mask.any()  # f = 0: every turn is out of the loss


def test_episode_token_limit_ends_the_episode_flagged(tok):
    chat = ChatFormat(tok)
    teacher = RolloutEngine(ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=200), chat=chat)
    full = teacher.rollout(make_envs(1), seeds=[5])
    prompt_len = full.tokens[0].spans[0][0]
    first_turn = full.tokens[0].spans[0][1] - prompt_len
    limited = RolloutEngine(
        ScriptedTextPolicy("oracle"),
        SamplingParams(max_new_tokens=200),
        chat=chat,
        max_episode_tokens=prompt_len + first_turn // 2,
    )
    result = limited.rollout(make_envs(2), seeds=[5, 6])
    for rec, ep in zip(result.records, result.tokens):
        assert rec.termination_reason == TOKEN_LIMIT and rec.fatal and rec.fatal_turn == len(rec.turns) == 1
        assert rec.reward == 0.0 and not rec.success
        assert rec.reward_components == {}  # no episode of the batch ended normally: no components to fill
        assert ep.spans[0][1] - ep.spans[0][0] == first_turn // 2  # the turn was cut at the room left
        assert rec.turns[0].step_error == "parse"
    assert result.batch.fatal_turn.tolist() == [1, 1]
    # a prompt longer than the limit: no turn at all
    tight = RolloutEngine(ScriptedTextPolicy("oracle"), chat=chat, max_episode_tokens=prompt_len - 1)
    rec = tight.rollout(make_envs(1), seeds=[5]).records[0]
    assert rec.termination_reason == TOKEN_LIMIT and rec.turns == [] and rec.fatal_turn == 0


def test_mixed_endings_share_reward_components(tok):
    chat = ChatFormat(tok)
    envs = [gym.make(ENV, **{**KW, "size": 2}), gym.make(ENV, **{**KW, "size": 4})]
    teacher = RolloutEngine(ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=300), chat=chat)
    small, big = (len(teacher.rollout([env], seeds=[7]).tokens[0]) for env in envs)
    assert big > small + 1
    limited = RolloutEngine(
        ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=300), chat=chat, max_episode_tokens=small + 1
    )
    result = limited.rollout(envs, seeds=[7, 7])
    assert [r.termination_reason for r in result.records] == ["answered", TOKEN_LIMIT]
    assert result.records[1].reward_components == {"accuracy": 0.0, "format": 0.0, "overall": 0.0}
    assert result.batch.rewards.tolist() == [1.0, 0.0]


def test_per_turn_limit_caps_sampled_turns(tok):
    model = tiny.build_text_model(tok, hidden=32, layers=1, heads=2)
    engine = RolloutEngine(HFPolicy(model, tok), SamplingParams(max_new_tokens=7))
    torch.manual_seed(0)
    result = engine.rollout(make_envs(3), seeds=[1, 2, 3])
    spans = [end - start for ep in result.tokens for start, end in ep.spans]
    assert spans and max(spans) <= 7
    assert sum(result.finish_reasons.values()) == len(spans) == sum(len(r.turns) for r in result.records)
    assert int(result.batch.response_mask.sum()) == sum(spans)


def test_groups_play_the_same_task(tok):
    result = RolloutEngine(ScriptedTextPolicy("random", seed=0), chat=ChatFormat(tok)).rollout(
        make_envs(6), seeds=[10, 11], group_size=3
    )
    ids = [r.task_id for r in result.records]
    assert ids[0] == ids[1] == ids[2] != ids[3] == ids[4] == ids[5]
    assert result.group_ids == [0, 0, 0, 1, 1, 1] and result.batch.group_ids.tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_vector_envs_give_the_same_episodes_as_a_list(tok, kind):
    chat = ChatFormat(tok)
    engine = RolloutEngine(ScriptedTextPolicy("oracle"), SamplingParams(max_new_tokens=200), chat=chat)
    seeds = [21, 22]
    expected = engine.rollout(make_envs(4), seeds, group_size=2)
    fns = [functools.partial(gym.make, ENV, **KW) for _ in range(4)]
    vec = gym.vector.SyncVectorEnv(fns) if kind == "sync" else gym.vector.AsyncVectorEnv(fns, shared_memory=False)
    try:
        got = engine.rollout(vec, seeds, group_size=2)
    finally:
        vec.close()
    assert torch.equal(got.batch.input_ids, expected.batch.input_ids)
    assert torch.equal(got.batch.response_mask, expected.batch.response_mask)
    assert [r.to_dict() for r in got.records] == [r.to_dict() for r in expected.records]
    assert all(r.success for r in got.records)


def test_bad_arguments_are_refused(tok):
    with pytest.raises(TypeError, match="not a policy"):
        RolloutEngine(object())
    engine = RolloutEngine(ScriptedTextPolicy("oracle"))
    with pytest.raises(ValueError, match="need exactly 4"):
        engine.rollout(make_envs(3), seeds=[1, 2], group_size=2)

    class Short(TextIdsPolicy):
        def generate(self, prompts, params, stop_ids):
            return super().generate(prompts, params, stop_ids)[:-1]

    with pytest.raises(PolicyError, match="1 turns for 2 prompts"):
        RolloutEngine(Short(ChatFormat(tok), "x")).rollout(make_envs(2), seeds=[1, 2])


def test_text_policy_without_chat_gives_records_only():
    result = RolloutEngine(ScriptedTextPolicy("oracle")).rollout(make_envs(2), seeds=[1, 2])
    assert result.batch is None and result.tokens is None
    assert [r.success for r in result.records] == [True, True]
    with pytest.raises(ValueError, match="no tokens"):
        result.model_inputs()
