"""fatal_grpo's ``clamp_unanswered``: cascade-fatal vs unanswered trajectories, hand-computed."""

import gymnasium as gym
import pytest
import torch

import algos
import mmsearch_gym  # noqa: F401  (registers the ids)
from algos import EpisodeBatch
from algos.fatal_grpo import unanswered
from mmsearch_gym.core.failures import fatal_turn
from mmsearch_gym.core.record import EpisodeRecord, TurnRecord

# One prompt, four episodes, four assistant turns max. Token layout per episode:
#   pos: 0 prompt | 1 turn0 | 2 tool | 3 turn1 | 4 tool | 5 turn2 | 6 tool | 7 turn3
# s0 answers at turn 1                        -> not flagged, reward 1
# s1 errors at turns 1,2,3 (K=3 cascade)      -> f = 1, tokens at turns 0..3, reward 0
# s2 one error at turn 1, out of turns (max 2) -> f = 2 = number of turns, tokens 0..1, reward 0
# s3 answers at turn 2, half right            -> not flagged, reward .5
ERRORS = [[False, False], [False, True, True, True], [False, True], [False, False, False]]
ANSWERED = [True, False, False, True]
REWARDS = [1.0, 0.0, 0.0, 0.5]


def _record(errors, answered, reward):
    turns = [
        TurnRecord(turn=i, action="a", kind="tool_call", well_formed=not e, step_error="tool_failed" if e else None)
        for i, e in enumerate(errors)
    ]
    f = fatal_turn(errors, answered)
    return EpisodeRecord(env_id="e", task_id="q", seed=0, turns=turns, fatal=f is not None, fatal_turn=f, reward=reward)


def group_batch():
    records = [_record(e, a, r) for e, a, r in zip(ERRORS, ANSWERED, REWARDS)]
    assert [r.fatal_turn for r in records] == [None, 1, 2, None]
    turn = torch.tensor([-1, 0, -1, 1, -1, 2, -1, 3]).repeat(4, 1)
    attention = torch.ones(4, 8, dtype=torch.bool)
    for row, errors in enumerate(ERRORS):
        end = 1 + 2 * len(errors)  # the last turn's token sits at 2·(n-1) + 1
        attention[row, end:] = False
        turn[row, end:] = -1
    return EpisodeBatch.from_records(
        records, torch.zeros(4, 8, dtype=torch.long), turn >= 0, turn, attention_mask=attention
    )


# RLOO over rewards 1, 0, 0, .5 (sum 1.5): A_i = r_i - (1.5 - r_i)/3
#   s0: 1 - .5/3 = .833333   s1: 0 - 1.5/3 = -.5   s2: 0 - 1.5/3 = -.5   s3: .5 - 1/3 = .166667
A0, A1, A2, A3 = 1 - 0.5 / 3, -0.5, -0.5, 0.5 - 1 / 3

MASK = [
    [0, 1, 0, 1, 0, 0, 0, 0],  # s0 clean: turns 0, 1
    [0, 1, 0, 0, 0, 0, 0, 0],  # s1 f = 1: turn 0 only, the cascade's turns 1..3 leave
    [0, 1, 0, 1, 0, 0, 0, 0],  # s2 f = 2: both turns stay (nothing at turn >= 2)
    [0, 1, 0, 1, 0, 1, 0, 0],  # s3 clean: turns 0..2
]


def seq_adv(adv):
    return [adv[i, 1].item() for i in range(adv.shape[0])]  # every row has a token at pos 1 (turn 0)


def test_unanswered_is_read_from_the_batch():
    b = group_batch()
    assert b.turn_index.max(dim=1).values.tolist() == [1, 3, 1, 2]
    assert unanswered(b).tolist() == [False, False, True, False]


def test_default_clamps_cascade_and_unanswered():
    adv, mask = algos.make("fatal_grpo").compute_advantages(group_batch())
    assert seq_adv(adv) == pytest.approx([A0, 0.0, 0.0, A3], abs=1e-6)
    assert mask.int().tolist() == MASK


