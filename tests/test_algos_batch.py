"""algos.EpisodeBatch: shape checks with clear errors, and the build from episode records."""

import pytest
import torch

from algos import NO_TURN, NOT_FATAL, EpisodeBatch
from mmsearch_gym.core.failures import fatal_turn
from mmsearch_gym.core.record import EpisodeRecord, TurnRecord


def make(**over):
    base = dict(
        input_ids=torch.zeros(2, 4, dtype=torch.long),
        response_mask=torch.tensor([[0, 1, 1, 0], [0, 1, 0, 0]]),
        group_ids=torch.tensor([0, 0]),
        rewards=torch.tensor([1.0, 0.0]),
    )
    base.update(over)
    return EpisodeBatch(**base)


def test_defaults_are_filled():
    b = make()
    assert b.response_mask.dtype == torch.bool
    assert b.attention_mask.all()
    assert b.turn_index.tolist() == [[NO_TURN, 0, 0, NO_TURN], [NO_TURN, 0, NO_TURN, NO_TURN]]
    assert b.fatal_turn.tolist() == [NOT_FATAL, NOT_FATAL] == [-1, -1]
    assert b.n_valid_tool_calls.tolist() == [0, 0]


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(input_ids=torch.zeros(4)), r"input_ids must be \[B, T\]"),
        (dict(response_mask=torch.ones(2, 5)), r"response_mask has shape \(2, 5\), expected \(2, 4\)"),
        (dict(response_mask=torch.full((2, 4), 0.5)), "only 0 and 1"),
        (dict(group_ids=torch.tensor([0, 0, 1])), r"group_ids has shape \(3,\), expected \(2,\)"),
        (dict(group_ids=torch.tensor([0.0, 1.0])), "group_ids must be an integer tensor"),
        (dict(rewards=torch.tensor([1.0])), r"rewards has shape \(1,\)"),
        (dict(rewards=torch.tensor([float("nan"), 1.0])), r"rewards must be finite.*samples \[0\]"),
        (dict(fatal_turn=torch.tensor([-2, 0])), "fatal_turn must be >= -1"),
        (dict(attention_mask=torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])), r"padding.*samples \[0\]"),
        (dict(turn_index=torch.tensor([[-1, 0, -1, -1], [-1, 0, -1, -1]])), r"without a turn.*samples \[0\]"),
        (dict(tool_benefit=torch.tensor([0.1, float("inf")])), r"tool_benefit must be finite.*samples \[1\]"),
        (dict(old_logp=torch.zeros(2, 3)), r"old_logp has shape \(2, 3\)"),
        (dict(reward_components={"acc": torch.tensor([1.0])}), r"reward_components\['acc'\] has shape"),
        (dict(refined=torch.tensor([2, 0])), "refined must hold only 0 and 1"),
    ],
)
def test_bad_batches_say_what_is_wrong(over, message):
    with pytest.raises(ValueError, match=message):
        make(**over)


def test_non_finite_logp_only_matters_on_response_tokens():
    logp = torch.zeros(2, 4)
    logp[0, 0] = float("-inf")  # a prompt token: fine
    make(old_logp=logp)
    logp[1, 1] = float("nan")  # a response token: not fine
    with pytest.raises(ValueError, match=r"old_logp on response tokens.*samples \[1\]"):
        make(old_logp=logp)


def test_require_and_component_errors():
    b = make(reward_components={"acc": torch.tensor([1.0, 0.0])})
    with pytest.raises(ValueError, match="at_grpo needs batch.tool_benefit"):
        b.require("tool_benefit", "at_grpo")
    with pytest.raises(ValueError, match=r"'fmt' not in batch \(have: acc\)"):
        b.component("fmt")


def test_empty_batch_is_allowed():
    b = EpisodeBatch(
        input_ids=torch.zeros(0, 3, dtype=torch.long),
        response_mask=torch.zeros(0, 3),
        group_ids=torch.zeros(0, dtype=torch.long),
        rewards=torch.zeros(0),
    )
    assert b.batch_size == 0 and b.seq_len == 3


def _turn(i, err=None, kind="tool_call"):
    return TurnRecord(turn=i, action="...", kind=kind, well_formed=err is None, step_error=err)


def _record(task, errors, answered, reward, components=None, **task_info):
    turns = [_turn(i, "tool_failed" if e else None) for i, e in enumerate(errors)]
    if answered:
        turns[-1].kind = "answer"
    return EpisodeRecord(
        env_id="x",
        task_id=task,
        seed=0,
        turns=turns,
        fatal=fatal_turn(errors, answered) is not None,
        fatal_turn=fatal_turn(errors, answered),
        reward=reward,
        reward_components=components or {"acc": reward},
        task=task_info,
    )


def test_from_records():
    records = [
        _record("q1", [False, False], True, 1.0, tool_benefit=0.5),  # 1 valid tool call + answer
        _record("q2", [False, True, True, True], False, 0.0, tool_benefit=-0.25),  # fatal at 1
        _record("q1", [True, False], False, 0.2, tool_benefit=0.0),  # unanswered: f = 2
    ]
    turn_index = torch.tensor([[-1, 0, 1, -1, -1], [-1, 0, 1, 2, 3], [-1, 0, -1, 1, -1]])
    b = EpisodeBatch.from_records(records, torch.zeros(3, 5, dtype=torch.long), turn_index >= 0, turn_index)
    assert b.group_ids.tolist() == [0, 1, 0]  # grouped by task_id
    assert b.fatal_turn.tolist() == [-1, 1, 2]
    assert b.rewards.tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert b.reward_components["acc"].tolist() == pytest.approx([1.0, 0.0, 0.2])
    assert b.n_valid_tool_calls.tolist() == [1, 1, 1]  # tool calls without a step error
    assert b.tool_benefit.tolist() == [0.5, -0.25, 0.0]

    b2 = EpisodeBatch.from_records(
        records, torch.zeros(3, 5, dtype=torch.long), turn_index >= 0, turn_index, ["a", "b", "b"]
    )
    assert b2.group_ids.tolist() == [0, 1, 1]


def test_from_records_catches_inconsistencies():
    recs = [_record("q", [False], True, 1.0), _record("q", [False], True, 0.0, components={"fmt": 1.0})]
    ti = torch.tensor([[0, -1], [0, -1]])
    with pytest.raises(ValueError, match=r"'acc' missing from records \[1\]"):
        EpisodeBatch.from_records(recs, torch.zeros(2, 2, dtype=torch.long), ti >= 0, ti)
    recs = [_record("q", [False], True, 1.0), _record("q", [False], True, 0.0)]
    ti = torch.tensor([[0, -1], [0, 1]])  # the second record has one turn, not two
    with pytest.raises(ValueError, match=r"past the record's number of turns in samples \[1\]"):
        EpisodeBatch.from_records(recs, torch.zeros(2, 2, dtype=torch.long), ti >= 0, ti)
    with pytest.raises(ValueError, match="at least one record"):
        EpisodeBatch.from_records([], torch.zeros(0, 2), torch.zeros(0, 2), torch.zeros(0, 2))
