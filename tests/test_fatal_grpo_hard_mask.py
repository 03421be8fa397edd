"""fatal_grpo's ablation arms on one hand-built group: vanilla, hard mask, fatal mask, full."""

import pytest
import torch

import algos
from algos import EpisodeBatch
from algos.fatal_grpo import hard_masked
from mmsearch_gym.core.failures import fatal_turn
from mmsearch_gym.core.record import EpisodeRecord, TurnRecord

# One prompt, four episodes; "ok" a valid tool call, "err" a step error, "ans" the answer.
# s0 ok ok ans             answered, clean                    reward 1
# s1 ok err err err        K=3 cascade from turn 1: f = 1      reward 0
# s2 ok err                out of turns (unanswered): f = 2    reward 0
# s3 err err ok err ans    answered, 3 of 5 turns in error     reward .5
EPISODES = [["ok", "ok", "ans"], ["ok", "err", "err", "err"], ["ok", "err"], ["err", "err", "ok", "err", "ans"]]
REWARDS = [1.0, 0.0, 0.0, 0.5]
T = 1 + 2 * 5  # prompt token, then one token per turn and one per env reply


def _record(kinds, reward):
    turns = [
        TurnRecord(
            turn=i,
            action=k,
            kind="answer" if k == "ans" else "tool_call",
            well_formed=k != "err",
            step_error="tool_failed" if k == "err" else None,
        )
        for i, k in enumerate(kinds)
    ]
    f = fatal_turn([k == "err" for k in kinds], answered=kinds[-1] == "ans")
    return EpisodeRecord(env_id="e", task_id="q", seed=0, turns=turns, fatal=f is not None, fatal_turn=f, reward=reward)


def group_batch():
    records = [_record(k, r) for k, r in zip(EPISODES, REWARDS)]
    assert [r.fatal_turn for r in records] == [None, 1, 2, None]
    assert [r.n_valid_tool_calls for r in records] == [2, 1, 1, 1]
    turn = torch.full((4, T), -1)
    attention = torch.zeros(4, T, dtype=torch.bool)
    for row, kinds in enumerate(EPISODES):
        attention[row, : 2 * len(kinds)] = True  # prompt + turns + replies (the last turn has no reply)
        for t in range(len(kinds)):
            turn[row, 1 + 2 * t] = t
    ids = torch.zeros(4, T, dtype=torch.long)
    return EpisodeBatch.from_records(records, ids, turn >= 0, turn, attention_mask=attention)


# RLOO over 1, 0, 0, .5 (sum 1.5): A_i = r_i - (1.5 - r_i)/3
A = [1 - 0.5 / 3, -0.5, -0.5, 0.5 - 1 / 3]
ARMS = {
    "vanilla": {"clamp_fatal": False, "mask_fatal": False},
    "hard_mask": {"clamp_fatal": False, "mask_fatal": False, "hard_mask": True},
    "fatal_mask": {"clamp_fatal": False},
    "full": {},
}


def turns_in_loss(mask, batch):
    """Per episode, the turn indices whose tokens are in the loss."""
    return [sorted({int(t) for t in batch.turn_index[i][mask[i]]}) for i in range(batch.batch_size)]


def seq_adv(adv, mask):
    """The advantage on each episode's loss tokens (None when it has none)."""
    return [float(adv[i][mask[i]][0]) if bool(mask[i].any()) else None for i in range(adv.shape[0])]


def test_hard_masked_reads_flags_and_error_share():
    b = group_batch()
    # s3: 5 turns, 1 valid tool call, 1 answer -> 3 errors > 5/2; s0: 0 errors
    assert hard_masked(b).tolist() == [False, True, True, True]


@pytest.mark.parametrize(
    ("arm", "turns", "advs"),
    [
        ("vanilla", [[0, 1, 2], [0, 1, 2, 3], [0, 1], [0, 1, 2, 3, 4]], A),
        # whole episodes out; the others keep their advantages from the full group's baseline
        ("hard_mask", [[0, 1, 2], [], [], []], [A[0], None, None, None]),
        # turns >= f out: s1 keeps turn 0 with its negative advantage, s2 keeps both turns
        ("fatal_mask", [[0, 1, 2], [0], [0, 1], [0, 1, 2, 3, 4]], A),
        # and flagged episodes clamped to A >= 0
        ("full", [[0, 1, 2], [0], [0, 1], [0, 1, 2, 3, 4]], [A[0], 0.0, 0.0, A[3]]),
    ],
)
def test_ablation_arms(arm, turns, advs):
    algo = algos.make("fatal_grpo", estimator="rloo", kl_coef=0.0, clamp_unanswered=True, **ARMS[arm])
    b = group_batch()
    adv, mask = algo.compute_advantages(b)
    assert turns_in_loss(mask, b) == turns
    got = seq_adv(adv, mask)
    assert [g is None for g in got] == [a is None for a in advs]
    assert [g for g in got if g is not None] == pytest.approx([a for a in advs if a is not None], abs=1e-6)


def test_hard_mask_is_an_option_off_by_default():
    assert algos.options("fatal_grpo")["hard_mask"] is False
    loss_mask = algos.make("fatal_grpo", hard_mask=True, mask_fatal=True).compute_advantages(group_batch())[1]
    assert not bool(loss_mask[1:].any())  # overrides mask_fatal


def test_the_fused_kernel_is_not_used_with_the_hard_mask():
    """The fused CUDA advantage/mask kernel knows no hard mask: with it on, the torch path runs."""
    b = group_batch()
    assert algos.make("fatal_grpo", hard_mask=True)._fused_options(b) is None
    assert algos.make("fatal_grpo")._fused_options(b)["mask_fatal"] is True