def test_clamp_unanswered_false_keeps_the_unanswered_negative():
    algo = algos.make("fatal_grpo", clamp_unanswered=False)
    assert algos.options("fatal_grpo")["clamp_unanswered"] is True
    adv, mask = algo.compute_advantages(group_batch())
    assert seq_adv(adv) == pytest.approx([A0, 0.0, A2, A3], abs=1e-6)  # s2 keeps -.5, s1 still clamped
    assert mask.int().tolist() == MASK  # masking unchanged
    # s2's -.5 lands on both of its turns' tokens
    assert adv[2].tolist() == pytest.approx([0, A2, 0, A2, 0, 0, 0, 0], abs=1e-6)


def test_clamp_fatal_false_overrides_and_grpo_estimator():
    adv, mask = algos.make("fatal_grpo", clamp_fatal=False, clamp_unanswered=True).compute_advantages(group_batch())
    assert seq_adv(adv) == pytest.approx([A0, A1, A2, A3], abs=1e-6)  # no clamp at all
    assert mask.int().tolist() == MASK

    # GRPO: mean .375, deviations .625 -.375 -.375 .125, Σdev² = .6875, std = √(.6875/3) = .4787136
    adv, _ = algos.make("fatal_grpo", estimator="grpo", clamp_unanswered=False).compute_advantages(group_batch())
    assert seq_adv(adv) == pytest.approx([0.625 / 0.4787136, 0.0, -0.375 / 0.4787136, 0.125 / 0.4787136], rel=1e-5)


def test_edge_cases_f0_and_truncated_cascade():
    # s0: f = 0 with no response tokens (dropped) -> not "unanswered", clamped
    # s1: f = 0 with a token at turn 0 -> cascade, clamped
    # s2: cascade f = 1 whose tokens from turn 1 on were truncated away -> read as unanswered (documented caveat)
    # s3: clean
    turn = torch.tensor([[-1, -1, -1], [-1, 0, -1], [-1, 0, -1], [-1, 0, 1]])
    b = EpisodeBatch(
        input_ids=torch.zeros(4, 3, dtype=torch.long),
        response_mask=turn >= 0,
        turn_index=turn,
        group_ids=torch.zeros(4, dtype=torch.long),
        rewards=torch.tensor([0.0, 0.0, 0.0, 1.0]),
        fatal_turn=torch.tensor([0, 0, 1, -1]),
    )
    assert unanswered(b).tolist() == [False, False, True, False]
    algo = algos.make("fatal_grpo", clamp_unanswered=False)
    # RLOO over 0, 0, 0, 1: s0..s2 = 0 - 1/3, s3 = 1; only s2 escapes the clamp
    seq = algo.sequence_advantages(algo.shape_rewards(b), b)
    assert seq.tolist() == pytest.approx([0.0, 0.0, -1 / 3, 1.0], abs=1e-6)
    adv, mask = algo.compute_advantages(b)
    assert mask.int().tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 1, 1]]  # f = 0 rows dropped
    assert adv[2, 1].item() == pytest.approx(-1 / 3, abs=1e-6)


def test_single_turn_maze_unparsed_reply_is_unanswered():
    """The example's case: max_turns=1, a reply that does not parse ends the episode unanswered, f = 1."""
    env = gym.make("mmsearch_gym/Maze-v0", size=2, text_maze=True, question_types=["moves"], max_turns=1)
    env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step("no tags at all")
    record = env.unwrapped.episode_record()
    assert (terminated, truncated, reward) == (False, True, 0.0)
    assert record.fatal and record.fatal_turn == 1 == len(record.turns)
    turn = torch.tensor([[-1, 0, 0]])
    b = EpisodeBatch.from_records([record], torch.zeros(1, 3, dtype=torch.long), turn >= 0, turn)
    assert unanswered(b).tolist() == [True]
